/** Journey definitions, start commands and BullMQ priorities used by the scenarios (the same for ours and the peer). */
import type { Tier } from '../actors/priority.ts';

/** One no-op action, then the end. */
export const oneStep = {
  id: 'bench-one',
  version: 1,
  name: 'Bench: one action',
  vendorType: 'venue',
  trigger: { event: 'booking.created' },
  start: 'send',
  steps: {
    send: { type: 'action', action: 'email.send', params: { template: 'hello' }, next: 'done' },
    done: { type: 'end' },
  },
} as const;

/** Five steps: action, 1 s timer, branch, one of two actions, action; then the end. */
export const fiveStep = {
  id: 'bench-five',
  version: 1,
  name: 'Bench: five steps with a timer and a branch',
  vendorType: 'photographer',
  trigger: { event: 'booking.created' },
  start: 'welcome',
  steps: {
    welcome: { type: 'action', action: 'email.send', params: { template: 'welcome' }, next: 'breather' },
    breather: { type: 'wait', duration: 'PT1S', next: 'size' },
    size: { type: 'branch', cases: [{ when: 'data.guests > 100', next: 'big' }], default: 'small' },
    big: { type: 'action', action: 'task.create', params: { title: 'second shooter' }, next: 'thanks' },
    small: { type: 'action', action: 'sms.send', params: { text: 'see you soon' }, next: 'thanks' },
    thanks: { type: 'action', action: 'email.send', params: { template: 'thanks' }, next: 'done' },
    done: { type: 'end' },
  },
} as const;
export const FIVE_STEPS = 5;

/** Parks until its own instant (`data.fireAt`), then one action. */
export const parked = {
  id: 'bench-parked',
  version: 1,
  name: 'Bench: wait until data.fireAt, then one action',
  vendorType: 'planner',
  trigger: { event: 'booking.created' },
  start: 'until',
  steps: {
    until: { type: 'waitUntil', anchor: 'data.fireAt', next: 'send' },
    send: { type: 'action', action: 'email.send', params: { template: 'reminder' }, next: 'done' },
    done: { type: 'end' },
  },
} as const;

export const TIER_LIST: readonly Tier[] = ['critical', 'high', 'medium', 'low'];
/** BullMQ priority per tier (1 is the highest). */
export const BULL_PRIORITY: Record<Tier, number> = { critical: 1, high: 2, medium: 3, low: 4 };
/** Days from today (UTC) to a wedding date that falls in the tier. */
const TIER_DAYS: Record<Tier, number> = { critical: 1, high: 4, medium: 20, low: 200 };

export function weddingDateFor(tier: Tier, from = Date.now()): string {
  return new Date(from + TIER_DAYS[tier] * 86_400_000).toISOString().slice(0, 10);
}

export interface StartBody {
  supplierId: string;
  clientId: string;
  journeyId: string;
  weddingDate: string;
  timeZone: string;
  data?: Record<string, unknown>;
}

/** The start command (ours) and job data (BullMQ) of item `i`: the same fields on both sides. */
export function startBody(
  journeyId: string,
  tag: string,
  i: number,
  tier: Tier,
  data?: Record<string, unknown>,
): StartBody {
  return {
    supplierId: `sup${i % 64}`,
    clientId: `${tag}${i}`,
    journeyId,
    weddingDate: weddingDateFor(tier),
    timeZone: 'UTC',
    ...(data ? { data } : {}),
  };
}

/** Four tiers mixed evenly. */
export function mixedTier(i: number): Tier {
  return TIER_LIST[i % 4]!;
}

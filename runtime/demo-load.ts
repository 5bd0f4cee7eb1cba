/**
 * The demo's generated load (R24): starts shaped like a June Saturday for the sample vendor journeys — many weddings
 * today, some tomorrow, this week, this month and next year, in four time zones — at a steady rate, with demo action
 * handlers that sometimes fail (retried) and now and then fail for good (dead-lettered), so every dashboard tab has
 * something to show within a minute.
 */
import type { StartCommand } from '../schemas/commands.ts';
import { addDaysToDate, localDate } from '../actors/time.ts';
import type { ActionHandler } from './engine/actions.ts';
import type { JourneyClient } from './client.ts';
import { ActionError } from './errors.ts';

/** The four vendor journeys wait for weeks; the planner's day-of journey completes in seconds, so completions show too. */
const JOURNEYS = ['photographer-classic', 'venue-final-details', 'caterer-menu-tasting', 'florist-approval', 'planner-day-of'] as const;
const ZONES = ['Europe/London', 'America/New_York', 'Australia/Sydney', 'Asia/Kolkata'] as const;
/** Days to the wedding and their weight: a Saturday in June is mostly weddings today. */
const SHAPE: readonly (readonly [days: number, weight: number])[] = [
  [0, 30],
  [1, 10],
  [4, 20],
  [20, 20],
  [300, 20],
];
const SUPPLIERS = 24; // spreads the load under the per-supplier rate limit (100 starts per minute each)

export interface DemoLoadOptions {
  client: JourneyClient;
  /** Starts per second. @default 8 */
  rate?: number;
  /** Distinguishes this run's clients from earlier runs' (their executions are kept). */
  runTag: string;
  onError(err: unknown): void;
}

/** The n-th start of the demo: deterministic, so the shape is the same every run. */
export function demoStart(n: number, runTag: string, now: number): StartCommand {
  const total = SHAPE.reduce((s, [, w]) => s + w, 0);
  let point = (n * 37) % total;
  let days = 0;
  for (const [d, w] of SHAPE) {
    if (point < w) {
      days = d;
      break;
    }
    point -= w;
  }
  // Not the same counter as the journey's, or each vendor type would always get the same zone (and its quiet hours).
  const timeZone = ZONES[Math.floor(n / JOURNEYS.length) % ZONES.length]!;
  return {
    supplierId: `demo-${String(n % SUPPLIERS).padStart(2, '0')}`,
    clientId: `${runTag}-${n}`,
    journeyId: JOURNEYS[n % JOURNEYS.length]!,
    weddingDate: addDaysToDate(localDate(now, timeZone), days),
    timeZone,
    bookedAt: new Date(now).toISOString(),
    client: { name: `Couple ${n}`, email: `couple${n}@example.com` },
    data: { guestCount: 40 + ((n * 53) % 160) },
  };
}

/** Starts the load; returns a stop function. */
export function startDemoLoad(opts: DemoLoadOptions): { stop(): void; started(): number } {
  const rate = opts.rate ?? 8;
  let n = 0;
  const timer = setInterval(() => {
    for (let i = 0; i < rate; i++) {
      const cmd = demoStart(n++, opts.runTag, Date.now());
      opts.client.start(cmd).catch((err: unknown) => opts.onError(err));
    }
  }, 1_000);
  return { stop: () => clearInterval(timer), started: () => n };
}

/**
 * Demo action handlers: succeed after a few milliseconds, fail with a retryable error about 4 % of the time and for good
 * about 1 % of the time, decided by the idempotency key so a retry of the same step may succeed.
 */
export function flakyHandlers(actions: readonly string[], print?: (line: string) => void): Record<string, ActionHandler> {
  const handler: ActionHandler = async (inv) => {
    await new Promise((r) => setTimeout(r, 5 + (hash(inv.key) % 40)));
    const roll = hash(`${inv.key}#${inv.attempt}`) % 100;
    if (roll === 0) throw new ActionError(`${inv.action}: recipient rejected (550 mailbox does not exist)`, { retryable: false });
    if (roll < 5) throw new ActionError(`${inv.action}: provider busy (451 try again later)`);
    print?.(`[demo] ${inv.action} (${inv.journeyId}/${inv.stepId}, ${inv.tier})`);
  };
  return Object.fromEntries(actions.map((a) => [a, handler]));
}

function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

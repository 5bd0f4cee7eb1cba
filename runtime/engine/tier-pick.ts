/**
 * Which tier a free handler slot serves next (R9). Pure, so the dispatcher's policy is tested without a server.
 *
 * - The highest tier with queued work within its own number of handlers goes first; when no tier with work is within
 *   its number, any may borrow an idle slot.
 * - Every `shareEvery`-th pick serves the lower tiers with work, rotating among them, so none starves.
 * - While critical work is about (queued, running or seen within the last second), the lower tiers do not borrow, so
 *   critical's own slots stay free for it; and while the event loop is behind as well, they start nothing new beyond
 *   {@link LOWER_FLOOR} handlers in all. On one core, every handler in flight lengthens each turn of the loop that a
 *   critical message waits through (bench scenario 3: 64 low handlers in flight, critical p50 16 ms; 8 in flight,
 *   2.5 ms at the same drain rate), and a CPU-bound backlog gains nothing from more handlers. Handlers waiting on slow
 *   I/O do not hold the loop back, so they are not held back either.
 */
import { TIERS, type Tier } from '../../actors/priority.ts';

/** Lower-tier handlers that may always run, so the lower tiers keep moving while critical work is about. */
export const LOWER_FLOOR = 2;

export interface TierLoad {
  queued: Readonly<Record<Tier, number>>;
  active: Readonly<Record<Tier, number>>;
  limits: Readonly<Record<Tier, number>>;
}

export interface PickContext {
  /** Picks made so far, this one included. */
  picks: number;
  /** Every n-th pick serves the lower tiers (Infinity: never). */
  shareEvery: number;
  /** Critical work queued, running, or seen within the last second. */
  criticalAbout: boolean;
  /** The event loop runs behind its timers. */
  lagging: boolean;
}

export function pickTier(load: TierLoad, ctx: PickContext): Tier | undefined {
  let queued = TIERS.filter((t) => load.queued[t] > 0);
  if (ctx.criticalAbout && ctx.lagging) {
    const lower = TIERS.reduce((n, t) => (t === 'critical' ? n : n + load.active[t]), 0);
    if (lower >= LOWER_FLOOR) queued = queued.filter((t) => t === 'critical');
  }
  const own = queued.filter((t) => load.active[t] < load.limits[t]);
  const borrow = ctx.criticalAbout ? queued.filter((t) => t === 'critical') : queued;
  const withWork = own.length > 0 ? own : borrow;
  if (withWork.length === 0) return undefined;
  const lower = withWork.slice(1);
  return lower.length > 0 && ctx.picks % ctx.shareEvery === 0
    ? lower[Math.floor(ctx.picks / ctx.shareEvery) % lower.length]!
    : withWork[0]!;
}

import fc from 'fast-check';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { describe, expect, it } from 'vitest';
import { createActor } from 'xstate';
import { histogramOf, quantile } from '../actors/histogram.ts';
import {
  MONITOR_LIMITS,
  OTHER,
  OTHER_ERRORS,
  apply,
  applyAll,
  calendarFlags,
  emptyWindow,
  flushedStats,
  fromStats,
  mergeStats,
  mergeWindows,
  monitorMachine,
  normaliseError,
  toStats,
  type MetricEvent,
  type StatsWindow,
} from '../actors/monitor.ts';
import { TIERS, type Tier } from '../actors/priority.ts';
import { STATS_SCHEMA_REFERENCES, StatsMessageSchema, type StatsMessage } from '../schemas/stats.ts';

const T0 = Date.parse('2027-06-11T20:00:00Z');
const statsCheck = TypeCompiler.Compile(StatsMessageSchema, [...STATS_SCHEMA_REFERENCES]);
const valid = (m: StatsMessage): StatsMessage => {
  const errors = [...statsCheck.Errors(m)].slice(0, 3).map((e) => `${e.path}: ${e.message}`);
  expect(errors).toEqual([]);
  return m;
};
const aggregate = (events: readonly MetricEvent[], from: StatsWindow = emptyWindow()): StatsWindow =>
  events.reduce(apply, from);

const base = {
  at: T0,
  tier: 'medium' as Tier,
  vendorType: 'photographer',
  journeyId: 'photo-classic',
  weddingDay: false,
};
const started = (over: Partial<typeof base> = {}): MetricEvent => ({ type: 'execution.started', ...base, ...over });
const step = (
  stepId: string,
  outcome: 'done' | 'retry' | 'dead' | 'held',
  ms: number,
  over: Partial<typeof base> & { error?: string; action?: string } = {},
): MetricEvent => ({ type: 'step.finished', ...base, stepId, action: 'email.send', outcome, ms, ...over });
const breaker = (
  action: string,
  state: 'open' | 'half-open' | 'closed',
  at = T0,
  failureRate = state === 'closed' ? 0 : 0.6,
): MetricEvent => ({ type: 'breaker', at, action, state, failureRate });
const finished = (
  outcome: 'completed' | 'exited' | 'cancelled',
  ms: number,
  over: Partial<typeof base> = {},
): MetricEvent => ({
  type: 'execution.finished',
  ...base,
  outcome,
  ms,
  ...over,
});

describe('monitor - aggregation', () => {
  const events: MetricEvent[] = [
    started(),
    started({ tier: 'critical', weddingDay: true, vendorType: 'venue', journeyId: 'venue-final' }),
    step('welcome', 'done', 120),
    step('gallery', 'retry', 30_000, { error: 'timeout after 30000 ms' }),
    step('gallery', 'retry', 30_001, { error: 'timeout after 30001 ms' }),
    step('gallery', 'dead', 29_000, { error: 'HTTP 503' }),
    step('confirm', 'done', 80, { tier: 'critical', weddingDay: true, vendorType: 'venue', journeyId: 'venue-final' }),
    finished('completed', 5_000, { tier: 'critical', weddingDay: true, vendorType: 'venue', journeyId: 'venue-final' }),
    finished('cancelled', 9_000),
    { type: 'queue', at: T0, tier: 'critical', pending: 12, ackPending: 3 },
    { type: 'queue', at: T0 + 2, tier: 'critical', pending: 7, ackPending: 1 },
    { type: 'queue', at: T0 + 1, tier: 'critical', pending: 99, ackPending: 99 },
  ];
  const stats = valid(toStats(aggregate(events), { instance: 'i1', now: T0 + 5_000, windowMs: 5_000 }));

  it('monitor - totals count executions and steps, success rate is done / (done + dead)', () => {
    expect(stats.totals).toEqual({
      started: 2,
      completed: 1,
      exited: 0,
      cancelled: 1,
      failed: 1,
      stepsDone: 2,
      retried: 2,
      deadLettered: 1,
      successRate: 2 / 3,
    });
    expect(stats.latency.step.count).toBe(5);
    expect(stats.latency.step.max).toBe(30_001);
    expect(stats.latency.execution.count).toBe(2);
    expect(stats.latency.execution.p50).toBeCloseTo(5_000, -3);
  });

  it('monitor - per tier, vendor type, journey and step', () => {
    expect(stats.byTier.critical).toMatchObject({ started: 1, completed: 1, stepsDone: 1, successRate: 1 });
    expect(stats.byTier.medium).toMatchObject({ started: 1, cancelled: 1, stepsDone: 1, retried: 2, failed: 1 });
    expect(stats.byTier.low).toMatchObject({ started: 0, successRate: null });
    expect(stats.byTier.low.latency.step).toMatchObject({ count: 0, p50: null, p99: null, max: null });
    expect(Object.keys(stats.byVendor).sort()).toEqual(['photographer', 'venue']);
    expect(stats.byVendor['venue']).toMatchObject({ started: 1, completed: 1, stepsDone: 1 });
    const photo = stats.byJourney['photo-classic'];
    expect(photo).toMatchObject({ vendorType: 'photographer', started: 1, cancelled: 1 });
    expect(photo?.steps['gallery']).toMatchObject({ done: 0, retried: 2, failed: 1, successRate: 0 });
    expect(photo?.steps['gallery']?.latency.count).toBe(3);
    expect(photo?.steps['welcome']).toMatchObject({ done: 1, retried: 0, failed: 0, successRate: 1 });
  });

  it('monitor - wedding-day slice counts only wedding-day events', () => {
    expect(stats.weddingDay).toMatchObject({ started: 1, completed: 1, stepsDone: 1, failed: 0, successRate: 1 });
  });

  it('monitor - queue length per tier is the newest reading, whatever the arrival order', () => {
    expect(stats.queues.critical).toEqual({ pending: 7, ackPending: 1 });
    expect(stats.queues.low).toEqual({ pending: 0, ackPending: 0 });
  });

  it('monitor - top errors are ranked by count, with numbers and ids masked', () => {
    expect(stats.topErrors).toEqual([
      { message: 'timeout after # ms', count: 2 },
      { message: 'HTTP 503', count: 1 },
    ]);
    expect(normaliseError('no route for ex_abcdefghijklmnopqrstuvwxyz at 1718000000000')).toBe(
      'no route for ex_* at #',
    );
    expect(normaliseError('bad object 64b7f0c2a9e1d3f4a5b6c7d8 (deadline 1500 ms)')).toBe(
      'bad object <hex> (deadline # ms)',
    );
    expect(normaliseError(undefined)).toBe('(no message)');
    expect(normaliseError('x'.repeat(500))).toHaveLength(MONITOR_LIMITS.errorLength);
  });

  it('monitor - apply leaves the window it was given unchanged', () => {
    const w = aggregate(events.slice(0, 3));
    const before = JSON.stringify(w);
    apply(w, step('welcome', 'dead', 10, { error: 'boom' }));
    expect(JSON.stringify(w)).toBe(before);
  });

  it('monitor - keys that are Object.prototype names stay plain keys', () => {
    const w = aggregate([
      started({ vendorType: '__proto__', journeyId: 'constructor' }),
      step('toString', 'done', 5, { vendorType: '__proto__', journeyId: 'constructor' }),
      started({ vendorType: 'hasOwnProperty', journeyId: '__proto__' }),
    ]);
    const s = JSON.parse(JSON.stringify(toStats(w, { instance: 'i', now: T0, windowMs: 1 }))) as StatsMessage;
    expect(Object.keys(s.byVendor).sort()).toEqual(['__proto__', 'hasOwnProperty']);
    expect(Object.keys(s.byJourney).sort()).toEqual(['__proto__', 'constructor']);
    expect(s.byJourney['constructor']?.steps['toString']?.done).toBe(1);
    expect(Object.getPrototypeOf(s.byVendor)).toBe(Object.prototype);
  });
});

describe('monitor - bounded cardinality', () => {
  it('monitor - journeys past 200 and steps past 50 go to _other, and no count is lost', () => {
    const events: MetricEvent[] = [];
    for (let j = 0; j < 260; j++) events.push(started({ journeyId: `j${j}` }));
    for (let s = 0; s < 70; s++) events.push(step(`s${s}`, 'done', 10 + s, { journeyId: 'j0' }));
    const w = aggregate(events);
    const journeys = Object.keys(w.byJourney);
    expect(journeys).toHaveLength(MONITOR_LIMITS.journeys + 1);
    expect(w.byJourney[OTHER]?.started).toBe(60);
    expect(Object.values(w.byJourney).reduce((n, j) => n + j.started, 0)).toBe(260);
    const steps = w.byJourney['j0']?.steps ?? {};
    expect(Object.keys(steps)).toHaveLength(MONITOR_LIMITS.stepsPerJourney + 1);
    expect(steps[OTHER]?.done).toBe(20);
  });

  it('monitor - merging windows re-bounds them, keeping the busiest journeys', () => {
    const a = aggregate(Array.from({ length: 200 }, (_, j) => started({ journeyId: `a${j}` })));
    const busy = Array.from({ length: 200 }, (_, j) => started({ journeyId: `b${j}` }));
    const b = aggregate([...busy, ...busy]);
    const merged = mergeWindows(a, b);
    expect(Object.keys(merged.byJourney)).toHaveLength(MONITOR_LIMITS.journeys + 1);
    expect(merged.byJourney['b0']?.started).toBe(2);
    expect(merged.byJourney['a0']).toBeUndefined();
    expect(merged.byJourney[OTHER]?.started).toBe(200);
    expect(merged.byJourney[OTHER]?.vendorType).toBe('photographer');
  });

  it('monitor - distinct errors past the limit are counted together', () => {
    const w = aggregate(Array.from({ length: 130 }, (_, i) => step('s', 'retry', 1, { error: `error kind ${i}` })));
    expect(w.errors).toHaveLength(MONITOR_LIMITS.errors + 1);
    expect(w.errors.find(([m]) => m === OTHER_ERRORS)?.[1]).toBe(30);
    const s = toStats(w, { instance: 'i', now: T0, windowMs: 1 });
    expect(s.topErrors).toHaveLength(MONITOR_LIMITS.topErrors);
    expect(s.topErrors[0]).toEqual({ message: OTHER_ERRORS, count: 30 });
  });

  it('monitor - vendor and journey keys are capped in length', () => {
    const w = aggregate([started({ vendorType: 'v'.repeat(300) })]);
    expect(Object.keys(w.byVendor)[0]).toHaveLength(MONITOR_LIMITS.keyLength);
  });
});

describe('monitor - per action (R13)', () => {
  const round1 = (x: number | undefined): number | null => (x === undefined ? null : Math.round(x * 10) / 10);
  const email = [100, 200, 300, 1_000, 2_000];
  const events: MetricEvent[] = [
    step('welcome', 'done', email[0]!),
    step('welcome', 'done', email[1]!, { journeyId: 'venue-final', vendorType: 'venue' }),
    step('thanks', 'done', email[2]!),
    step('thanks', 'retry', email[3]!, { error: 'HTTP 503' }),
    step('thanks', 'dead', email[4]!, { error: 'HTTP 503' }),
    step('text', 'done', 50, { action: 'sms.send' }),
    // Held by an open circuit: no attempt was made, by a step that never ran otherwise.
    step('charge', 'held', 0, { action: 'payment.capture' }),
    step('charge', 'held', 0, { action: 'payment.capture' }),
    step('text', 'held', 0, { action: 'sms.send' }),
  ];
  const stats = valid(toStats(aggregate(events), { instance: 'i1', now: T0 + 5_000, windowMs: 5_000 }));

  it('monitor - per action: ok, failed (retried and dead), held, success rate and p50/p99 from its histogram', () => {
    const h = histogramOf(email);
    expect(stats.byAction?.['email.send']).toMatchObject({
      ok: 3,
      failed: 2,
      held: 0,
      attempts: 5,
      successRate: 3 / 5,
    });
    const latency = stats.byAction?.['email.send']?.latency;
    expect(latency).toMatchObject({
      count: 5,
      p50: round1(quantile(h, 0.5)),
      p99: round1(quantile(h, 0.99)),
      max: 2_000,
    });
    // The histogram's promise: within 4 % of the exact median (300) and 99th percentile (2000).
    expect(Math.abs((latency?.p50 ?? 0) - 300) / 300).toBeLessThanOrEqual(0.04);
    expect(Math.abs((latency?.p99 ?? 0) - 2_000) / 2_000).toBeLessThanOrEqual(0.04);
    expect(stats.byAction?.['sms.send']).toMatchObject({ ok: 1, failed: 0, held: 1, attempts: 1, successRate: 1 });
    expect(stats.byAction?.['sms.send']?.latency.count).toBe(1);
    expect(stats.byAction?.['payment.capture']).toMatchObject({ ok: 0, failed: 0, held: 2, attempts: 0, successRate: null });
    expect(stats.byAction?.['payment.capture']?.latency).toMatchObject({ count: 0, p50: null, p99: null });
    expect(stats.cumulative.byAction?.['email.send']).toEqual(stats.byAction?.['email.send']);
  });

  it('monitor - a held step counts as neither success nor failure anywhere else, and has no latency or error', () => {
    expect(stats.totals).toMatchObject({ stepsDone: 4, retried: 1, failed: 1, successRate: 4 / 5 });
    expect(stats.latency.step.count).toBe(6);
    expect(stats.byJourney['photo-classic']?.steps['charge']).toBeUndefined();
    expect(stats.byJourney['photo-classic']?.steps['text']).toMatchObject({ done: 1, retried: 0, failed: 0 });
    expect(stats.topErrors).toEqual([{ message: 'HTTP 503', count: 2 }]);
  });

  it('monitor - actions past 100 are counted under _other', () => {
    const w = aggregate(Array.from({ length: 130 }, (_, i) => step('s', 'done', 5, { action: `action.${i}` })));
    expect(Object.keys(w.byAction)).toHaveLength(MONITOR_LIMITS.actions + 1);
    expect(w.byAction[OTHER]?.ok).toBe(30);
    expect(Object.values(w.byAction).reduce((n, a) => n + a.ok, 0)).toBe(130);
  });

  it('monitor - a circuit is its last reported state, with the worst of the window; the next window starts from the state', () => {
    const actor = createActor(monitorMachine, { input: { now: T0 } }).start();
    actor.send({
      type: 'METRICS',
      events: [breaker('payment.capture', 'open', T0 + 1, 0.7), breaker('payment.capture', 'half-open', T0 + 2), breaker('sms.send', 'open', T0 + 3)],
    });
    actor.send({ type: 'METRIC', event: breaker('payment.capture', 'closed', T0 + 4) });
    actor.send({ type: 'FLUSH', now: T0 + 5_000 });
    const first = valid(flushedStats(actor.getSnapshot().context.last!, { instance: 'i1' }));
    expect(first.circuits).toEqual({
      'payment.capture': { state: 'closed', worst: 'open', failureRate: 0, at: new Date(T0 + 4).toISOString() },
      'sms.send': { state: 'open', worst: 'open', failureRate: 0.6, at: new Date(T0 + 3).toISOString() },
    });
    // No new report: the states stand (a gauge), and the worst is now the state.
    actor.send({ type: 'FLUSH', now: T0 + 10_000 });
    const second = flushedStats(actor.getSnapshot().context.last!, { instance: 'i1' });
    expect(second.circuits).toEqual({
      'payment.capture': { state: 'closed', worst: 'closed', failureRate: 0, at: new Date(T0 + 4).toISOString() },
      'sms.send': { state: 'open', worst: 'open', failureRate: 0.6, at: new Date(T0 + 3).toISOString() },
    });
    expect(second.cumulative.byAction).toEqual({});
    actor.stop();
  });

  it('monitor - cluster-wide, per-action counts and histograms add up and each circuit is the worst an instance reports', () => {
    const one = toStats(
      aggregate([
        step('a', 'done', 100),
        step('a', 'retry', 900, { error: 'x' }),
        breaker('email.send', 'open', T0 + 1),
        breaker('sms.send', 'open', T0 + 1),
        breaker('sms.send', 'half-open', T0 + 2),
        breaker('push.send', 'open', T0 + 1),
        breaker('push.send', 'closed', T0 + 2),
      ]),
      { instance: 'i1', now: T0 + 5_000, windowMs: 5_000 },
    );
    const two = toStats(
      aggregate([
        step('a', 'done', 300),
        step('a', 'held', 0),
        step('b', 'dead', 40_000, { action: 'sms.send', error: 'y' }),
        breaker('email.send', 'open', T0 + 3, 0.9),
        breaker('email.send', 'half-open', T0 + 4),
        breaker('email.send', 'closed', T0 + 5),
        breaker('sms.send', 'open', T0 + 3),
      ]),
      { instance: 'i2', now: T0 + 5_000, windowMs: 5_000 },
    );
    const cluster = valid(mergeStats([one, two], T0 + 5_000));
    expect(cluster.byAction?.['email.send']).toMatchObject({ ok: 2, failed: 1, held: 1, attempts: 3, successRate: 2 / 3 });
    expect(cluster.byAction?.['email.send']?.latency.p99).toBe(round1(quantile(histogramOf([100, 900, 300]), 0.99)));
    expect(cluster.byAction?.['sms.send']).toMatchObject({ ok: 0, failed: 1, held: 0, attempts: 1, successRate: 0 });
    expect(cluster.cumulative.byAction?.['email.send']?.attempts).toBe(3);
    expect(cluster.circuits).toEqual({
      // i1 holds it open (0.6); i2 opened it at 0.9 and closed it again: open, the worst of both, the highest rate reported last.
      'email.send': { state: 'open', worst: 'open', failureRate: 0.6, at: new Date(T0 + 5).toISOString() },
      'sms.send': { state: 'open', worst: 'open', failureRate: 0.6, at: new Date(T0 + 3).toISOString() },
      'push.send': { state: 'closed', worst: 'open', failureRate: 0, at: new Date(T0 + 2).toISOString() },
    });
    // The same in either order.
    expect(mergeStats([two, one], T0 + 5_000).circuits).toEqual(cluster.circuits);
  });

  it('monitor - messages from before R13 (no byAction, no circuits) merge as having none', () => {
    const now = toStats(aggregate([step('a', 'done', 10), breaker('email.send', 'open')]), { instance: 'i1', now: T0, windowMs: 1 });
    const old = toStats(aggregate([started()]), { instance: 'i0', now: T0, windowMs: 1 });
    delete old.byAction;
    delete old.circuits;
    delete old.cumulative.byAction;
    const cluster = valid(mergeStats([valid(old), now], T0));
    expect(cluster.byAction?.['email.send']?.ok).toBe(1);
    expect(cluster.circuits?.['email.send']?.state).toBe('open');
    expect(cluster.totals.started).toBe(1);
  });
});

// Events with integer latencies, so histogram sums are exact in any order. Fewer keys than the bounds: merging is exact.
const tierArb = fc.constantFrom(...TIERS);
const ctx = fc.record({
  at: fc.integer({ min: T0, max: T0 + 60_000 }),
  tier: tierArb,
  vendorType: fc.constantFrom('photographer', 'venue', 'caterer'),
  journeyId: fc.constantFrom('j1', 'j2', 'j3', 'j4'),
  weddingDay: fc.boolean(),
});
const eventArb: fc.Arbitrary<MetricEvent> = fc.oneof(
  ctx.map((c): MetricEvent => ({ type: 'execution.started', ...c })),
  fc
    .tuple(
      ctx,
      fc.constantFrom('a', 'b', 'c'),
      fc.constantFrom('done', 'retry', 'dead', 'held') as fc.Arbitrary<'done' | 'retry' | 'dead' | 'held'>,
      fc.constantFrom('email.send', 'sms.send', 'payment.capture'),
    )
    .chain(([c, stepId, outcome, action]) =>
      fc
        .record({ ms: fc.integer({ min: 0, max: 5_000_000 }), error: fc.constantFrom('boom', 'HTTP 500', 'timeout') })
        .map(({ ms, error }): MetricEvent => ({
          type: 'step.finished',
          ...c,
          stepId,
          action,
          outcome,
          ms: outcome === 'held' ? 0 : ms,
          ...(outcome === 'done' ? {} : { error }),
        })),
    ),
  fc
    .tuple(
      ctx,
      fc.constantFrom('completed', 'exited', 'cancelled') as fc.Arbitrary<'completed' | 'exited' | 'cancelled'>,
      fc.integer({ min: 0, max: 600_000 }),
    )
    .map(([c, outcome, ms]): MetricEvent => ({ type: 'execution.finished', ...c, outcome, ms })),
);
const activityOnly = fc.array(eventArb, { maxLength: 80 });
const breakerArb: fc.Arbitrary<MetricEvent> = fc
  .tuple(
    fc.integer({ min: T0, max: T0 + 60_000 }),
    fc.constantFrom('email.send', 'sms.send'),
    fc.constantFrom('open', 'half-open', 'closed') as fc.Arbitrary<'open' | 'half-open' | 'closed'>,
    fc.integer({ min: 0, max: 100 }),
  )
  .map(([at, action, state, percent]) => ({ type: 'breaker', at, action, state, failureRate: percent / 100 }));
/** Activity and circuit changes: for what does not compare one instance's events with another's. */
const withBreakers = fc.array(fc.oneof(eventArb, breakerArb), { maxLength: 80 });
const withoutQueues = (w: StatsWindow) => ({
  ...w,
  queues: null,
  errors: [...w.errors].sort((x, y) => (x[0] < y[0] ? -1 : 1)),
});

describe('monitor - merging', () => {
  it('monitor - merging two instances windows equals aggregating all events in one', () => {
    fc.assert(
      fc.property(activityOnly, activityOnly, (xs, ys) => {
        const merged = mergeWindows(aggregate(xs), aggregate(ys));
        expect(withoutQueues(merged)).toEqual(withoutQueues(aggregate([...xs, ...ys])));
        expect(withoutQueues(mergeWindows(aggregate(ys), aggregate(xs)))).toEqual(withoutQueues(merged));
      }),
      { numRuns: 200 },
    );
  });

  it('monitor - mergeWindows is associative', () => {
    fc.assert(
      fc.property(withBreakers, withBreakers, withBreakers, (xs, ys, zs) => {
        const [a, b, c] = [aggregate(xs), aggregate(ys), aggregate(zs)];
        expect(withoutQueues(mergeWindows(mergeWindows(a, b), c))).toEqual(
          withoutQueues(mergeWindows(a, mergeWindows(b, c))),
        );
      }),
      { numRuns: 100 },
    );
  });

  it('monitor - queue readings add up across instances', () => {
    const a = aggregate([{ type: 'queue', at: T0, tier: 'high', pending: 10, ackPending: 2 }]);
    const b = aggregate([{ type: 'queue', at: T0 + 9, tier: 'high', pending: 5, ackPending: 1 }]);
    expect(mergeWindows(a, b).queues.high).toEqual({ pending: 15, ackPending: 3, at: T0 + 9 });
  });

  it('monitor - mergeStats gives cluster percentiles from merged histograms, not averaged percentiles', () => {
    fc.assert(
      fc.property(activityOnly, activityOnly, (xs, ys) => {
        const one = toStats(aggregate(xs), { instance: 'i1', now: T0 + 5_000, windowMs: 5_000 });
        const two = toStats(aggregate(ys), { instance: 'i2', now: T0 + 5_100, windowMs: 5_100 });
        const cluster = valid(mergeStats([one, two], T0 + 6_000));
        const whole = toStats(aggregate([...xs, ...ys]), { instance: 'cluster', now: T0 + 6_000, windowMs: 5_100 });
        expect(cluster.instances).toBe(2);
        expect({ ...cluster, topErrors: null, cumulative: null, instances: 1 }).toEqual({
          ...whole,
          topErrors: null,
          cumulative: null,
        });
        const latencies = [...xs, ...ys].flatMap((e) => (e.type === 'step.finished' && e.outcome !== 'held' ? [e.ms] : []));
        expect(cluster.latency.step.p99).toBe(
          latencies.length === 0 ? null : Math.round((quantile(histogramOf(latencies), 0.99) ?? 0) * 10) / 10,
        );
      }),
      { numRuns: 100 },
    );
  });

  it('monitor - mergeStats adds queues and cumulative totals and keeps the earliest start', () => {
    const one = toStats(aggregate([started(), { type: 'queue', at: T0, tier: 'low', pending: 4, ackPending: 3 }]), {
      instance: 'i1',
      now: T0 + 5_000,
      windowMs: 5_000,
      cumulative: { since: T0 - 60_000, window: aggregate([started(), started()]) },
    });
    const two = toStats(aggregate([{ type: 'queue', at: T0, tier: 'low', pending: 6, ackPending: 1 }]), {
      instance: 'i2',
      now: T0 + 5_001, // the newest message: its zone is the cluster's
      windowMs: 5_000,
      timeZone: 'Pacific/Auckland',
      cumulative: { since: T0 - 30_000, window: aggregate([started()]) },
    });
    const cluster = valid(mergeStats([one, two], T0 + 5_000));
    expect(cluster.queues.low).toEqual({ pending: 10, ackPending: 4 });
    expect(mergeStats([one, two], T0 + 5_000, { queues: 'max' }).queues.low).toEqual({ pending: 6, ackPending: 3 });
    // The runtime's readings: the consumer's pending seen by each (max), each instance's unacknowledged share (sum).
    expect(mergeStats([one, two], T0 + 5_000, { queues: 'deliveries' }).queues.low).toEqual({ pending: 6, ackPending: 4 });
    expect(cluster.cumulative.totals.started).toBe(3);
    expect(cluster.cumulative.since).toBe(new Date(T0 - 60_000).toISOString());
    expect(cluster.flags.timeZone).toBe('Pacific/Auckland');
    expect(mergeStats([], T0).instances).toBe(0);
  });

  it('monitor - fromStats reads back the window a message was rendered from', () => {
    fc.assert(
      fc.property(withBreakers, (xs) => {
        const w = aggregate(xs);
        const back = fromStats(
          JSON.parse(JSON.stringify(toStats(w, { instance: 'i', now: T0, windowMs: 1 }))) as StatsMessage,
        );
        expect(withoutQueues(back)).toEqual(withoutQueues(w));
      }),
      { numRuns: 100 },
    );
  });
});

/** Freezes a value and everything in it, so any write throws (test files are ES modules: strict mode). */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

describe('monitor - batches', () => {
  it('monitor - applyAll equals applying one event at a time, and never writes to the window it was given', () => {
    fc.assert(
      fc.property(withBreakers, withBreakers, (xs, ys) => {
        const start = deepFreeze(aggregate(xs));
        const batched = applyAll(start, ys);
        expect(batched).toEqual(aggregate(ys, start));
        expect(applyAll(batched, [])).toEqual(batched);
      }),
      { numRuns: 200 },
    );
  });

  it('monitor - applyAll stays bounded and safe for odd keys within one batch', () => {
    const events = [
      ...Array.from({ length: 230 }, (_, j) => started({ journeyId: j === 0 ? '__proto__' : `j${j}` })),
      ...Array.from({ length: 60 }, (_, s) => step(`s${s}`, 'retry', 5, { journeyId: '__proto__', error: `e${s}` })),
    ];
    const w = applyAll(deepFreeze(emptyWindow()), events);
    expect(Object.keys(w.byJourney)).toHaveLength(MONITOR_LIMITS.journeys + 1);
    expect(Object.getPrototypeOf(w.byJourney)).toBe(Object.prototype);
    expect(Object.keys(w.byJourney['__proto__']?.steps ?? {})).toHaveLength(MONITOR_LIMITS.stepsPerJourney + 1);
    expect(w).toEqual(aggregate(events));
  });
});

describe('monitor - calendar flags', () => {
  it('monitor - a Saturday morning in Auckland is still Friday in UTC', () => {
    const fridayUtc = Date.parse('2027-06-11T20:00:00Z'); // 08:00 Saturday 12 June in Auckland (NZST, +12)
    expect(calendarFlags(fridayUtc, 'UTC')).toEqual({ saturday: false, season: true, timeZone: 'UTC' });
    expect(calendarFlags(fridayUtc, 'Pacific/Auckland')).toEqual({
      saturday: true,
      season: true,
      timeZone: 'Pacific/Auckland',
    });
    const s = toStats(emptyWindow(), { instance: 'i', now: fridayUtc, windowMs: 0, timeZone: 'Pacific/Auckland' });
    expect(s.flags.saturday).toBe(true);
  });

  it('monitor - season is May to October in the local calendar', () => {
    const lastOfApril = Date.parse('2027-04-30T13:00:00Z'); // already 1 May, 01:00, in Auckland
    expect(calendarFlags(lastOfApril, 'UTC').season).toBe(false);
    expect(calendarFlags(lastOfApril, 'Pacific/Auckland').season).toBe(true);
    expect(calendarFlags(Date.parse('2027-10-31T12:00:00Z')).season).toBe(true);
    expect(calendarFlags(Date.parse('2027-11-01T12:00:00Z')).season).toBe(false);
    expect(calendarFlags(Date.parse('2027-11-13T12:00:00Z'))).toEqual({
      saturday: true,
      season: false,
      timeZone: 'UTC',
    });
  });

  it('monitor - an unknown zone is a RangeError', () => {
    expect(() => calendarFlags(T0, 'Mars/Olympus')).toThrow(RangeError);
  });
});

describe('monitor - machine', () => {
  const metric = (event: MetricEvent) => ({ type: 'METRIC' as const, event });

  it('monitor - FLUSH moves the window to last and starts a new one that keeps the queue readings', () => {
    const actor = createActor(monitorMachine, { input: { now: T0 } }).start();
    actor.send(metric(started()));
    actor.send(metric({ type: 'queue', at: T0 + 1, tier: 'high', pending: 40, ackPending: 2 }));
    actor.send({ type: 'FLUSH', now: T0 + 5_000 });
    const { context } = actor.getSnapshot();
    expect(context.last).not.toBeNull();
    const first = valid(flushedStats(context.last!, { instance: 'i1', timeZone: 'Europe/London' }));
    expect(first).toMatchObject({ instance: 'i1', windowMs: 5_000, at: new Date(T0 + 5_000).toISOString() });
    expect(first.totals.started).toBe(1);
    expect(context.window.totals.started).toBe(0);
    expect(context.window.queues.high).toMatchObject({ pending: 40, ackPending: 2 });

    actor.send(metric(started({ at: T0 + 6_000 })));
    actor.send(metric(started({ at: T0 + 7_000 })));
    actor.send({ type: 'FLUSH', now: T0 + 10_000 });
    const second = flushedStats(actor.getSnapshot().context.last!, { instance: 'i1' });
    expect(second.totals.started).toBe(2);
    expect(second.queues.high).toEqual({ pending: 40, ackPending: 2 });
    expect(second.cumulative.totals.started).toBe(3);
    expect(second.cumulative.since).toBe(new Date(T0).toISOString());
    expect(actor.getSnapshot().context.flushes).toBe(2);
    actor.stop();
  });

  it('monitor - METRICS folds a batch like the same METRIC events one by one', () => {
    fc.assert(
      fc.property(withBreakers, (xs) => {
        const one = createActor(monitorMachine, { input: { now: T0 } }).start();
        const batch = createActor(monitorMachine, { input: { now: T0 } }).start();
        for (const e of xs) one.send(metric(e));
        batch.send({ type: 'METRICS', events: xs });
        expect(batch.getSnapshot().context.window).toEqual(one.getSnapshot().context.window);
        one.stop();
        batch.stop();
      }),
      { numRuns: 50 },
    );
  });

  it('monitor - without input the window starts at the first event', () => {
    const actor = createActor(monitorMachine).start();
    actor.send(metric(started({ at: T0 + 1_000 })));
    actor.send({ type: 'FLUSH', now: T0 + 4_000 });
    const last = actor.getSnapshot().context.last!;
    expect([last.from, last.to, last.since]).toEqual([T0 + 1_000, T0 + 4_000, T0 + 1_000]);
    actor.stop();
  });

  it('monitor - a persisted snapshot restored from JSON gives the same stats', () => {
    fc.assert(
      fc.property(withBreakers, withBreakers, (before, after) => {
        const a = createActor(monitorMachine, { input: { now: T0 } }).start();
        for (const e of before) a.send(metric(e));
        a.send({ type: 'FLUSH', now: T0 + 5_000 });
        for (const e of before.slice(0, 5)) a.send(metric(e));
        const persisted = JSON.parse(JSON.stringify(a.getPersistedSnapshot())) as ReturnType<
          typeof a.getPersistedSnapshot
        >;
        const b = createActor(monitorMachine, { snapshot: persisted }).start();
        for (const actor of [a, b]) {
          for (const e of after) actor.send(metric(e));
          actor.send({ type: 'FLUSH', now: T0 + 10_000 });
        }
        const stats = (x: typeof a) => flushedStats(x.getSnapshot().context.last!, { instance: 'i1' });
        expect(stats(b)).toEqual(stats(a));
        a.stop();
        b.stop();
      }),
      { numRuns: 30 },
    );
  });
});

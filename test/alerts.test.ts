import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_THRESHOLDS,
  activeAlerts,
  alertStateProblem,
  emptyAlertState,
  evaluateAlerts,
  thresholdsWith,
  type AlertEvent,
  type AlertState,
  type Thresholds,
} from '../actors/alerts.ts';
import { createActor } from 'xstate';
import { apply, emptyWindow, flushedStats, mergeStats, monitorMachine, toStats, type MetricEvent } from '../actors/monitor.ts';
import type { Tier } from '../actors/priority.ts';
import type { CircuitState, StatsMessage } from '../schemas/stats.ts';

const T0 = Date.parse('2027-06-12T09:00:00Z');
const EVERY = 5_000;

/** A stats message (as the monitor renders it) for one window of events. */
function stats(events: readonly MetricEvent[], now: number): StatsMessage {
  return toStats(events.reduce(apply, emptyWindow()), { instance: 'cluster', now, windowMs: EVERY });
}
const steps = (
  n: number,
  outcome: 'done' | 'dead',
  over: { weddingDay?: boolean; vendorType?: string; ms?: number; tier?: Tier } = {},
): MetricEvent[] =>
  Array.from({ length: n }, () => ({
    type: 'step.finished',
    at: T0,
    tier: over.tier ?? 'critical',
    vendorType: over.vendorType ?? 'photographer',
    journeyId: 'j',
    stepId: 's',
    action: 'email.send',
    outcome,
    ms: over.ms ?? 200,
    weddingDay: over.weddingDay ?? true,
    ...(outcome === 'dead' ? { error: 'boom' } : {}),
  }));
const queue = (tier: Tier, pending: number): MetricEvent => ({ type: 'queue', at: T0, tier, pending, ackPending: 0 });

/** Runs one evaluation per window, `EVERY` ms apart; returns all events and the final state. */
function run(
  windows: readonly MetricEvent[][],
  t: Thresholds = DEFAULT_THRESHOLDS,
  from: AlertState = emptyAlertState(),
) {
  let state = from;
  const events: (AlertEvent & { evaluation: number })[] = [];
  windows.forEach((w, i) => {
    const now = T0 + (i + 1) * EVERY;
    const out = evaluateAlerts(state, stats(w, now), t, now);
    state = out.state;
    events.push(...out.events.map((e) => ({ ...e, evaluation: i })));
  });
  return { state, events };
}
const times = <T>(n: number, make: (i: number) => T): T[] => Array.from({ length: n }, (_, i) => make(i));

describe('alerts - thresholds', () => {
  it('alerts - defaults are the R21 numbers', () => {
    expect(DEFAULT_THRESHOLDS).toMatchObject({
      maxExecutionMs: 30_000,
      maxExecutionMsByVendor: { photographer: 25_000, venue: 15_000, caterer: 20_000, florist: 18_000 },
      weddingDaySuccess: 0.999,
      maxQueueLength: 1_000,
      overallSuccess: 0.95,
      minSamples: 20,
    });
    expect(Object.isFrozen(DEFAULT_THRESHOLDS)).toBe(true);
  });

  it('alerts - thresholdsWith overrides fields and merges per-vendor limits over the defaults', () => {
    const t = thresholdsWith({
      maxQueueLength: 500,
      maxExecutionMsByVendor: { planner: 10_000, venue: 12_000 },
      minSamples: undefined,
    });
    expect(t.maxQueueLength).toBe(500);
    expect(t.minSamples).toBe(20);
    expect(t.maxExecutionMsByVendor).toEqual({
      photographer: 25_000,
      venue: 12_000,
      caterer: 20_000,
      florist: 18_000,
      planner: 10_000,
    });
    expect(DEFAULT_THRESHOLDS.maxExecutionMsByVendor['venue']).toBe(15_000);
  });

  it.each<[string, Record<string, unknown>, RegExp]>([
    ['an unknown field', { maxQueueLenght: 10 }, /unknown threshold "maxQueueLenght"/],
    ['a negative time', { maxExecutionMs: -1 }, /maxExecutionMs must be a number of ms > 0/],
    ['a rate above 1', { weddingDaySuccess: 99.9 }, /weddingDaySuccess must be a rate in \[0, 1\]/],
    ['a fractional count', { raiseAfter: 1.5 }, /raiseAfter must be an integer >= 1/],
    ['a non-number', { maxQueueLength: '1000' }, /maxQueueLength must be a number >= 0/],
    ['a bad vendor limit', { maxExecutionMsByVendor: { venue: 0 } }, /maxExecutionMsByVendor.venue/],
    ['a margin of 1', { clearMargin: 1 }, /clearMargin must be a share in \[0, 1\)/],
  ])('alerts - thresholdsWith rejects %s with a RangeError', (_, partial, message) => {
    expect(() => thresholdsWith(partial as Partial<Thresholds>)).toThrow(RangeError);
    expect(() => thresholdsWith(partial as Partial<Thresholds>)).toThrow(message);
  });
});

describe('alerts - wedding-day success', () => {
  it('alerts - an injected failure rate raises exactly one critical alert, which clears once the rate recovers', () => {
    const healthy = () => [...steps(50, 'done'), ...steps(50, 'done', { weddingDay: false, tier: 'low' })];
    const failing = () => [
      ...steps(49, 'done'),
      ...steps(1, 'dead'),
      ...steps(50, 'done', { weddingDay: false, tier: 'low' }),
    ];
    const { events, state } = run([...times(20, healthy), ...times(60, failing), ...times(40, healthy)]);
    const wedding = events.filter((e) => e.rule === 'wedding-day-success');
    expect(wedding.map((e) => [e.type, e.severity])).toEqual([
      ['raised', 'critical'],
      ['cleared', 'critical'],
    ]);
    const [raised, cleared] = wedding;
    // Raised on the second failing evaluation (hysteresis), cleared after the failures left the 60 s window plus 3 evaluations.
    expect(raised?.evaluation).toBe(21);
    expect(raised).toMatchObject({ id: 'wedding-day-success', threshold: 0.999 });
    expect(raised?.value).toBeLessThan(0.999);
    expect(raised?.message).toMatch(/wedding-day step success is 9\d\.\d+ %, below 99\.9 %/);
    expect(cleared?.evaluation).toBeGreaterThan(80);
    expect(cleared?.evaluation).toBeLessThan(100);
    // The overall rate (99 %) stayed above 95 %: no other alert.
    expect(events.filter((e) => e.rule !== 'wedding-day-success')).toEqual([]);
    expect(activeAlerts(state)).toEqual([]);
  });

  it('alerts - fewer than minSamples steps never raise a rate alert, however bad', () => {
    const oneDeadEach = times(100, () => steps(1, 'dead'));
    expect(run(oneDeadEach).events).toEqual([]);
    const lowerBar = run(oneDeadEach, thresholdsWith({ minSamples: 5 })).events;
    expect(lowerBar.map((e) => `${e.type} ${e.id}`)).toEqual(['raised wedding-day-success', 'raised overall-success']);
  });

  it('alerts - a persisted state is fit to continue from after a JSON round trip; a damaged one is named, not used', () => {
    const failing = () => [...steps(49, 'done'), ...steps(1, 'dead')];
    const { state } = run(times(30, failing));
    expect(activeAlerts(state).length).toBeGreaterThan(0); // a state with a raised alert and samples in it
    const stored = JSON.parse(JSON.stringify(state)) as unknown;
    expect(alertStateProblem(stored)).toBeUndefined();
    const damaged: [unknown, RegExp][] = [
      [null, /not an object/],
      [[], /not an object/],
      [{ ...state, rules: 'x' }, /rules/],
      [{ ...state, rules: { a: { rule: 'wedding-day-success', active: true, severity: 'critical', breaches: 'two', oks: 0, since: 1 } } }, /rules\.a/],
      [{ ...state, samples: { overall: [{ at: 1, good: 1, bad: null }], weddingDay: [] } }, /samples\.overall/],
      [{ rules: {} }, /samples/],
    ];
    for (const [value, problem] of damaged) expect(alertStateProblem(value)).toMatch(problem);
  });

  it('alerts - overall success below 95 % is a warning', () => {
    const bad = () => [...steps(90, 'done', { weddingDay: false }), ...steps(10, 'dead', { weddingDay: false })];
    const { events } = run(times(5, bad));
    expect(events.map((e) => [e.id, e.severity, e.type])).toEqual([['overall-success', 'warning', 'raised']]);
  });
});

describe('alerts - hysteresis', () => {
  const queueRun = (lengths: readonly number[], t?: Thresholds) =>
    run(
      lengths.map((n) => [queue('high', n)]),
      t,
    );

  it('alerts - a value alternating around the threshold raises nothing, a value hovering above it raises once', () => {
    expect(queueRun(times(50, (i) => (i % 2 === 0 ? 1_100 : 900))).events).toEqual([]);
    const hover = [1_100, 1_100, ...times(50, (i) => (i % 2 === 0 ? 950 : 1_100)), 800, 800, 800];
    const { events } = queueRun(hover);
    expect(events.map((e) => [e.type, e.id, e.evaluation])).toEqual([
      ['raised', 'queue-length:high', 1],
      ['cleared', 'queue-length:high', hover.length - 1],
    ]);
  });

  it('alerts - an active alert clears only after clearAfter evaluations within the margin', () => {
    // 950 is within the threshold but not by the 10 % margin: it does not count towards clearing.
    const { events } = queueRun([2_000, 2_000, 900, 900, 950, 900, 900, 900]);
    expect(events.map((e) => [e.type, e.evaluation])).toEqual([
      ['raised', 1],
      ['cleared', 7],
    ]);
  });

  it('alerts - a queue over 5x the limit is critical, and a warning escalates once', () => {
    const { events } = queueRun([1_500, 1_500, 6_000, 6_000, 6_000, 7_000, 1_500, 100, 100, 100]);
    expect(events.map((e) => [e.type, e.severity, e.evaluation])).toEqual([
      ['raised', 'warning', 1],
      ['raised', 'critical', 3],
      ['cleared', 'critical', 9],
    ]);
    expect(queueRun([6_000, 6_000]).events.map((e) => e.severity)).toEqual(['critical']);
  });

  it('alerts - any sequence gives alternating raised and cleared per alert, never a storm', () => {
    const lengths = fc.array(fc.oneof(fc.integer({ min: 850, max: 1_150 }), fc.integer({ min: 0, max: 8_000 })), {
      maxLength: 80,
    });
    fc.assert(
      fc.property(lengths, (ls) => {
        const { events } = queueRun(ls);
        let active: 'warning' | 'critical' | null = null;
        let since = -Infinity;
        for (const e of events) {
          if (e.type === 'raised') {
            // Only an escalation may follow a raise without a clear in between.
            expect(active === null || (active === 'warning' && e.severity === 'critical')).toBe(true);
            if (active === null) {
              expect(e.evaluation - since).toBeGreaterThanOrEqual(DEFAULT_THRESHOLDS.raiseAfter);
              since = e.evaluation;
            }
            active = e.severity;
          } else {
            expect(active).not.toBeNull();
            expect(e.evaluation - since).toBeGreaterThanOrEqual(DEFAULT_THRESHOLDS.clearAfter);
            active = null;
            since = e.evaluation;
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('alerts - the state survives a JSON round trip mid-alert', () => {
    const first = run([[queue('low', 3_000)]]);
    const restored = JSON.parse(JSON.stringify(first.state)) as AlertState;
    const now = T0 + 2 * EVERY;
    const { events } = evaluateAlerts(restored, stats([queue('low', 3_000)], now), DEFAULT_THRESHOLDS, now);
    expect(events.map((e) => e.id)).toEqual(['queue-length:low']);
  });
});

describe('alerts - execution time', () => {
  const slow = (vendorType: string, ms: number, n = 10) => steps(n, 'done', { vendorType, ms, weddingDay: false });

  it('alerts - each vendor type has its own limit, others the 30 s default', () => {
    const window = () => [
      ...slow('photographer', 26_000),
      ...slow('venue', 16_000),
      ...slow('caterer', 19_000),
      ...slow('florist', 17_000),
      ...slow('dj', 29_000),
      ...slow('planner', 31_000),
    ];
    const { events } = run(times(3, window));
    expect(events.map((e) => [e.id, e.threshold, e.severity])).toEqual([
      ['execution-time:photographer', 25_000, 'warning'],
      ['execution-time:planner', 30_000, 'warning'],
      ['execution-time:venue', 15_000, 'warning'],
    ]);
    expect(events[0]?.message).toMatch(/photographer step time p99 is 2\d(\.\d)? s, above 25 s/);
    expect(events.every((e) => e.evaluation === 1)).toBe(true);
  });

  it('alerts - the quantile is configurable, and an alert clears when its vendor goes quiet', () => {
    // One slow step in 201: the p99 ignores it, the maximum does not.
    const mostlyFast = () => [
      ...slow('venue', 1_000, 200),
      ...steps(1, 'done', { vendorType: 'venue', ms: 60_000, weddingDay: false }),
    ];
    expect(run(times(3, mostlyFast)).events).toEqual([]);
    const strict = thresholdsWith({ executionTimeQuantile: 1 });
    const { events } = run([...times(2, mostlyFast), [], [], []], strict);
    expect(events.map((e) => [e.type, e.id, e.evaluation])).toEqual([
      ['raised', 'execution-time:venue', 1],
      ['cleared', 'execution-time:venue', 4],
    ]);
  });
});

describe('alerts - action circuit (R13)', () => {
  type Report = [instance: number, state: CircuitState];
  /**
   * Runs `instances` monitors side by side: each evaluation, every instance gets its breaker reports for
   * `payment.capture` (in order), flushes its window, and the aggregator evaluates the merge of their stats messages.
   */
  function circuitRun(instances: number, windows: readonly Report[][], from: AlertState = emptyAlertState()) {
    const monitors = times(instances, () => createActor(monitorMachine, { input: { now: T0 } }).start());
    let state = from;
    const events: (AlertEvent & { evaluation: number })[] = [];
    windows.forEach((reports, i) => {
      const now = T0 + (i + 1) * EVERY;
      for (const [instance, s] of reports) {
        monitors[instance]!.send({
          type: 'METRIC',
          event: { type: 'breaker', at: now - 1, action: 'payment.capture', state: s, failureRate: s === 'closed' ? 0 : 0.5 },
        });
      }
      const messages = monitors.map((m, k) => {
        m.send({ type: 'FLUSH', now });
        return flushedStats(m.getSnapshot().context.last!, { instance: `i${k}` });
      });
      const out = evaluateAlerts(state, mergeStats(messages, now), DEFAULT_THRESHOLDS, now);
      state = out.state;
      events.push(...out.events.map((e) => ({ ...e, evaluation: i })));
    });
    for (const m of monitors) m.stop();
    return { state, events };
  }
  const summary = (events: readonly (AlertEvent & { evaluation: number })[]) =>
    events.map((e) => [e.type, e.id, e.severity, e.evaluation]);

  it('alerts - open, half-open, open again, closed: raised once at the open, cleared once after the close', () => {
    const { events, state } = circuitRun(1, [[], [[0, 'open']], [], [[0, 'half-open']], [[0, 'open']], [], [[0, 'half-open']], [[0, 'closed']], [], []]);
    // Cleared with the first window the circuit spent closed throughout: the one after the close.
    expect(summary(events)).toEqual([
      ['raised', 'action-circuit:payment.capture', 'warning', 1],
      ['cleared', 'action-circuit:payment.capture', 'warning', 8],
    ]);
    expect(events[0]).toMatchObject({ rule: 'action-circuit', key: 'payment.capture', value: 2, threshold: 2 });
    expect(events[0]?.message).toBe('circuit of payment.capture is open: attempts are held (failure rate 50 %)');
    expect(activeAlerts(state)).toEqual([]);
  });

  it('alerts - a circuit that opens and closes between two evaluations is still raised once and cleared once', () => {
    const { events } = circuitRun(1, [[[0, 'open'], [0, 'half-open'], [0, 'closed']], [], []]);
    expect(summary(events)).toEqual([
      ['raised', 'action-circuit:payment.capture', 'warning', 0],
      ['cleared', 'action-circuit:payment.capture', 'warning', 1],
    ]);
    expect(events[0]?.message).toMatch(/opened and closed again/);
  });

  it('alerts - two instances reporting: one raise while either is open, one clear when the last one closes', () => {
    const { events } = circuitRun(2, [
      [[0, 'open']],
      [[1, 'open']],
      [[0, 'half-open']],
      [[0, 'closed']], // i1 still open
      [[0, 'open'], [1, 'half-open']],
      [[1, 'closed']], // i0 open again
      [[0, 'half-open']],
      [[0, 'closed']],
      [],
    ]);
    expect(summary(events)).toEqual([
      ['raised', 'action-circuit:payment.capture', 'warning', 0],
      ['cleared', 'action-circuit:payment.capture', 'warning', 8],
    ]);
  });

  it('alerts - a circuit alert continues from a persisted state, and a state from before the rule loads and raises it', () => {
    const first = circuitRun(1, [[[0, 'open']]]);
    expect(activeAlerts(first.state).map((a) => a.id)).toEqual(['action-circuit:payment.capture']);
    const stored = JSON.parse(JSON.stringify(first.state)) as AlertState;
    expect(alertStateProblem(stored)).toBeUndefined();
    // Restored by another aggregator: the circuit is still open (no second raise), then closes (one clear).
    const restored = circuitRun(1, [[[0, 'open']], [[0, 'closed']], []], stored);
    expect(summary(restored.events)).toEqual([['cleared', 'action-circuit:payment.capture', 'warning', 2]]);
    // A state written before the rule existed: only the other rules in it.
    const older = { rules: { 'queue-length:high': { rule: 'queue-length', key: 'high', active: true, severity: 'warning', breaches: 0, oks: 0, since: T0 } }, samples: { overall: [], weddingDay: [] } };
    expect(alertStateProblem(older)).toBeUndefined();
    const fromOlder = circuitRun(1, [[[0, 'open']]], older as AlertState);
    expect(summary(fromOlder.events)).toEqual([['raised', 'action-circuit:payment.capture', 'warning', 0]]);
    expect(Object.keys(fromOlder.state.rules).sort()).toEqual(['action-circuit:payment.capture', 'queue-length:high']);
  });

  it('alerts - an open circuit that no live instance reports any more is cleared', () => {
    const raised = circuitRun(1, [[[0, 'open']]]);
    const now = T0 + 10 * EVERY;
    const { events, state } = evaluateAlerts(raised.state, stats([], now), DEFAULT_THRESHOLDS, now);
    expect(events.map((e) => [e.type, e.id])).toEqual([['cleared', 'action-circuit:payment.capture']]);
    expect(events[0]?.message).toMatch(/no live instance holds it open/);
    expect(state.rules).toEqual({});
  });
});

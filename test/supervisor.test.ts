import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createActor, type Snapshot } from 'xstate';
import { TIERS, type Tier } from '../actors/priority.ts';
import {
  DEFAULT_SCALING_CONFIG,
  decide,
  scalingConfigWith,
  type ScalingConfig,
  type ScalingConfigOverrides,
  type ScalingInputs,
  type TierLoad,
} from '../actors/scaling-policy.ts';
import {
  DECISION_HISTORY_LIMIT,
  currentConcurrency,
  currentReplicas,
  overrideProblem,
  supervisorMachine,
  type SupervisorEvent,
  type TickInputs,
} from '../actors/supervisor.ts';
import { addDaysToDate, localDate, zonedToEpoch } from '../actors/time.ts';

const SECOND = 1_000;
const MINUTE = 60_000;
const HOUR = 3_600_000;
const LONDON = 'Europe/London';
const AUCKLAND = 'Pacific/Auckland';
const at = (date: string, time: string, tz = LONDON): number => zonedToEpoch(date, time, tz);
const defaults = scalingConfigWith();

const idle = (): TierLoad => ({ pending: 0, ackPending: 0, ratePerSec: 0, p99Ms: 0 });
function loads(over: Partial<Record<Tier, Partial<TierLoad>>> = {}): Record<Tier, TierLoad> {
  return Object.fromEntries(TIERS.map((t) => [t, { ...idle(), ...over[t] }])) as Record<Tier, TierLoad>;
}
function inputs(now: number, over: Partial<ScalingInputs> = {}): ScalingInputs {
  return {
    now,
    servedZones: [{ timeZone: LONDON, weddings: 40 }],
    tiers: loads(),
    instances: 1,
    calendar: [],
    ...over,
  };
}
const sum = (r: Record<Tier, number>): number => TIERS.reduce((s, t) => s + r[t], 0);

function supervisor(config?: ScalingConfigOverrides) {
  const actor = createActor(supervisorMachine, { input: { config } });
  actor.start();
  return actor;
}
type Actor = ReturnType<typeof supervisor>;
function tick(actor: Actor, now: number, over: Partial<TickInputs> = {}) {
  actor.send({ type: 'TICK', now, inputs: inputs(now, over as Partial<ScalingInputs>) });
  return actor.getSnapshot();
}

/** Deterministic noise in [-1, 1): a small LCG, so a failure replays exactly. */
function noise(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1_664_525) + 1_013_904_223) >>> 0;
    return (s / 2 ** 32) * 2 - 1;
  };
}

describe('supervisor - season and Saturday', () => {
  // Same queues in both: a modest critical backlog the base concurrency drains within its target.
  const sameLag = loads({
    critical: { pending: 600, ratePerSec: 40, p99Ms: 200 },
    low: { pending: 50, ratePerSec: 2, p99Ms: 900 },
  });

  it('season - a June Saturday in Europe/London gets season ×5 and Saturday ×2, a November Tuesday ×1', () => {
    const june = decide(inputs(at('2027-06-12', '14:00'), { tiers: sameLag }), defaults);
    const november = decide(inputs(at('2027-11-02', '14:00'), { tiers: sameLag }), defaults);
    expect(june.factors).toMatchObject({ season: 5, saturday: 2, calendar: 1, latency: 1 });
    expect(november.factors).toMatchObject({ season: 1, saturday: 1, calendar: 1, latency: 1 });
    expect(november.concurrency).toEqual(defaults.baseConcurrency);
    for (const t of TIERS) expect(june.concurrency[t]).toBe(10 * november.concurrency[t]);
    expect(june.reasons).toContain('June Saturday in Europe/London: season ×5, Saturday ×2');
    expect(november.reasons).toContain('November Tuesday in Europe/London: off-season ×1, weekday ×1');
    expect(june.bounded).toEqual([]);
    expect(june.desiredReplicas).toBeGreaterThan(november.desiredReplicas);
  });

  it('season - November 1st is not in season, October 31st is (1-based months, FINDINGS 6)', () => {
    const factorsOn = (date: string, config: ScalingConfig = defaults) =>
      decide(inputs(at(date, '00:30')), config).factors;
    expect(factorsOn('2027-10-31').season).toBe(5);
    expect(factorsOn('2027-11-01').season).toBe(1);
    expect(factorsOn('2027-04-30').season).toBe(1);
    expect(factorsOn('2027-05-01').season).toBe(5);
    // A November Saturday is still a Saturday, only not in season.
    expect(factorsOn('2027-11-06')).toMatchObject({ season: 1, saturday: 2 });
    // Regional peaks are configurable: September to November in the US.
    const us = scalingConfigWith({ seasonMonths: [9, 10, 11] });
    expect(factorsOn('2027-11-01', us).season).toBe(5);
    expect(factorsOn('2027-06-12', us).season).toBe(1);
    expect(() => scalingConfigWith({ seasonMonths: [4, 5, 6, 7, 8, 9, 10, 0] })).toThrow(/1-12.*0-based/);
  });

  it("season - Saturday is judged in the served weddings' zone: Saturday in Pacific/Auckland while UTC is Friday", () => {
    const now = Date.parse('2027-06-11T20:00:00Z'); // Friday in UTC and London, Saturday 08:00 in Auckland
    const auckland = decide(inputs(now, { servedZones: [{ timeZone: AUCKLAND, weddings: 12 }] }), defaults);
    expect(auckland.factors.saturday).toBe(2);
    expect(auckland.day).toEqual({ date: '2027-06-12', timeZone: AUCKLAND });
    expect(auckland.reasons).toContain('June Saturday in Pacific/Auckland: season ×5, Saturday ×2');
    // Nothing served: UTC, where it is Friday.
    expect(decide(inputs(now, { servedZones: [] }), defaults).factors.saturday).toBe(1);
    // The weighted majority of the served weddings decides.
    const mostlyLondon = [
      { timeZone: AUCKLAND, weddings: 3 },
      { timeZone: LONDON, weddings: 10 },
    ];
    const mostlyAuckland = [
      { timeZone: AUCKLAND, weddings: 10 },
      { timeZone: LONDON, weddings: 3 },
      { timeZone: 'Europe/Paris', weddings: 2 },
    ];
    expect(decide(inputs(now, { servedZones: mostlyLondon }), defaults).factors.saturday).toBe(1);
    expect(decide(inputs(now, { servedZones: mostlyAuckland }), defaults).factors.saturday).toBe(2);
    // A bad zone from upstream data is skipped and said so, never thrown at the supervisor.
    const bad = decide(
      inputs(now, {
        servedZones: [
          { timeZone: 'Mars/Olympus', weddings: 99 },
          { timeZone: AUCKLAND, weddings: 1 },
        ],
      }),
      defaults,
    );
    expect(bad.factors.saturday).toBe(2);
    expect(bad.reasons.join('\n')).toMatch(/ignored served zone "Mars\/Olympus"/);
  });
});

describe('supervisor - calendar', () => {
  const busySaturday = [{ date: '2027-06-12', timeZone: LONDON, weddings: 120 }];

  it('calendar - a busy Saturday opens its window the lead time before its local midnight, not earlier', () => {
    const factorAt = (now: number, calendar = busySaturday) =>
      decide(inputs(now, { calendar }), defaults).factors.calendar;
    expect(factorAt(at('2027-06-10', '23:59'))).toBe(1); // Thursday night: more than 24 h ahead
    expect(factorAt(at('2027-06-11', '00:00'))).toBe(4); // Friday 00:00 London = Saturday midnight - 24 h; 2 × 120/50 capped at 4
    expect(factorAt(at('2027-06-12', '21:00'))).toBe(4); // the day itself
    expect(factorAt(at('2027-06-13', '00:00'))).toBe(1); // over
    // Below the threshold the calendar stays out of it.
    expect(factorAt(at('2027-06-11', '15:00'), [{ date: '2027-06-12', timeZone: LONDON, weddings: 49 }])).toBe(1);
    // Zones add up per local date: 30 in London and 30 in Paris make a busy 2027-06-12 (2 × 60/50).
    const split = [
      { date: '2027-06-12', timeZone: LONDON, weddings: 30 },
      { date: '2027-06-12', timeZone: 'Europe/Paris', weddings: 30 },
    ];
    expect(factorAt(at('2027-06-11', '15:00'), split)).toBe(2.4);
    // The midnight is the weddings' own: Saturday in Auckland starts Friday 00:00 NZST, Thursday 12:00 UTC.
    const auckland = [{ date: '2027-06-12', timeZone: AUCKLAND, weddings: 120 }];
    expect(factorAt(Date.parse('2027-06-10T11:59:00Z'), auckland)).toBe(1);
    expect(factorAt(Date.parse('2027-06-10T12:00:00Z'), auckland)).toBe(4);
  });

  it("calendar - the supervisor scales up on the Friday afternoon before the busy Saturday's first step is due", () => {
    const actor = supervisor({ preScaleLeadHours: 8 });
    const firstStepDue = at('2027-06-12', '07:00');
    const opens = at('2027-06-11', '16:00'); // Saturday 00:00 - 8 h
    let before = tick(actor, at('2027-06-10', '12:00'), { calendar: busySaturday });
    let raisedAt: number | undefined;
    for (let now = at('2027-06-10', '12:05'); now < firstStepDue && raisedAt === undefined; now += 5 * MINUTE) {
      const s = tick(actor, now, { calendar: busySaturday });
      if (s.context.current!.concurrency.critical > before.context.current!.concurrency.critical) raisedAt = now;
      else before = s;
    }
    expect(raisedAt).toBe(opens);
    const s = actor.getSnapshot();
    expect(s.context.current!.factors.calendar).toBe(4);
    expect(s.context.current!.desiredReplicas).toBeGreaterThan(before.context.current!.desiredReplicas);
    expect(s.context.pendingDecision?.reason).toMatch(
      /busy day 2027-06-12 \(120 weddings\) starts in 8 h in Europe\/London: calendar ×4/,
    );
    // Every bound still holds at the peak.
    for (const t of TIERS) expect(s.context.current!.concurrency[t]).toBeLessThanOrEqual(defaults.maxConcurrency[t]);
    expect(sum(s.context.current!.concurrency)).toBeLessThanOrEqual(defaults.maxConcurrencyTotal);
  });
});

describe('supervisor - load', () => {
  const tuesday = at('2027-11-02', '10:00');
  const PER_WORKER = 5; // steps per second one critical handler completes

  /** A closed loop: the host measures pending work and the rate its current handlers achieve, then ticks. */
  function run(actor: Actor, from: number, seconds: number, arrivalsPerTick: (t: number) => number) {
    let pending = 0;
    const trace: { t: number; critical: number; replicas: number }[] = [];
    for (let t = from; t < from + seconds * SECOND; t += 5 * SECOND) {
      const handlers = currentConcurrency(actor.getSnapshot()).critical;
      const done = Math.min(pending, handlers * PER_WORKER * 5);
      pending = pending - done + arrivalsPerTick(t);
      const s = tick(actor, t, { tiers: loads({ critical: { pending, ratePerSec: done / 5, p99Ms: 300 } }) });
      trace.push({
        t,
        critical: s.context.current!.concurrency.critical,
        replicas: s.context.current!.desiredReplicas,
      });
    }
    return trace;
  }

  it('load - a burst raises concurrency within 30 s and lowers it after the burst, without flapping', () => {
    const actor = supervisor();
    const burstAt = tuesday + 62 * SECOND;
    const trace = run(actor, tuesday, 900, (t) => 50 + (t >= burstAt && t < burstAt + 5 * SECOND ? 8_000 : 0));
    const base = defaults.baseConcurrency.critical;
    const raised = trace.find((p) => p.critical > base)!;
    expect(raised.t - burstAt).toBeLessThanOrEqual(30 * SECOND);
    expect(trace.filter((p) => p.t < burstAt).every((p) => p.critical === base)).toBe(true);
    // After the peak it only comes down, and ends back at the base.
    const peak = trace.findIndex((p) => p.critical === Math.max(...trace.map((q) => q.critical)));
    for (let i = peak + 1; i < trace.length; i++)
      expect(trace[i]!.critical).toBeLessThanOrEqual(trace[i - 1]!.critical);
    expect(trace.at(-1)).toMatchObject({ critical: base, replicas: 1 });
    // Down only after the cooldown: nothing drops within 120 s of the raise.
    const firstDrop = trace.find((p, i) => i > 0 && p.critical < trace[i - 1]!.critical)!;
    expect(firstDrop.t - raised.t).toBeGreaterThanOrEqual(defaults.scaleDownCooldownMs);
    // The records tell the same story: one raise, then only steps down.
    const changes = actor.getSnapshot().context.decisions.filter((d) => d.from !== null);
    expect(changes[0]!.to.concurrency.critical).toBe(raised.critical);
    for (const d of changes.slice(1)) expect(d.reason).toMatch(/^down /);
    expect(changes[0]!.reason).toMatch(/^up critical 16→\d+.*critical backlog \d+ needs \d+ handlers/);
  });

  it('load - a scale-up smaller than the hysteresis returns to the base after the cooldown', () => {
    // A high backlog of 1,300 at the floor rate (5/s per handler, 30 s drain target) needs 9 handlers; the base is 8.
    const wantsNine = loads({ high: { pending: 1_300 } });
    expect(decide(inputs(tuesday, { tiers: wantsNine }), defaults).concurrency.high).toBe(9);
    const base = defaults.baseConcurrency.high;

    const actor = supervisor();
    tick(actor, tuesday, { tiers: wantsNine }); // the first tick takes the wish as it is: 9
    expect(currentConcurrency(actor.getSnapshot()).high).toBe(9);
    const highAt: number[] = [];
    for (let t = 5 * SECOND; t <= 300 * SECOND; t += 5 * SECOND) {
      tick(actor, tuesday + t);
      highAt.push(currentConcurrency(actor.getSnapshot()).high);
    }
    // 9 → 8 is inside the 20 % band, yet the idle load's resting value is 8: it comes back, once the cooldown is over.
    expect(highAt.at(-1)).toBe(base);
    const firstAtBase = (highAt.indexOf(base) + 1) * 5 * SECOND;
    expect(firstAtBase).toBeGreaterThanOrEqual(defaults.scaleDownCooldownMs);
    expect(actor.getSnapshot().context.decisions.filter((d) => d.from !== null)).toHaveLength(1);

    // Noise inside the band above the base is still ignored: from 8, a wish of 9 changes nothing.
    const steady = supervisor();
    tick(steady, tuesday);
    for (let t = 5 * SECOND; t <= 300 * SECOND; t += 5 * SECOND) tick(steady, tuesday + t, { tiers: wantsNine });
    expect(currentConcurrency(steady.getSnapshot()).high).toBe(base);
  });

  it('load - a noisy load around a level changes the allocation at most twice', () => {
    const noisyTrace = (config?: ScalingConfigOverrides) => {
      const actor = supervisor(config);
      const rnd = noise(42);
      let changes = 0;
      for (let i = 0; i < 200; i++) {
        const handlers = currentConcurrency(actor.getSnapshot()).critical;
        // About 3000 waiting ±25 %, handlers saturated: wants 16-25 critical handlers.
        const pending = Math.round(3_000 * (1 + 0.25 * rnd()));
        const s = tick(actor, tuesday + i * 5 * SECOND, {
          tiers: loads({ critical: { pending, ratePerSec: handlers * PER_WORKER, p99Ms: 400 } }),
        });
        if (i > 0 && s.context.pendingDecision) changes++;
      }
      return changes;
    };
    expect(noisyTrace()).toBeLessThanOrEqual(2);
    // The same load without hysteresis and cooldown flaps: the test would notice if they stopped working.
    expect(noisyTrace({ hysteresis: 0, scaleDownCooldownMs: 0 })).toBeGreaterThan(20);
  });
});

describe('supervisor - bounds', () => {
  const flood = loads({
    critical: { pending: 5_000_000, ackPending: 1_000, ratePerSec: 10, p99Ms: 60_000 },
    high: { pending: 2_000_000, ratePerSec: 10, p99Ms: 60_000 },
    medium: { pending: 1_000_000, ratePerSec: 10, p99Ms: 60_000 },
    low: { pending: 9_000_000, ratePerSec: 10, p99Ms: 600_000 },
  });
  const june = at('2027-06-12', '12:00');

  it('bounds - never above the per-tier max, the CPU total or the replica max', () => {
    const d = decide(inputs(june, { tiers: flood, instances: 3 }), defaults);
    for (const t of TIERS) expect(d.concurrency[t]).toBeLessThanOrEqual(defaults.maxConcurrency[t]);
    expect(sum(d.concurrency)).toBe(defaults.maxConcurrencyTotal);
    expect(d.desiredReplicas).toBe(defaults.maxReplicas);
    expect(d.bounded).toEqual(
      expect.arrayContaining(['critical.max', 'high.max', 'medium.max', 'low.max', 'total.cpu', 'replicas.max']),
    );
    expect(d.factors.latency).toBe(defaults.maxLatencyFactor);
    // Cut in proportion, most urgent first for the rounding: critical keeps the largest share.
    expect(d.concurrency.critical).toBeGreaterThanOrEqual(
      Math.max(d.concurrency.high, d.concurrency.medium, d.concurrency.low),
    );
  });

  it('bounds - total concurrency never exceeds what fits in memory', () => {
    const config = scalingConfigWith({ memoryLimitBytes: 512 * 1024 ** 2, memoryPerWorkerBytes: 4 * 1024 ** 2 });
    // 450 MiB used with the 36 base handlers in force: (512 - 450) / 4 + 36 = 51 handlers fit.
    const d = decide(inputs(june, { tiers: flood, memoryUsedBytes: 450 * 1024 ** 2 }), config);
    expect(d.limits).toEqual({ cpu: 512, memory: 51, total: 51 });
    expect(sum(d.concurrency)).toBe(51);
    expect(d.bounded).toContain('total.memory');
    for (const t of TIERS) expect(d.concurrency[t]).toBeGreaterThanOrEqual(config.minConcurrency[t]);
    // Without a measurement the reserve stands in: (512 - 256) / 4 = 64.
    expect(decide(inputs(june, { tiers: flood }), config).limits.memory).toBe(64);
    // Out of memory altogether: one handler per tier, so no tier stops.
    expect(decide(inputs(june, { tiers: flood, memoryUsedBytes: 4 * 1024 ** 3 }), config).concurrency).toEqual({
      critical: 1,
      high: 1,
      medium: 1,
      low: 1,
    });
  });

  it('bounds - a held-back value is cut at once when the memory bound falls (bounds beat the cooldown)', () => {
    const actor = supervisor({ memoryLimitBytes: 1024 ** 3, memoryPerWorkerBytes: 2 * 1024 ** 2 });
    // 100 MiB used with the 36 base handlers: (1024 - 100) / 2 + 36 = 498 fit.
    const first = tick(actor, june, { tiers: flood, memoryUsedBytes: 100 * 1024 ** 2 });
    expect(sum(first.context.current!.concurrency)).toBe(498);
    // Load gone, and the process above its limit: the cooldown would hold 498, the memory bound cuts at once.
    const s = tick(actor, june + 5 * SECOND, { tiers: loads(), memoryUsedBytes: 1100 * 1024 ** 2 });
    expect(s.context.current!.limits.memory).toBe(460); // (1024 - 1100) / 2 + 498
    expect(sum(s.context.current!.concurrency)).toBe(460);
    expect(s.context.pendingDecision?.reason).toMatch(/^down /);
  });

  it('bounds - a bad config is refused with a RangeError naming the field', () => {
    expect(() => scalingConfigWith({ minConcurrency: { critical: 20 } })).toThrow(RangeError);
    expect(() => scalingConfigWith({ minConcurrency: { critical: 20 } })).toThrow(/min <= base <= max/);
    expect(() => scalingConfigWith({ hysteresis: 1 })).toThrow(/hysteresis/);
    expect(() => scalingConfigWith({ maxConcurrencyTotal: 8 })).toThrow(/minimums \(9\) exceed maxConcurrencyTotal/);
    expect(() => scalingConfigWith({ minReplicas: 3, maxReplicas: 2 })).toThrow(/minReplicas <= maxReplicas/);
    expect(() => scalingConfigWith({ seasonFactr: 5 } as ScalingConfigOverrides)).toThrow(
      /unknown option "seasonFactr"/,
    );
    expect(() => scalingConfigWith({ baseConcurrency: { urgent: 3 } as Partial<Record<Tier, number>> })).toThrow(
      /unknown tier "urgent"/,
    );
    expect(() => scalingConfigWith({ memoryReserveBytes: 4 * 1024 ** 3 })).toThrow(/memoryReserveBytes/);
    // The machine validates its input too: a bad config leaves the actor in error instead of scaling wrongly.
    const bad = createActor(supervisorMachine, { input: { config: { seasonFactor: 0.5 } } });
    bad.subscribe({ error: () => undefined });
    bad.start();
    expect(bad.getSnapshot().status).toBe('error');
    expect(String(bad.getSnapshot().error)).toMatch(/RangeError: scaling config: seasonFactor/);
    expect(scalingConfigWith({ baseConcurrency: { low: 6 } }).baseConcurrency).toEqual({
      ...DEFAULT_SCALING_CONFIG.baseConcurrency,
      low: 6,
    });
  });
});

describe('supervisor - override', () => {
  const now = at('2027-11-02', '10:00');

  it('override - wins until it expires, then is dropped with a recorded decision', () => {
    const actor = supervisor();
    tick(actor, now);
    expect(currentConcurrency(actor.getSnapshot())).toEqual(defaults.baseConcurrency);
    actor.send({
      type: 'OVERRIDE',
      now: now + SECOND,
      until: now + 10 * MINUTE,
      by: 'ops@studio',
      concurrency: { critical: 100 },
      replicas: 4,
    });
    let s = actor.getSnapshot();
    expect(currentConcurrency(s)).toEqual({ ...defaults.baseConcurrency, critical: 100 });
    expect(currentReplicas(s)).toBe(4);
    expect(s.context.pendingDecision).toMatchObject({
      kind: 'override',
      by: 'ops@studio',
      from: { replicas: 1 },
      to: { replicas: 4 },
    });
    expect(s.context.pendingDecision!.reason).toMatch(
      /override by ops@studio until 2027-11-02T10:10:00.000Z \(critical=100, replicas=4\): up critical 16→100, replicas 1→4/,
    );

    // While it holds, the policy steers the other tiers.
    s = tick(actor, now + MINUTE, { tiers: loads({ low: { pending: 100_000, ratePerSec: 20 } }) });
    expect(s.context.current!.concurrency.critical).toBe(100);
    expect(s.context.current!.concurrency.low).toBeGreaterThan(defaults.baseConcurrency.low);
    expect(s.context.current!.desiredReplicas).toBe(4);
    s = tick(actor, now + 2 * MINUTE);
    expect(s.context.pendingDecision).toBeNull();

    // Expired: dropped, recorded, and critical goes straight back to the policy.
    s = tick(actor, now + 10 * MINUTE);
    expect(s.context.override).toBeNull();
    expect(s.context.pendingDecision).toMatchObject({ kind: 'override-expired', by: 'ops@studio' });
    // low had wanted less since the tick at 10:02, longer than the cooldown: it comes down in the same record.
    expect(s.context.pendingDecision!.reason).toMatch(
      /^override by ops@studio expired at 2027-11-02T10:10:00.000Z, down critical 100→16, low 64→4, replicas 4→1: /,
    );
    expect(s.context.current!.concurrency.critical).toBe(16);
    expect(s.context.current!.desiredReplicas).toBe(1);
  });

  it('override - stays within the configured bounds, can be cleared, and a bad one is refused', () => {
    const actor = supervisor();
    tick(actor, now);
    actor.send({
      type: 'OVERRIDE',
      now,
      until: now + HOUR,
      by: 'ops',
      concurrency: { critical: 10_000 },
      replicas: 99,
    });
    let s = actor.getSnapshot();
    expect(s.context.current!.concurrency.critical).toBe(defaults.maxConcurrency.critical);
    expect(s.context.current!.desiredReplicas).toBe(defaults.maxReplicas);
    actor.send({ type: 'CLEAR_OVERRIDE', now: now + MINUTE, by: 'lead' });
    s = actor.getSnapshot();
    expect(s.context.override).toBeNull();
    expect(s.context.pendingDecision).toMatchObject({
      kind: 'override-cleared',
      by: 'lead',
      to: { concurrency: defaults.baseConcurrency, replicas: 1 },
    });

    const seq = s.context.seq;
    const bad: SupervisorEvent = { type: 'OVERRIDE', now, until: now - 1, by: 'ops', replicas: 2 };
    expect(overrideProblem(bad)).toMatch(/until/);
    expect(overrideProblem({ now, until: now + 1, by: '', replicas: 2 })).toMatch(/by/);
    expect(overrideProblem({ now, until: now + 1, by: 'x', concurrency: { critical: 0 } })).toMatch(/critical/);
    actor.send(bad);
    s = actor.getSnapshot();
    expect(s.context.override).toBeNull();
    expect(s.context.seq).toBe(seq);
    expect(s.context.pendingDecision).toBeNull();
  });
});

describe('supervisor - records and persistence', () => {
  const now = at('2027-11-02', '10:00');

  it('records - every change is one record with from, to, reason and inputs; history keeps the last 20', () => {
    const actor = supervisor({ scaleDownCooldownMs: 0, hysteresis: 0 });
    let s = tick(actor, now);
    expect(s.context.pendingDecision).toMatchObject({ seq: 1, kind: 'policy', from: null, at: now });
    expect(s.context.pendingDecision!.inputs).toMatchObject({
      day: { date: '2027-11-02', timeZone: LONDON },
      instances: 1,
    });
    s = tick(actor, now + 5 * SECOND);
    expect(s.context.pendingDecision).toBeNull();
    expect(s.context.lastChangeAt).toBe(now);
    for (let i = 0; i < 30; i++) {
      tick(actor, now + (i + 2) * 5 * SECOND, {
        tiers: loads({ critical: { pending: i % 2 === 0 ? 20_000 : 0, ratePerSec: 80 } }),
      });
    }
    s = actor.getSnapshot();
    expect(s.context.decisions).toHaveLength(DECISION_HISTORY_LIMIT);
    expect(s.context.decisions.at(-1)!.seq).toBe(31);
    const last = s.context.decisions.at(-1)!;
    expect(last.inputs?.backlog.critical).toBe(0);
    expect(last.from!.concurrency.critical).toBeGreaterThan(last.to.concurrency.critical);
  });

  it('persistence - getPersistedSnapshot, JSON and restore give the same decisions on the next TICKs', () => {
    const a = supervisor();
    const burst = loads({ critical: { pending: 20_000, ratePerSec: 80 } });
    tick(a, now, { tiers: burst });
    tick(a, now + 5 * SECOND, { tiers: loads() }); // lower desire: the cooldown starts
    a.send({ type: 'OVERRIDE', now: now + 6 * SECOND, until: now + 30 * SECOND, by: 'ops', concurrency: { low: 9 } });
    const stored = JSON.stringify(a.getPersistedSnapshot());
    const b = createActor(supervisorMachine, { snapshot: JSON.parse(stored) as Snapshot<unknown>, input: {} });
    b.start();
    expect(b.getSnapshot().context).toEqual(a.getSnapshot().context);

    for (let t = now + 10 * SECOND; t <= now + 150 * SECOND; t += 5 * SECOND) {
      const sa = tick(a, t);
      const sb = tick(b, t);
      expect(sb.context).toEqual(sa.context);
    }
    const kinds = b.getSnapshot().context.decisions.map((d) => d.kind);
    expect(kinds).toEqual(['policy', 'override', 'override-expired', 'policy']);
    // The restored instance honoured the cooldown it inherited: down 120 s after the lower desire began.
    expect(b.getSnapshot().context.decisions.at(-1)!.at).toBe(now + 125 * SECOND);
    expect(currentConcurrency(b.getSnapshot())).toEqual(defaults.baseConcurrency);
  });
});

describe('supervisor - properties', () => {
  const ZONES = [LONDON, AUCKLAND, 'America/New_York', 'Asia/Kolkata', 'Pacific/Kiritimati', 'UTC'] as const;
  const MiB = 1024 ** 2;

  const configArb = fc
    .record({
      min: fc.tuple(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 4 }),
      ),
      baseExtra: fc.tuple(fc.nat(40), fc.nat(40), fc.nat(40), fc.nat(40)),
      maxExtra: fc.tuple(fc.nat(300), fc.nat(300), fc.nat(300), fc.nat(300)),
      total: fc.integer({ min: 16, max: 800 }),
      memoryLimitMiB: fc.integer({ min: 64, max: 8_192 }),
      reserveShare: fc.double({ min: 0, max: 0.95, noNaN: true }),
      perWorkerMiB: fc.integer({ min: 1, max: 64 }),
      minReplicas: fc.integer({ min: 1, max: 5 }),
      replicaExtra: fc.nat(30),
      seasonFactor: fc.double({ min: 1, max: 10, noNaN: true }),
      saturdayFactor: fc.double({ min: 1, max: 5, noNaN: true }),
      perInstanceCapacity: fc.double({ min: 0.5, max: 10_000, noNaN: true }),
      seasonMonths: fc.uniqueArray(fc.integer({ min: 1, max: 12 }), { maxLength: 12 }),
    })
    .map((r): ScalingConfig => {
      const per = (f: (i: number) => number) =>
        Object.fromEntries(TIERS.map((t, i) => [t, f(i)])) as Record<Tier, number>;
      const min = per((i) => r.min[i]!);
      const base = per((i) => r.min[i]! + r.baseExtra[i]!);
      return scalingConfigWith({
        minConcurrency: min,
        baseConcurrency: base,
        maxConcurrency: per((i) => base[TIERS[i]!] + r.maxExtra[i]!),
        maxConcurrencyTotal: r.total,
        memoryLimitBytes: r.memoryLimitMiB * MiB,
        memoryReserveBytes: Math.floor(r.memoryLimitMiB * r.reserveShare) * MiB,
        memoryPerWorkerBytes: r.perWorkerMiB * MiB,
        minReplicas: r.minReplicas,
        maxReplicas: r.minReplicas + r.replicaExtra,
        seasonFactor: r.seasonFactor,
        saturdayFactor: r.saturdayFactor,
        perInstanceCapacity: r.perInstanceCapacity,
        seasonMonths: r.seasonMonths,
      });
    });

  const tierArb = fc.record({
    pending: fc.oneof(fc.nat(10_000_000), fc.constantFrom(0, -5, Number.NaN, Number.POSITIVE_INFINITY)),
    ackPending: fc.nat(100_000),
    ratePerSec: fc.oneof(fc.double({ min: 0, max: 100_000, noNaN: true }), fc.constant(Number.NaN)),
    p99Ms: fc.double({ min: 0, max: 1_000_000, noNaN: true }),
  });
  const handlersArb = fc.integer({ min: 1, max: 500 });
  const nowArb = fc.integer({ min: Date.UTC(2020, 0, 1), max: Date.UTC(2035, 11, 31) });
  const inputsArb = nowArb.chain((now) =>
    fc.record({
      now: fc.constant(now),
      servedZones: fc.array(fc.record({ timeZone: fc.constantFrom(...ZONES), weddings: fc.nat(1_000) }), {
        maxLength: 5,
      }),
      tiers: fc.record({ critical: tierArb, high: tierArb, medium: tierArb, low: tierArb }),
      instances: fc.integer({ min: 0, max: 50 }),
      calendar: fc.array(
        fc.record({
          date: fc.integer({ min: -3, max: 3 }).map((k) => addDaysToDate(localDate(now, 'UTC'), k)),
          timeZone: fc.constantFrom(...ZONES),
          weddings: fc.nat(2_000),
        }),
        { maxLength: 6 },
      ),
      memoryUsedBytes: fc.option(
        fc.nat(16 * 1024).map((m) => m * MiB),
        { nil: undefined },
      ),
      concurrencyInForce: fc.option(
        fc.record({ critical: handlersArb, high: handlersArb, medium: handlersArb, low: handlersArb }),
        { nil: undefined },
      ),
    }),
  );

  /** Independent statement of the bound: CPU total and what fits in memory, never below one handler per tier. */
  function expectWithinBounds(
    concurrency: Record<Tier, number>,
    replicas: number,
    config: ScalingConfig,
    input: ScalingInputs,
  ): void {
    const held = sum(input.concurrencyInForce ?? config.baseConcurrency);
    const fit =
      input.memoryUsedBytes === undefined
        ? Math.floor((config.memoryLimitBytes - config.memoryReserveBytes) / config.memoryPerWorkerBytes)
        : Math.floor((config.memoryLimitBytes - input.memoryUsedBytes) / config.memoryPerWorkerBytes + held);
    const cap = Math.max(4, Math.min(config.maxConcurrencyTotal, fit));
    for (const t of TIERS) {
      expect(Number.isInteger(concurrency[t])).toBe(true);
      expect(concurrency[t]).toBeGreaterThanOrEqual(1);
      expect(concurrency[t]).toBeLessThanOrEqual(config.maxConcurrency[t]);
      if (sum(config.minConcurrency) <= cap) expect(concurrency[t]).toBeGreaterThanOrEqual(config.minConcurrency[t]);
    }
    expect(sum(concurrency)).toBeLessThanOrEqual(cap);
    expect(Number.isInteger(replicas)).toBe(true);
    expect(replicas).toBeGreaterThanOrEqual(config.minReplicas);
    expect(replicas).toBeLessThanOrEqual(config.maxReplicas);
  }

  it('property - for arbitrary inputs the decision respects every bound and desiredReplicas stays within [min, max]', () => {
    fc.assert(
      fc.property(configArb, inputsArb, (config, input) => {
        const d = decide(input, config);
        expectWithinBounds(d.concurrency, d.desiredReplicas, config, input);
        expect(JSON.parse(JSON.stringify(d))).toEqual(d); // finite, JSON-safe: it is persisted and published
      }),
      { numRuns: 300 },
    );
  });

  it('property - whatever the sequence of ticks and overrides, the applied allocation respects every bound', () => {
    const eventArb = fc.oneof(
      { weight: 5, arbitrary: inputsArb.map((i) => ({ kind: 'tick' as const, i })) },
      {
        weight: 1,
        arbitrary: fc.record({
          kind: fc.constant('override' as const),
          critical: fc.option(fc.integer({ min: 1, max: 5_000 }), { nil: undefined }),
          replicas: fc.option(fc.integer({ min: 1, max: 100 }), { nil: undefined }),
          minutes: fc.integer({ min: 1, max: 20 }),
        }),
      },
    );
    fc.assert(
      fc.property(configArb, fc.array(eventArb, { minLength: 1, maxLength: 12 }), (config, events) => {
        const actor = createActor(supervisorMachine, { input: { config } });
        actor.start();
        let now = Date.UTC(2027, 5, 1);
        for (const e of events) {
          now += 5 * SECOND;
          if (e.kind === 'override') {
            actor.send({
              type: 'OVERRIDE',
              now,
              until: now + e.minutes * MINUTE,
              by: 'prop',
              concurrency: { critical: e.critical ?? 7 },
              ...(e.replicas ? { replicas: e.replicas } : {}),
            });
            continue;
          }
          // The event's time wins over the measurement's own.
          actor.send({ type: 'TICK', now, inputs: e.i });
          const c = actor.getSnapshot().context.current!;
          for (const t of TIERS) expect(c.concurrency[t]).toBeLessThanOrEqual(config.maxConcurrency[t]);
          expect(sum(c.concurrency)).toBeLessThanOrEqual(c.limits.total);
          expect(c.desiredReplicas).toBeGreaterThanOrEqual(config.minReplicas);
          expect(c.desiredReplicas).toBeLessThanOrEqual(config.maxReplicas);
        }
        expect(actor.getSnapshot().context.decisions.length).toBeLessThanOrEqual(DECISION_HISTORY_LIMIT);
      }),
      { numRuns: 100 },
    );
  });
});

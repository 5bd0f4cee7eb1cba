/**
 * Thresholds and alerts (R21), evaluated on stats messages (usually the cluster-wide merge) by a pure function the host
 * calls after each one, publishing the events it returns on the alerts subject and keeping the state (plain JSON).
 *
 * No alert storms: a condition must hold for `raiseAfter` consecutive evaluations before it is raised, an active alert is
 * never raised again (except once to escalate from warning to critical), and it clears only after `clearAfter` consecutive
 * evaluations back inside the threshold by a margin (`clearMargin` of the threshold for "at most" rules, of the error budget
 * for success rates). A value hovering around a threshold therefore raises at most once and does not clear until it has
 * really recovered.
 *
 * Success rates are judged over the last `rateWindowMs` of evaluations, not one stats window of a few seconds: a window
 * rarely holds enough wedding-day steps for a 99.9 % target to mean anything. Fewer than `minSamples` steps: no judgement.
 *
 * `action-circuit` (R13) is the exception to the hysteresis: a circuit breaker already has its own, so its alert follows
 * the breaker. It is judged on the worst state of each action's circuit in the window, over all instances: raised when
 * that is open (so a circuit that opened and closed again between two evaluations is still seen), kept while it is open
 * or half-open, cleared with the first window every instance spent closed throughout (or when no instance that held it
 * open is alive any more). Judging the worst of a window, not the latest report, makes an evaluation that sees the same
 * instance message twice harmless.
 */
import type { CircuitState, StatsMessage } from '../schemas/stats.ts';
import { emptyHistogram, quantile } from './histogram.ts';
import { TIERS } from './priority.ts';

/** Alert rules. */
export const ALERT_RULES = [
  'execution-time',
  'wedding-day-success',
  'queue-length',
  'overall-success',
  'action-circuit',
] as const;
/** One of {@link ALERT_RULES}. */
export type AlertRule = (typeof ALERT_RULES)[number];
/** Severity of an alert. */
export type AlertSeverity = 'critical' | 'warning';

/** A change of an alert, for the alerts subject. */
export interface AlertEvent {
  type: 'raised' | 'cleared';
  /**
   * Stable de-duplication id: the rule, plus `:<key>` for a vendor type, tier or action (`execution-time:photographer`,
   * `action-circuit:email.send`).
   */
  id: string;
  rule: AlertRule;
  severity: AlertSeverity;
  /** Vendor type (execution-time), tier (queue-length) or action (action-circuit). */
  key?: string;
  /**
   * Measured value: ms, a rate in 0..1, a queue length, or a circuit state (action-circuit: 0 closed, 1 half-open,
   * 2 open, as `journeys_action_circuit_state`; its threshold is 2).
   */
  value: number;
  threshold: number;
  /** Evaluation time, epoch ms. */
  at: number;
  message: string;
}

/** Alert thresholds and hysteresis. Build with {@link thresholdsWith}. */
export interface Thresholds {
  /** Execution time limit for vendor types without their own. @default 30000 */
  maxExecutionMs: number;
  /** Per vendor type. @default { photographer: 25000, venue: 15000, caterer: 20000, florist: 18000 } */
  maxExecutionMsByVendor: Record<string, number>;
  /** Minimum wedding-day (critical) step success rate. @default 0.999 */
  weddingDaySuccess: number;
  /** Maximum queue length (pending + ack pending) per tier. @default 1000 */
  maxQueueLength: number;
  /** Minimum overall step success rate. @default 0.95 */
  overallSuccess: number;
  /** Rates are not judged on fewer finished steps. @default 20 */
  minSamples: number;
  /** Consecutive evaluations in breach before raising. @default 2 */
  raiseAfter: number;
  /** Consecutive evaluations back within the threshold (by the margin) before clearing. @default 3 */
  clearAfter: number;
  /** Margin to clear: this share of the threshold, or of the error budget (1 - target) for success rates. @default 0.1 */
  clearMargin: number;
  /** Success rates are computed over the evaluations of this trailing period. @default 60000 */
  rateWindowMs: number;
  /** Which quantile of the latency the execution time limit applies to (1 = the maximum). @default 0.99 */
  executionTimeQuantile: number;
  /**
   * Which latency the execution time limit applies to: `step` (one step with its action: the work the runtime does for an
   * execution at a time) or `execution` (start to finish, which includes waits of weeks). @default 'step'
   */
  executionTimeOf: 'step' | 'execution';
  /** A queue longer than this multiple of `maxQueueLength` is critical. @default 5 */
  queueCriticalFactor: number;
}

/** R21 defaults. Frozen: derive variants with {@link thresholdsWith}. */
export const DEFAULT_THRESHOLDS: Readonly<Thresholds> = Object.freeze({
  maxExecutionMs: 30_000,
  maxExecutionMsByVendor: Object.freeze({ photographer: 25_000, venue: 15_000, caterer: 20_000, florist: 18_000 }),
  weddingDaySuccess: 0.999,
  maxQueueLength: 1_000,
  overallSuccess: 0.95,
  minSamples: 20,
  raiseAfter: 2,
  clearAfter: 3,
  clearMargin: 0.1,
  rateWindowMs: 60_000,
  executionTimeQuantile: 0.99,
  executionTimeOf: 'step',
  queueCriticalFactor: 5,
});

type Check = (value: unknown) => boolean;
const finite =
  (min: number, max = Infinity, minOpen = false): Check =>
  (v) =>
    typeof v === 'number' && Number.isFinite(v) && (minOpen ? v > min : v >= min) && v <= max;
const integer =
  (min: number): Check =>
  (v) =>
    Number.isInteger(v) && (v as number) >= min;
const RULES: Record<Exclude<keyof Thresholds, 'maxExecutionMsByVendor'>, [Check, string]> = {
  maxExecutionMs: [finite(0, Infinity, true), 'a number of ms > 0'],
  weddingDaySuccess: [finite(0, 1), 'a rate in [0, 1]'],
  maxQueueLength: [finite(0), 'a number >= 0'],
  overallSuccess: [finite(0, 1), 'a rate in [0, 1]'],
  minSamples: [integer(0), 'an integer >= 0'],
  raiseAfter: [integer(1), 'an integer >= 1'],
  clearAfter: [integer(1), 'an integer >= 1'],
  clearMargin: [(v) => finite(0, 1)(v) && v !== 1, 'a share in [0, 1)'],
  rateWindowMs: [finite(0, Infinity, true), 'a number of ms > 0'],
  executionTimeQuantile: [finite(0, 1), 'a quantile in [0, 1]'],
  executionTimeOf: [(v) => v === 'step' || v === 'execution', "'step' or 'execution'"],
  queueCriticalFactor: [finite(1), 'a factor >= 1'],
};

/**
 * {@link DEFAULT_THRESHOLDS} with `partial` applied (undefined fields keep their default; per-vendor limits are merged over
 * the default ones). Throws a RangeError naming the field for an unknown field or a nonsensical value, since thresholds
 * usually come from configuration files where a typo would otherwise silently disable an alert.
 */
export function thresholdsWith(partial: Partial<Thresholds>): Thresholds {
  const out: Thresholds = {
    ...DEFAULT_THRESHOLDS,
    maxExecutionMsByVendor: { ...DEFAULT_THRESHOLDS.maxExecutionMsByVendor },
  };
  for (const [field, value] of Object.entries(partial)) {
    if (value === undefined) continue;
    if (field === 'maxExecutionMsByVendor') {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        throw new RangeError('threshold maxExecutionMsByVendor must be an object of vendor type to ms');
      }
      for (const [vendor, ms] of Object.entries(value)) {
        if (!finite(0, Infinity, true)(ms)) {
          throw new RangeError(
            `threshold maxExecutionMsByVendor.${vendor} must be a number of ms > 0, got ${String(ms)}`,
          );
        }
      }
      out.maxExecutionMsByVendor = { ...out.maxExecutionMsByVendor, ...(value as Record<string, number>) };
      continue;
    }
    const rule = Object.prototype.hasOwnProperty.call(RULES, field) ? RULES[field as keyof typeof RULES] : undefined;
    if (rule === undefined) {
      throw new RangeError(`unknown threshold "${field}"; known: ${Object.keys(DEFAULT_THRESHOLDS).join(', ')}`);
    }
    if (!rule[0](value)) throw new RangeError(`threshold ${field} must be ${rule[1]}, got ${JSON.stringify(value)}`);
    (out as unknown as Record<string, unknown>)[field] = value;
  }
  return out;
}

/** Where one alert stands. */
export interface RuleState {
  rule: AlertRule;
  key?: string;
  active: boolean;
  severity: AlertSeverity;
  /** Consecutive evaluations in breach (inactive) or above the critical level (active warning). */
  breaches: number;
  /** Consecutive evaluations back within the threshold by the margin (active). */
  oks: number;
  /** When it was raised, epoch ms. */
  since: number | null;
}

/** Counts of one evaluation, for the trailing success rates. */
export interface RateSample {
  at: number;
  good: number;
  bad: number;
}

/** Alert state between evaluations. Plain JSON: the host may persist it. */
export interface AlertState {
  /** By alert id; only alerts that are active or on their way to being raised. */
  rules: Record<string, RuleState>;
  samples: { overall: RateSample[]; weddingDay: RateSample[] };
}

/** No alert, no history. */
export function emptyAlertState(): AlertState {
  return { rules: {}, samples: { overall: [], weddingDay: [] } };
}

/**
 * What makes a persisted alert state (JSON from KV) unfit to continue from, or undefined when it is fit. The aggregator
 * starts from {@link emptyAlertState} instead of evaluating on a state that would throw or mislead.
 */
export function alertStateProblem(value: unknown): string | undefined {
  const v = value as Partial<AlertState> | null;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'not an object';
  if (typeof v.rules !== 'object' || v.rules === null || Array.isArray(v.rules)) return 'rules is not an object';
  for (const [id, r] of Object.entries(v.rules)) {
    const ok =
      typeof r === 'object' && r !== null && typeof r.rule === 'string' && typeof r.active === 'boolean' &&
      typeof r.severity === 'string' && Number.isFinite(r.breaches) && Number.isFinite(r.oks) &&
      (r.since === null || Number.isFinite(r.since));
    if (!ok) return `rules.${id} is not a rule state`;
  }
  const samples = v.samples;
  if (typeof samples !== 'object' || samples === null) return 'samples is not an object';
  for (const k of ['overall', 'weddingDay'] as const) {
    const list = samples[k];
    if (!Array.isArray(list) || !list.every((x) => Number.isFinite(x?.at) && Number.isFinite(x?.good) && Number.isFinite(x?.bad)))
      return `samples.${k} is not a list of samples`;
  }
  return undefined;
}

/** Active alerts of a state, most severe first. */
export function activeAlerts(
  state: AlertState,
): { id: string; rule: AlertRule; key?: string; severity: AlertSeverity; since: number }[] {
  return Object.entries(state.rules)
    .filter(([, r]) => r.active)
    .map(([id, r]) => ({
      id,
      rule: r.rule,
      ...(r.key === undefined ? {} : { key: r.key }),
      severity: r.severity,
      since: r.since ?? 0,
    }))
    .sort((a, b) => (a.severity === b.severity ? a.id.localeCompare(b.id) : a.severity === 'critical' ? -1 : 1));
}

/** `breach`: over the line; `ok`: inside by the margin; `near`: inside, not by the margin; `unknown`: too few samples. */
type Status = 'breach' | 'near' | 'ok' | 'unknown';
interface Reading {
  id: string;
  rule: AlertRule;
  key?: string;
  status: Status;
  severity: AlertSeverity;
  value: number;
  threshold: number;
  /** "what is measured and how it compares", for both raised and cleared messages. */
  describe: (raised: boolean) => string;
}

const MAX_RATE_SAMPLES = 1_000;
const seconds = (ms: number): string => `${Math.round(ms / 100) / 10} s`;
const percent = (rate: number): string => `${Math.round(rate * 10_000) / 100} %`;
const round1 = (x: number): number => Math.round(x * 10) / 10;

function atMost(value: number, threshold: number, margin: number): Status {
  if (value > threshold) return 'breach';
  return value <= threshold * (1 - margin) ? 'ok' : 'near';
}

function executionTime(stats: StatsMessage, t: Thresholds, vendors: Iterable<string>): Reading[] {
  const out: Reading[] = [];
  for (const vendor of vendors) {
    const group = Object.prototype.hasOwnProperty.call(stats.byVendor, vendor) ? stats.byVendor[vendor] : undefined;
    const histogram = group?.latency[t.executionTimeOf].histogram ?? emptyHistogram();
    const limit = Object.prototype.hasOwnProperty.call(t.maxExecutionMsByVendor, vendor)
      ? (t.maxExecutionMsByVendor[vendor] ?? t.maxExecutionMs)
      : t.maxExecutionMs;
    // No work in the window is no slow work: it counts towards clearing.
    const value = round1(quantile(histogram, t.executionTimeQuantile) ?? 0);
    const what = `${vendor} ${t.executionTimeOf} time p${round1(t.executionTimeQuantile * 100)}`;
    out.push({
      id: `execution-time:${vendor}`,
      rule: 'execution-time',
      key: vendor,
      status: atMost(value, limit, t.clearMargin),
      severity: 'warning',
      value,
      threshold: limit,
      describe: (raised) =>
        raised
          ? `${what} is ${seconds(value)}, above ${seconds(limit)}`
          : `${what} back to ${seconds(value)} (limit ${seconds(limit)})`,
    });
  }
  return out;
}

function successRate(
  samples: RateSample[],
  rule: 'wedding-day-success' | 'overall-success',
  target: number,
  t: Thresholds,
): Reading {
  const good = samples.reduce((n, s) => n + s.good, 0);
  const bad = samples.reduce((n, s) => n + s.bad, 0);
  const n = good + bad;
  const value = n === 0 ? 1 : good / n;
  let status: Status = 'unknown';
  if (n > 0 && n >= t.minSamples) {
    if (value < target) status = 'breach';
    else status = value >= target + t.clearMargin * (1 - target) ? 'ok' : 'near';
  }
  const what = rule === 'wedding-day-success' ? 'wedding-day step success' : 'step success';
  const period = `${bad} of ${n} steps failed in the last ${seconds(t.rateWindowMs)}`;
  return {
    id: rule,
    rule,
    status,
    severity: rule === 'wedding-day-success' ? 'critical' : 'warning',
    value,
    threshold: target,
    describe: (raised) =>
      raised
        ? `${what} is ${percent(value)}, below ${percent(target)} (${period})`
        : `${what} back to ${percent(value)} (target ${percent(target)}; ${period})`,
  };
}

function queueLength(stats: StatsMessage, t: Thresholds): Reading[] {
  return TIERS.map((tier) => {
    const q = stats.queues[tier];
    const value = q.pending + q.ackPending;
    const critical = value > t.maxQueueLength * t.queueCriticalFactor;
    return {
      id: `queue-length:${tier}`,
      rule: 'queue-length' as const,
      key: tier,
      status: atMost(value, t.maxQueueLength, t.clearMargin),
      severity: critical ? ('critical' as const) : ('warning' as const),
      value,
      threshold: t.maxQueueLength,
      describe: (raised: boolean) =>
        raised
          ? `${tier} queue holds ${value} messages, above ${t.maxQueueLength}${critical ? ` (over ${t.queueCriticalFactor}x)` : ''}`
          : `${tier} queue back to ${value} messages (limit ${t.maxQueueLength})`,
    };
  });
}

const CIRCUIT_VALUE: Record<CircuitState, number> = { closed: 0, 'half-open': 1, open: 2 };

/**
 * The action-circuit alerts: no hysteresis (see the file comment), so not through {@link advance}. An action that no live
 * instance reports any more counts as closed: a circuit is held in a process, and the processes that held it are gone.
 */
function circuitAlerts(
  state: AlertState,
  stats: StatsMessage,
  now: number,
): { rules: [string, RuleState][]; events: AlertEvent[] } {
  const circuits = stats.circuits ?? {};
  const actions = new Set(Object.keys(circuits));
  for (const r of Object.values(state.rules)) if (r.rule === 'action-circuit' && r.key !== undefined) actions.add(r.key);
  const rules: [string, RuleState][] = [];
  const events: AlertEvent[] = [];
  for (const action of [...actions].sort()) {
    const id = `action-circuit:${action}`;
    const c = Object.prototype.hasOwnProperty.call(circuits, action) ? circuits[action] : undefined;
    const worst = c?.worst ?? 'closed';
    const prev = Object.prototype.hasOwnProperty.call(state.rules, id) ? state.rules[id] : undefined;
    const active = prev?.active === true;
    const rate = percent(c?.failureRate ?? 0);
    const event = (type: AlertEvent['type'], message: string): AlertEvent => ({
      type,
      id,
      rule: 'action-circuit',
      severity: 'warning',
      key: action,
      value: CIRCUIT_VALUE[c?.state ?? 'closed'],
      threshold: CIRCUIT_VALUE.open,
      at: now,
      message,
    });
    if (!active && worst !== 'closed') {
      rules.push([id, { rule: 'action-circuit', key: action, active: true, severity: 'warning', breaches: 0, oks: 0, since: now }]);
      const current = c?.state ?? 'closed';
      const what =
        current === 'open'
          ? 'is open: attempts are held'
          : current === 'half-open'
            ? 'is half-open: one probe goes through, the other attempts are held'
            : 'opened and closed again since the last evaluation';
      events.push(event('raised', `circuit of ${action} ${what} (failure rate ${rate})`));
    } else if (active && worst === 'closed') {
      events.push(event('cleared', `circuit of ${action} is closed again${c ? ` (failure rate ${rate})` : ' (no live instance holds it open)'}`));
    } else if (active && prev) {
      rules.push([id, prev]);
    }
  }
  return { rules, events };
}

function trailing(samples: readonly RateSample[], sample: RateSample, now: number, t: Thresholds): RateSample[] {
  return [...samples, sample].filter((s) => s.at > now - t.rateWindowMs && s.at <= now).slice(-MAX_RATE_SAMPLES);
}

/** Moves one alert along; returns its next state (undefined when there is nothing to remember) and any event. */
function advance(
  prev: RuleState | undefined,
  r: Reading,
  t: Thresholds,
  now: number,
): [RuleState | undefined, AlertEvent | undefined] {
  const s: RuleState = prev ?? {
    rule: r.rule,
    ...(r.key === undefined ? {} : { key: r.key }),
    active: false,
    severity: r.severity,
    breaches: 0,
    oks: 0,
    since: null,
  };
  const event = (type: AlertEvent['type'], severity: AlertSeverity): AlertEvent => ({
    type,
    id: r.id,
    rule: r.rule,
    severity,
    ...(r.key === undefined ? {} : { key: r.key }),
    value: r.value,
    threshold: r.threshold,
    at: now,
    message: r.describe(type === 'raised'),
  });
  if (!s.active) {
    const breaches = r.status === 'breach' ? s.breaches + 1 : 0;
    if (breaches === 0) return [undefined, undefined];
    if (breaches < t.raiseAfter) return [{ ...s, breaches }, undefined];
    return [{ ...s, active: true, severity: r.severity, breaches: 0, oks: 0, since: now }, event('raised', r.severity)];
  }
  // Too few samples says nothing either way: hold.
  if (r.status === 'unknown') return [s, undefined];
  const oks = r.status === 'ok' ? s.oks + 1 : 0;
  if (oks >= t.clearAfter) return [undefined, event('cleared', s.severity)];
  // Escalation is the one re-raise: a warning that has been critical for `raiseAfter` evaluations becomes critical.
  const escalating = s.severity === 'warning' && r.severity === 'critical' && r.status === 'breach';
  const breaches = escalating ? s.breaches + 1 : 0;
  if (escalating && breaches >= t.raiseAfter) {
    return [{ ...s, severity: 'critical', breaches: 0, oks }, event('raised', 'critical')];
  }
  return [{ ...s, breaches, oks }, undefined];
}

/**
 * One evaluation of every rule on `stats` at `now` (epoch ms). Returns the next state and the alerts raised or cleared,
 * critical first. `state` is not modified.
 */
export function evaluateAlerts(
  state: AlertState,
  stats: StatsMessage,
  t: Thresholds,
  now: number,
): { state: AlertState; events: AlertEvent[] } {
  const samples = {
    overall: trailing(
      state.samples.overall,
      { at: now, good: stats.totals.stepsDone, bad: stats.totals.failed },
      now,
      t,
    ),
    weddingDay: trailing(
      state.samples.weddingDay,
      { at: now, good: stats.weddingDay.stepsDone, bad: stats.weddingDay.failed },
      now,
      t,
    ),
  };
  // Vendors that vanished from the stats are still evaluated while they have an alert, so it can clear.
  const vendors = new Set(Object.keys(stats.byVendor));
  for (const r of Object.values(state.rules))
    if (r.rule === 'execution-time' && r.key !== undefined) vendors.add(r.key);
  const circuits = circuitAlerts(state, stats, now);
  const readings = [
    successRate(samples.weddingDay, 'wedding-day-success', t.weddingDaySuccess, t),
    successRate(samples.overall, 'overall-success', t.overallSuccess, t),
    ...queueLength(stats, t),
    ...executionTime(stats, t, [...vendors].sort()),
  ];
  const rules: [string, RuleState][] = [...circuits.rules];
  const events: AlertEvent[] = [...circuits.events];
  for (const r of readings) {
    const prev = Object.prototype.hasOwnProperty.call(state.rules, r.id) ? state.rules[r.id] : undefined;
    const [next, event] = advance(prev, r, t, now);
    if (next !== undefined) rules.push([r.id, next]);
    if (event !== undefined) events.push(event);
  }
  events.sort((a, b) => (a.severity === b.severity ? 0 : a.severity === 'critical' ? -1 : 1));
  return { state: { rules: Object.fromEntries(rules), samples }, events };
}

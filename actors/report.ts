/**
 * Performance reports (R25): a pure aggregation of the stored cluster-wide stats messages and alert events of a period
 * into a typed report model, which `runtime/report-render.ts` renders as Markdown or HTML.
 *
 * Each cluster stats message covers a disjoint window (`windowMs` ending at `at`), so a period's counts are the sums of
 * the window counts of the messages that end in it, and its percentiles come from the merged window histograms (never
 * from averaging percentiles). `cumulative` is ignored: it resets when an instance restarts.
 *
 * Messages may be fed one at a time ({@link startReport}, {@link addStats}, {@link addAlert}, {@link finishReport}) so a
 * month of history need not be held in memory, or all at once with {@link buildReport}.
 */
import type { GroupStats, StatsMessage } from '../schemas/stats.ts';
import type { AlertEvent, AlertRule, AlertSeverity } from './alerts.ts';
import { emptyHistogram, mean, merge as mergeHistogram, quantile, type Histogram } from './histogram.ts';
import { MIXED } from './monitor.ts';
import { TIERS, type Tier } from './priority.ts';

/** The period of a report, epoch ms: messages whose window ends in `(from, to]`, alerts at `[from, to]`. */
export interface ReportPeriod {
  from: number;
  to: number;
}

/** Latency summary in ms; null without samples. */
export interface LatencySummary {
  count: number;
  mean: number | null;
  p50: number | null;
  p90: number | null;
  p99: number | null;
  max: number | null;
}

/** Raw counters (sums of window counters). */
export interface CountTotals {
  started: number;
  completed: number;
  exited: number;
  cancelled: number;
  /** Executions failed (a step dead-lettered). */
  failed: number;
  stepsDone: number;
  retried: number;
}

/** Counters, rates and latency of a slice of the traffic (a vendor type, a tier, the wedding-day work). */
export interface SliceReport extends CountTotals {
  /** stepsDone / (stepsDone + failed); null without finished steps. */
  stepSuccess: number | null;
  /** completed / (completed + failed); null without finished executions. */
  executionSuccess: number | null;
  stepLatency: LatencySummary;
  executionLatency: LatencySummary;
}

/** A calendar slice (Saturdays, weekdays, season, off-season): a {@link SliceReport} with the time it covers. */
export interface CalendarSlice extends SliceReport {
  messages: number;
  /** Sum of the windows of its messages. */
  coveredMs: number;
  /** Per hour of covered time; null when none is covered. */
  completedPerHour: number | null;
  stepsPerHour: number | null;
}

/** One step of a journey's funnel. */
export interface StepFunnel {
  stepId: string;
  done: number;
  retried: number;
  failed: number;
  /** Executions that finished the step either way: done + failed (retried attempts are not final). */
  reached: number;
  /** done / (done + failed). */
  success: number | null;
  /** done / reached of the journey's first step: the share of the funnel that got through this step. */
  conversion: number | null;
  /** Share of the previous step's `done` that did not reach this step (0 when more did); null for the first step. */
  dropOff: number | null;
  latency: LatencySummary;
}

/** One action's attempts (R13): ok, failed (retried or dead), held by an open circuit (not attempts). */
export interface ActionReport {
  action: string;
  attempts: number;
  ok: number;
  failed: number;
  held: number;
  /** ok / (ok + failed): every failed attempt counts. */
  success: number | null;
  latency: LatencySummary;
}

/** One journey: counters and its steps in the order they first appear in the period. */
export interface JourneyReport extends CountTotals {
  journeyId: string;
  vendorType: string;
  stepSuccess: number | null;
  steps: StepFunnel[];
}

/** One point of the time series (charts). Rates are per hour of covered time; null in a gap. */
export interface TimelinePoint {
  from: number;
  to: number;
  messages: number;
  coveredMs: number;
  completed: number;
  stepsDone: number;
  failed: number;
  completedPerHour: number | null;
  stepsPerHour: number | null;
  stepP50: number | null;
  stepP99: number | null;
}

/** An alert raised in the period, with when (and whether) it cleared. */
export interface AlertSpan {
  id: string;
  rule: AlertRule;
  key?: string;
  severity: AlertSeverity;
  raisedAt: number;
  /** Null when still active at the end of the period. */
  clearedAt: number | null;
  message: string;
}

export interface AlertsReport {
  raised: number;
  cleared: number;
  byRule: { rule: string; raised: number; cleared: number }[];
  /** Alerts raised in the period, in order (an escalation is a second raise of the same id). */
  spans: AlertSpan[];
  /** Raised (in the period) and not cleared by its end, most severe first. */
  activeAtEnd: AlertSpan[];
  /** Clears in the period of alerts raised before it. */
  clearedFromBefore: number;
}

/** The report model. Plain JSON. */
export interface PerformanceReport {
  v: 1;
  period: { from: string; to: string; hours: number };
  /** True when no stats message falls in the period. */
  empty: boolean;
  data: {
    messages: number;
    /** Start of the first window and end of the last; null without messages. */
    first: string | null;
    last: string | null;
    coveredMs: number;
    /** coveredMs / period length, at most 1. */
    coverage: number;
    /** Most instances merged into one message. */
    maxInstances: number;
    /** Zones the Saturday and season flags were computed in. */
    timeZones: string[];
    /** Messages that were not counted: outside the period or unreadable. */
    skipped: number;
  };
  totals: SliceReport;
  throughput: {
    completed: number;
    stepsDone: number;
    /** Per hour of covered time (while the cluster reported stats). */
    completedPerHour: number | null;
    stepsPerHour: number | null;
    /** Busiest point of the timeline. */
    peakCompletedPerHour: number | null;
    peakStepsPerHour: number | null;
  };
  byVendor: (SliceReport & { vendorType: string })[];
  /** Busiest first; empty for stats from before R13. */
  byAction: ActionReport[];
  byTier: (SliceReport & { tier: Tier })[];
  weddingDay: SliceReport;
  saturday: { saturday: CalendarSlice; weekday: CalendarSlice };
  season: { season: CalendarSlice; offSeason: CalendarSlice };
  /** Summed from each message's top list, so approximate for rare errors. */
  topErrors: { message: string; count: number }[];
  journeys: JourneyReport[];
  /** Bucket length of the timeline in ms (0 when empty). */
  bucketMs: number;
  timeline: TimelinePoint[];
  alerts: AlertsReport;
}

// ---------------------------------------------------------------------------------------------------------------------
// Accumulation
// ---------------------------------------------------------------------------------------------------------------------

interface Acc {
  counts: CountTotals;
  step: Histogram;
  execution: Histogram;
}
interface CalendarAcc extends Acc {
  messages: number;
  coveredMs: number;
}
interface StepAcc {
  done: number;
  retried: number;
  failed: number;
  latency: Histogram;
}
interface ActionAcc {
  ok: number;
  failed: number;
  held: number;
  latency: Histogram;
}
interface JourneyAcc extends Acc {
  vendorType: string;
  /** Insertion order is first appearance. */
  steps: Map<string, StepAcc>;
}
interface BucketAcc {
  messages: number;
  coveredMs: number;
  completed: number;
  stepsDone: number;
  failed: number;
  step: Histogram;
}

/** Report under construction. Treat as opaque; mutated in place by {@link addStats} and {@link addAlert}. */
export interface ReportState {
  period: ReportPeriod;
  /** Timeline bucket length: the finest of {@link BUCKET_STEPS} that keeps the data within {@link MAX_GRID} buckets. */
  bucketMs: number;
  /** By bucket index, `floor((at - 1) / bucketMs)`: bucket boundaries are round UTC times. */
  buckets: Map<number, BucketAcc>;
  minIndex: number;
  maxIndex: number;
  messages: number;
  skipped: number;
  first: number | null;
  last: number | null;
  coveredMs: number;
  maxInstances: number;
  timeZones: Set<string>;
  totals: Acc;
  weddingDay: Acc;
  byTier: Record<Tier, Acc>;
  byVendor: Map<string, Acc>;
  byAction: Map<string, ActionAcc>;
  saturday: CalendarAcc;
  weekday: CalendarAcc;
  season: CalendarAcc;
  offSeason: CalendarAcc;
  errors: Map<string, number>;
  journeys: Map<string, JourneyAcc>;
  alerts: AlertEvent[];
}

const COUNT_KEYS = ['started', 'completed', 'exited', 'cancelled', 'failed', 'stepsDone', 'retried'] as const;
const zeroCounts = (): CountTotals => ({
  started: 0,
  completed: 0,
  exited: 0,
  cancelled: 0,
  failed: 0,
  stepsDone: 0,
  retried: 0,
});
const emptyAcc = (): Acc => ({ counts: zeroCounts(), step: emptyHistogram(), execution: emptyHistogram() });
const emptyCalendar = (): CalendarAcc => ({ ...emptyAcc(), messages: 0, coveredMs: 0 });
const emptyBucket = (): BucketAcc => ({
  messages: 0,
  coveredMs: 0,
  completed: 0,
  stepsDone: 0,
  failed: 0,
  step: emptyHistogram(),
});

/**
 * Timeline resolution: at most this many buckets while accumulating (coarsening as the data's span grows, so a period of
 * a month with an hour of data still gets a fine timeline), and this many points in the report.
 */
const MAX_GRID = 240;
const MAX_POINTS = 60;
const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
/** Bucket lengths, each a multiple of the one before, so coarsening never splits a bucket; then multiples of 4 weeks. */
const BUCKET_STEPS = [
  SECOND,
  5 * SECOND,
  10 * SECOND,
  30 * SECOND,
  MINUTE,
  5 * MINUTE,
  10 * MINUTE,
  30 * MINUTE,
  HOUR,
  2 * HOUR,
  6 * HOUR,
  12 * HOUR,
  DAY,
  7 * DAY,
  28 * DAY,
];
const nextStep = (step: number): number => BUCKET_STEPS.find((s) => s > step) ?? step * 2;
/** Top errors kept in the report. */
const TOP_ERRORS = 10;

/** An empty report state for `period` (a RangeError when `to` is not after `from`). */
export function startReport(period: ReportPeriod): ReportState {
  if (!Number.isFinite(period.from) || !Number.isFinite(period.to) || period.to <= period.from)
    throw new RangeError('report period: "to" must be later than "from"');
  return {
    period: { from: period.from, to: period.to },
    bucketMs: SECOND,
    buckets: new Map(),
    minIndex: Infinity,
    maxIndex: -Infinity,
    messages: 0,
    skipped: 0,
    first: null,
    last: null,
    coveredMs: 0,
    maxInstances: 0,
    timeZones: new Set(),
    totals: emptyAcc(),
    weddingDay: emptyAcc(),
    byTier: { critical: emptyAcc(), high: emptyAcc(), medium: emptyAcc(), low: emptyAcc() },
    byVendor: new Map(),
    byAction: new Map(),
    saturday: emptyCalendar(),
    weekday: emptyCalendar(),
    season: emptyCalendar(),
    offSeason: emptyCalendar(),
    errors: new Map(),
    journeys: new Map(),
    alerts: [],
  };
}

function addCounts(into: CountTotals, from: Partial<CountTotals>): void {
  for (const k of COUNT_KEYS) {
    const v = from[k];
    if (typeof v === 'number' && Number.isFinite(v)) into[k] += v;
  }
}

const histogramOf = (latency: { histogram?: Histogram } | undefined): Histogram =>
  latency?.histogram ?? emptyHistogram();

function addGroup(acc: Acc, g: GroupStats | undefined): void {
  if (g === undefined) return;
  addCounts(acc.counts, g);
  acc.step = mergeHistogram(acc.step, histogramOf(g.latency?.step));
  acc.execution = mergeHistogram(acc.execution, histogramOf(g.latency?.execution));
}

function addTotals(acc: Acc, m: StatsMessage): void {
  addCounts(acc.counts, m.totals);
  acc.step = mergeHistogram(acc.step, histogramOf(m.latency?.step));
  acc.execution = mergeHistogram(acc.execution, histogramOf(m.latency?.execution));
}

/**
 * Counts one stats message (normally `instance: 'cluster'`) into the report. Messages whose window does not end in the
 * period, or that lack the fields a report needs, are skipped (counted in `data.skipped`). Returns whether it counted.
 */
export function addStats(state: ReportState, m: StatsMessage): boolean {
  const at = typeof m?.at === 'string' ? Date.parse(m.at) : NaN;
  if (!Number.isFinite(at) || at <= state.period.from || at > state.period.to || typeof m.totals !== 'object') {
    state.skipped++;
    return false;
  }
  const windowMs = Number.isFinite(m.windowMs) && m.windowMs > 0 ? m.windowMs : 0;
  state.messages++;
  state.coveredMs += windowMs;
  state.first = Math.min(state.first ?? Infinity, at - windowMs);
  state.last = Math.max(state.last ?? -Infinity, at);
  state.maxInstances = Math.max(state.maxInstances, m.instances ?? 0);
  if (m.flags?.timeZone) state.timeZones.add(m.flags.timeZone);

  addTotals(state.totals, m);
  addGroup(state.weddingDay, m.weddingDay);
  for (const tier of TIERS) addGroup(state.byTier[tier], m.byTier?.[tier]);
  for (const [vendor, g] of Object.entries(m.byVendor ?? {})) {
    let acc = state.byVendor.get(vendor);
    if (acc === undefined) state.byVendor.set(vendor, (acc = emptyAcc()));
    addGroup(acc, g);
  }
  for (const [action, a] of Object.entries(m.byAction ?? {})) {
    let acc = state.byAction.get(action);
    if (acc === undefined) state.byAction.set(action, (acc = { ok: 0, failed: 0, held: 0, latency: emptyHistogram() }));
    acc.ok += a.ok;
    acc.failed += a.failed;
    acc.held += a.held;
    acc.latency = mergeHistogram(acc.latency, histogramOf(a.latency));
  }
  for (const slice of [
    m.flags?.saturday ? state.saturday : state.weekday,
    m.flags?.season ? state.season : state.offSeason,
  ]) {
    addTotals(slice, m);
    slice.messages++;
    slice.coveredMs += windowMs;
  }
  for (const { message, count } of m.topErrors ?? [])
    state.errors.set(message, (state.errors.get(message) ?? 0) + count);
  for (const [journeyId, j] of Object.entries(m.byJourney ?? {})) {
    let acc = state.journeys.get(journeyId);
    if (acc === undefined)
      state.journeys.set(journeyId, (acc = { ...emptyAcc(), vendorType: j.vendorType, steps: new Map() }));
    else if (acc.vendorType !== j.vendorType) acc.vendorType = MIXED;
    addGroup(acc, j);
    for (const [stepId, s] of Object.entries(j.steps ?? {})) {
      let step = acc.steps.get(stepId);
      if (step === undefined)
        acc.steps.set(stepId, (step = { done: 0, retried: 0, failed: 0, latency: emptyHistogram() }));
      step.done += s.done;
      step.retried += s.retried;
      step.failed += s.failed;
      step.latency = mergeHistogram(step.latency, histogramOf(s.latency));
    }
  }
  const b = bucketAt(state, at);
  b.messages++;
  b.coveredMs += windowMs;
  b.completed += m.totals.completed;
  b.stepsDone += m.totals.stepsDone;
  b.failed += m.totals.failed;
  b.step = mergeHistogram(b.step, histogramOf(m.latency?.step));
  return true;
}

function addBucket(into: BucketAcc, b: BucketAcc): void {
  into.messages += b.messages;
  into.coveredMs += b.coveredMs;
  into.completed += b.completed;
  into.stepsDone += b.stepsDone;
  into.failed += b.failed;
  into.step = mergeHistogram(into.step, b.step);
}

/** Re-files the buckets at a coarser step (a multiple of the current one, so no bucket is split). */
function coarsen(state: ReportState, step: number): void {
  const old = state.buckets;
  const oldStep = state.bucketMs;
  state.buckets = new Map();
  state.bucketMs = step;
  state.minIndex = Infinity;
  state.maxIndex = -Infinity;
  for (const [i, b] of old) addBucket(bucketAt(state, i * oldStep + 1), b);
}

/** The bucket holding a window that ends at `at` (an end on a boundary belongs to the bucket before it). */
function bucketAt(state: ReportState, at: number): BucketAcc {
  for (;;) {
    const index = Math.floor((at - 1) / state.bucketMs);
    const min = Math.min(state.minIndex, index);
    const max = Math.max(state.maxIndex, index);
    if (max - min < MAX_GRID) {
      state.minIndex = min;
      state.maxIndex = max;
      let b = state.buckets.get(index);
      if (b === undefined) state.buckets.set(index, (b = emptyBucket()));
      return b;
    }
    coarsen(state, nextStep(state.bucketMs));
  }
}

/** Counts one alert event into the report when it falls in the period. Returns whether it counted. */
export function addAlert(state: ReportState, e: AlertEvent): boolean {
  if (typeof e?.at !== 'number' || e.at < state.period.from || e.at > state.period.to) return false;
  if (e.type !== 'raised' && e.type !== 'cleared') return false;
  state.alerts.push(e);
  return true;
}

// ---------------------------------------------------------------------------------------------------------------------
// Finishing
// ---------------------------------------------------------------------------------------------------------------------

const round1 = (x: number | undefined): number | null => (x === undefined ? null : Math.round(x * 10) / 10);
const ratio = (good: number, bad: number): number | null => (good + bad === 0 ? null : good / (good + bad));
const perHour = (n: number, ms: number): number | null => (ms > 0 ? (n * HOUR) / ms : null);

/** Percentiles of a (merged) histogram. */
export function latencySummary(h: Histogram): LatencySummary {
  return {
    count: h.count,
    mean: round1(mean(h)),
    p50: round1(quantile(h, 0.5)),
    p90: round1(quantile(h, 0.9)),
    p99: round1(quantile(h, 0.99)),
    max: h.count === 0 ? null : h.max,
  };
}

function slice(acc: Acc): SliceReport {
  const c = acc.counts;
  return {
    ...c,
    stepSuccess: ratio(c.stepsDone, c.failed),
    executionSuccess: ratio(c.completed, c.failed),
    stepLatency: latencySummary(acc.step),
    executionLatency: latencySummary(acc.execution),
  };
}

function calendar(acc: CalendarAcc): CalendarSlice {
  return {
    ...slice(acc),
    messages: acc.messages,
    coveredMs: acc.coveredMs,
    completedPerHour: perHour(acc.counts.completed, acc.coveredMs),
    stepsPerHour: perHour(acc.counts.stepsDone, acc.coveredMs),
  };
}

function funnel(steps: Map<string, StepAcc>): StepFunnel[] {
  const out: StepFunnel[] = [];
  let base: number | undefined;
  let prevDone: number | undefined;
  for (const [stepId, s] of steps) {
    const reached = s.done + s.failed;
    base ??= reached;
    out.push({
      stepId,
      done: s.done,
      retried: s.retried,
      failed: s.failed,
      reached,
      success: ratio(s.done, s.failed),
      conversion: base > 0 ? s.done / base : null,
      dropOff: prevDone === undefined ? null : prevDone > 0 ? Math.max(0, 1 - reached / prevDone) : null,
      latency: latencySummary(s.latency),
    });
    prevDone = s.done;
  }
  return out;
}

/** Round lengths a timeline point may have (merging buckets of a step that divides them). */
const POINT_STEPS = [
  SECOND,
  2 * SECOND,
  5 * SECOND,
  10 * SECOND,
  15 * SECOND,
  30 * SECOND,
  MINUTE,
  2 * MINUTE,
  3 * MINUTE,
  5 * MINUTE,
  10 * MINUTE,
  15 * MINUTE,
  20 * MINUTE,
  30 * MINUTE,
  HOUR,
  2 * HOUR,
  3 * HOUR,
  4 * HOUR,
  6 * HOUR,
  8 * HOUR,
  12 * HOUR,
  DAY,
  2 * DAY,
  3 * DAY,
  7 * DAY,
  14 * DAY,
  28 * DAY,
];

/**
 * The buckets from the first to the last with data, merged into at most {@link MAX_POINTS} points of a round length
 * (aligned on multiples of it in UTC, like the buckets).
 */
function timeline(state: ReportState): { bucketMs: number; points: TimelinePoint[] } {
  if (state.buckets.size === 0) return { bucketMs: 0, points: [] };
  const step = state.bucketMs;
  const count = (len: number): number =>
    Math.floor((state.maxIndex * step) / len) - Math.floor((state.minIndex * step) / len) + 1;
  let length = POINT_STEPS.find((len) => len >= step && len % step === 0 && count(len) <= MAX_POINTS);
  if (length === undefined) {
    let factor = Math.ceil((state.maxIndex - state.minIndex + 1) / MAX_POINTS);
    while (count(step * factor) > MAX_POINTS) factor++;
    length = step * factor;
  }
  const merged = new Map<number, BucketAcc>();
  for (const [i, b] of state.buckets) {
    const p = Math.floor((i * step) / length);
    let acc = merged.get(p);
    if (acc === undefined) merged.set(p, (acc = emptyBucket()));
    addBucket(acc, b);
  }
  const first = Math.floor((state.minIndex * step) / length);
  const last = Math.floor((state.maxIndex * step) / length);
  const points: TimelinePoint[] = [];
  for (let p = first; p <= last; p++) {
    const acc = merged.get(p) ?? emptyBucket();
    points.push({
      from: p * length,
      to: (p + 1) * length,
      messages: acc.messages,
      coveredMs: acc.coveredMs,
      completed: acc.completed,
      stepsDone: acc.stepsDone,
      failed: acc.failed,
      completedPerHour: acc.messages > 0 ? perHour(acc.completed, acc.coveredMs) : null,
      stepsPerHour: acc.messages > 0 ? perHour(acc.stepsDone, acc.coveredMs) : null,
      stepP50: round1(quantile(acc.step, 0.5)),
      stepP99: round1(quantile(acc.step, 0.99)),
    });
  }
  return { bucketMs: length, points };
}

/** The busiest point, ignoring points that cover less than half their length when any covers more (rates of a few seconds extrapolated to an hour are noise). */
function peak(points: readonly TimelinePoint[], rate: (p: TimelinePoint) => number | null): number | null {
  const full = points.filter((p) => p.coveredMs >= (p.to - p.from) / 2);
  let best: number | null = null;
  for (const p of full.length > 0 ? full : points) {
    const r = rate(p);
    if (r !== null && (best === null || r > best)) best = r;
  }
  return best;
}

const SEVERITY_ORDER = (a: AlertSpan, b: AlertSpan): number =>
  a.severity === b.severity ? a.raisedAt - b.raisedAt : a.severity === 'critical' ? -1 : 1;

function alertsReport(events: readonly AlertEvent[]): AlertsReport {
  const sorted = [...events].sort((a, b) => a.at - b.at);
  const spans: AlertSpan[] = [];
  const open = new Map<string, AlertSpan[]>();
  const byRule = new Map<string, { raised: number; cleared: number }>();
  let raised = 0;
  let cleared = 0;
  let clearedFromBefore = 0;
  for (const e of sorted) {
    const r = byRule.get(e.rule) ?? { raised: 0, cleared: 0 };
    byRule.set(e.rule, r);
    if (e.type === 'raised') {
      raised++;
      r.raised++;
      const span: AlertSpan = {
        id: e.id,
        rule: e.rule,
        ...(e.key === undefined ? {} : { key: e.key }),
        severity: e.severity,
        raisedAt: e.at,
        clearedAt: null,
        message: e.message,
      };
      spans.push(span);
      open.set(e.id, [...(open.get(e.id) ?? []), span]);
    } else {
      cleared++;
      r.cleared++;
      const list = open.get(e.id);
      if (list === undefined || list.length === 0) clearedFromBefore++;
      else for (const s of list) s.clearedAt = e.at;
      open.delete(e.id);
    }
  }
  // An escalated alert has two raises and one clear: show it once as active, at its latest severity.
  const activeAtEnd = [...open.values()].map((list) => list.at(-1)!).sort(SEVERITY_ORDER);
  return {
    raised,
    cleared,
    byRule: [...byRule.entries()].map(([rule, n]) => ({ rule, ...n })).sort((a, b) => a.rule.localeCompare(b.rule)),
    spans,
    activeAtEnd,
    clearedFromBefore,
  };
}

const activity = (c: CountTotals): number => COUNT_KEYS.reduce((n, k) => n + c[k], 0);
const byActivity = <T extends { counts: CountTotals }>(a: [string, T], b: [string, T]): number =>
  activity(b[1].counts) - activity(a[1].counts) || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);

/** The report model of what was added. The state may be finished more than once. */
export function finishReport(state: ReportState): PerformanceReport {
  const { period } = state;
  const span = period.to - period.from;
  const line = timeline(state);
  const totals = slice(state.totals);
  return {
    v: 1,
    period: { from: new Date(period.from).toISOString(), to: new Date(period.to).toISOString(), hours: span / HOUR },
    empty: state.messages === 0,
    data: {
      messages: state.messages,
      first: state.first === null ? null : new Date(state.first).toISOString(),
      last: state.last === null ? null : new Date(state.last).toISOString(),
      coveredMs: state.coveredMs,
      coverage: Math.min(1, state.coveredMs / span),
      maxInstances: state.maxInstances,
      timeZones: [...state.timeZones].sort(),
      skipped: state.skipped,
    },
    totals,
    throughput: {
      completed: totals.completed,
      stepsDone: totals.stepsDone,
      completedPerHour: perHour(totals.completed, state.coveredMs),
      stepsPerHour: perHour(totals.stepsDone, state.coveredMs),
      peakCompletedPerHour: peak(line.points, (p) => p.completedPerHour),
      peakStepsPerHour: peak(line.points, (p) => p.stepsPerHour),
    },
    byVendor: [...state.byVendor.entries()]
      .sort(byActivity)
      .map(([vendorType, acc]) => ({ vendorType, ...slice(acc) })),
    byAction: [...state.byAction.entries()]
      .sort((a, b) => b[1].ok + b[1].failed + b[1].held - (a[1].ok + a[1].failed + a[1].held) || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
      .map(([action, a]) => ({
        action,
        attempts: a.ok + a.failed,
        ok: a.ok,
        failed: a.failed,
        held: a.held,
        success: ratio(a.ok, a.failed),
        latency: latencySummary(a.latency),
      })),
    byTier: TIERS.map((tier) => ({ tier, ...slice(state.byTier[tier]) })),
    weddingDay: slice(state.weddingDay),
    saturday: { saturday: calendar(state.saturday), weekday: calendar(state.weekday) },
    season: { season: calendar(state.season), offSeason: calendar(state.offSeason) },
    topErrors: [...state.errors.entries()]
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
      .slice(0, TOP_ERRORS)
      .map(([message, count]) => ({ message, count })),
    journeys: [...state.journeys.entries()].sort(byActivity).map(([journeyId, acc]) => ({
      journeyId,
      vendorType: acc.vendorType,
      ...acc.counts,
      stepSuccess: ratio(acc.counts.stepsDone, acc.counts.failed),
      steps: funnel(acc.steps),
    })),
    bucketMs: line.bucketMs,
    timeline: line.points,
    alerts: alertsReport(state.alerts),
  };
}

/** Input of {@link buildReport}. */
export interface ReportInput {
  period: ReportPeriod;
  stats: readonly StatsMessage[];
  alerts: readonly AlertEvent[];
}

/** The report of a period from its stats messages (any order) and alert events. */
export function buildReport(input: ReportInput): PerformanceReport {
  const state = startReport(input.period);
  const ordered = [...input.stats].sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
  for (const m of ordered) addStats(state, m);
  for (const e of input.alerts) addAlert(state, e);
  return finishReport(state);
}

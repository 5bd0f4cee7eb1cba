/**
 * Metric aggregation for the monitor (R19, R20): a {@link StatsWindow} folds metric events per tier, vendor type, journey,
 * step and action (R13: attempts, success rate and latency per action, and the state of its circuit breaker); windows merge (instances into the cluster, windows into totals since start); `toStats` renders the stats message.
 * `monitorMachine` holds the current window and the totals in XState context, so the host only feeds events, flushes on a
 * timer and publishes `snapshot.context.last`.
 *
 * Everything is mergeable by construction: windows keep counts and histograms only, and rates and percentiles are derived
 * when a message is rendered. Cardinality is bounded (see {@link MONITOR_LIMITS}) because keys come from data: a window can
 * never grow past a few hundred groups, whatever the host sends.
 *
 * Windows are immutable: `apply` and the merges return new objects sharing the untouched parts.
 */
import { assign, setup } from 'xstate';
import type {
  ActionStats,
  CircuitState,
  CircuitStats,
  Counts,
  GroupStats,
  JourneyStats,
  Latency,
  StatsMessage,
  StepStats,
} from '../schemas/stats.ts';
import { emptyHistogram, merge as mergeHistogram, mean, quantile, recordInto, type Histogram, type HistogramDraft } from './histogram.ts';
import { TIERS, type Tier } from './priority.ts';
import { isSaturday, isWeddingSeason, localDate } from './time.ts';

/** What the runtime reports, one event per fact. `at` is epoch ms, `ms` a duration. */
export type MetricEvent =
  | { type: 'execution.started'; at: number; tier: Tier; vendorType: string; journeyId: string; weddingDay: boolean }
  | {
      type: 'step.finished';
      at: number;
      tier: Tier;
      vendorType: string;
      journeyId: string;
      stepId: string;
      /** The step's action: per-action success rate and latency (R13). */
      action: string;
      /** `held`: not attempted, its action's circuit is open (no attempt used). */
      outcome: 'done' | 'retry' | 'dead' | 'held';
      ms: number;
      weddingDay: boolean;
      error?: string;
    }
  | {
      type: 'execution.finished';
      at: number;
      tier: Tier;
      vendorType: string;
      journeyId: string;
      outcome: 'completed' | 'exited' | 'cancelled';
      ms: number;
      weddingDay: boolean;
    }
  | { type: 'queue'; at: number; tier: Tier; pending: number; ackPending: number }
  /** An action's circuit breaker changed state in one runtime instance. */
  | { type: 'breaker'; at: number; action: string; state: 'open' | 'half-open' | 'closed'; failureRate: number };

/** Cardinality bounds; named keys past a bound are counted under {@link OTHER}. */
export const MONITOR_LIMITS = Object.freeze({
  journeys: 200,
  stepsPerJourney: 50,
  vendors: 50,
  /** Actions, for attempts and for circuit states alike. */
  actions: 100,
  /** Distinct error messages kept per window (more than reported, so merged top lists stay close to exact). */
  errors: 100,
  /** Errors in a stats message. */
  topErrors: 20,
  keyLength: 64,
  errorLength: 200,
});
/** Key of the group that collects everything past a cardinality bound. Journey and step ids cannot start with `_`. */
export const OTHER = '_other';
/** Vendor type of a journey group fed by several vendor types (only ever `_other`). */
export const MIXED = '_mixed';
/** Error entry that collects messages past {@link MONITOR_LIMITS}.errors. */
export const OTHER_ERRORS = '(other errors)';

const COUNT_KEYS = ['started', 'completed', 'exited', 'cancelled', 'failed', 'stepsDone', 'retried'] as const;
/** Raw counters of a group; `failed` counts dead steps, each of which fails (and dead-letters) its execution. */
export type WindowCounts = Record<(typeof COUNT_KEYS)[number], number>;
/** Counters and latency histograms of one slice of traffic. */
export interface WindowGroup extends WindowCounts {
  stepLatency: Histogram;
  executionLatency: Histogram;
}
/** Counters and latency of one step of one journey. */
export interface WindowStep {
  done: number;
  retried: number;
  failed: number;
  latency: Histogram;
}
/** A journey group with its steps. */
export interface WindowJourney extends WindowGroup {
  vendorType: string;
  steps: Record<string, WindowStep>;
}
/** Attempts of one action: `failed` counts retried and dead ones; `latency` holds ok and failed attempts, not held ones. */
export interface WindowAction {
  ok: number;
  failed: number;
  held: number;
  latency: Histogram;
}
/** The circuit breaker of one action, as last reported; `worst` is the worst state held during the window. */
export interface CircuitReading {
  state: CircuitState;
  worst: CircuitState;
  failureRate: number;
  /** Epoch ms of the last change reported. */
  at: number;
}
/** Latest queue reading of a tier; `at` is null until one arrives. */
export interface QueueReading {
  pending: number;
  ackPending: number;
  at: number | null;
}
/** The aggregate of a window of metric events. Plain JSON. */
export interface StatsWindow {
  totals: WindowGroup;
  weddingDay: WindowGroup;
  byTier: Record<Tier, WindowGroup>;
  byVendor: Record<string, WindowGroup>;
  byJourney: Record<string, WindowJourney>;
  byAction: Record<string, WindowAction>;
  /** A gauge like `queues`: kept from window to window (with `worst` reset to `state`). */
  circuits: Record<string, CircuitReading>;
  queues: Record<Tier, QueueReading>;
  /** `[message, count]`, at most {@link MONITOR_LIMITS}.errors plus {@link OTHER_ERRORS}. */
  errors: readonly (readonly [string, number])[];
}

// ---------------------------------------------------------------------------------------------------------------------
// Building blocks
// ---------------------------------------------------------------------------------------------------------------------

const hasOwn = <T>(rec: Record<string, T>, key: string): boolean => Object.prototype.hasOwnProperty.call(rec, key);
/** Own property only: `rec['constructor']` must not find `Object.prototype.constructor`. */
const own = <T>(rec: Record<string, T>, key: string): T | undefined => (hasOwn(rec, key) ? rec[key] : undefined);
const byTier = <T>(make: () => T): Record<Tier, T> => ({ critical: make(), high: make(), medium: make(), low: make() });
const tierOf = (tier: Tier): Tier => (TIERS.includes(tier) ? tier : 'low');

function emptyGroup(): WindowGroup {
  return {
    started: 0,
    completed: 0,
    exited: 0,
    cancelled: 0,
    failed: 0,
    stepsDone: 0,
    retried: 0,
    stepLatency: emptyHistogram(),
    executionLatency: emptyHistogram(),
  };
}
const emptyStep = (): WindowStep => ({ done: 0, retried: 0, failed: 0, latency: emptyHistogram() });
const emptyJourney = (vendorType: string): WindowJourney => ({ ...emptyGroup(), vendorType, steps: {} });
const noQueue = (): QueueReading => ({ pending: 0, ackPending: 0, at: null });
const emptyAction = (): WindowAction => ({ ok: 0, failed: 0, held: 0, latency: emptyHistogram() });
const SEVERITY: Record<CircuitState, number> = { closed: 0, 'half-open': 1, open: 2 };
/** The worse of two circuit states: open > half-open > closed. */
export const worseCircuit = (a: CircuitState, b: CircuitState): CircuitState => (SEVERITY[b] > SEVERITY[a] ? b : a);
const circuitOf = (state: unknown): CircuitState =>
  state === 'open' || state === 'half-open' ? state : 'closed';

/** An empty window (with no queue reading). */
export function emptyWindow(): StatsWindow {
  return {
    totals: emptyGroup(),
    weddingDay: emptyGroup(),
    byTier: byTier(emptyGroup),
    byVendor: {},
    byJourney: {},
    byAction: {},
    circuits: {},
    queues: byTier(noQueue),
    errors: [],
  };
}

function keyOf(raw: string): string {
  const key = String(raw);
  if (key === '') return '(none)';
  return key.length > MONITOR_LIMITS.keyLength ? key.slice(0, MONITOR_LIMITS.keyLength) : key;
}

/**
 * Groups messages that differ only by ids, timestamps or sizes ("timeout after 30012 ms for ex_…"), which would otherwise
 * fill the bounded error list with one entry each. Short numbers (HTTP 503) stay.
 */
export function normaliseError(error: string | undefined): string {
  const text = (error ?? '').trim();
  if (text === '') return '(no message)';
  return (
    text
      .replace(/\bex_[a-z2-7]{26}\b/g, 'ex_*')
      .replace(/\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/gi, '<uuid>')
      // Hex strings of 12+ characters with both digits and letters: hashes, object ids, trace ids.
      .replace(/\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{12,}\b/gi, '<hex>')
      .replace(/\d{4,}/g, '#')
      .slice(0, MONITOR_LIMITS.errorLength)
  );
}

/** The key an event goes under: itself if present or if there is room, else {@link OTHER}. */
function slot(rec: Record<string, unknown>, key: string, max: number): string {
  if (hasOwn(rec, key)) return key;
  const named = Object.keys(rec).length - (hasOwn(rec, OTHER) ? 1 : 0);
  return named < max ? key : OTHER;
}

// ---------------------------------------------------------------------------------------------------------------------
// apply
// ---------------------------------------------------------------------------------------------------------------------

/** Events counted per tier, vendor type and journey; a held step is not among them (it made no attempt). */
type Activity =
  | Extract<MetricEvent, { type: 'execution.started' | 'execution.finished' }>
  | (Extract<MetricEvent, { type: 'step.finished' }> & { outcome: 'done' | 'retry' | 'dead' });

function bump<G extends WindowGroup>(d: Draft, g: G, e: Activity): G {
  const m = writable(d, g);
  switch (e.type) {
    case 'execution.started':
      m.started += 1;
      break;
    case 'step.finished': {
      const field = e.outcome === 'done' ? 'stepsDone' : e.outcome === 'retry' ? 'retried' : 'failed';
      m[field] += 1;
      // Failed attempts count in the latency too: a step that times out is exactly the slow step worth seeing.
      m.stepLatency = recordOwned(d, m.stepLatency, e.ms);
      break;
    }
    case 'execution.finished':
      m[e.outcome] += 1;
      m.executionLatency = recordOwned(d, m.executionLatency, e.ms);
      break;
  }
  return m;
}

function bumpStep(d: Draft, s: WindowStep, e: Extract<Activity, { type: 'step.finished' }>): WindowStep {
  const m = writable(d, s);
  m[e.outcome === 'done' ? 'done' : e.outcome === 'retry' ? 'retried' : 'failed'] += 1;
  m.latency = recordOwned(d, m.latency, e.ms);
  return m;
}

/** `v` itself when this batch made it, else a shallow copy that the batch now owns and may change. */
function writable<T extends object>(d: Draft, v: T): T {
  if (d.owned.has(v)) return v;
  const copy = { ...v };
  d.owned.add(copy);
  return copy;
}

/** `h` plus `ms`, changing `h` itself when this batch owns it (one copy per histogram per batch, not per event). */
function recordOwned(d: Draft, h: Histogram, ms: number): Histogram {
  let w = h as HistogramDraft;
  if (!d.owned.has(h)) {
    w = { ...h, buckets: h.buckets.slice() };
    d.owned.add(w);
  }
  recordInto(w, ms);
  return w;
}

/**
 * A window under construction by {@link applyAll}: its records and error list are private copies, written in place, so a
 * batch copies each once instead of once per event (copying a record of 200 journeys per event would cost more than all
 * the rest of the aggregation).
 */
interface Draft {
  w: StatsWindow & { errors: [string, number][] };
  /** Journeys whose `steps` record is already a private copy. */
  ownSteps: Set<string>;
  /** Groups and histograms this batch made: changed in place by the batch's later events instead of copied again. */
  owned: WeakSet<object>;
}

/** Writes an own property even for the key `__proto__`, where plain assignment would set the prototype. */
function put<T>(rec: Record<string, T>, key: string, value: T): void {
  if (key === '__proto__')
    Object.defineProperty(rec, key, { value, writable: true, enumerable: true, configurable: true });
  else rec[key] = value;
}

function addError(errors: [string, number][], message: string): void {
  let i = errors.findIndex(([m]) => m === message);
  if (i < 0) {
    const other = errors.findIndex(([m]) => m === OTHER_ERRORS);
    const named = errors.length - (other >= 0 ? 1 : 0);
    if (named < MONITOR_LIMITS.errors) i = errors.push([message, 0]) - 1;
    else i = other >= 0 ? other : errors.push([OTHER_ERRORS, 0]) - 1;
  }
  const entry = errors[i];
  if (entry !== undefined) errors[i] = [entry[0], entry[1] + 1];
}

function bumpAction(d: Draft, a: WindowAction, e: Extract<MetricEvent, { type: 'step.finished' }>): WindowAction {
  const m = writable(d, a);
  if (e.outcome === 'held') {
    m.held += 1;
    return m;
  }
  m[e.outcome === 'done' ? 'ok' : 'failed'] += 1;
  m.latency = recordOwned(d, m.latency, e.ms);
  return m;
}

/**
 * Circuit readings follow the order events arrive in, not their `at`: a breaker changes state in one process, in order,
 * while the `at` it is reported with may have been read a little earlier by a concurrent step.
 */
function foldBreaker(w: StatsWindow, e: Extract<MetricEvent, { type: 'breaker' }>): void {
  const key = slot(w.circuits, keyOf(e.action), MONITOR_LIMITS.actions);
  const prev = own(w.circuits, key);
  const state = circuitOf(e.state);
  const rate = Number.isFinite(e.failureRate) ? Math.min(1, Math.max(0, e.failureRate)) : 0;
  put(w.circuits, key, {
    state,
    worst: worseCircuit(prev?.worst ?? 'closed', state),
    failureRate: rate,
    at: Math.max(prev?.at ?? e.at, e.at),
  });
}

function fold(d: Draft, e: MetricEvent): void {
  const { w } = d;
  if (e.type === 'breaker') {
    foldBreaker(w, e);
    return;
  }
  if (e.type === 'queue') {
    const tier = tierOf(e.tier);
    const prev = w.queues[tier];
    // Readings can arrive out of order; the newest one is the queue length.
    if (prev.at !== null && prev.at > e.at) return;
    w.queues[tier] = { pending: Math.max(0, e.pending), ackPending: Math.max(0, e.ackPending), at: e.at };
    return;
  }
  if (e.type === 'step.finished') {
    const actionKey = slot(w.byAction, keyOf(e.action), MONITOR_LIMITS.actions);
    put(w.byAction, actionKey, bumpAction(d, own(w.byAction, actionKey) ?? emptyAction(), e));
    // Held: no attempt was made, so no step, vendor or journey counts it (nor its errors or latency).
    if (e.outcome === 'held') return;
  }
  foldActivity(d, e as Activity);
}

function foldActivity(d: Draft, event: Activity): void {
  const { w } = d;
  const tier = tierOf(event.tier);
  const vendorType = keyOf(event.vendorType);
  const vendorKey = slot(w.byVendor, vendorType, MONITOR_LIMITS.vendors);
  const journeyKey = slot(w.byJourney, keyOf(event.journeyId), MONITOR_LIMITS.journeys);
  const old = own(w.byJourney, journeyKey);
  const journey = bump(d, old ?? emptyJourney(vendorType), event);
  if (old !== undefined && old.vendorType !== vendorType) journey.vendorType = MIXED;
  if (event.type === 'step.finished') {
    if (!d.ownSteps.has(journeyKey)) {
      journey.steps = { ...journey.steps };
      d.ownSteps.add(journeyKey);
    }
    const stepKey = slot(journey.steps, keyOf(event.stepId), MONITOR_LIMITS.stepsPerJourney);
    put(journey.steps, stepKey, bumpStep(d, own(journey.steps, stepKey) ?? emptyStep(), event));
    if (event.outcome !== 'done') addError(w.errors, normaliseError(event.error));
  }
  put(w.byJourney, journeyKey, journey);
  put(w.byVendor, vendorKey, bump(d, own(w.byVendor, vendorKey) ?? emptyGroup(), event));
  w.byTier[tier] = bump(d, w.byTier[tier], event);
  w.totals = bump(d, w.totals, event);
  if (event.weddingDay) w.weddingDay = bump(d, w.weddingDay, event);
}

/** `window` with `events` folded in, in order: a new window; `window` and everything it holds are left unchanged. */
export function applyAll(window: StatsWindow, events: Iterable<MetricEvent>): StatsWindow {
  const d: Draft = {
    w: {
      ...window,
      byTier: { ...window.byTier },
      byVendor: { ...window.byVendor },
      byJourney: { ...window.byJourney },
      byAction: { ...window.byAction },
      circuits: { ...window.circuits },
      queues: { ...window.queues },
      errors: [...window.errors] as [string, number][],
    },
    ownSteps: new Set(),
    owned: new WeakSet(),
  };
  for (const event of events) fold(d, event);
  return d.w;
}

/** `window` with `event` folded in (a new window; `window` is unchanged). Prefer {@link applyAll} for batches. */
export function apply(window: StatsWindow, event: MetricEvent): StatsWindow {
  return applyAll(window, [event]);
}

// ---------------------------------------------------------------------------------------------------------------------
// Merging
// ---------------------------------------------------------------------------------------------------------------------

function mergeGroup<G extends WindowGroup>(a: G, b: G): G {
  const out = { ...a, stepLatency: mergeHistogram(a.stepLatency, b.stepLatency) };
  out.executionLatency = mergeHistogram(a.executionLatency, b.executionLatency);
  for (const k of COUNT_KEYS) out[k] = a[k] + b[k];
  return out;
}

const mergeStep = (a: WindowStep, b: WindowStep): WindowStep => ({
  done: a.done + b.done,
  retried: a.retried + b.retried,
  failed: a.failed + b.failed,
  latency: mergeHistogram(a.latency, b.latency),
});

function mergeJourney(a: WindowJourney, b: WindowJourney): WindowJourney {
  return {
    ...mergeGroup(a, b),
    vendorType: a.vendorType === b.vendorType ? a.vendorType : MIXED,
    steps: mergeBounded(
      a.steps,
      b.steps,
      MONITOR_LIMITS.stepsPerJourney,
      mergeStep,
      (s) => s.done + s.retried + s.failed,
    ),
  };
}

const activity = (g: WindowGroup): number => COUNT_KEYS.reduce((n, k) => n + g[k], 0);

const mergeAction = (a: WindowAction, b: WindowAction): WindowAction => ({
  ok: a.ok + b.ok,
  failed: a.failed + b.failed,
  held: a.held + b.held,
  latency: mergeHistogram(a.latency, b.latency),
});
const actionActivity = (a: WindowAction): number => a.ok + a.failed + a.held;

type CircuitMerge = (a: CircuitReading, b: CircuitReading) => CircuitReading;
/** Instances side by side: the worst state of each, the highest failure rate, the latest change. */
const worstCircuit: CircuitMerge = (a, b) => ({
  state: worseCircuit(a.state, b.state),
  worst: worseCircuit(a.worst, b.worst),
  failureRate: Math.max(a.failureRate, b.failureRate),
  at: Math.max(a.at, b.at),
});
/** One instance over time: the later reading is the state, the worst of both the worst. */
const laterCircuit: CircuitMerge = (a, b) => ({ ...b, worst: worseCircuit(a.worst, b.worst) });
/** Past the bound, circuits that are not closed keep their own key. */
const circuitWeight = (c: CircuitReading): number => SEVERITY[c.worst] * 10 + SEVERITY[c.state];

/**
 * Union of two keyed records, merging shared keys; when more than `max` named keys result, the busiest stay (ties by key,
 * so the result does not depend on argument order) and the rest fold into {@link OTHER}.
 */
function mergeBounded<T>(
  a: Record<string, T>,
  b: Record<string, T>,
  max: number,
  mergeOne: (x: T, y: T) => T,
  weight: (x: T) => number,
): Record<string, T> {
  const all = new Map<string, T>(Object.entries(a));
  for (const [key, value] of Object.entries(b)) {
    const prev = all.get(key);
    all.set(key, prev === undefined ? value : mergeOne(prev, value));
  }
  let other = all.get(OTHER);
  all.delete(OTHER);
  const named = [...all.entries()];
  if (named.length > max) {
    named.sort((x, y) => weight(y[1]) - weight(x[1]) || (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
    for (const [, value] of named.splice(max)) other = other === undefined ? value : mergeOne(other, value);
  }
  if (other !== undefined) named.push([OTHER, other]);
  // fromEntries defines own properties, so a key such as `__proto__` stays a plain key.
  return Object.fromEntries(named);
}

function mergeErrors(a: StatsWindow['errors'], b: StatsWindow['errors']): StatsWindow['errors'] {
  const counts = new Map<string, number>();
  for (const [m, n] of [...a, ...b]) counts.set(m, (counts.get(m) ?? 0) + n);
  let other = counts.get(OTHER_ERRORS) ?? 0;
  counts.delete(OTHER_ERRORS);
  const sorted = rankErrors([...counts.entries()]);
  for (const [, n] of sorted.splice(MONITOR_LIMITS.errors)) other += n;
  return other > 0 ? [...sorted, [OTHER_ERRORS, other]] : sorted;
}

/** Most frequent first, ties by message, so merged lists do not depend on argument order. */
function rankErrors(entries: [string, number][]): [string, number][] {
  return entries.sort((x, y) => y[1] - x[1] || (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
}

type QueueMerge = (a: QueueReading, b: QueueReading) => QueueReading;
const latestAt = (a: number | null, b: number | null): number | null =>
  a === null ? b : b === null ? a : Math.max(a, b);
const sumQueues: QueueMerge = (a, b) => ({
  pending: a.pending + b.pending,
  ackPending: a.ackPending + b.ackPending,
  at: latestAt(a.at, b.at),
});
const maxQueues: QueueMerge = (a, b) => ({
  pending: Math.max(a.pending, b.pending),
  ackPending: Math.max(a.ackPending, b.ackPending),
  at: latestAt(a.at, b.at),
});
/** Each instance reports the consumer's pending as its deliveries saw it (alike everywhere) and its own unacknowledged share. */
const deliveryQueues: QueueMerge = (a, b) => ({
  pending: Math.max(a.pending, b.pending),
  ackPending: a.ackPending + b.ackPending,
  at: latestAt(a.at, b.at),
});
const laterQueue: QueueMerge = (a, b) => (b.at !== null && (a.at === null || b.at >= a.at) ? b : a);

const zipTiers = <T>(a: Record<Tier, T>, b: Record<Tier, T>, f: (x: T, y: T) => T): Record<Tier, T> => ({
  critical: f(a.critical, b.critical),
  high: f(a.high, b.high),
  medium: f(a.medium, b.medium),
  low: f(a.low, b.low),
});

function combine(a: StatsWindow, b: StatsWindow, queue: QueueMerge, circuit: CircuitMerge): StatsWindow {
  return {
    totals: mergeGroup(a.totals, b.totals),
    weddingDay: mergeGroup(a.weddingDay, b.weddingDay),
    byTier: zipTiers(a.byTier, b.byTier, mergeGroup),
    byVendor: mergeBounded(a.byVendor, b.byVendor, MONITOR_LIMITS.vendors, mergeGroup, activity),
    byJourney: mergeBounded(a.byJourney, b.byJourney, MONITOR_LIMITS.journeys, mergeJourney, activity),
    byAction: mergeBounded(a.byAction, b.byAction, MONITOR_LIMITS.actions, mergeAction, actionActivity),
    circuits: mergeBounded(a.circuits, b.circuits, MONITOR_LIMITS.actions, circuit, circuitWeight),
    queues: zipTiers(a.queues, b.queues, queue),
    errors: mergeErrors(a.errors, b.errors),
  };
}

/**
 * Cluster-wide merge of two instances' windows: counts add, histograms merge, queue readings add (each instance reports the
 * part of the queue it sees: its buffered and unacknowledged messages), circuits take the worst state of either.
 * Commutative; associative and equal to aggregating all events in one window as long as no cardinality bound is hit (past
 * one, which keys keep their own group may differ) and no breaker reported (an instance's circuit is its own).
 */
export function mergeWindows(a: StatsWindow, b: StatsWindow): StatsWindow {
  return combine(a, b, sumQueues, worstCircuit);
}

/**
 * `later` appended to `earlier` in time (same instance): like {@link mergeWindows} but the newest queue reading and
 * circuit state win.
 */
export function appendWindow(earlier: StatsWindow, later: StatsWindow): StatsWindow {
  return combine(earlier, later, laterQueue, laterCircuit);
}

// ---------------------------------------------------------------------------------------------------------------------
// Rendering and reading stats messages
// ---------------------------------------------------------------------------------------------------------------------

/** Options of {@link toStats}. */
export interface ToStatsOptions {
  /** Instance id, or `cluster`. */
  instance: string;
  /** End of the window, epoch ms. */
  now: number;
  windowMs: number;
  /** IANA zone of the Saturday and season flags. @default 'UTC' */
  timeZone?: string;
  /** Instance messages merged into this one. @default 1 */
  instances?: number;
  /** Totals since `since`. @default the window itself, since `now - windowMs` */
  cumulative?: { since: number; window: StatsWindow };
}

const round1 = (x: number | undefined): number | null => (x === undefined ? null : Math.round(x * 10) / 10);
const rate = (good: number, bad: number): number | null => (good + bad === 0 ? null : good / (good + bad));

function latencyOf(h: Histogram): Latency {
  return {
    count: h.count,
    mean: round1(mean(h)),
    p50: round1(quantile(h, 0.5)),
    p90: round1(quantile(h, 0.9)),
    p99: round1(quantile(h, 0.99)),
    max: h.count === 0 ? null : h.max,
    histogram: {
      buckets: h.buckets.map(([i, n]) => [i, n] as [number, number]),
      count: h.count,
      sum: h.sum,
      min: h.min,
      max: h.max,
    },
  };
}

function countsOf(g: WindowCounts): Counts {
  const { started, completed, exited, cancelled, failed, stepsDone, retried } = g;
  return {
    started,
    completed,
    exited,
    cancelled,
    failed,
    stepsDone,
    retried,
    deadLettered: failed,
    successRate: rate(stepsDone, failed),
  };
}

function groupOf(g: WindowGroup): GroupStats {
  return { ...countsOf(g), latency: { step: latencyOf(g.stepLatency), execution: latencyOf(g.executionLatency) } };
}

const stepOf = (s: WindowStep): StepStats => ({
  done: s.done,
  retried: s.retried,
  failed: s.failed,
  successRate: rate(s.done, s.failed),
  latency: latencyOf(s.latency),
});

const actionOf = (a: WindowAction): ActionStats => ({
  ok: a.ok,
  failed: a.failed,
  held: a.held,
  attempts: a.ok + a.failed,
  successRate: rate(a.ok, a.failed),
  latency: latencyOf(a.latency),
});

const circuitStatsOf = (c: CircuitReading): CircuitStats => ({
  state: c.state,
  worst: c.worst,
  failureRate: c.failureRate,
  at: new Date(c.at).toISOString(),
});

const mapValues = <T, U>(rec: Record<string, T>, f: (v: T) => U): Record<string, U> =>
  Object.fromEntries(Object.entries(rec).map(([k, v]) => [k, f(v)]));
const mapTiers = <T, U>(rec: Record<Tier, T>, f: (v: T) => U): Record<Tier, U> => ({
  critical: f(rec.critical),
  high: f(rec.high),
  medium: f(rec.medium),
  low: f(rec.low),
});

/** Saturday and season flags of the local date of `now` in `timeZone` (RangeError for an unknown zone). */
export function calendarFlags(now: number, timeZone = 'UTC'): StatsMessage['flags'] {
  const date = localDate(now, timeZone);
  return { saturday: isSaturday(date), season: isWeddingSeason(date), timeZone };
}

/** Renders a window as a stats message (see `schemas/stats.ts`). */
export function toStats(window: StatsWindow, options: ToStatsOptions): StatsMessage {
  const { instance, now, windowMs } = options;
  const cumulative = options.cumulative ?? { since: now - windowMs, window };
  const c = cumulative.window;
  return {
    v: 1,
    instance,
    instances: options.instances ?? 1,
    at: new Date(now).toISOString(),
    windowMs,
    flags: calendarFlags(now, options.timeZone),
    totals: countsOf(window.totals),
    latency: { step: latencyOf(window.totals.stepLatency), execution: latencyOf(window.totals.executionLatency) },
    weddingDay: groupOf(window.weddingDay),
    byTier: mapTiers(window.byTier, groupOf),
    byVendor: mapValues(window.byVendor, groupOf),
    byJourney: mapValues(window.byJourney, (j): JourneyStats => ({
      ...groupOf(j),
      vendorType: j.vendorType,
      steps: mapValues(j.steps, stepOf),
    })),
    byAction: mapValues(window.byAction, actionOf),
    circuits: mapValues(window.circuits, circuitStatsOf),
    queues: mapTiers(window.queues, (q) => ({ pending: q.pending, ackPending: q.ackPending })),
    topErrors: rankErrors(window.errors.map(([m, n]) => [m, n]))
      .slice(0, MONITOR_LIMITS.topErrors)
      .map(([message, count]) => ({ message, count })),
    cumulative: {
      since: new Date(cumulative.since).toISOString(),
      totals: countsOf(c.totals),
      latency: { step: latencyOf(c.totals.stepLatency), execution: latencyOf(c.totals.executionLatency) },
      weddingDay: groupOf(c.weddingDay),
      byTier: mapTiers(c.byTier, groupOf),
      byVendor: mapValues(c.byVendor, groupOf),
      byAction: mapValues(c.byAction, actionOf),
    },
  };
}

function countsFrom(c: Counts): WindowCounts {
  const { started, completed, exited, cancelled, failed, stepsDone, retried } = c;
  return { started, completed, exited, cancelled, failed, stepsDone, retried };
}
const groupFrom = (g: GroupStats): WindowGroup => ({
  ...countsFrom(g),
  stepLatency: g.latency.step.histogram,
  executionLatency: g.latency.execution.histogram,
});
const actionFrom = (a: ActionStats): WindowAction => ({
  ok: a.ok,
  failed: a.failed,
  held: a.held,
  latency: a.latency.histogram,
});
const circuitFrom = (c: CircuitStats): CircuitReading => ({
  state: circuitOf(c.state),
  worst: circuitOf(c.worst),
  failureRate: c.failureRate,
  at: Date.parse(c.at),
});

/**
 * The window a stats message was rendered from, as far as the message carries it: everything but the errors past the
 * reported top list.
 */
export function fromStats(message: StatsMessage): StatsWindow {
  const at = Date.parse(message.at);
  return {
    totals: {
      ...countsFrom(message.totals),
      stepLatency: message.latency.step.histogram,
      executionLatency: message.latency.execution.histogram,
    },
    weddingDay: groupFrom(message.weddingDay),
    byTier: mapTiers(message.byTier, groupFrom),
    byVendor: mapValues(message.byVendor, groupFrom),
    byJourney: mapValues(message.byJourney, (j) => ({
      ...groupFrom(j),
      vendorType: j.vendorType,
      steps: mapValues(j.steps, (s) => ({
        done: s.done,
        retried: s.retried,
        failed: s.failed,
        latency: s.latency.histogram,
      })),
    })),
    // Messages from runtimes before R13 have neither.
    byAction: mapValues(message.byAction ?? {}, actionFrom),
    circuits: mapValues(message.circuits ?? {}, circuitFrom),
    queues: mapTiers(message.queues, (q) => ({ pending: q.pending, ackPending: q.ackPending, at })),
    errors: message.topErrors.map(({ message: m, count: n }) => [m, n] as const),
  };
}

function cumulativeFrom(message: StatsMessage): StatsWindow {
  const c = message.cumulative;
  return {
    ...emptyWindow(),
    totals: {
      ...countsFrom(c.totals),
      stepLatency: c.latency.step.histogram,
      executionLatency: c.latency.execution.histogram,
    },
    weddingDay: groupFrom(c.weddingDay),
    byTier: mapTiers(c.byTier, groupFrom),
    byVendor: mapValues(c.byVendor, groupFrom),
    byAction: mapValues(c.byAction ?? {}, actionFrom),
  };
}

/** Options of {@link mergeStats}. */
export interface MergeStatsOptions {
  /** @default 'cluster' */
  instance?: string;
  /** Zone of the flags. @default the zone of the newest message, else 'UTC' */
  timeZone?: string;
  /**
   * How queue readings combine. `sum` is right when each instance reports its own share (its buffered and unacknowledged
   * messages); `max` when each reports the whole durable consumer (`num_pending` from consumer info), which every
   * instance sees alike and a sum would count once per instance; `deliveries` when each reports the consumer's pending
   * as its last delivery saw it (max) and its own unacknowledged messages (sum), as the runtime does. @default 'sum'
   */
  queues?: 'sum' | 'max' | 'deliveries';
}

/**
 * Cluster-wide stats from the latest message of each instance: counts add, histograms merge (so percentiles are those of
 * all samples, not averages of percentiles), queues add, top errors are re-ranked from each instance's top list, and each
 * action's circuit is the worst any instance reports (open > half-open > closed).
 */
export function mergeStats(
  messages: readonly StatsMessage[],
  now: number,
  options: MergeStatsOptions = {},
): StatsMessage {
  let window = emptyWindow();
  let cumulative = emptyWindow();
  let since = now;
  let windowMs = 0;
  let instances = 0;
  let newest: StatsMessage | undefined;
  const queue = options.queues === 'max' ? maxQueues : options.queues === 'deliveries' ? deliveryQueues : sumQueues;
  for (const m of messages) {
    window = combine(window, fromStats(m), queue, worstCircuit);
    cumulative = mergeWindows(cumulative, cumulativeFrom(m));
    since = Math.min(since, Date.parse(m.cumulative.since));
    windowMs = Math.max(windowMs, m.windowMs);
    instances += m.instances;
    if (newest === undefined || Date.parse(m.at) > Date.parse(newest.at)) newest = m;
  }
  return toStats(window, {
    instance: options.instance ?? 'cluster',
    now,
    windowMs,
    timeZone: options.timeZone ?? newest?.flags.timeZone ?? 'UTC',
    instances,
    cumulative: { since, window: cumulative },
  });
}

// ---------------------------------------------------------------------------------------------------------------------
// The machine
// ---------------------------------------------------------------------------------------------------------------------

/** Events of {@link monitorMachine}. */
export type MonitorEvent =
  | { type: 'METRIC'; event: MetricEvent }
  /** A batch, folded in one copy of the window: far cheaper per event than `METRIC` under load. */
  | { type: 'METRICS'; events: readonly MetricEvent[] }
  | { type: 'FLUSH'; now: number };

/** Input of {@link monitorMachine}: the start instant, else the first event's. */
export interface MonitorInput {
  now?: number;
}

/** A closed window, ready to publish with {@link flushedStats}. */
export interface FlushedWindow {
  from: number;
  to: number;
  window: StatsWindow;
  /** Start of the cumulative totals. */
  since: number;
  /** Totals since `since`, this window included (journeys left out: nothing reports them). */
  cumulative: StatsWindow;
}

/** This instance's circuits, the worst of the last window forgotten: how the next window starts. */
function carryCircuits(circuits: Record<string, CircuitReading>): Record<string, CircuitReading> {
  return mapValues(circuits, (c) => (c.worst === c.state ? c : { ...c, worst: c.state }));
}

/** Context of {@link monitorMachine}. */
export interface MonitorContext {
  since: number | null;
  windowStart: number | null;
  window: StatsWindow;
  cumulative: StatsWindow;
  last: FlushedWindow | null;
  flushes: number;
}

/**
 * Holds the current window. `METRIC` folds an event in (`METRICS` a batch); `FLUSH` closes the window into `context.last` (the host renders it
 * with {@link flushedStats} and publishes it), adds it to the totals since start, and opens a new window that keeps the
 * latest queue readings and circuit states (gauges: a queue does not go empty, nor a circuit close, because no new
 * reading arrived yet).
 */
export const monitorMachine = setup({
  // No `input` type: XState would then require one, and a monitor restored from a snapshot or started without a clock
  // reading has none to give. The context factory narrows it instead.
  types: {} as { context: MonitorContext; events: MonitorEvent },
  actions: {
    record: assign(({ context, event }) => {
      const events = event.type === 'METRIC' ? [event.event] : event.type === 'METRICS' ? event.events : [];
      const first = events[0];
      if (first === undefined) return {};
      const start = context.windowStart ?? first.at;
      return { window: applyAll(context.window, events), windowStart: start, since: context.since ?? start };
    }),
    flush: assign(({ context, event }) => {
      if (event.type !== 'FLUSH') return {};
      const from = context.windowStart ?? event.now;
      const since = context.since ?? from;
      // Circuits are a gauge: the window carries them; totals have no use for them.
      const cumulative = { ...appendWindow(context.cumulative, context.window), byJourney: {}, circuits: {} };
      return {
        last: { from, to: Math.max(from, event.now), window: context.window, since, cumulative },
        cumulative,
        since,
        window: { ...emptyWindow(), queues: context.window.queues, circuits: carryCircuits(context.window.circuits) },
        windowStart: event.now,
        flushes: context.flushes + 1,
      };
    }),
  },
}).createMachine({
  id: 'monitor',
  context: ({ input }) => {
    const now = (input as MonitorInput | undefined)?.now;
    const start = typeof now === 'number' && Number.isFinite(now) ? now : null;
    return {
      since: start,
      windowStart: start,
      window: emptyWindow(),
      cumulative: emptyWindow(),
      last: null,
      flushes: 0,
    };
  },
  on: {
    METRIC: { actions: 'record' },
    METRICS: { actions: 'record' },
    FLUSH: { actions: 'flush' },
  },
});

/** Renders a flushed window (`snapshot.context.last`) as this instance's stats message. */
export function flushedStats(last: FlushedWindow, options: { instance: string; timeZone?: string }): StatsMessage {
  return toStats(last.window, {
    instance: options.instance,
    now: last.to,
    windowMs: last.to - last.from,
    ...(options.timeZone === undefined ? {} : { timeZone: options.timeZone }),
    cumulative: { since: last.since, window: last.cumulative },
  });
}

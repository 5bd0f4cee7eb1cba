/**
 * Scaling policy (R16–R18): from the measured load, the local day of the weddings being served and the wedding
 * calendar, how many work handlers each priority tier gets in this process and how many replicas the cluster needs.
 *
 * Stateless and pure: time arrives in the inputs (epoch ms) and nothing here reads a clock. Memory (hysteresis,
 * cooldown, overrides, the decision history) belongs to the supervisor machine in `supervisor.ts`.
 */
import { TIERS, type Tier } from './priority.ts';
import {
  addDaysToDate,
  isSaturday,
  isValidTimeZone,
  isWeddingSeason,
  localDate,
  localParts,
  zonedToEpoch,
} from './time.ts';

const MS_PER_HOUR = 3_600_000;
const MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];
const WEEKDAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

/** The supervisor's settings; build one with {@link scalingConfigWith}, which validates it. Plain JSON (it is persisted). */
export interface ScalingConfig {
  /** Handlers per tier on an off-season weekday with no backlog. */
  baseConcurrency: Record<Tier, number>;
  /** Per-tier floor. Only a total cap too small to give every tier its floor goes below it (never below 1). */
  minConcurrency: Record<Tier, number>;
  /** Per-tier ceiling; never exceeded, not even by an operator override. */
  maxConcurrency: Record<Tier, number>;
  /** Wedding-season months, 1-based (5 = May, 11 = November), judged in the served weddings' local calendar. */
  seasonMonths: number[];
  /** Multiplier in season. */
  seasonFactor: number;
  /** Multiplier on a local Saturday. */
  saturdayFactor: number;
  /** Steps per second one instance handles: the divisor for the desired replica count. */
  perInstanceCapacity: number;
  /** Steps per second the cluster sees on an off-season weekday: the static part of the expected load (for replicas). */
  baseLoadPerSec: number;
  minReplicas: number;
  maxReplicas: number;
  /** CPU bound: handlers in this process, all tiers together. */
  maxConcurrencyTotal: number;
  /** Memory bound: the process's memory limit (e.g. the container's). */
  memoryLimitBytes: number;
  /** Memory one busy handler needs. */
  memoryPerWorkerBytes: number;
  /** Memory of the process without handlers; used only when the inputs carry no `memoryUsedBytes`. */
  memoryReserveBytes: number;
  /** A tier's backlog (pending + ack pending) should drain within this many seconds. */
  drainTargetSeconds: Record<Tier, number>;
  /**
   * Floor for the per-handler completion rate. An idle tier's measured rate understates what a busy handler does,
   * so without a floor a burst after a quiet spell would ask for absurd concurrency.
   */
  minWorkerRatePerSec: number;
  /** p99 latency (publish to completion) per tier above which the policy adds handlers. */
  latencyTargetMs: Record<Tier, number>;
  /** Cap of the latency factor: more handlers stop helping once the process itself is the bottleneck. */
  maxLatencyFactor: number;
  /** Pre-scale this many hours before a busy day's local midnight. */
  preScaleLeadHours: number;
  /** A local date with at least this many weddings (all zones together) is a busy day. */
  busyDayWeddings: number;
  /** Calendar factor of a day with exactly `busyDayWeddings` weddings; it grows in proportion beyond that. */
  busyDayFactor: number;
  /** Cap of the calendar factor. */
  maxCalendarFactor: number;
  /** A lower desire must persist this long before the supervisor scales down. */
  scaleDownCooldownMs: number;
  /** Relative changes below this fraction are ignored (0.2 = 20 %). */
  hysteresis: number;
}

type PerTierKeys = {
  [K in keyof ScalingConfig]: ScalingConfig[K] extends Record<Tier, number> ? K : never;
}[keyof ScalingConfig];

/** Any subset of {@link ScalingConfig}; per-tier fields may name only some tiers. */
export type ScalingConfigOverrides = {
  [K in keyof ScalingConfig]?: K extends PerTierKeys
    ? Partial<Record<Tier, number>>
    : K extends 'seasonMonths'
      ? readonly number[]
      : ScalingConfig[K];
};

/** Defaults: sized for one Node process of about 2 GiB; tune `perInstanceCapacity` and `baseLoadPerSec` from a benchmark. */
export const DEFAULT_SCALING_CONFIG: Readonly<ScalingConfig> = Object.freeze({
  baseConcurrency: { critical: 16, high: 8, medium: 8, low: 4 },
  minConcurrency: { critical: 4, high: 2, medium: 2, low: 1 },
  maxConcurrency: { critical: 256, high: 128, medium: 128, low: 64 },
  seasonMonths: [5, 6, 7, 8, 9, 10],
  seasonFactor: 5,
  saturdayFactor: 2,
  perInstanceCapacity: 200,
  baseLoadPerSec: 50,
  minReplicas: 1,
  maxReplicas: 10,
  maxConcurrencyTotal: 512,
  memoryLimitBytes: 2 * 1024 ** 3,
  memoryPerWorkerBytes: 2 * 1024 ** 2,
  memoryReserveBytes: 256 * 1024 ** 2,
  drainTargetSeconds: { critical: 30, high: 30, medium: 60, low: 120 },
  minWorkerRatePerSec: 5,
  latencyTargetMs: { critical: 1_000, high: 2_000, medium: 5_000, low: 30_000 },
  maxLatencyFactor: 2,
  preScaleLeadHours: 24,
  busyDayWeddings: 50,
  busyDayFactor: 2,
  maxCalendarFactor: 4,
  scaleDownCooldownMs: 120_000,
  hysteresis: 0.2,
});

const PER_TIER: readonly PerTierKeys[] = [
  'baseConcurrency',
  'minConcurrency',
  'maxConcurrency',
  'drainTargetSeconds',
  'latencyTargetMs',
];

/**
 * The defaults with `overrides` on top, validated. Throws a RangeError naming the first bad field, so a typo or a
 * 0-based month (FINDINGS 6) stops the runtime at start instead of scaling wrongly in November.
 */
export function scalingConfigWith(overrides: ScalingConfigOverrides = {}): ScalingConfig {
  const d = DEFAULT_SCALING_CONFIG;
  // Fresh copies of the nested defaults: a caller that edits its config must not edit everyone's.
  const merged: Record<string, unknown> = { ...d, seasonMonths: [...d.seasonMonths] };
  for (const key of PER_TIER) merged[key] = { ...d[key] };
  for (const [key, value] of Object.entries(overrides)) {
    if (!(key in d)) throw new RangeError(`scaling config: unknown option "${key}"`);
    if (value === undefined) continue;
    if ((PER_TIER as readonly string[]).includes(key)) {
      for (const tier of Object.keys(value as object)) {
        if (!(TIERS as readonly string[]).includes(tier))
          throw new RangeError(`scaling config: ${key} has unknown tier "${tier}"`);
      }
      merged[key] = { ...(d[key as PerTierKeys] as Record<Tier, number>), ...(value as Partial<Record<Tier, number>>) };
    } else {
      merged[key] = Array.isArray(value) ? [...(value as number[])] : value;
    }
  }
  const config = merged as unknown as ScalingConfig;
  validate(config);
  return config;
}

function validate(c: ScalingConfig): void {
  const fail = (what: string): never => {
    throw new RangeError(`scaling config: ${what}`);
  };
  const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
  const int = (v: unknown, min: number): boolean => finite(v) && Number.isInteger(v) && v >= min;
  for (const t of TIERS) {
    const [base, min, max] = [c.baseConcurrency[t], c.minConcurrency[t], c.maxConcurrency[t]];
    if (!int(base, 1) || !int(min, 1) || !int(max, 1))
      fail(`concurrency of ${t} must be integers >= 1 (base ${base}, min ${min}, max ${max})`);
    if (!(min <= base && base <= max))
      fail(`concurrency of ${t} needs min <= base <= max (got ${min}, ${base}, ${max})`);
    if (!finite(c.drainTargetSeconds[t]) || c.drainTargetSeconds[t] <= 0) fail(`drainTargetSeconds.${t} must be > 0`);
    if (!finite(c.latencyTargetMs[t]) || c.latencyTargetMs[t] <= 0) fail(`latencyTargetMs.${t} must be > 0`);
  }
  if (!int(c.maxConcurrencyTotal, TIERS.length))
    fail(`maxConcurrencyTotal must be an integer >= ${TIERS.length} (one handler per tier)`);
  const minSum = TIERS.reduce((s, t) => s + c.minConcurrency[t], 0);
  if (minSum > c.maxConcurrencyTotal)
    fail(`the per-tier minimums (${minSum}) exceed maxConcurrencyTotal (${c.maxConcurrencyTotal})`);
  if (!Array.isArray(c.seasonMonths) || !c.seasonMonths.every((m) => int(m, 1) && m <= 12)) {
    fail(
      `seasonMonths are 1-12 (1 = January, 11 = November; not JavaScript's 0-based getMonth()), got ${JSON.stringify(c.seasonMonths)}`,
    );
  }
  if (new Set(c.seasonMonths).size !== c.seasonMonths.length) fail('seasonMonths has duplicates');
  for (const key of [
    'seasonFactor',
    'saturdayFactor',
    'busyDayFactor',
    'maxCalendarFactor',
    'maxLatencyFactor',
  ] as const) {
    if (!finite(c[key]) || c[key] < 1) fail(`${key} must be a number >= 1, got ${c[key]}`);
  }
  if (!finite(c.perInstanceCapacity) || c.perInstanceCapacity <= 0) fail('perInstanceCapacity must be > 0');
  if (!finite(c.baseLoadPerSec) || c.baseLoadPerSec < 0) fail('baseLoadPerSec must be >= 0');
  if (!int(c.minReplicas, 1) || !int(c.maxReplicas, 1) || c.minReplicas > c.maxReplicas) {
    fail(`replicas need integers 1 <= minReplicas <= maxReplicas (got ${c.minReplicas}, ${c.maxReplicas})`);
  }
  if (!finite(c.memoryLimitBytes) || c.memoryLimitBytes <= 0) fail('memoryLimitBytes must be > 0');
  if (!finite(c.memoryPerWorkerBytes) || c.memoryPerWorkerBytes <= 0) fail('memoryPerWorkerBytes must be > 0');
  if (!finite(c.memoryReserveBytes) || c.memoryReserveBytes < 0 || c.memoryReserveBytes >= c.memoryLimitBytes) {
    fail('memoryReserveBytes must be >= 0 and below memoryLimitBytes');
  }
  if (!finite(c.minWorkerRatePerSec) || c.minWorkerRatePerSec <= 0) fail('minWorkerRatePerSec must be > 0');
  if (!finite(c.preScaleLeadHours) || c.preScaleLeadHours < 0) fail('preScaleLeadHours must be >= 0');
  if (!finite(c.busyDayWeddings) || c.busyDayWeddings < 1) fail('busyDayWeddings must be >= 1');
  if (!finite(c.scaleDownCooldownMs) || c.scaleDownCooldownMs < 0) fail('scaleDownCooldownMs must be >= 0');
  if (!finite(c.hysteresis) || c.hysteresis < 0 || c.hysteresis >= 1) fail('hysteresis must be a fraction in [0, 1)');
}

/** Load of one tier, as the host measures it. */
export interface TierLoad {
  /** The tier consumer's `num_pending` (cluster-wide). */
  pending: number;
  /** The tier consumer's `num_ack_pending` (cluster-wide). */
  ackPending: number;
  /** Steps of this tier completed per second in THIS process over the last measuring window. */
  ratePerSec: number;
  /** p99 latency from publish to completion in this tier, in ms (0 when nothing was measured). */
  p99Ms: number;
}

/** Everything {@link decide} looks at. */
export interface ScalingInputs {
  /** Epoch ms. */
  now: number;
  /** IANA zones of the weddings being served, with their counts; the weighted majority's local day counts. */
  servedZones: readonly { timeZone: string; weddings: number }[];
  tiers: Record<Tier, TierLoad>;
  /** Live runtime instances (from heartbeats), >= 1. */
  instances: number;
  /** Upcoming weddings per local date and zone; only the next few days matter. */
  calendar: readonly { date: string; timeZone: string; weddings: number }[];
  /** The process's memory use (e.g. RSS); without it `memoryReserveBytes` stands in for the non-handler share. */
  memoryUsedBytes?: number;
  /** Handlers per tier in force while `ratePerSec` was measured; defaults to the base concurrency. */
  concurrencyInForce?: Record<Tier, number>;
}

/** What {@link decide} wants, and why. */
export interface ScalingDecision {
  /** Handlers per tier in this process. */
  concurrency: Record<Tier, number>;
  /** Runtime instances the cluster should run. */
  desiredReplicas: number;
  factors: { season: number; saturday: number; calendar: number; lag: Record<Tier, number>; latency: number };
  /** Bounds that clipped the result: `<tier>.min`, `<tier>.max`, `total.cpu`, `total.memory`, `replicas.min`, `replicas.max`. */
  bounded: string[];
  /** Human-readable, e.g. "June Saturday in Europe/London: season ×5, Saturday ×2". */
  reasons: string[];
  /** The local day the season and Saturday were judged on, and the zone with most weddings on it. */
  day: { date: string; timeZone: string };
  /** Total handlers this process may run: `min(cpu, memory)`, never below one per tier. */
  limits: { total: number; cpu: number; memory: number };
  /** Cluster-wide steps per second the replica count is sized for. */
  expectedLoadPerSec: number;
}

const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : 0);
const round3 = (v: number): number => Math.round(v * 1_000) / 1_000;
const fmt = (v: number): string => String(Math.round(v * 100) / 100);
/** Ceil that forgives float noise: 16 × 5 × 2 must be 160, not 161. */
const ceil = (v: number): number => Math.ceil(v - 1e-9);

/** The scaling decision for `inputs`. Never throws on bad measurements: unusable entries are skipped and said so. */
export function decide(inputs: ScalingInputs, config: ScalingConfig): ScalingDecision {
  const now = inputs.now;
  const reasons: string[] = [];
  const bounded: string[] = [];
  const instances = Math.max(1, num(inputs.instances));

  const day = servedDay(now, inputs.servedZones, reasons);
  const season = isWeddingSeason(day.date, config.seasonMonths) ? config.seasonFactor : 1;
  const saturday = isSaturday(day.date) ? config.saturdayFactor : 1;
  reasons.push(dayReason(now, day, season, saturday));
  const calendar = calendarFactor(now, inputs.calendar, config, reasons);
  // The calendar measures what the Saturday factor guesses (the weddings of the day): take the larger, never both.
  const dayFactor = Math.max(saturday, calendar);

  const loads = Object.fromEntries(TIERS.map((t) => [t, sanitize(inputs.tiers?.[t])])) as Record<Tier, TierLoad>;
  const latency = latencyFactor(loads, config, reasons);

  const lag = {} as Record<Tier, number>;
  const wanted = {} as Record<Tier, number>;
  const inForce = {} as Record<Tier, number>;
  for (const t of TIERS) {
    const load = loads[t];
    const backlog = load.pending + load.ackPending;
    inForce[t] = Math.max(1, num(inputs.concurrencyInForce?.[t]) || config.baseConcurrency[t]);
    const perWorker = Math.max(load.ratePerSec / inForce[t], config.minWorkerRatePerSec);
    // The backlog is shared by every instance's consumer, so each drains its share.
    const needed = backlog / (config.drainTargetSeconds[t] * perWorker * instances);
    const base = config.baseConcurrency[t] * season * dayFactor;
    lag[t] = round3(Math.max(1, needed / base));
    if (needed > base) {
      reasons.push(
        `${t} backlog ${backlog} needs ${ceil(needed)} handlers at ${fmt(perWorker)}/s each to drain in ${config.drainTargetSeconds[t]} s: lag ×${fmt(lag[t])}`,
      );
    }
    let c = ceil(Math.max(base, needed) * latency);
    if (c > config.maxConcurrency[t]) {
      bounded.push(`${t}.max`);
      c = config.maxConcurrency[t];
    } else if (c < config.minConcurrency[t]) {
      bounded.push(`${t}.min`);
      c = config.minConcurrency[t];
    }
    wanted[t] = c;
  }

  const limits = concurrencyLimits(inputs.memoryUsedBytes, inForce, config);
  const sum = TIERS.reduce((s, t) => s + wanted[t], 0);
  if (sum > limits.total) {
    bounded.push(limits.memory < limits.cpu ? 'total.memory' : 'total.cpu');
    reasons.push(
      `total ${sum} handlers cut to ${limits.total} (${limits.memory < limits.cpu ? 'memory' : 'CPU'} bound)`,
    );
  }
  const concurrency = fitToCap(wanted, config.minConcurrency, limits.total);

  // Replicas: per tier, the larger of what the cluster completes now and what drains its backlog in time (not the sum:
  // while a backlog drains, the completions ARE the draining); at least what the season and the calendar expect.
  const needed = TIERS.reduce((s, t) => {
    const backlog = loads[t].pending + loads[t].ackPending;
    return s + Math.max(loads[t].ratePerSec * instances, backlog / config.drainTargetSeconds[t]);
  }, 0);
  const expectedLoadPerSec = round3(Math.max(needed, config.baseLoadPerSec * season * dayFactor) * latency);
  let desiredReplicas = ceil(expectedLoadPerSec / config.perInstanceCapacity);
  if (desiredReplicas > config.maxReplicas) {
    bounded.push('replicas.max');
    reasons.push(
      `${desiredReplicas} replicas wanted for ${fmt(expectedLoadPerSec)} steps/s, capped at ${config.maxReplicas}`,
    );
    desiredReplicas = config.maxReplicas;
  } else if (desiredReplicas < config.minReplicas) {
    bounded.push('replicas.min');
    desiredReplicas = config.minReplicas;
  }

  return {
    concurrency,
    desiredReplicas,
    factors: { season, saturday, calendar: round3(calendar), lag, latency: round3(latency) },
    bounded,
    reasons,
    day,
    limits,
    expectedLoadPerSec,
  };
}

/** The base concurrency as a decision: what applies before the first measurement. */
export function baseDecision(config: ScalingConfig, now: number): ScalingDecision {
  const date = localDate(now, 'UTC');
  return {
    concurrency: { ...config.baseConcurrency },
    desiredReplicas: config.minReplicas,
    factors: { season: 1, saturday: 1, calendar: 1, lag: { critical: 1, high: 1, medium: 1, low: 1 }, latency: 1 },
    bounded: [],
    reasons: ['no measurements yet: base concurrency'],
    day: { date, timeZone: 'UTC' },
    limits: concurrencyLimits(undefined, config.baseConcurrency, config),
    expectedLoadPerSec: 0,
  };
}

function sanitize(load: TierLoad | undefined): TierLoad {
  return {
    pending: num(load?.pending),
    ackPending: num(load?.ackPending),
    ratePerSec: num(load?.ratePerSec),
    p99Ms: num(load?.p99Ms),
  };
}

/** The local date most served weddings are on (their zones may straddle midnight), and its busiest zone. */
function servedDay(
  now: number,
  served: ScalingInputs['servedZones'],
  reasons: string[],
): { date: string; timeZone: string } {
  const byDate = new Map<string, { weddings: number; zones: Map<string, number> }>();
  for (const { timeZone, weddings } of served ?? []) {
    if (num(weddings) === 0) continue;
    if (!isValidTimeZone(timeZone)) {
      reasons.push(`ignored served zone "${timeZone}": not an IANA time zone`);
      continue;
    }
    const date = localDate(now, timeZone);
    const entry = byDate.get(date) ?? { weddings: 0, zones: new Map<string, number>() };
    entry.weddings += weddings;
    entry.zones.set(timeZone, (entry.zones.get(timeZone) ?? 0) + weddings);
    byDate.set(date, entry);
  }
  let best: { date: string; timeZone: string; weddings: number } | undefined;
  for (const [date, entry] of byDate) {
    if (best !== undefined && entry.weddings <= best.weddings) continue;
    let zone = '';
    let most = -1;
    for (const [z, n] of entry.zones) if (n > most) [zone, most] = [z, n];
    best = { date, timeZone: zone, weddings: entry.weddings };
  }
  return best === undefined
    ? { date: localDate(now, 'UTC'), timeZone: 'UTC' }
    : { date: best.date, timeZone: best.timeZone };
}

function dayReason(now: number, day: { date: string; timeZone: string }, season: number, saturday: number): string {
  const p = localParts(now, day.timeZone);
  const parts = [
    season > 1 ? `season ×${fmt(season)}` : 'off-season ×1',
    saturday > 1 ? `Saturday ×${fmt(saturday)}` : 'weekday ×1',
  ];
  const where = day.timeZone === 'UTC' ? 'UTC (no served weddings)' : day.timeZone;
  return `${MONTHS[p.month - 1]} ${WEEKDAYS[p.weekday]} in ${where}: ${parts.join(', ')}`;
}

/**
 * Calendar factor: the busiest local date whose window is open, from `preScaleLeadHours` before its local midnight
 * (in each wedding's zone) to its end. A date is busy with at least `busyDayWeddings` weddings (zones summed).
 */
function calendarFactor(
  now: number,
  calendar: ScalingInputs['calendar'],
  config: ScalingConfig,
  reasons: string[],
): number {
  const lead = config.preScaleLeadHours * MS_PER_HOUR;
  const byDate = new Map<string, { weddings: number; startsAt: number; zone: string }>();
  for (const { date, timeZone, weddings } of calendar ?? []) {
    if (num(weddings) === 0) continue;
    let start: number;
    let end: number;
    try {
      start = zonedToEpoch(date, '00:00', timeZone);
      end = zonedToEpoch(addDaysToDate(date, 1), '00:00', timeZone);
    } catch {
      reasons.push(`ignored calendar entry ${JSON.stringify({ date, timeZone })}: not a date and IANA zone`);
      continue;
    }
    if (now < start - lead || now >= end) continue;
    const entry = byDate.get(date);
    if (entry === undefined) byDate.set(date, { weddings, startsAt: start, zone: timeZone });
    else {
      entry.weddings += weddings;
      if (start < entry.startsAt) [entry.startsAt, entry.zone] = [start, timeZone];
    }
  }
  let busiest: { date: string; weddings: number; startsAt: number; zone: string } | undefined;
  for (const [date, e] of byDate) if (busiest === undefined || e.weddings > busiest.weddings) busiest = { date, ...e };
  if (busiest === undefined || busiest.weddings < config.busyDayWeddings) return 1;
  const factor = Math.min(config.maxCalendarFactor, (config.busyDayFactor * busiest.weddings) / config.busyDayWeddings);
  const when =
    now < busiest.startsAt
      ? `starts in ${fmt((busiest.startsAt - now) / MS_PER_HOUR)} h in ${busiest.zone}`
      : 'under way';
  reasons.push(`busy day ${busiest.date} (${busiest.weddings} weddings) ${when}: calendar ×${fmt(factor)}`);
  return factor;
}

/** The worst ratio of p99 to target among tiers with work, between 1 and `maxLatencyFactor`. */
function latencyFactor(loads: Record<Tier, TierLoad>, config: ScalingConfig, reasons: string[]): number {
  let worst: { tier: Tier; ratio: number } | undefined;
  for (const t of TIERS) {
    const l = loads[t];
    // A stale p99 of an idle tier says nothing about now.
    if (l.ratePerSec === 0 && l.pending + l.ackPending === 0) continue;
    const ratio = l.p99Ms / config.latencyTargetMs[t];
    if (ratio > 1 && (worst === undefined || ratio > worst.ratio)) worst = { tier: t, ratio };
  }
  if (worst === undefined) return 1;
  const factor = Math.min(config.maxLatencyFactor, worst.ratio);
  const l = loads[worst.tier];
  reasons.push(
    `${worst.tier} p99 ${fmt(l.p99Ms)} ms over its ${config.latencyTargetMs[worst.tier]} ms target: latency ×${fmt(factor)}`,
  );
  return factor;
}

/**
 * Handlers this process may run. Memory: what is free plus what the handlers in force already hold, so a process
 * near its limit stops growing. The floor of one handler per tier keeps every tier moving: a stalled tier is worse
 * than a process that fails its health check and gets replaced.
 */
export function concurrencyLimits(
  memoryUsedBytes: number | undefined,
  inForce: Record<Tier, number>,
  config: ScalingConfig,
): { total: number; cpu: number; memory: number } {
  const perWorker = config.memoryPerWorkerBytes;
  const held = TIERS.reduce((s, t) => s + Math.max(0, num(inForce[t])), 0);
  const memory =
    typeof memoryUsedBytes === 'number' && Number.isFinite(memoryUsedBytes) && memoryUsedBytes >= 0
      ? Math.floor((config.memoryLimitBytes - memoryUsedBytes) / perWorker + held)
      : Math.floor((config.memoryLimitBytes - config.memoryReserveBytes) / perWorker);
  const cpu = config.maxConcurrencyTotal;
  return { total: Math.max(TIERS.length, Math.min(cpu, memory)), cpu, memory: Math.max(0, memory) };
}

/**
 * Cuts `wanted` down to at most `cap` handlers in total. Each tier first keeps its floor (most urgent first when even
 * the floors do not fit, and never less than 1); the room left is shared in proportion to what each tier wanted above it.
 */
export function fitToCap(wanted: Record<Tier, number>, min: Record<Tier, number>, cap: number): Record<Tier, number> {
  const total = TIERS.reduce((s, t) => s + wanted[t], 0);
  if (total <= cap) return { ...wanted };
  const floor = Object.fromEntries(TIERS.map((t) => [t, Math.min(wanted[t], min[t])])) as Record<Tier, number>;
  const floorSum = TIERS.reduce((s, t) => s + floor[t], 0);
  const out = Object.fromEntries(TIERS.map((t) => [t, 1])) as Record<Tier, number>;
  let room = cap - TIERS.length;
  if (floorSum > cap) {
    for (const t of TIERS) {
      const add = Math.max(0, Math.min(floor[t] - 1, room));
      out[t] += add;
      room -= add;
    }
    return out;
  }
  const extra = Object.fromEntries(TIERS.map((t) => [t, wanted[t] - floor[t]])) as Record<Tier, number>;
  const extraSum = TIERS.reduce((s, t) => s + extra[t], 0);
  const scale = (cap - floorSum) / extraSum;
  for (const t of TIERS) out[t] = floor[t] + Math.floor(extra[t] * scale);
  // Rounding down left a few handlers over: the most urgent tiers that wanted more get them.
  let left = cap - TIERS.reduce((s, t) => s + out[t], 0);
  for (const t of TIERS) {
    if (left > 0 && out[t] < wanted[t]) {
      out[t]++;
      left--;
    }
  }
  return out;
}

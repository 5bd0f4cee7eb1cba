/**
 * The supervisor machine (R16–R18): turns the stateless policy of `scaling-policy.ts` into decisions that do not flap.
 *
 * The host feeds it a `TICK` with measured inputs every few seconds (at most 10 s apart, so a load change is answered
 * within the 30 s of R18), applies `context.current` (per-tier concurrency in its process, desired replicas for the
 * cluster) and publishes `context.pendingDecision` whenever a transition sets it. Pure: time arrives on every event.
 * The whole context is plain JSON, so a persisted snapshot restores the policy's memory (cooldowns, override, history).
 */
import { assign, setup } from 'xstate';
import { TIERS, type Tier } from './priority.ts';
import {
  baseDecision,
  decide,
  fitToCap,
  scalingConfigWith,
  type ScalingConfig,
  type ScalingConfigOverrides,
  type ScalingDecision,
  type ScalingInputs,
  type TierLoad,
} from './scaling-policy.ts';

const IDLE_LOADS = Object.fromEntries(
  TIERS.map((t) => [t, { pending: 0, ackPending: 0, ratePerSec: 0, p99Ms: 0 }]),
) as Readonly<Record<Tier, TierLoad>>;

/** Decision records kept in the context. */
export const DECISION_HISTORY_LIMIT = 20;

/** What the host applies: handlers per tier in its process, and replicas for the cluster. */
export interface Allocation {
  concurrency: Record<Tier, number>;
  replicas: number;
}

/** An operator's override (R34 audits it), in force until `until` (epoch ms). */
export interface ScaleOverride {
  concurrency?: Partial<Record<Tier, number>>;
  replicas?: number;
  until: number;
  by: string;
  /** When it was set. */
  at: number;
}

/** Why a record was written. */
export type DecisionKind = 'policy' | 'override' | 'override-expired' | 'override-cleared';

/** The measurements behind a decision, small enough for every record. */
export interface InputsSummary {
  day: { date: string; timeZone: string };
  backlog: Record<Tier, number>;
  ratePerSec: Record<Tier, number>;
  p99Ms: Record<Tier, number>;
  instances: number;
  memoryUsedBytes?: number;
  factors: ScalingDecision['factors'];
  bounded: string[];
  expectedLoadPerSec: number;
}

/** One actual change of the allocation (why, from what, to what): publish it on a subject and to the audit stream. */
export interface DecisionRecord {
  /** 1, 2, 3… per supervisor: with an instance id it makes a `Nats-Msg-Id`, so publishing a record twice lands once. */
  seq: number;
  at: number;
  kind: DecisionKind;
  /** The operator, for override records. */
  by?: string;
  /** null for the first decision. */
  from: Allocation | null;
  to: Allocation;
  reason: string;
  /** null when no measurement was involved (an override set or cleared). */
  inputs: InputsSummary | null;
}

/** A scale-down waiting out its cooldown: lower since `since`, and the highest lower desire seen meanwhile. */
export interface PendingDown {
  since: number;
  to: number;
}

export interface SupervisorContext {
  config: ScalingConfig;
  /** In force: allocation as applied (after hysteresis and override), factors and reasons of the latest evaluation. */
  current: ScalingDecision | null;
  /** What the policy wanted at the latest TICK, before hysteresis and override. */
  desired: ScalingDecision | null;
  /** When the allocation last changed. */
  lastChangeAt: number | null;
  override: ScaleOverride | null;
  /** The last {@link DECISION_HISTORY_LIMIT} records, oldest first. */
  decisions: DecisionRecord[];
  /** The record the latest event produced, or null: the host publishes it after the transition. */
  pendingDecision: DecisionRecord | null;
  seq: number;
  downs: { concurrency: Record<Tier, PendingDown | null>; replicas: PendingDown | null };
}

/** Input of {@link supervisorMachine}: config overrides (validated by `scalingConfigWith`, which throws RangeError). */
export interface SupervisorInput {
  config?: ScalingConfigOverrides;
}

/** A TICK's measurements; the event's `now` wins over theirs. */
export type TickInputs = Omit<ScalingInputs, 'now'> & { now?: number };

export type SupervisorEvent =
  | { type: 'TICK'; now: number; inputs: TickInputs }
  | {
      type: 'OVERRIDE';
      now: number;
      until: number;
      by: string;
      concurrency?: Partial<Record<Tier, number>>;
      replicas?: number;
    }
  | { type: 'CLEAR_OVERRIDE'; now: number; by?: string };

type OverrideEvent = Extract<SupervisorEvent, { type: 'OVERRIDE' }>;

const noDowns = (): SupervisorContext['downs'] => ({
  concurrency: { critical: null, high: null, medium: null, low: null },
  replicas: null,
});

/**
 * What is wrong with an OVERRIDE, or undefined when it is acceptable. The machine ignores a bad one; the host calls
 * this first to answer the operator. Values must be integers >= 1 (pause a tier with pause/cancel, not with 0).
 */
export function overrideProblem(event: Omit<OverrideEvent, 'type'>): string | undefined {
  if (typeof event.by !== 'string' || event.by.trim() === '') return 'an override needs "by" (who sets it)';
  if (!Number.isFinite(event.now) || !Number.isFinite(event.until) || event.until <= event.now)
    return '"until" must be later than now';
  if (event.until > LAST_INSTANT) return '"until" is past the last instant a date can hold';
  if (event.concurrency === undefined && event.replicas === undefined)
    return 'an override sets concurrency or replicas';
  for (const [tier, n] of Object.entries(event.concurrency ?? {})) {
    if (!(TIERS as readonly string[]).includes(tier)) return `unknown tier "${tier}"`;
    if (!Number.isInteger(n) || n < 1) return `concurrency.${tier} must be an integer >= 1`;
  }
  if (event.replicas !== undefined && (!Number.isInteger(event.replicas) || event.replicas < 1))
    return 'replicas must be an integer >= 1';
  return undefined;
}

/** The largest epoch ms a JavaScript Date holds: an expiry beyond it cannot even be printed. */
const LAST_INSTANT = 8.64e15;

/**
 * What makes a persisted snapshot (JSON from KV) unfit to resume from, or undefined when it is fit. The host starts
 * afresh instead of resuming a snapshot that would fail again on every restart.
 */
export function supervisorSnapshotProblem(snapshot: unknown): string | undefined {
  const s = snapshot as { status?: unknown; value?: unknown; context?: Partial<SupervisorContext> } | null;
  if (typeof s !== 'object' || s === null) return 'not an object';
  if (s.status !== 'active' || s.value !== 'running') return `status ${String(s.status)} in ${JSON.stringify(s.value)}`;
  const c = s.context;
  if (typeof c !== 'object' || c === null) return 'no context';
  try {
    scalingConfigWith(c.config as ScalingConfigOverrides);
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
  const o = c.override;
  if (o !== null && o !== undefined && (overrideProblem({ ...o, now: o.at }) !== undefined || !Number.isFinite(o.at)))
    return `override: ${overrideProblem({ ...o, now: o.at }) ?? 'bad "at"'}`;
  if (!Number.isInteger(c.seq) || (c.seq as number) < 0) return 'bad seq';
  if (!Array.isArray(c.decisions)) return 'bad decisions';
  const current = c.current;
  if (current !== null && current !== undefined) {
    const ok = TIERS.every((t) => Number.isInteger(current.concurrency?.[t]) && current.concurrency[t] >= 1);
    if (!ok || !Number.isInteger(current.desiredReplicas)) return 'bad allocation in force';
  }
  return undefined;
}

/** The concurrency to apply: the decision in force, or the base concurrency before the first TICK. */
export function currentConcurrency(snapshot: { context: SupervisorContext }): Record<Tier, number> {
  const { current, config } = snapshot.context;
  return { ...(current?.concurrency ?? config.baseConcurrency) };
}

/** The replica count to publish: the decision in force, or `minReplicas` before the first TICK. */
export function currentReplicas(snapshot: { context: SupervisorContext }): number {
  return snapshot.context.current?.desiredReplicas ?? snapshot.context.config.minReplicas;
}

/**
 * Scales per-tier concurrency and desired replicas; see the module comment for the host's side.
 * Start: `createActor(supervisorMachine, { input: { config } })`. Resume: `createActor(supervisorMachine, { snapshot,
 * input: {} })` with the JSON of `getPersistedSnapshot()` (the input is ignored then; XState's types still ask for it).
 */
export const supervisorMachine = setup({
  types: {} as { context: SupervisorContext; events: SupervisorEvent; input: SupervisorInput },
}).createMachine({
  id: 'supervisor',
  context: ({ input }) => ({
    config: scalingConfigWith(input?.config),
    current: null,
    desired: null,
    lastChangeAt: null,
    override: null,
    decisions: [],
    pendingDecision: null,
    seq: 0,
    downs: noDowns(),
  }),
  initial: 'running',
  states: {
    running: {
      on: {
        TICK: { actions: assign(({ context, event }) => onTick(context, event)) },
        OVERRIDE: [
          {
            guard: ({ event }) => overrideProblem(event) === undefined,
            actions: assign(({ context, event }) => onOverride(context, event)),
          },
          { actions: assign({ pendingDecision: null }) },
        ],
        CLEAR_OVERRIDE: { actions: assign(({ context, event }) => onClear(context, event)) },
      },
    },
  },
});

function onTick(
  context: SupervisorContext,
  event: Extract<SupervisorEvent, { type: 'TICK' }>,
): Partial<SupervisorContext> {
  const { config } = context;
  const now = event.now;
  const inputs: ScalingInputs = {
    ...event.inputs,
    now,
    ...(event.inputs.concurrencyInForce === undefined && context.current
      ? { concurrencyInForce: context.current.concurrency }
      : {}),
  };
  const fresh = decide(inputs, config);
  // The allocation with no load at all (season, Saturday and calendar only): a scale-up, however small, returns to it.
  const resting = decide({ ...inputs, tiers: IDLE_LOADS }, config);
  const from = allocationOf(context.current);

  const downs = noDowns();
  const notes: string[] = [];
  const concurrency = {} as Record<Tier, number>;
  for (const t of TIERS) {
    const r = damp(from?.concurrency[t], fresh.concurrency[t], resting.concurrency[t], context.downs.concurrency[t], now, config);
    concurrency[t] = r.value;
    downs.concurrency[t] = r.down;
  }
  const replicas = damp(from?.replicas, fresh.desiredReplicas, resting.desiredReplicas, context.downs.replicas, now, config);
  downs.replicas = replicas.down;
  // Bounds beat hysteresis: a held-back value must not outlive a cap that has since come down (memory pressure).
  let to: Allocation = {
    concurrency: fitToCap(concurrency, config.minConcurrency, fresh.limits.total),
    replicas: replicas.value,
  };

  const o = context.override;
  const expired = o !== null && now >= o.until;
  let record: RecordSpec = { kind: 'policy', reason: '', inputs: summarize(inputs, fresh), always: false };
  if (o !== null && expired) {
    // The overridden values go straight to the policy's: the expiry was the operator's choice, not a load change.
    to = released(to, o, fresh, config);
    clearDowns(downs, o);
    record = { ...record, kind: 'override-expired', by: o.by, always: true };
  } else if (o !== null) {
    to = withOverride(to, o, config, fresh.limits.total);
    clearDowns(downs, o);
    notes.push(overrideNote(o));
  }
  const left = (d: PendingDown): string => fmtS(d.since + config.scaleDownCooldownMs - now);
  for (const t of TIERS) {
    const d = downs.concurrency[t];
    if (d)
      notes.push(
        `${t} stays at ${to.concurrency[t]} (wants ${fresh.concurrency[t]}) for ${left(d)} s more of cooldown`,
      );
  }
  if (downs.replicas)
    notes.push(
      `replicas stay at ${to.replicas} (want ${fresh.desiredReplicas}) for ${left(downs.replicas)} s more of cooldown`,
    );
  const current: ScalingDecision = {
    ...fresh,
    concurrency: to.concurrency,
    desiredReplicas: to.replicas,
    reasons: [...fresh.reasons, ...notes],
  };
  const head = expired
    ? `override by ${o?.by} expired at ${iso(o?.until ?? now)}, ${describeChange(from, to)}`
    : describeChange(from, to);
  record.reason = `${head}: ${fresh.reasons.join('; ')}`;
  return commit(context, now, current, to, record, { downs, desired: fresh, ...(expired ? { override: null } : {}) });
}

function onOverride(context: SupervisorContext, event: OverrideEvent): Partial<SupervisorContext> {
  const { config } = context;
  const override: ScaleOverride = {
    ...(event.concurrency ? { concurrency: { ...event.concurrency } } : {}),
    ...(event.replicas !== undefined ? { replicas: event.replicas } : {}),
    until: event.until,
    by: event.by,
    at: event.now,
  };
  const policy = context.desired ?? baseDecision(config, event.now);
  const inForce = context.current ?? policy;
  // A replaced override first hands its values back to the policy, so the new one does not inherit them.
  const base =
    context.override === null
      ? allocationOf(inForce)
      : released(allocationOf(inForce), context.override, policy, config);
  const to = withOverride(base, override, config, inForce.limits.total);
  const downs = { concurrency: { ...context.downs.concurrency }, replicas: context.downs.replicas };
  clearDowns(downs, override);
  const current: ScalingDecision = {
    ...inForce,
    concurrency: to.concurrency,
    desiredReplicas: to.replicas,
    reasons: [...policy.reasons, overrideNote(override)],
  };
  const reason = `${overrideNote(override)}: ${describeChange(allocationOf(context.current), to)}`;
  return commit(
    context,
    event.now,
    current,
    to,
    { kind: 'override', by: event.by, reason, inputs: null, always: true },
    { override, downs },
  );
}

function onClear(
  context: SupervisorContext,
  event: Extract<SupervisorEvent, { type: 'CLEAR_OVERRIDE' }>,
): Partial<SupervisorContext> {
  const o = context.override;
  if (o === null) return { pendingDecision: null };
  const policy = context.desired ?? baseDecision(context.config, event.now);
  const inForce = context.current ?? policy;
  const to = released(allocationOf(inForce), o, policy, context.config);
  const by = event.by ?? o.by;
  const current: ScalingDecision = {
    ...inForce,
    concurrency: to.concurrency,
    desiredReplicas: to.replicas,
    reasons: [...policy.reasons],
  };
  const reason = `override by ${o.by} cleared by ${by}, ${describeChange(allocationOf(context.current), to)}: ${policy.reasons.join('; ')}`;
  const downs = { concurrency: { ...context.downs.concurrency }, replicas: context.downs.replicas };
  clearDowns(downs, o);
  return commit(
    context,
    event.now,
    current,
    to,
    { kind: 'override-cleared', by, reason, inputs: null, always: true },
    { override: null, downs },
  );
}

type RecordSpec = { kind: DecisionKind; by?: string; reason: string; inputs: InputsSummary | null; always: boolean };

/** The values `o` set go back to what `policy` wants, at once; the others stay. */
function released(a: Allocation, o: ScaleOverride, policy: ScalingDecision, config: ScalingConfig): Allocation {
  const concurrency = { ...a.concurrency };
  for (const t of TIERS) if (o.concurrency?.[t] !== undefined) concurrency[t] = policy.concurrency[t];
  const replicas = o.replicas === undefined ? a.replicas : policy.desiredReplicas;
  return { concurrency: fitToCap(concurrency, config.minConcurrency, policy.limits.total), replicas };
}

/** Pending scale-downs of the values `o` sets mean nothing: the override replaces them. */
function clearDowns(downs: SupervisorContext['downs'], o: ScaleOverride): void {
  for (const t of TIERS) if (o.concurrency?.[t] !== undefined) downs.concurrency[t] = null;
  if (o.replicas !== undefined) downs.replicas = null;
}

/**
 * One value through the hysteresis: up at once when at least `hysteresis` higher; down only when at least that much
 * lower for `scaleDownCooldownMs`, and then to the highest lower wish seen meanwhile, so a noisy load that dipped
 * once does not pull it below what it will ask for again on the next tick. A wish at or below `resting` (what the
 * policy wants with no load) may come down by less than the hysteresis: otherwise a scale-up smaller than the band
 * (9 against a base of 8 at 20 %) would never be undone.
 */
function damp(
  old: number | undefined,
  want: number,
  resting: number,
  down: PendingDown | null,
  now: number,
  config: ScalingConfig,
): { value: number; down: PendingDown | null } {
  if (old === undefined) return { value: want, down: null };
  const h = config.hysteresis;
  if (want > old && want >= old * (1 + h)) return { value: want, down: null };
  if (want >= old || (want > old * (1 - h) && want > resting)) return { value: old, down: null };
  const next = down === null ? { since: now, to: want } : { since: down.since, to: Math.max(down.to, want) };
  if (now - next.since >= config.scaleDownCooldownMs) return { value: next.to, down: null };
  return { value: old, down: next };
}

/** Override values replace the policy's, inside the configured bounds: those are hard limits, for operators too. */
function withOverride(base: Allocation, o: ScaleOverride, config: ScalingConfig, cap: number): Allocation {
  const concurrency = { ...base.concurrency };
  for (const t of TIERS) {
    const v = o.concurrency?.[t];
    if (v !== undefined) concurrency[t] = Math.min(config.maxConcurrency[t], Math.max(config.minConcurrency[t], v));
  }
  const replicas =
    o.replicas === undefined ? base.replicas : Math.min(config.maxReplicas, Math.max(config.minReplicas, o.replicas));
  return { concurrency: fitToCap(concurrency, config.minConcurrency, cap), replicas };
}

/** Writes `current` and, when the allocation changed (or `always`), a decision record. */
function commit(
  context: SupervisorContext,
  now: number,
  current: ScalingDecision,
  to: Allocation,
  record: RecordSpec,
  rest: Partial<SupervisorContext>,
): Partial<SupervisorContext> {
  const from = allocationOf(context.current);
  const changed = from === null || !sameAllocation(from, to);
  if (!changed && !record.always) return { ...rest, current, pendingDecision: null };
  const rec: DecisionRecord = {
    seq: context.seq + 1,
    at: now,
    kind: record.kind,
    ...(record.by !== undefined ? { by: record.by } : {}),
    from,
    to,
    reason: record.reason,
    inputs: record.inputs,
  };
  return {
    ...rest,
    current,
    seq: rec.seq,
    lastChangeAt: changed ? now : context.lastChangeAt,
    decisions: [...context.decisions, rec].slice(-DECISION_HISTORY_LIMIT),
    pendingDecision: rec,
  };
}

function allocationOf(d: ScalingDecision): Allocation;
function allocationOf(d: ScalingDecision | null): Allocation | null;
function allocationOf(d: ScalingDecision | null): Allocation | null {
  return d === null ? null : { concurrency: { ...d.concurrency }, replicas: d.desiredReplicas };
}

function sameAllocation(a: Allocation, b: Allocation): boolean {
  return a.replicas === b.replicas && TIERS.every((t) => a.concurrency[t] === b.concurrency[t]);
}

/** "up critical 16→54, replicas 1→3" style. */
function describeChange(from: Allocation | null, to: Allocation): string {
  if (from === null)
    return `initial ${TIERS.map((t) => `${t} ${to.concurrency[t]}`).join(', ')}, replicas ${to.replicas}`;
  const changes: string[] = [];
  let up = false;
  let down = false;
  const note = (name: string, a: number, b: number): void => {
    if (a === b) return;
    changes.push(`${name} ${a}→${b}`);
    if (b > a) up = true;
    else down = true;
  };
  for (const t of TIERS) note(t, from.concurrency[t], to.concurrency[t]);
  note('replicas', from.replicas, to.replicas);
  if (changes.length === 0) return 'unchanged';
  return `${up && down ? 'rebalance' : up ? 'up' : 'down'} ${changes.join(', ')}`;
}

function summarize(inputs: ScalingInputs, d: ScalingDecision): InputsSummary {
  const per = (f: (t: Tier) => number): Record<Tier, number> =>
    Object.fromEntries(TIERS.map((t) => [t, f(t)])) as Record<Tier, number>;
  const load = (t: Tier) => inputs.tiers?.[t];
  const n = (v: number | undefined): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
  return {
    day: d.day,
    backlog: per((t) => n(load(t)?.pending) + n(load(t)?.ackPending)),
    ratePerSec: per((t) => n(load(t)?.ratePerSec)),
    p99Ms: per((t) => n(load(t)?.p99Ms)),
    instances: n(inputs.instances),
    ...(typeof inputs.memoryUsedBytes === 'number' && Number.isFinite(inputs.memoryUsedBytes)
      ? { memoryUsedBytes: inputs.memoryUsedBytes }
      : {}),
    factors: d.factors,
    bounded: d.bounded,
    expectedLoadPerSec: d.expectedLoadPerSec,
  };
}

function overrideNote(o: ScaleOverride): string {
  const parts = [
    ...TIERS.filter((t) => o.concurrency?.[t] !== undefined).map((t) => `${t}=${o.concurrency?.[t]}`),
    ...(o.replicas !== undefined ? [`replicas=${o.replicas}`] : []),
  ];
  return `override by ${o.by} until ${iso(o.until)} (${parts.join(', ')})`;
}

const iso = (ms: number): string => new Date(ms).toISOString();
const fmtS = (ms: number): string => String(Math.max(0, Math.ceil(ms / 1_000)));

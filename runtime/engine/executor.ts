/**
 * Runs one work message against one execution: hydrate the machine from KV, apply the event, run any action the machine
 * now waits for, write the snapshot back with compare-and-set, hand new timers to the timer service. The actor lives only
 * for the duration of the message (passivated afterwards), so waiting executions cost storage, not memory.
 *
 * Crash safety comes from ordering: actions carry deterministic idempotency keys; timers are stored before the snapshot
 * that refers to them; the snapshot is written before the message is acked; and every message, even a stale one,
 * re-issues the execution's pending timer (deduplicated), so a crash between any two of these steps loses nothing.
 */
import type { KV } from '@nats-io/kv';
import type { ExecutionEvent, Outcome } from '../../actors/execution-state.ts';
import type { JourneyExecutionMachine } from '../../actors/journey-execution.ts';
import { tierAt, type Tier } from '../../actors/priority.ts';
import { retryDelayMs, retryPolicyFor, type RetryPolicy } from '../../actors/retry-policy.ts';
import { parseDuration, durationMs } from '../../actors/duration.ts';
import type { JourneyDefinition } from '../../schemas/journey-definition.ts';
import { resultOf, type ActionInvocation, type ActionRegistry, type Attempted } from './actions.ts';
import { unseal } from '../sealed.ts';
import type { Clock } from '../clock.ts';
import type { DefinitionRegistry } from '../definitions.ts';
import { ActionError, RejectedError, RuntimeError, errorMessage } from '../errors.ts';
import { dataTooLarge, decodeRecord, encodeRecord, type ExecutionRecord } from './execution-record.ts';
import type { TimerEntry, TimerService } from './timers.ts';
import type { Work } from './work.ts';
import type { MetricEvent } from '../../actors/monitor.ts';
import type { RateLimiter } from './rate-limit.ts';
import { stepperFor, type ExecutionSnapshot } from './machine-stepper.ts';

/**
 * The outcome the dispatcher turns into an ack or a nak. `ignored`: an action result that matched no attempt awaiting one
 * (recorded by the caller). `refused`: an event not applied, whose refusal the caller records. `early`: a result for an
 * attempt whose sending is not stored yet (try again shortly).
 */
export type WorkOutcome =
  | { ack: true; ignored?: { code: IgnoredResult; message: string }; refused?: { code: 'DATA_TOO_LARGE' | 'RATE_LIMITED'; message: string } }
  | { ack: false; delayMs: number; reason: 'conflict' | 'early' };

/** Why a service's result was not applied. */
export type IgnoredResult = 'RESULT_UNKNOWN_KEY' | 'RESULT_STALE_ATTEMPT' | 'RESULT_NOT_AWAITED';

/** The outcome of an attempt that arrived as a message: a service's result, or its deadline passing. */
type Arrived = { ok: true; data?: Record<string, unknown> } | { ok: false; error: unknown };

export interface DeadLetter {
  executionId: string;
  supplierId: string;
  journeyId: string;
  version: number;
  stepId: string;
  visit: number;
  key: string;
  action: string;
  error: string;
  attempts: number;
  tier: Tier;
  at: number;
  history: ExecutionRecord['snap']['context']['history'];
}

export interface ExecutorHooks {
  deadLetter(entry: DeadLetter): Promise<void>;
  /** Observability: executions started and finished, action steps run (the monitor and Prometheus feed on these). */
  onMetric?: (e: MetricEvent) => void;
  /** An execution reached a final state (for embedders waiting on specific executions). */
  onFinish?: (e: { executionId: string; outcome: Outcome; tier: Tier }) => void;
  /** A wedding entered the calendar (+1) or left a date when it moved (-1). */
  onWedding?: (e: { weddingDate: string; timeZone: string; delta: 1 | -1 }) => void;
  /** A start over its supplier's rate limit, parked until `at`. */
  onDelayed?: (e: { executionId: string; supplierId: string; at: number }) => void;
}

export interface ExecutorOptions {
  kv: KV;
  definitions: DefinitionRegistry;
  actions: ActionRegistry;
  timers: TimerService;
  clock: Clock;
  hooks: ExecutorHooks;
  retryDefaults?: Readonly<Record<'critical' | 'default', RetryPolicy>>;
  random?: () => number;
  rateLimiter?: RateLimiter;
  /**
   * Writes an execution record with compare-and-set: `expected` is the revision it replaces (a deletion marker's too),
   * 0 when there is none. Rejects with a "wrong last sequence" error when another writer got there first.
   * @default `kv.create` / `kv.update`
   */
  writeRecord?(executionId: string, value: Uint8Array, expected: number): Promise<unknown>;
}

type Snap = ExecutionSnapshot;
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** Cap on actions run back to back for one message (the validator rejects cycles without waits; this is a backstop). */
const MAX_CHAIN = 100;

export class Executor {
  readonly #o: ExecutorOptions;
  readonly #random: () => number;

  constructor(opts: ExecutorOptions) {
    this.#o = opts;
    this.#random = opts.random ?? Math.random;
  }

  /**
   * Processes one work message for `executionId`. Never throws for bad data: it is reported in the outcome.
   * `firstDelivery` (not a redelivery) lets a start skip the read: it creates the record, and reads only when the create
   * finds one already there (a nak, then the redelivery reads). So a start repeated after the dedup window may run the
   * first action again with the same idempotency key, exactly as crash recovery does (README, Actions).
   */
  async handle(supplierId: string, executionId: string, work: Work, firstDelivery = false): Promise<WorkOutcome> {
    const entry = work.k === 'start' && firstDelivery ? null : await this.#o.kv.get(executionId);
    const exists = entry !== null && entry.value.length > 0;
    let record: ExecutionRecord;
    let machine: JourneyExecutionMachine;
    let def: JourneyDefinition;
    let snap: Snap;
    let arrived: Arrived | undefined;
    const now = this.#o.clock.now();
    // Observations are reported once the new state is stored: a conflicting write re-runs the message, and must not count twice.
    const after: (() => void)[] = [];

    if (!exists) {
      if (work.k === 'result') return ignored('RESULT_UNKNOWN_KEY', `no execution for key ${work.result.key}`);
      if (work.k !== 'start') return { ack: true }; // the router already refused events for unknown executions
      // `reserved` skips the limit only where the runtime recorded the reservation when it parked the start.
      const limiter = this.#o.rateLimiter;
      if (limiter && !(work.reserved && (await limiter.reserved(executionId)))) {
        let slot;
        try {
          slot = await limiter.reserve(supplierId, now, executionId);
        } catch (err) {
          if (err instanceof RejectedError && err.code === 'RATE_LIMITED') return { ack: true, refused: { code: err.code, message: err.message } };
          throw err;
        }
        if (slot.at > now) {
          // Over the supplier's limit: parked on a durable timer until its reserved place, never dropped.
          await this.#o.timers.schedule({
            id: `rl:${executionId}`,
            due: slot.at,
            sup: supplierId,
            ex: executionId,
            ...(work.cmd.weddingDate ? { wd: work.cmd.weddingDate } : {}),
            tz: work.cmd.timeZone ?? 'UTC',
            work: { ...work, reserved: true },
          });
          this.#o.hooks.onDelayed?.({ executionId, supplierId, at: slot.at });
          return { ack: true };
        }
      }
      ({ def, machine } = await this.#o.definitions.machine(work.def.id, work.def.version));
      const cmd = work.cmd;
      const initial = stepperFor(machine).initial({
        executionId,
        supplierId,
        clientId: cmd.clientId,
        journeyId: def.id,
        version: def.version,
        vendorType: def.vendorType,
        timeZone: cmd.timeZone ?? def.timeZone ?? 'UTC',
        ...(cmd.weddingDate ? { weddingDate: cmd.weddingDate } : {}),
        ...(cmd.bookedAt ? { bookedAt: cmd.bookedAt } : {}),
        data: cmd.data ?? {},
        now,
      });
      snap = initial;
      record = { v: 1, pii: work.pii ?? null, def: work.def, status: 'active', snap: persistable(snap), startedAt: now, updatedAt: now };
      this.#metric(after, { type: 'execution.started', at: now }, snap.context);
      this.#wedding(after, snap.context, 1);
    } else {
      record = decodeRecord(entry.value);
      if (record.status === 'done') {
        return work.k === 'result' ? ignored('RESULT_NOT_AWAITED', `execution ${executionId} has finished`) : { ack: true };
      }
      // Checked where every path of an event meets (the router checks requests too, to answer them).
      const tooLarge = work.k === 'event' ? dataTooLarge(record.snap.context.data, work.data) : undefined;
      if (tooLarge) return { ack: true, refused: { code: 'DATA_TOO_LARGE', message: tooLarge } };
      if (work.k === 'result' || work.k === 'timeout') {
        const match = matchArrival(work, record);
        if (match !== 'apply') return match;
        const result = work.k === 'result' ? work.result : undefined;
        if (result && 'working' in result) {
          // Progress: the service needs longer; only the deadline (and its timer) moves.
          record.awaiting!.deadline = Math.max(record.awaiting!.deadline, now + result.extendMs);
          return await this.#store(executionId, entry, record, work);
        }
        arrived = result ? arrivedResult(record.awaiting!.action, result) : { ok: false, error: timeoutError(record.awaiting!) };
      }
      ({ def, machine } = await this.#o.definitions.machine(record.def.id, record.def.version));
      snap = machine.resolveState(record.snap as never) as Snap;
      const event = this.#eventFor(work, record, now);
      const before = snap.context;
      if (event) snap = stepperFor(machine).next(snap, event);
      if (snap.context.weddingDate !== before.weddingDate || snap.context.timeZone !== before.timeZone) {
        this.#wedding(after, before, -1);
        this.#wedding(after, snap.context, 1);
      }
      if (work.k === 'replay') {
        // Attempt numbers go on from the failed ones (a late result of an old attempt can never pass for a new one),
        // and the replayed step gets its policy's attempts afresh.
        const failed = before.failure;
        const p = snap.context.pending;
        delete record.retry;
        if (failed && p?.kind === 'action') {
          record.retry = { key: p.key, attempt: failed.attempts + 1, dueAt: now };
          record.spent = failed.attempts;
        }
      }
    }

    const retryAttempt = work.k === 'retry' && record.retry?.key === work.key ? work.attempt : undefined;
    snap = await this.#drive(machine, def, snap, record, retryAttempt, arrived, after);

    const ctx = snap.context;
    record.snap = persistable(snap);
    record.status = snap.status === 'done' ? 'done' : 'active';
    record.updatedAt = this.#o.clock.now();

    // A deletion marker's revision is the one to replace, as `kv.create` does after a delete.
    const stored = await this.#store(executionId, entry, record, work);
    if (!stored.ack) return stored;
    for (const report of after) report();
    if (record.status === 'done') {
      const outcome: Outcome = snap.value === 'exited' || snap.value === 'cancelled' ? snap.value : 'completed';
      const done: (() => void)[] = [];
      this.#metric(done, { type: 'execution.finished', at: record.updatedAt, outcome, ms: record.updatedAt - record.startedAt }, ctx);
      for (const report of done) report();
      this.#o.hooks.onFinish?.({ executionId, outcome, tier: this.#tier(record, ctx) });
    }
    return { ack: true };
  }

  /**
   * Stores the record with compare-and-set on `entry`'s revision (null: none yet). Timers are stored before the snapshot
   * that refers to them (a crash in between leaves a harmless stale timer): the step's, a retry's or held attempt's, or
   * an outbound attempt's deadline.
   */
  async #store(executionId: string, entry: { revision: number } | null, record: ExecutionRecord, work: Work): Promise<WorkOutcome> {
    const ctx = record.snap.context;
    const now = this.#o.clock.now();
    const timer = pendingTimer(ctx);
    if (timer && !ctx.paused && record.scheduled !== `${timer.id}`) {
      // After a resume the timer may already have fired (ignored while paused): a new id escapes the dedup window.
      const id = `${executionId}.${timer.id}${work.k === 'resume' ? `.r${now}` : ''}`;
      await this.#o.timers.schedule(this.#timerEntry(record, id, timer.dueAt, { k: 'timer', id: timer.id }));
      record.scheduled = timer.id;
    }
    const r = record.retry;
    // The due time is in the id: an attempt held by an open circuit may wait on several timers one after another.
    if (r && !ctx.paused && record.scheduled !== `r:${r.key}:${r.attempt}:${r.dueAt}`) {
      await this.#o.timers.schedule(this.#timerEntry(record, `${r.key}.a${r.attempt}.${r.dueAt}`, r.dueAt, { k: 'retry', key: r.key, attempt: r.attempt }));
      record.scheduled = `r:${r.key}:${r.attempt}:${r.dueAt}`;
    }
    const a = record.awaiting;
    if (a && record.scheduled !== `w:${a.key}:${a.attempt}:${a.deadline}`) {
      const work: Work = { k: 'timeout', key: a.key, attempt: a.attempt, deadline: a.deadline };
      await this.#o.timers.schedule(this.#timerEntry(record, `${a.key}.a${a.attempt}.t${a.deadline}`, a.deadline, work));
      record.scheduled = `w:${a.key}:${a.attempt}:${a.deadline}`;
    }
    try {
      const expected = entry?.revision ?? 0;
      if (this.#o.writeRecord) await this.#o.writeRecord(executionId, encodeRecord(record), expected);
      else if (expected > 0) await this.#o.kv.update(executionId, encodeRecord(record), expected);
      else await this.#o.kv.create(executionId, encodeRecord(record));
    } catch (err) {
      // Another writer got there first (a second instance, or a duplicate start): re-run against its state.
      if (isConflict(err)) return { ack: false, delayMs: 20 + Math.floor(this.#random() * 80), reason: 'conflict' };
      throw err;
    }
    return { ack: true };
  }

  #eventFor(work: Work, record: ExecutionRecord, now: number): ExecutionEvent | undefined {
    switch (work.k) {
      case 'event':
        return { type: 'EVENT', name: work.name, ...(work.data ? { data: work.data } : {}), now };
      case 'timer':
        return { type: 'TIMER', id: work.id, now };
      case 'cancel':
        return { type: 'CANCEL', now, ...(work.reason ? { reason: work.reason } : {}) };
      case 'pause':
        return { type: 'PAUSE', now };
      case 'resume':
        // A resumed execution re-issues its pending timer: it may have fired (and been ignored) while paused.
        delete record.scheduled;
        return { type: 'RESUME', now };
      case 'replay':
        return { type: 'RETRY', now };
      case 'start':
      case 'retry':
      case 'result':
      case 'timeout':
        return undefined;
    }
  }

  /**
   * Runs the actions the execution waits for, one after another, until it waits on something else: a timer, an event,
   * a retry's backoff, an open circuit, or an outbound attempt's result. `arrived` is the outcome of the attempt
   * awaiting a result, when this message brings it.
   */
  async #drive(
    machine: JourneyExecutionMachine,
    def: JourneyDefinition,
    snap: Snap,
    record: ExecutionRecord,
    retryAttempt: number | undefined,
    arrived: Arrived | undefined,
    after: (() => void)[],
  ): Promise<Snap> {
    const actions = this.#o.actions;
    for (let i = 0; i < MAX_CHAIN; i++) {
      const ctx = snap.context;
      const p = ctx.pending;
      if (snap.status !== 'active' || ctx.failure || p?.kind !== 'action') return snap;
      // An attempt awaited for a step the execution has left (cancelled, moved on by an event) is forgotten.
      if (record.awaiting && record.awaiting.key !== p.key) delete record.awaiting;
      if (record.spent !== undefined && record.retry?.key !== p.key && record.awaiting?.key !== p.key) delete record.spent;
      const step = def.steps[p.stepId];
      const tier = this.#tier(record, ctx);
      let attempt = 1;
      let probe = false;
      let started: number;
      let outcome: Arrived;
      if (record.awaiting) {
        if (!arrived) return snap; // the result (or the deadline) has not come yet
        ({ attempt, sentAt: started } = record.awaiting);
        probe = record.awaiting.probe === true;
        delete record.awaiting;
        outcome = arrived;
        arrived = undefined;
      } else {
        // A paused execution still takes the result of an attempt already sent (above), but starts none.
        if (ctx.paused) return snap;
        if (record.retry) {
          if (record.retry.key !== p.key) delete record.retry;
          else if (retryAttempt === record.retry.attempt || record.retry.dueAt <= this.#o.clock.now()) attempt = record.retry.attempt;
          else return snap; // waiting for the backoff timer
        }
        started = this.#o.clock.now();
        const admission = actions.admit(p.action, started);
        if (!admission.pass) return this.#hold(record, snap, p, attempt, admission.until, after);
        probe = admission.probe;
        const timeout = step?.type === 'action' && step.timeout ? parseDuration(step.timeout) : undefined;
        let attempted: Attempted | undefined;
        try {
          attempted = await actions.attempt(
            {
              action: p.action,
              params: p.params,
              key: p.key,
              attempt,
              executionId: ctx.executionId,
              supplierId: ctx.supplierId,
              clientId: ctx.clientId,
              journeyId: ctx.journeyId,
              stepId: p.stepId,
              tier,
              ...(ctx.weddingDate ? { weddingDate: ctx.weddingDate } : {}),
              timeZone: ctx.timeZone,
              data: ctx.data,
              client: record.pii ? unseal<ActionInvocation['client']>(record.pii) : null,
            },
            started,
            timeout ? durationMs(timeout) : undefined,
          );
        } catch (err) {
          outcome = { ok: false, error: err };
        }
        if (attempted?.kind === 'sent') {
          delete record.retry;
          record.awaiting = { key: p.key, attempt, action: p.action, deadline: attempted.deadline, sentAt: started, ...(probe ? { probe } : {}) };
          return snap;
        }
        outcome ??= { ok: true, ...(attempted?.data ? { data: attempted.data } : {}) };
      }
      retryAttempt = undefined;
      const now = this.#o.clock.now();
      const base = { type: 'step.finished', at: now, stepId: p.stepId, action: p.action, ms: now - started } as const;
      if (outcome.ok) {
        actions.recordOutcome(p.action, now, false, probe);
        delete record.retry;
        delete record.spent;
        this.#metric(after, { ...base, outcome: 'done' }, ctx);
        snap = stepperFor(machine).next(snap, { type: 'ACTION_DONE', key: p.key, now, ...(outcome.data ? { result: outcome.data } : {}) });
        continue;
      }
      const err = outcome.error;
      const retryable = !(err instanceof RuntimeError) || err.retryable;
      // A deliberate refusal (not retryable) says nothing about the service's health: only retryable failures count.
      actions.recordOutcome(p.action, now, retryable, probe);
      if (probe && retryable) {
        // A failed probe uses none of the step's attempts, but its number is spent: every command and result of one
        // key keeps a number of its own (`Nats-Msg-Id` = `<key>:<attempt>` would drop a second probe with the same one).
        record.spent = (record.spent ?? 0) + 1;
        return this.#hold(record, snap, p, attempt + 1, actions.holdUntil(p.action, now), after);
      }
      const spent = record.spent ?? 0;
      const settings = actions.settings(p.action);
      const policy = retryPolicyFor(tier, { ...settings.retry, ...overrideOf(step) }, this.#o.retryDefaults);
      delete record.spent;
      if (retryable && attempt - spent < policy.attempts) {
        record.retry = { key: p.key, attempt: attempt + 1, dueAt: now + retryDelayMs(policy, attempt + 1 - spent, this.#random()) };
        if (spent > 0) record.spent = spent;
        this.#metric(after, { ...base, outcome: 'retry', error: errorMessage(err) }, ctx);
        return snap;
      }
      delete record.retry;
      await this.#o.hooks.deadLetter({
        executionId: ctx.executionId,
        supplierId: ctx.supplierId,
        journeyId: ctx.journeyId,
        version: ctx.version,
        stepId: p.stepId,
        visit: p.visit,
        key: p.key,
        action: p.action,
        error: errorMessage(err),
        attempts: attempt,
        tier,
        at: now,
        history: ctx.history,
      });
      this.#metric(after, { ...base, outcome: 'dead', error: errorMessage(err) }, ctx);
      return stepperFor(machine).next(snap, { type: 'ACTION_FAILED', key: p.key, now, error: errorMessage(err), attempts: attempt });
    }
    throw new ActionError(`more than ${MAX_CHAIN} actions in a row without a wait`, { retryable: false });
  }

  /** Parks an attempt while its action's circuit is open: same attempt number, on a durable timer, with jitter. */
  #hold(record: ExecutionRecord, snap: Snap, p: { key: string; stepId: string; action: string }, attempt: number, until: number, after: (() => void)[]): Snap {
    const now = this.#o.clock.now();
    // Spread over a second so that a crowd held together does not come back in one burst.
    record.retry = { key: p.key, attempt, dueAt: Math.max(until, now) + Math.floor(this.#random() * 1_000) };
    this.#metric(after, { type: 'step.finished', at: now, stepId: p.stepId, action: p.action, outcome: 'held', ms: 0 }, snap.context);
    return snap;
  }

  /** Completes a metric event with the execution's tier, vendor type and journey. */
  #metric(
    after: (() => void)[],
    e: DistributiveOmit<MetricEvent, 'tier' | 'vendorType' | 'journeyId' | 'weddingDay'>,
    ctx: ExecutionRecord['snap']['context'],
  ): void {
    const onMetric = this.#o.hooks.onMetric;
    if (!onMetric || e.type === 'queue') return;
    const tier = tierAt(e.at, ctx.weddingDate, ctx.timeZone).tier;
    const full = { ...e, tier, vendorType: ctx.vendorType, journeyId: ctx.journeyId, weddingDay: tier === 'critical' } as MetricEvent;
    after.push(() => onMetric(full));
  }

  #wedding(after: (() => void)[], ctx: ExecutionRecord['snap']['context'], delta: 1 | -1): void {
    const onWedding = this.#o.hooks.onWedding;
    const weddingDate = ctx.weddingDate;
    if (onWedding && weddingDate) after.push(() => onWedding({ weddingDate, timeZone: ctx.timeZone, delta }));
  }

  #tier(record: ExecutionRecord, ctx = record.snap.context): Tier {
    return tierAt(this.#o.clock.now(), ctx.weddingDate, ctx.timeZone).tier;
  }

  #timerEntry(record: ExecutionRecord, id: string, due: number, work: Work): TimerEntry {
    const ctx = record.snap.context;
    return { id, due, sup: ctx.supplierId, ex: ctx.executionId, ...(ctx.weddingDate ? { wd: ctx.weddingDate } : {}), tz: ctx.timeZone, work };
  }
}

/** Whether a result or deadline message concerns the attempt the record awaits, and what to do when it does not. */
function matchArrival(work: Extract<Work, { k: 'result' | 'timeout' }>, record: ExecutionRecord): 'apply' | WorkOutcome {
  const a = record.awaiting;
  const { key, attempt } = work.k === 'result' ? work.result : work;
  if (a && a.key === key && a.attempt === attempt) {
    // A deadline that was moved by a progress message is not the deadline any more.
    return work.k === 'timeout' && work.deadline < a.deadline ? { ack: true } : 'apply';
  }
  if (work.k === 'timeout') return { ack: true }; // a stale deadline timer: its attempt ended already
  const ctx = record.snap.context;
  // A visit of a step the stored record has not reached: sent by a step whose record is being stored right now.
  const [, stepId = '', visit = '0'] = key.split('.');
  if ((ctx.visits[stepId] ?? 0) < Number(visit)) return { ack: false, delayMs: 0, reason: 'early' };
  const p = ctx.pending;
  const current = p?.kind === 'action' && p.key === key && !ctx.failure;
  // Sent, but the record saying so is not stored yet (the service answered within the write): try again shortly.
  if (current && (!a || a.key !== key || attempt > a.attempt) && !(record.retry && record.retry.key === key && record.retry.attempt > attempt)) {
    return { ack: false, delayMs: 0, reason: 'early' };
  }
  if (current) return ignored('RESULT_STALE_ATTEMPT', `result for attempt ${attempt} of ${key}, awaiting attempt ${a?.attempt ?? record.retry?.attempt}`);
  return ignored('RESULT_NOT_AWAITED', `no attempt of ${key} awaits a result (already applied, or the step is over)`);
}

function ignored(code: IgnoredResult, message: string): WorkOutcome {
  return { ack: true, ignored: { code, message } };
}

function arrivedResult(action: string, result: Exclude<Extract<Work, { k: 'result' }>['result'], { working: true }>): Arrived {
  try {
    const { data } = resultOf(action, result);
    return { ok: true, ...(data ? { data } : {}) };
  } catch (err) {
    return { ok: false, error: err };
  }
}

function timeoutError(a: NonNullable<ExecutionRecord['awaiting']>): ActionError {
  return new ActionError(`action ${a.action}: no result within ${a.deadline - a.sentAt} ms (attempt ${a.attempt})`, { code: 'ACTION_TIMEOUT' });
}

function pendingTimer(ctx: Snap['context']) {
  const p = ctx.pending;
  return p && (p.kind === 'timer' || p.kind === 'event') ? p.timer : undefined;
}

function overrideOf(step: JourneyDefinition['steps'][string] | undefined): Partial<RetryPolicy> | undefined {
  if (step?.type !== 'action' || !step.retry) return undefined;
  const r = step.retry as { attempts?: number; backoff?: string; factor?: number };
  const backoff = r.backoff ? parseDuration(r.backoff) : undefined;
  return {
    ...(r.attempts !== undefined ? { attempts: r.attempts } : {}),
    ...(backoff ? { baseMs: durationMs(backoff) } : {}),
    ...(r.factor !== undefined ? { factor: r.factor } : {}),
  };
}

/** What is stored of a snapshot: the state value and the context (no actor internals). */
function persistable(snap: Snap): ExecutionRecord['snap'] {
  return { value: snap.value, context: snap.context };
}

function isConflict(err: unknown): boolean {
  return err instanceof Error && /wrong last sequence|key exists/i.test(err.message);
}

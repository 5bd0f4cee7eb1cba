/**
 * Action registry (R13): how each action is performed (docs/actions.md). An action with an in-process handler runs here;
 * every other one follows its configured mode: `outbound` publishes a command on `<prefix>.actions.<name>` and the
 * attempt ends when the service's result arrives on `<prefix>.results.<name>` (or its deadline passes); `request` asks
 * on a subject and takes the reply as the result; `fire-and-forget` succeeds once JetStream stores the command. An action
 * listed nowhere is `outbound`: a failure is never silently counted as done.
 *
 * A circuit breaker per service-backed action holds attempts while the service fails (actors/circuit-breaker.ts).
 * Every invocation carries its idempotency key (the step visit), the same for every attempt: services dedup on it (R12).
 */
import type { JetStreamClient } from '@nats-io/jetstream';
import { headers, type NatsConnection } from '@nats-io/transport-node';
import { CircuitBreaker, DEFAULT_BREAKER, type Admission, type BreakerChange, type BreakerSettings } from '../../actors/circuit-breaker.ts';
import { durationMs, parseDuration } from '../../actors/duration.ts';
import type { Tier } from '../../actors/priority.ts';
import type { RetryPolicy } from '../../actors/retry-policy.ts';
import type { ActionCommand, ActionConfig, ActionMode, ActionsFile } from '../../schemas/actions.ts';
import { encodeJson, decodeText } from '../codec.ts';
import { ActionError, errorMessage } from '../errors.ts';
import { FREE_JSON_LIMITS, jsonLimitProblem } from '../json-limits.ts';
import type { Names } from '../subjects.ts';

export interface ActionInvocation {
  action: string;
  params: Record<string, unknown>;
  /** Idempotency key (execution, step, visit). Handlers with side effects must dedupe on it. */
  key: string;
  attempt: number;
  executionId: string;
  supplierId: string;
  clientId: string;
  journeyId: string;
  stepId: string;
  /** Priority tier of the execution when the action runs. */
  tier: Tier;
  weddingDate?: string;
  timeZone: string;
  data: Record<string, unknown>;
  /** The couple's personal data, when the start command carried it. */
  client?: { name?: string; email?: string; phone?: string } | null;
  signal: AbortSignal;
}

/** Returns an optional result (stored in execution data under the step id) or throws (an `ActionError` to choose retry). */
export type ActionHandler = (inv: ActionInvocation) => Promise<Record<string, unknown> | void>;

/** How one attempt went: done (with the result's data), or sent and awaiting the service's result until `deadline`. */
export type Attempted = { kind: 'done'; data?: Record<string, unknown> } | { kind: 'sent'; deadline: number };

/** One action's configuration with the defaults applied. */
export interface ResolvedAction {
  mode: ActionMode | 'in-process';
  subject?: string;
  timeoutMs: number;
  retry?: Partial<Pick<RetryPolicy, 'attempts' | 'baseMs' | 'factor'>>;
  concurrency?: number;
  breaker: BreakerSettings | false;
}

export interface ActionRegistryOptions {
  nc: NatsConnection;
  js: JetStreamClient;
  names: Names;
  handlers?: Record<string, ActionHandler>;
  config?: ActionsFile;
  /** An action's circuit breaker changed state in this process. */
  onBreaker?: (e: { action: string; at: number } & BreakerChange) => void;
}

const DEFAULT_TIMEOUT_MS = 30_000;

export class ActionRegistry {
  readonly #o: ActionRegistryOptions;
  readonly #handlers: Map<string, ActionHandler>;
  readonly #resolved = new Map<string, ResolvedAction>();
  readonly #breakers = new Map<string, CircuitBreaker>();
  readonly #running = new Map<string, { active: number; waiting: (() => void)[] }>();

  constructor(opts: ActionRegistryOptions) {
    this.#o = opts;
    this.#handlers = new Map(Object.entries(opts.handlers ?? {}));
  }

  /** Registers (or replaces) an in-process handler. */
  register(name: string, handler: ActionHandler): void {
    this.#handlers.set(name, handler);
    this.#resolved.delete(name);
  }

  /** The action's configuration with defaults applied (cached: the file does not change while the process runs). */
  settings(action: string): ResolvedAction {
    let r = this.#resolved.get(action);
    if (!r) {
      r = resolve(this.#o.config, action, this.#handlers.has(action));
      this.#resolved.set(action, r);
    }
    return r;
  }

  /** Asks the action's circuit breaker whether an attempt may go now. */
  admit(action: string, now: number): Admission {
    const breaker = this.#breaker(action);
    if (!breaker) return { pass: true, probe: false };
    const { admission, change } = breaker.admit(now);
    if (change) this.#o.onBreaker?.({ action, at: now, ...change });
    return admission;
  }

  /** Until when attempts of the action are held (now when its circuit lets them through). */
  holdUntil(action: string, now: number): number {
    return this.#breaker(action)?.holdUntil(now) ?? now;
  }

  /** Feeds an attempt's outcome to the action's circuit breaker. */
  recordOutcome(action: string, now: number, failed: boolean, probe: boolean): void {
    const change = this.#breaker(action)?.record(now, failed, probe);
    if (change) this.#o.onBreaker?.({ action, at: now, ...change });
  }

  /**
   * Makes one attempt. `timeoutMs` (the step's own) wins over the action's. Throws an {@link ActionError} when the
   * attempt failed; an outbound attempt returns `sent`, and its outcome arrives later as a result.
   */
  async attempt(inv: Omit<ActionInvocation, 'signal'>, now: number, timeoutMs?: number): Promise<Attempted> {
    const s = this.settings(inv.action);
    const ms = timeoutMs ?? s.timeoutMs;
    await this.#acquire(inv.action, s.concurrency);
    try {
      switch (s.mode) {
        case 'in-process':
          return { kind: 'done', ...dataOf(inv.action, await withTimeout(inv.action, ms, (signal) => this.#handlers.get(inv.action)!({ ...inv, signal }))) };
        case 'request':
          return { kind: 'done', ...(await this.#request(inv, s.subject!, ms)) };
        case 'fire-and-forget':
          // Stored once per key: a retried step never sends twice (R12).
          await this.#publish(inv, inv.key, {});
          return { kind: 'done' };
        case 'outbound': {
          const deadline = now + ms;
          await this.#publish(inv, `${inv.key}:${inv.attempt}`, { deadline, resultSubject: this.#o.names.result(inv.action) });
          return { kind: 'sent', deadline };
        }
      }
    } finally {
      this.#release(inv.action);
    }
  }

  #breaker(action: string): CircuitBreaker | undefined {
    const s = this.settings(action);
    if (s.breaker === false) return undefined;
    let b = this.#breakers.get(action);
    if (!b) {
      b = new CircuitBreaker(s.breaker, s.timeoutMs);
      this.#breakers.set(action, b);
    }
    return b;
  }

  async #publish(inv: Omit<ActionInvocation, 'signal'>, msgId: string, extra: Pick<ActionCommand, 'deadline' | 'resultSubject'>): Promise<void> {
    await this.#o.js.publish(this.#o.names.action(inv.action), commandBody(inv, extra), { headers: commandHeaders(inv, msgId) });
  }

  async #request(inv: Omit<ActionInvocation, 'signal'>, subject: string, ms: number): Promise<{ data?: Record<string, unknown> }> {
    let reply;
    try {
      reply = await this.#o.nc.request(subject, commandBody(inv, {}), { timeout: ms, headers: commandHeaders(inv, inv.key) });
    } catch (err) {
      const timedOut = /timeout/i.test(errorMessage(err));
      throw new ActionError(`action ${inv.action}: ${timedOut ? `no reply within ${ms} ms` : errorMessage(err)}`, timedOut ? { code: 'ACTION_TIMEOUT' } : {});
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(decodeText(reply.data));
    } catch (err) {
      throw new ActionError(`action ${inv.action}: reply is not JSON: ${errorMessage(err)}`);
    }
    return resultOf(inv.action, parsed);
  }

  async #acquire(action: string, limit: number | undefined): Promise<void> {
    if (!limit) return;
    let r = this.#running.get(action);
    if (!r) this.#running.set(action, (r = { active: 0, waiting: [] }));
    if (r.active >= limit) await new Promise<void>((resolve) => r.waiting.push(resolve));
    r.active++;
  }

  #release(action: string): void {
    const r = this.#running.get(action);
    if (!r) return;
    r.active--;
    r.waiting.shift()?.();
  }
}

/**
 * What a service's reply or result says about an attempt: its data, or an {@link ActionError} carrying the service's
 * code and message and whether a retry may help. The shape is checked: a service that answers nonsense fails the attempt.
 */
export function resultOf(action: string, value: unknown): { data?: Record<string, unknown> } {
  const v = value as { ok?: unknown; data?: unknown; error?: { code?: unknown; message?: unknown }; retryable?: unknown } | null;
  if (typeof v !== 'object' || v === null || typeof v.ok !== 'boolean') {
    throw new ActionError(`action ${action}: the reply is not a result (needs "ok": true or false)`);
  }
  if (v.ok) return dataOf(action, v.data);
  const code = typeof v.error?.code === 'string' ? v.error.code : 'FAILED';
  const message = typeof v.error?.message === 'string' ? v.error.message : 'failed';
  throw new ActionError(`action ${action} failed: ${code}: ${message}`, { retryable: v.retryable !== false });
}

function dataOf(action: string, data: unknown): { data?: Record<string, unknown> } {
  if (data === undefined || data === null) return {};
  if (typeof data !== 'object' || Array.isArray(data)) throw new ActionError(`action ${action}: result data must be an object`, { retryable: false });
  const problem = jsonLimitProblem(data, FREE_JSON_LIMITS, 'data');
  if (problem) throw new ActionError(`action ${action}: result ${problem}`, { retryable: false });
  return { data: data as Record<string, unknown> };
}

async function withTimeout<T>(action: string, ms: number, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ac = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      ac.abort();
      reject(new ActionError(`action ${action} timed out after ${ms} ms`, { code: 'ACTION_TIMEOUT' }));
    }, ms);
  });
  try {
    return await Promise.race([run(ac.signal), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function commandHeaders(inv: Omit<ActionInvocation, 'signal'>, msgId: string) {
  const h = headers();
  h.set('Nats-Msg-Id', msgId);
  h.set('Jrn-Idempotency-Key', inv.key);
  h.set('Jrn-Execution', inv.executionId);
  return h;
}

function commandBody(inv: Omit<ActionInvocation, 'signal'>, extra: Pick<ActionCommand, 'deadline' | 'resultSubject'>): Uint8Array {
  const cmd: ActionCommand = {
    action: inv.action,
    params: inv.params,
    key: inv.key,
    attempt: inv.attempt,
    executionId: inv.executionId,
    supplierId: inv.supplierId,
    clientId: inv.clientId,
    journeyId: inv.journeyId,
    stepId: inv.stepId,
    tier: inv.tier,
    ...(inv.weddingDate ? { weddingDate: inv.weddingDate } : {}),
    timeZone: inv.timeZone,
    ...(inv.client ? { client: inv.client } : {}),
    ...extra,
  };
  return encodeJson(cmd);
}

/** An action's settings: its entry over the file's defaults over the built-in defaults; a handler makes it in-process. */
export function resolve(file: ActionsFile | undefined, action: string, inProcess: boolean): ResolvedAction {
  const own = Object.prototype.hasOwnProperty.call(file?.actions ?? {}, action) ? file!.actions![action] : undefined;
  const c: Partial<ActionConfig> = { ...file?.defaults, ...own };
  const ms = (iso: string | undefined): number | undefined => {
    const d = iso ? parseDuration(iso) : undefined;
    return d ? durationMs(d) : undefined;
  };
  const retry = c.retry
    ? {
        ...(c.retry.attempts !== undefined ? { attempts: c.retry.attempts } : {}),
        ...(c.retry.backoff ? { baseMs: ms(c.retry.backoff)! } : {}),
        ...(c.retry.factor !== undefined ? { factor: c.retry.factor } : {}),
      }
    : undefined;
  // Off for in-process handlers (code in this process, not a service that can be down) and fire-and-forget (only
  // JetStream can fail it); on, with the defaults, for every service reached over NATS.
  const b = inProcess || c.mode === 'fire-and-forget' ? false : c.breaker;
  return {
    mode: inProcess ? 'in-process' : (c.mode ?? 'outbound'),
    ...(c.subject ? { subject: c.subject } : {}),
    timeoutMs: ms(c.timeout) ?? DEFAULT_TIMEOUT_MS,
    ...(retry ? { retry } : {}),
    ...(c.concurrency ? { concurrency: c.concurrency } : {}),
    breaker:
      b === false
        ? false
        : {
            failureRate: b?.failureRate ?? DEFAULT_BREAKER.failureRate,
            window: b?.window ?? DEFAULT_BREAKER.window,
            minCalls: b?.minCalls ?? DEFAULT_BREAKER.minCalls,
            withinMs: ms(b?.within) ?? DEFAULT_BREAKER.withinMs,
            coolOffMs: ms(b?.coolOff) ?? DEFAULT_BREAKER.coolOffMs,
          },
  };
}

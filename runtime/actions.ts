/**
 * Action handler registry (R13). An action runs in-process when a handler is registered for its name, by request/reply
 * when a remote subject is configured, and otherwise as an outbound command on `<prefix>.actions.<name>` for an
 * integration service to consume. Every invocation carries its idempotency key; outbound commands use it as
 * `Nats-Msg-Id`, so a step re-run after a crash never sends twice (R12).
 */
import type { JetStreamClient } from '@nats-io/jetstream';
import { headers, type NatsConnection } from '@nats-io/transport-node';
import { ActionError, errorMessage } from './errors.ts';
import { encodeJson, decodeText } from './codec.ts';
import type { Names } from './subjects.ts';
import type { Tier } from '../actors/priority.ts';

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

export interface RemoteAction {
  /** Subject answered by the service: JSON `{ ok: true, result? }` or `{ ok: false, error, retryable? }`. */
  subject: string;
}

export interface ActionRegistryOptions {
  nc: NatsConnection;
  js: JetStreamClient;
  names: Names;
  handlers?: Record<string, ActionHandler>;
  remote?: Record<string, RemoteAction>;
  /** @default 30000 */
  defaultTimeoutMs?: number;
}

export class ActionRegistry {
  readonly #o: ActionRegistryOptions;
  readonly #handlers: Map<string, ActionHandler>;

  constructor(opts: ActionRegistryOptions) {
    this.#o = opts;
    this.#handlers = new Map(Object.entries(opts.handlers ?? {}));
  }

  /** Registers (or replaces) an in-process handler. */
  register(name: string, handler: ActionHandler): void {
    this.#handlers.set(name, handler);
  }

  async invoke(inv: Omit<ActionInvocation, 'signal'>, timeoutMs?: number): Promise<Record<string, unknown> | undefined> {
    const ms = timeoutMs ?? this.#o.defaultTimeoutMs ?? 30_000;
    const ac = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        ac.abort();
        reject(new ActionError(`action ${inv.action} timed out after ${ms} ms`, { code: 'ACTION_TIMEOUT' }));
      }, ms);
    });
    try {
      return (await Promise.race([this.#run({ ...inv, signal: ac.signal }, ms), timeout])) ?? undefined;
    } finally {
      clearTimeout(timer);
    }
  }

  async #run(inv: ActionInvocation, timeoutMs: number): Promise<Record<string, unknown> | void> {
    const local = this.#handlers.get(inv.action);
    if (local) return await local(inv);
    const h = headers();
    h.set('Nats-Msg-Id', inv.key);
    h.set('Jrn-Idempotency-Key', inv.key);
    h.set('Jrn-Execution', inv.executionId);
    const body = encodeJson({
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
      weddingDate: inv.weddingDate,
      timeZone: inv.timeZone,
      client: inv.client ?? undefined,
    });
    const remote = this.#o.remote?.[inv.action];
    if (remote) {
      const reply = await this.#o.nc.request(remote.subject, body, { timeout: timeoutMs, headers: h });
      let parsed: { ok?: boolean; result?: Record<string, unknown>; error?: string; retryable?: boolean };
      try {
        parsed = JSON.parse(decodeText(reply.data)) as typeof parsed;
      } catch (err) {
        throw new ActionError(`action ${inv.action}: reply is not JSON: ${errorMessage(err)}`);
      }
      if (parsed.ok) return parsed.result;
      throw new ActionError(`action ${inv.action}: ${parsed.error ?? 'failed'}`, { retryable: parsed.retryable ?? true });
    }
    // Outbound command: accepted once JetStream stores it; duplicates with the same key are dropped by the stream.
    await this.#o.js.publish(this.#o.names.action(inv.action), body, { headers: h });
  }
}

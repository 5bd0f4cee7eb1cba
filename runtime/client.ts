/**
 * A client of a running journey runtime, for services, the CLI and the test kit: files starts straight into their tier's
 * work (`publishStart`), sends commands as requests on `<prefix>.api.<verb>` (answered by any runtime instance) and
 * reads executions, definitions and dead letters directly.
 */
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { AckedPublisher } from './engine/acked-publisher.ts';
import { tierAt } from '../actors/priority.ts';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import type { ControlCommand, EventCommand, StartCommand } from '../schemas/commands.ts';
import { decodeText, encodeJson } from './codec.ts';
import { DefinitionRegistry } from './definitions.ts';
import { DeadLetters } from './engine/dlq.ts';
import { RejectedError, RuntimeError, type ErrorCode } from './errors.ts';
import { decodeRecord, executionIdOf, type ExecutionRecord } from './engine/execution-record.ts';
import { checkStart } from './inbound.ts';
import { names, type CommandVerb, type Names } from './subjects.ts';

/** Changes an operator asks the runtime for (`<p>.admin.<action>`). */
export type AdminAction = 'dlq.replay' | 'dlq.discard' | 'definitions.deploy';

export interface ExecutionStatus {
  executionId: string;
  supplierId: string;
  clientId: string;
  journeyId: string;
  version: number;
  /** Current step, or the final state (`completed` is any `end` step; `exited`, `cancelled`). */
  state: string;
  status: 'active' | 'paused' | 'failed' | 'done';
  weddingDate?: string;
  timeZone: string;
  waitingFor?: string;
  dueAt?: string;
  failure?: { stepId: string; error: string; attempts: number };
  history: { step: string; at: string; note?: string }[];
  updatedAt: string;
}

export class JourneyClient {
  readonly names: Names;
  readonly #nc: NatsConnection;
  #kv: KV | undefined;
  #defs: DefinitionRegistry | undefined;
  #jsm: JetStreamManager | undefined;
  #publisher: AckedPublisher | undefined;

  constructor(nc: NatsConnection, prefix = 'jrn') {
    this.#nc = nc;
    this.names = names(prefix);
  }

  async start(cmd: StartCommand, timeoutMs = 5_000): Promise<string> {
    return (await this.#request('start', cmd, timeoutMs))[0]!;
  }
  async event(cmd: EventCommand, timeoutMs = 5_000): Promise<void> {
    await this.#request('event', cmd, timeoutMs);
  }
  async control(verb: 'cancel' | 'pause' | 'resume', cmd: ControlCommand, timeoutMs = 5_000): Promise<string[]> {
    return await this.#request(verb, cmd, timeoutMs);
  }

  /**
   * Files a start straight into its tier's work stream (the start intake, runtime/engine/intake.ts): no runtime hop and no
   * reply, and it never waits behind other commands. Checked here as a runtime checks it (a bad one throws
   * `RejectedError` and is not sent); resolves with the execution id once JetStream has stored it. What a runtime still
   * refuses (an undeployed journey, a payload over its limit) is recorded on `<prefix>.rejects.start`. Idempotent: the
   * same start again within the dedup window is stored once, and later it finds its execution already there.
   */
  async publishStart(cmd: StartCommand): Promise<string> {
    return (await this.publishStarts([cmd]))[0]!;
  }

  /** Many starts as one batch: all checked first (none is sent if one is bad), then published together and acknowledged together. */
  async publishStarts(cmds: readonly StartCommand[]): Promise<string[]> {
    const now = Date.now();
    // The tier is the client's best guess (the definition's zone is the runtime's to know): a runtime moves a start
    // filed under another tier to its own.
    const filed = cmds.map((cmd) => {
      const body = checkStart(cmd);
      const data = encodeJson(body);
      const executionId = executionIdOf(body);
      return { executionId, data, subject: this.names.intake(tierAt(now, body.weddingDate, body.timeZone ?? 'UTC').tier, body.supplierId, executionId) };
    });
    const publisher = (this.#publisher ??= new AckedPublisher(this.#nc));
    await Promise.all(filed.map((f) => publisher.publish(f.subject, f.data, { msgId: `start:${f.executionId}` })));
    return filed.map((f) => f.executionId);
  }

  async #request(verb: CommandVerb, body: unknown, timeoutMs: number): Promise<string[]> {
    let reply;
    try {
      reply = await this.#nc.request(this.names.api(verb), encodeJson(body), { timeout: timeoutMs });
    } catch (err) {
      throw new RuntimeError('TIMEOUT', `no runtime answered on ${this.names.api(verb)} (is one running?)`, { cause: err, retryable: true });
    }
    const r = JSON.parse(decodeText(reply.data)) as { ok: boolean; executionIds?: string[]; error?: { code: ErrorCode; message: string } };
    if (!r.ok) throw new RejectedError(r.error?.code ?? 'BAD_COMMAND', r.error?.message ?? 'rejected');
    return r.executionIds ?? [];
  }

  /**
   * An admin request (`<p>.admin.<action>`): the runtime validates it, does it and records it in the audit stream with
   * `by`. Resolves to the reply's `result`; a refusal throws a {@link RejectedError} with the runtime's code and message.
   */
  async admin<T>(action: AdminAction, body: Record<string, unknown>, timeoutMs = 10_000): Promise<T> {
    const subject = `${this.names.prefix}.admin.${action}`;
    let reply;
    try {
      reply = await this.#nc.request(subject, encodeJson(body), { timeout: timeoutMs });
    } catch (err) {
      throw new RuntimeError('TIMEOUT', `no runtime answered on ${subject} (is one running?)`, { cause: err, retryable: true });
    }
    const r = JSON.parse(decodeText(reply.data)) as { ok: boolean; result?: T; error?: { code: ErrorCode; message: string } };
    if (!r.ok) throw new RejectedError(r.error?.code ?? 'INTERNAL', r.error?.message ?? `${action} refused`);
    return r.result as T;
  }

  async executions(): Promise<KV> {
    this.#kv ??= await new Kvm(this.#nc).open(this.names.buckets.executions);
    return this.#kv;
  }

  async definitions(): Promise<DefinitionRegistry> {
    this.#defs ??= new DefinitionRegistry(await new Kvm(this.#nc).open(this.names.buckets.definitions));
    return this.#defs;
  }

  async dlq(): Promise<DeadLetters> {
    this.#jsm ??= await jetstreamManager(this.#nc);
    return new DeadLetters(jetstream(this.#nc), this.#jsm, this.names);
  }

  async record(executionId: string): Promise<ExecutionRecord | undefined> {
    const e = await (await this.executions()).get(executionId);
    return e && e.value.length > 0 ? decodeRecord(e.value) : undefined;
  }

  async status(executionId: string): Promise<ExecutionStatus> {
    const r = await this.record(executionId);
    if (!r) throw new RuntimeError('UNKNOWN_EXECUTION', `no execution ${executionId}`);
    return statusOf(executionId, r);
  }

  /** Executions, optionally of one supplier (a scan: for operators, not hot paths). */
  async list(filter: { supplierId?: string; status?: ExecutionStatus['status'] } = {}, limit = 1_000): Promise<ExecutionStatus[]> {
    const kv = await this.executions();
    const out: ExecutionStatus[] = [];
    for await (const key of await kv.keys()) {
      const r = await this.record(key);
      if (!r) continue;
      const s = statusOf(key, r);
      if (filter.supplierId && s.supplierId !== filter.supplierId) continue;
      if (filter.status && s.status !== filter.status) continue;
      out.push(s);
      if (out.length >= limit) break;
    }
    return out;
  }
}

export function statusOf(executionId: string, r: ExecutionRecord): ExecutionStatus {
  const c = r.snap.context;
  const p = c.pending;
  const state = typeof r.snap.value === 'string' ? r.snap.value : JSON.stringify(r.snap.value);
  const timer = p && (p.kind === 'timer' || p.kind === 'event') ? p.timer : undefined;
  return {
    executionId,
    supplierId: c.supplierId,
    clientId: c.clientId,
    journeyId: c.journeyId,
    version: c.version,
    state: r.status === 'done' && state !== 'exited' && state !== 'cancelled' ? 'completed' : state,
    status: r.status === 'done' ? 'done' : c.failure ? 'failed' : c.paused ? 'paused' : 'active',
    ...(c.weddingDate ? { weddingDate: c.weddingDate } : {}),
    timeZone: c.timeZone,
    ...(p ? { waitingFor: p.kind === 'event' ? `event ${p.event}` : p.kind === 'timer' ? `timer (${p.timer.purpose})` : p.kind } : {}),
    ...(timer && Number.isFinite(timer.dueAt) ? { dueAt: new Date(timer.dueAt).toISOString() } : {}),
    ...(c.failure ? { failure: { stepId: c.failure.stepId, error: c.failure.error, attempts: c.failure.attempts } } : {}),
    history: c.history.map((h) => ({ step: h.step, at: new Date(h.at).toISOString(), ...(h.note ? { note: h.note } : {}) })),
    updatedAt: new Date(r.updatedAt).toISOString(),
  };
}

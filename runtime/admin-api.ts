/**
 * Admin requests on `<prefix>.admin.<action>`, so operators can do with the plain `nats` CLI what the `journeys` CLI does
 * (R26): read an execution's status, replay or discard a dead letter, deploy a definition. Every change is recorded in the
 * audit stream with who asked (the `by` field, else the `Jrn-User` header, else "unknown") (R34). Requests are validated
 * like commands (R30, `schemas/admin.ts`): a refused one is answered with its code and recorded in `<prefix>.rejects.admin`.
 */
import type { Msg, Subscription } from '@nats-io/transport-node';
import { tierAt } from '../actors/priority.ts';
import type { ExecutionStatusResult, ExecutionWait } from '../schemas/admin.ts';
import { DefinitionInvalidError } from '../schemas/validate.ts';
import { decodeText, encodeJson } from './codec.ts';
import type { DefinitionRegistry } from './definitions.ts';
import type { DeadLetters } from './engine/dlq.ts';
import { RejectedError, RuntimeError, errorMessage } from './errors.ts';
import type { RuntimeParts } from './parts.ts';
import { statusOf } from './client.ts';
import { decodeRecord, type ExecutionRecord } from './engine/execution-record.ts';
import { parseAdmin, type AdminRequest } from './inbound.ts';

export interface AdminApiOptions {
  runtime: RuntimeParts;
  dlq: DeadLetters;
  definitions: DefinitionRegistry;
  now(): number;
  /** A failure of the runtime (not of the request): logged as a runtime error. */
  onError(err: unknown): void;
  /** A refused request (already answered and recorded in the rejects stream), by its code. */
  onReject?(code: string): void;
}

export class AdminApi {
  readonly #o: AdminApiOptions;
  #sub: Subscription | undefined;

  constructor(opts: AdminApiOptions) {
    this.#o = opts;
  }

  start(): void {
    const p = this.#o.runtime.names.prefix;
    this.#sub = this.#o.runtime.nc.subscribe(`${p}.admin.>`, {
      queue: `${p}-admin`,
      callback: (_err, msg) => void this.#answer(msg),
    });
  }

  stop(): void {
    this.#sub?.unsubscribe();
  }

  async #answer(msg: Msg): Promise<void> {
    const rt = this.#o.runtime;
    const action = msg.subject.slice(`${rt.names.prefix}.admin.`.length);
    try {
      const req = parseAdmin(action, msg.data);
      const by = ('by' in req ? req.by : undefined) ?? (msg.headers?.get('Jrn-User') || 'unknown');
      const { target, result } = await this.#handle(req, by);
      // Reads are not audited; dead-letter actions audit themselves (whoever calls them: CLI, dashboard, here).
      if (req.action === 'definitions.deploy') await rt.js.publish(`${rt.names.prefix}.audit.${action}`, encodeJson({ action, by, target, at: this.#o.now() }));
      msg.respond(encodeJson({ ok: true, result }));
    } catch (caught) {
      const err = caught instanceof DefinitionInvalidError ? new RejectedError('DEFINITION_INVALID', caught.message, { cause: caught }) : caught;
      if (err instanceof RejectedError) {
        // The asker's mistake (a bad request, a missing entry): answered and recorded, never logged as a runtime error.
        msg.respond(encodeJson({ ok: false, error: { code: err.code, message: err.message } }));
        this.#reject(msg, err);
        return;
      }
      this.#o.onError(err);
      // Our own errors carry a code and a message written for operators; anything else stays in the log.
      const error = err instanceof RuntimeError ? { code: err.code, message: errorMessage(err) } : { code: 'INTERNAL', message: `${action} failed; see the runtime log` };
      msg.respond(encodeJson({ ok: false, error }));
    }
  }

  async #handle(req: AdminRequest, by: string): Promise<{ target: string; result: unknown }> {
    switch (req.action) {
      case 'dlq.replay': {
        const e = await this.#o.dlq.replay(req.seq, by);
        return { target: e.executionId, result: { replayed: e.seq, executionId: e.executionId, stepId: e.stepId, journeyId: e.journeyId } };
      }
      case 'dlq.discard': {
        const e = await this.#o.dlq.discard(req.seq, by);
        return { target: e.executionId, result: { discarded: e.seq, executionId: e.executionId, stepId: e.stepId, journeyId: e.journeyId } };
      }
      case 'executions.status': {
        const id = req.executionId;
        const e = await this.#o.runtime.topology.executions.get(id);
        if (!e || e.value.length === 0) throw new RejectedError('UNKNOWN_EXECUTION', `no execution ${id}`);
        return { target: id, result: executionStatusResult(id, decodeRecord(e.value), this.#o.now()) };
      }
      case 'definitions.deploy': {
        const r = await this.#o.definitions.deploy(req.definition);
        return { target: `${r.id}.v${r.version}`, result: r };
      }
    }
  }

  /** Recorded like every other refused input (R30). */
  #reject(msg: Msg, err: RejectedError): void {
    const rt = this.#o.runtime;
    this.#o.onReject?.(err.code);
    const record = { code: err.code, reason: err.message, subject: msg.subject, bytes: msg.data.byteLength, sample: decodeText(msg.data.subarray(0, 1024)), at: this.#o.now() };
    rt.js.publish(rt.names.rejects('admin'), encodeJson(record)).catch((e: unknown) => this.#o.onError(e));
  }
}

/**
 * The `executions.status` result (`schemas/admin.ts` ExecutionStatusResultSchema): {@link statusOf} plus the tier at
 * `nowMs` and what the execution waits for. Shared with `journeys status`, so the CLI prints what the admin request answers.
 */
export function executionStatusResult(executionId: string, r: ExecutionRecord, nowMs: number): ExecutionStatusResult {
  const c = r.snap.context;
  return { ...statusOf(executionId, r), tier: tierAt(nowMs, c.weddingDate, c.timeZone).tier, waiting: waitOf(r) };
}

const iso = (ms: number): { dueAt?: string } => (Number.isFinite(ms) ? { dueAt: new Date(ms).toISOString() } : {});

/** What a stored record waits for; a retry counts only while it belongs to the pending action (a stale one is dropped on the next run). */
function waitOf(r: ExecutionRecord): ExecutionWait | null {
  const p = r.snap.context.pending;
  if (r.status === 'done' || !p) return null;
  switch (p.kind) {
    case 'timer':
      return { kind: 'timer', stepId: p.stepId, ...iso(p.timer.dueAt) };
    case 'event':
      return { kind: 'event', stepId: p.stepId, event: p.event, ...iso(p.timer.dueAt) };
    case 'approval':
      return { kind: 'approval', stepId: p.stepId };
    case 'action':
      if (r.awaiting?.key === p.key) {
        const a = r.awaiting;
        return { kind: 'result', stepId: p.stepId, action: p.action, attempt: a.attempt, ...iso(a.deadline) };
      }
      return r.retry?.key === p.key && !r.snap.context.failure
        ? { kind: 'retry', stepId: p.stepId, action: p.action, ...iso(r.retry.dueAt) }
        : { kind: 'action', stepId: p.stepId, action: p.action };
  }
}

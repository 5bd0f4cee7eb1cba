/**
 * Admin requests on `<prefix>.admin.<action>`, so operators can do with the plain `nats` CLI what the `journeys` CLI does
 * (R26): read an execution's status, replay or discard a dead letter, deploy a definition. Every change is recorded in the
 * audit stream with who asked (the `by` field, else the `Jrn-User` header, else "unknown") (R34).
 */
import type { Msg, Subscription } from '@nats-io/transport-node';
import { decodeText, encodeJson } from './codec.ts';
import type { DefinitionRegistry } from './definitions.ts';
import type { DeadLetters } from './dlq.ts';
import { RejectedError, errorMessage } from './errors.ts';
import type { RuntimeParts } from './runtime.ts';
import { statusOf } from './client.ts';
import { decodeRecord } from './execution-record.ts';

export interface AdminApiOptions {
  runtime: RuntimeParts;
  dlq: DeadLetters;
  definitions: DefinitionRegistry;
  now(): number;
  onError(err: unknown): void;
}

type Handler = (body: Record<string, unknown>) => Promise<{ target: string; result: unknown }>;

export class AdminApi {
  readonly #o: AdminApiOptions;
  #sub: Subscription | undefined;

  constructor(opts: AdminApiOptions) {
    this.#o = opts;
  }

  start(): void {
    const p = this.#o.runtime.names.prefix;
    const handlers: Record<string, Handler> = {
      'dlq.replay': async (b) => {
        const e = await this.#o.dlq.replay(seqOf(b), byOf(b));
        return { target: e.executionId, result: { replayed: e.seq, executionId: e.executionId, stepId: e.stepId } };
      },
      'dlq.discard': async (b) => {
        const e = await this.#o.dlq.discard(seqOf(b), byOf(b));
        return { target: e.executionId, result: { discarded: e.seq, executionId: e.executionId } };
      },
      'executions.status': async (b) => {
        const id = b['executionId'];
        if (typeof id !== 'string') throw new RejectedError('BAD_COMMAND', '"executionId" must be a string');
        const e = await this.#o.runtime.topology.executions.get(id);
        if (!e || e.value.length === 0) throw new RejectedError('UNKNOWN_EXECUTION', `no execution ${id}`);
        return { target: id, result: statusOf(id, decodeRecord(e.value)) };
      },
      'definitions.deploy': async (b) => {
        const r = await this.#o.definitions.deploy(b['definition'] ?? b);
        return { target: `${r.id}.v${r.version}`, result: r };
      },
    };
    this.#sub = this.#o.runtime.nc.subscribe(`${p}.admin.>`, {
      queue: `${p}-admin`,
      callback: (_err, msg) => void this.#answer(msg, handlers),
    });
  }

  stop(): void {
    this.#sub?.unsubscribe();
  }

  async #answer(msg: Msg, handlers: Record<string, Handler>): Promise<void> {
    const rt = this.#o.runtime;
    const action = msg.subject.slice(`${rt.names.prefix}.admin.`.length);
    try {
      const handler = handlers[action];
      if (!handler) throw new RejectedError('BAD_COMMAND', `unknown admin action "${action}"`);
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(decodeText(msg.data)) as Record<string, unknown>;
      } catch {
        throw new RejectedError('BAD_JSON', 'payload is not JSON');
      }
      if (typeof body !== 'object' || body === null) throw new RejectedError('BAD_COMMAND', 'payload must be a JSON object');
      const by = typeof body['by'] === 'string' ? body['by'] : msg.headers?.get('Jrn-User') || 'unknown';
      const { target, result } = await handler(body);
      // Reads are not audited; dead-letter actions audit themselves (whoever calls them: CLI, dashboard, here).
      if (!action.endsWith('.status') && !action.startsWith('dlq.')) await rt.js.publish(`${rt.names.prefix}.audit.${action}`, encodeJson({ action, by, target, at: this.#o.now() }));
      msg.respond(encodeJson({ ok: true, result }));
    } catch (err) {
      if (!(err instanceof RejectedError)) this.#o.onError(err);
      const code = err instanceof Error && 'code' in err ? String((err as { code: unknown }).code) : 'INTERNAL';
      msg.respond(encodeJson({ ok: false, error: { code, message: errorMessage(err) } }));
    }
  }
}

function byOf(body: Record<string, unknown>): string {
  return typeof body['by'] === 'string' ? body['by'] : 'unknown';
}

function seqOf(body: Record<string, unknown>): number {
  const seq = body['seq'];
  if (typeof seq !== 'number' || !Number.isInteger(seq) || seq < 1) throw new RejectedError('BAD_COMMAND', '"seq" must be a positive integer');
  return seq;
}

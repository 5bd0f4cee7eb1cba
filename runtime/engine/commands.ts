/**
 * Inbound commands (R6, R14, R15, R30). Services publish JSON to `<prefix>.cmd.<verb>` (stored by JetStream, so nothing is
 * lost while no runtime runs) or send a request to `<prefix>.api.<verb>` (validated at once, answered with the execution id
 * or the reason for refusal, once routed). Either way the command is validated, routed to the execution's work subject in its current
 * priority tier, and a bad one is recorded in the rejects stream with its reason; nothing stalls on bad input.
 */
import type { ConsumerMessages, JetStreamClient, JsMsg } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { headers, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { tierAt } from '../../actors/priority.ts';
import type { Clock } from '../clock.ts';
import { encode, encodeJson } from '../codec.ts';
import type { DefinitionRegistry } from '../definitions.ts';
import { RejectedError, RuntimeError, errorMessage } from '../errors.ts';
import { dataTooLarge, decodeRecord, executionIdOf } from './execution-record.ts';
import { parseCommand, type Command } from '../inbound.ts';
import { COMMAND_VERBS, type Names } from '../subjects.ts';
import { jsonRejectRecord, type Work } from './work.ts';
import { startTier, startWork, unknownJourney } from './intake.ts';

export interface CommandRouterOptions {
  nc: NatsConnection;
  js: JetStreamClient;
  names: Names;
  executions: KV;
  definitions: DefinitionRegistry;
  clock: Clock;
  maxPayloadBytes: number;
  /** Commands routed concurrently. @default 64 */
  concurrency?: number;
  onReject?(code: string): void;
  onError(err: unknown): void;
}

export interface Accepted {
  executionIds: string[];
}

export class CommandRouter {
  readonly #o: CommandRouterOptions;
  #messages: ConsumerMessages | undefined;
  #sub: Subscription | undefined;
  #inflight = 0;

  constructor(opts: CommandRouterOptions) {
    this.#o = opts;
  }

  async start(): Promise<void> {
    const consumer = await this.#o.js.consumers.get(this.#o.names.streams.cmd, this.#o.names.routerConsumer);
    this.#messages = await consumer.consume({ max_messages: this.#o.concurrency ?? 64 });
    void this.#consume(this.#messages).catch((err: unknown) => this.#o.onError(err));
    this.#sub = this.#o.nc.subscribe(`${this.#o.names.prefix}.api.*`, {
      queue: `${this.#o.names.prefix}-api`,
      callback: (err, msg) => {
        if (err) this.#o.onError(err);
        else void this.#answer(msg);
      },
    });
  }

  async stop(): Promise<void> {
    this.#sub?.unsubscribe();
    await this.#messages?.close();
    while (this.#inflight > 0) await new Promise((r) => setTimeout(r, 10));
  }

  async #consume(messages: ConsumerMessages): Promise<void> {
    const limit = this.#o.concurrency ?? 64;
    for await (const m of messages) {
      while (this.#inflight >= limit) await new Promise((r) => setTimeout(r, 1));
      this.#inflight++;
      void this.#fromStream(m).finally(() => this.#inflight--);
    }
  }

  async #fromStream(m: JsMsg): Promise<void> {
    const verb = m.subject.slice(m.subject.lastIndexOf('.') + 1);
    try {
      await this.route(parseCommand(verb, m.data, this.#o.maxPayloadBytes), m.headers?.get('Nats-Msg-Id') || undefined);
      m.ack();
    } catch (err) {
      if (err instanceof RejectedError) {
        await this.#reject(m.subject, m.data, err);
        m.ack();
      } else if (err instanceof RuntimeError && !err.retryable) {
        // Our failure, but one no redelivery can mend (a corrupt execution record): recorded, not redelivered until the
        // consumer gives up and leaves it in the stream unrecorded.
        this.#o.onError(err);
        await this.#reject(m.subject, m.data, err);
        m.ack();
      } else {
        this.#o.onError(err);
        m.nak(1_000);
      }
    }
  }

  /** Request/reply path: answers `{ ok: true, executionIds }` or `{ ok: false, error: { code, message } }`. */
  async #answer(msg: Msg): Promise<void> {
    const verb = msg.subject.slice(msg.subject.lastIndexOf('.') + 1);
    try {
      const cmd = parseCommand(verb, msg.data, this.#o.maxPayloadBytes);
      const { executionIds } = await this.route(cmd, msg.headers?.get('Nats-Msg-Id') || undefined);
      msg.respond(encodeJson({ ok: true, executionIds }));
    } catch (err) {
      if (err instanceof RejectedError) await this.#reject(msg.subject, msg.data, err);
      else this.#o.onError(err);
      // Our own errors carry a stable code and a message written for the caller; anything else stays in the log.
      const error = err instanceof RuntimeError ? { code: err.code, message: errorMessage(err) } : { code: 'INTERNAL', message: `${verb} failed; see the runtime log` };
      msg.respond(encodeJson({ ok: false, error }));
    }
  }

  /** Routes a valid command to work subjects. */
  async route(cmd: Command, msgId?: string): Promise<Accepted> {
    const now = this.#o.clock.now();
    if (cmd.verb === 'start') {
      const body = cmd.body;
      const def = await this.#o.definitions.get(body.journeyId, body.version);
      if (!def) throw new RejectedError('UNKNOWN_JOURNEY', unknownJourney(body.journeyId, body.version));
      const executionId = executionIdOf(body);
      const tier = startTier(now, body, def);
      await this.#publish(this.#o.names.work(tier, body.supplierId, executionId), startWork(body, def), `start:${executionId}`);
      return { executionIds: [executionId] };
    }
    const work: Work =
      cmd.verb === 'event'
        ? { k: 'event', name: cmd.body.name, ...(cmd.body.data ? { data: cmd.body.data } : {}) }
        : cmd.verb === 'cancel'
          ? { k: 'cancel', ...(cmd.body.reason ? { reason: cmd.body.reason } : {}) }
          : { k: cmd.verb };
    const targets = 'executionId' in cmd.body ? [cmd.body.executionId] : await this.#executionsOf(cmd.body.supplierId);
    for (const executionId of targets) {
      const e = await this.#o.executions.get(executionId);
      if (!e || e.value.length === 0) throw new RejectedError('UNKNOWN_EXECUTION', `no execution ${executionId}`);
      const ctx = decodeRecord(e.value).snap.context;
      const tooLarge = cmd.verb === 'event' ? dataTooLarge(ctx.data, cmd.body.data) : undefined;
      if (tooLarge) throw new RejectedError('DATA_TOO_LARGE', tooLarge);
      const { tier } = tierAt(now, ctx.weddingDate, ctx.timeZone);
      await this.#publish(this.#o.names.work(tier, ctx.supplierId, executionId), work, msgId ? `${msgId}:${executionId}` : undefined);
    }
    return { executionIds: targets };
  }

  /** Supplier-wide control scans the execution bucket: an admin operation, not a hot path. */
  async #executionsOf(supplierId: string): Promise<string[]> {
    const out: string[] = [];
    for await (const key of await this.#o.executions.keys()) {
      const e = await this.#o.executions.get(key);
      if (!e || e.value.length === 0) continue;
      const r = decodeRecord(e.value);
      if (r.status === 'active' && r.snap.context.supplierId === supplierId) out.push(key);
    }
    return out;
  }

  async #publish(subject: string, work: Work, msgId?: string): Promise<void> {
    const h = headers();
    if (msgId) h.set('Nats-Msg-Id', msgId);
    await this.#o.js.publish(subject, encode(work), { headers: h });
  }

  async #reject(subject: string, data: Uint8Array, err: RuntimeError): Promise<void> {
    this.#o.onReject?.(err.code);
    const record = jsonRejectRecord(err, subject, data, this.#o.clock.now());
    const verb = subject.slice(subject.lastIndexOf('.') + 1);
    const kind = (COMMAND_VERBS as readonly string[]).includes(verb) ? verb : 'unknown';
    await this.#o.js.publish(this.#o.names.rejects(kind), encodeJson(record)).catch((e: unknown) => this.#o.onError(e));
  }
}

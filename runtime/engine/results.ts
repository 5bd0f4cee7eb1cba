/**
 * Result intake: applies the results services publish for outbound actions (`<prefix>.results.<action>`, stream
 * `<PREFIX>_RESULTS`, one durable consumer shared by every instance). Each result is validated, matched by its key to
 * the execution awaiting it and applied there (the executor decides: next step, retry, dead letter). A result that is
 * malformed or matches no awaiting attempt is recorded on `<prefix>.rejects.result` and acked: never a crash, never a loop.
 */
import type { Consumer, ConsumerMessages, JetStreamClient, JsMsg } from '@nats-io/jetstream';
import { atMost } from '../at-most.ts';
import { encodeJson } from '../codec.ts';
import { RejectedError, errorMessage } from '../errors.ts';
import type { WorkOutcome } from './executor.ts';
import { parseResult } from '../inbound.ts';
import type { Names } from '../subjects.ts';
import type { Work } from './work.ts';

/** Deliveries of a result that arrived before its attempt was stored, before it is given up (and recorded). */
const MAX_EARLY_TRIES = 10;

export interface ResultIntakeOptions {
  js: JetStreamClient;
  names: Names;
  /** Applies one result to its execution (serialised per execution by the caller). */
  apply(executionId: string, work: Extract<Work, { k: 'result' }>): Promise<WorkOutcome>;
  /** Results applied at once in this process. @default 32 */
  concurrency?: number;
  /** In-progress signal period for results being applied (a third of the consumer's ack wait). */
  workingEveryMs: number;
  now(): number;
  /** A result refused (malformed) or ignored (matched no awaiting attempt), by code. */
  onRecord?(code: string): void;
  onError(err: unknown): void;
}

export class ResultIntake {
  readonly #o: ResultIntakeOptions;
  readonly #held = new Map<JsMsg, number>();
  #pull: ConsumerMessages | undefined;
  #loop: Promise<void> | undefined;
  #running = false;
  #room: (() => void) | undefined;
  #heartbeat: NodeJS.Timeout | undefined;

  constructor(opts: ResultIntakeOptions) {
    this.#o = opts;
  }

  async start(): Promise<void> {
    this.#running = true;
    const consumer = await this.#o.js.consumers.get(this.#o.names.streams.results, this.#o.names.resultsConsumer);
    this.#heartbeat = setInterval(() => this.#signalWorking(), Math.max(50, Math.floor(this.#o.workingEveryMs / 4)));
    this.#heartbeat.unref();
    this.#loop = this.#read(consumer);
  }

  async stop(): Promise<void> {
    this.#running = false;
    clearInterval(this.#heartbeat);
    this.#room?.();
    await this.#pull?.close();
    await atMost(this.#loop ?? Promise.resolve(), 2_000);
    while (this.#held.size > 0) await new Promise((r) => setTimeout(r, 10));
  }

  async #read(consumer: Consumer): Promise<void> {
    const limit = this.#o.concurrency ?? 32;
    while (this.#running) {
      try {
        while (this.#running && this.#held.size >= limit) await new Promise<void>((r) => (this.#room = r));
        if (!this.#running) return;
        this.#pull = await consumer.fetch({ max_messages: limit - this.#held.size, expires: 5_000 });
        for await (const msg of this.#pull) {
          this.#held.set(msg, Date.now());
          void this.#handle(msg).finally(() => {
            this.#held.delete(msg);
            this.#room?.();
          });
          if (!this.#running) break;
        }
      } catch (err) {
        if (!this.#running) return;
        this.#o.onError(err);
        await new Promise((r) => setTimeout(r, 1_000)); // the consumer or the connection is gone for now
      }
    }
  }

  async #handle(msg: JsMsg): Promise<void> {
    let work: Extract<Work, { k: 'result' }>;
    try {
      work = { k: 'result', result: parseResult(msg.data) };
    } catch (err) {
      const code = err instanceof RejectedError ? err.code : 'BAD_COMMAND';
      await this.#record(msg, code, errorMessage(err));
      msg.ack();
      return;
    }
    try {
      // The key starts with the execution id (`<executionId>.<stepId>.<visit>`, checked by the schema).
      const executionId = work.result.key.slice(0, work.result.key.indexOf('.'));
      const outcome = await this.#o.apply(executionId, work);
      if (outcome.ack) {
        if (outcome.ignored) await this.#record(msg, outcome.ignored.code, outcome.ignored.message);
        msg.ack();
      } else if (outcome.reason === 'early') {
        // Its attempt is being stored right now (or its sender crashed before storing it, and the redelivered step
        // stores it within an ack wait): back off up to 5 s per try; after ten tries (about half a minute) nothing will.
        if (msg.info.deliveryCount >= MAX_EARLY_TRIES) {
          await this.#record(msg, 'RESULT_NOT_AWAITED', `no attempt of ${work.result.key} awaited it after ${MAX_EARLY_TRIES} tries`);
          msg.ack();
        } else {
          msg.nak(Math.min(5_000, 100 * 2 ** msg.info.deliveryCount));
        }
      } else {
        msg.nak(outcome.delayMs);
      }
    } catch (err) {
      this.#o.onError(err);
      msg.nak(Math.min(10_000, 250 * 2 ** msg.info.deliveryCount));
    }
  }

  async #record(msg: JsMsg, code: string, reason: string): Promise<void> {
    this.#o.onRecord?.(code);
    const sample = new TextDecoder().decode(msg.data.subarray(0, 1024));
    const record = { code, reason, subject: msg.subject, bytes: msg.data.byteLength, sample, at: this.#o.now() };
    await this.#o.js.publish(this.#o.names.rejects('result'), encodeJson(record)).catch((e: unknown) => this.#o.onError(e));
  }

  #signalWorking(): void {
    const now = Date.now();
    for (const [msg, last] of this.#held) {
      if (now - last < this.#o.workingEveryMs) continue;
      msg.working();
      this.#held.set(msg, now);
    }
  }
}

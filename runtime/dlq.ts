/**
 * Dead-letter queue (R11): a stream of failed steps on `<prefix>.dlq.<supplier>.<execution>`, one message per failed
 * (execution, step, visit), deduplicated by its idempotency key. Replay sends the execution a `replay` work message (it
 * resumes at the failed step with fresh attempts) and removes the entry; discard removes it. Nothing is dropped silently:
 * an entry leaves the stream only by one of these two operator actions.
 */
import { DeliverPolicy, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { headers } from '@nats-io/transport-node';
import { decodeText, encode, encodeJson } from './codec.ts';
import { RejectedError } from './errors.ts';
import type { DeadLetter } from './executor.ts';
import type { Names } from './subjects.ts';
import type { Work } from './work.ts';

export interface DlqEntry extends DeadLetter {
  seq: number;
}

export interface DlqFilter {
  journeyId?: string;
  supplierId?: string;
  /** Substring of the error message. */
  error?: string;
  since?: number;
  until?: number;
}

export class DeadLetters {
  readonly #js: JetStreamClient;
  readonly #jsm: JetStreamManager;
  readonly #n: Names;

  constructor(js: JetStreamClient, jsm: JetStreamManager, names: Names) {
    this.#js = js;
    this.#jsm = jsm;
    this.#n = names;
  }

  async add(entry: DeadLetter): Promise<void> {
    const h = headers();
    h.set('Nats-Msg-Id', `dlq:${entry.key}:${entry.at}`);
    await this.#js.publish(this.#n.dlq(entry.supplierId, entry.executionId), encodeJson(entry), { headers: h });
  }

  /** Entries in stream order, filtered. */
  async list(filter: DlqFilter = {}, limit = 1_000): Promise<DlqEntry[]> {
    const info = await this.#jsm.streams.info(this.#n.streams.dlq);
    if (info.state.messages === 0) return [];
    const consumer = await this.#js.consumers.get(this.#n.streams.dlq, {
      deliver_policy: DeliverPolicy.All,
      ...(filter.supplierId ? { filter_subjects: `${this.#n.prefix}.dlq.${filter.supplierId}.*` } : {}),
    });
    const out: DlqEntry[] = [];
    if ((await consumer.info()).num_pending === 0) return out;
    const messages = await consumer.consume({ max_messages: 1_000 });
    for await (const m of messages) {
      const e = { ...(JSON.parse(decodeText(m.data)) as DeadLetter), seq: m.seq };
      if (matches(e, filter)) out.push(e);
      if (out.length >= limit || m.info.pending === 0) break;
    }
    await messages.close();
    return out;
  }

  /**
   * One entry by its stream sequence. A missing one is the asker's mistake (`RejectedError` DLQ_ENTRY_MISSING); a
   * failure to reach the stream is not, and is thrown as it is.
   */
  async get(seq: number): Promise<DlqEntry> {
    const missing = () => new RejectedError('DLQ_ENTRY_MISSING', `no dead-letter entry ${seq}`);
    // No stream sequence is anything else; 1e308 would otherwise reach the server as a request it cannot parse.
    if (!Number.isSafeInteger(seq) || seq < 1) throw missing();
    const m = await this.#jsm.streams.getMessage(this.#n.streams.dlq, { seq });
    if (!m) throw missing(); // never written, or replayed or discarded already
    return { ...(JSON.parse(decodeText(m.data)) as DeadLetter), seq };
  }

  /** Resumes the execution at its failed step, then removes the entry; recorded in the audit stream with `by` (R34). */
  async replay(seq: number, by = 'unknown'): Promise<DlqEntry> {
    const e = await this.get(seq);
    const work: Work = { k: 'replay' };
    const h = headers();
    h.set('Nats-Msg-Id', `replay:${seq}`);
    await this.#js.publish(this.#n.work(e.tier, e.supplierId, e.executionId), encode(work), { headers: h });
    await this.#jsm.streams.deleteMessage(this.#n.streams.dlq, seq, false);
    await this.#audit('replay', by, e);
    return e;
  }

  /** Removes the entry without replaying it (the execution stays failed); audited like a replay. */
  async discard(seq: number, by = 'unknown'): Promise<DlqEntry> {
    const e = await this.get(seq);
    await this.#jsm.streams.deleteMessage(this.#n.streams.dlq, seq, false);
    await this.#audit('discard', by, e);
    return e;
  }

  async #audit(action: 'replay' | 'discard', by: string, e: DlqEntry): Promise<void> {
    const record = { action: `dlq.${action}`, by, target: e.executionId, seq: e.seq, stepId: e.stepId, at: Date.now() };
    await this.#js.publish(`${this.#n.prefix}.audit.dlq.${action}`, encodeJson(record));
  }
}

function matches(e: DeadLetter, f: DlqFilter): boolean {
  return (
    (f.journeyId === undefined || e.journeyId === f.journeyId) &&
    (f.supplierId === undefined || e.supplierId === f.supplierId) &&
    (f.error === undefined || e.error.includes(f.error)) &&
    (f.since === undefined || e.at >= f.since) &&
    (f.until === undefined || e.at <= f.until)
  );
}

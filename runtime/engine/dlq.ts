/**
 * Dead-letter queue (R11): a stream of failed steps on `<prefix>.dlq.<supplier>.<execution>`, one message per failed
 * (execution, step, visit), deduplicated by its idempotency key. Replay sends the execution a `replay` work message (it
 * resumes at the failed step with fresh attempts) and removes the entry; discard removes it. Nothing is dropped silently:
 * an entry leaves the stream only by one of these two operator actions.
 *
 * Anyone allowed on `<prefix>.dlq.>` can write there, so every entry is checked as it is read (R30): a malformed one is
 * left out of lists and reported beside them, `get` and `replay` refuse it (DLQ_ENTRY_MALFORMED), and `discard` removes
 * it like any other. A runtime's reader records each one once on `<prefix>.rejects.dlq`.
 */
import { DeliverPolicy, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { Type } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { headers } from '@nats-io/transport-node';
import { TIERS } from '../../actors/priority.ts';
import { encode, encodeJson } from '../codec.ts';
import { RejectedError, errorMessage } from '../errors.ts';
import type { DeadLetter } from './executor.ts';
import type { Names } from '../subjects.ts';
import { binaryRejectRecord, isExecutionId, isSupplierId, type Work } from './work.ts';

export interface DlqEntry extends DeadLetter {
  seq: number;
}

/** A stored message that is not a dead-letter entry: listed apart, never thrown. */
export interface DlqMalformed {
  seq: number;
  subject: string;
  reason: string;
}

export interface DeadLettersOptions {
  /** Records each malformed entry met on `<prefix>.rejects.dlq` (once per entry and process). @default false */
  recordMalformed?: boolean;
  onError?(err: unknown): void;
  /** @default Date.now */
  now?(): number;
}

/** The shape every reader of an entry relies on; open, so fields added later do not turn older entries malformed. */
const EntryShape = TypeCompiler.Compile(
  Type.Object({
    executionId: Type.String(),
    supplierId: Type.String(),
    journeyId: Type.String(),
    version: Type.Number(),
    stepId: Type.String(),
    visit: Type.Number(),
    key: Type.String(),
    action: Type.String(),
    error: Type.String(),
    attempts: Type.Number(),
    tier: Type.Union(TIERS.map((t) => Type.Literal(t))),
    at: Type.Number(),
    history: Type.Array(Type.Object({ step: Type.String(), at: Type.Number(), note: Type.Optional(Type.String()) })),
  }),
);
/** Malformed entries remembered as recorded already, per process: a bound, not a guarantee of one record each. */
const MAX_RECORDED = 10_000;
const utf8 = new TextDecoder('utf-8', { fatal: true });

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
  readonly #opts: DeadLettersOptions;
  readonly #recorded = new Set<number>();

  constructor(js: JetStreamClient, jsm: JetStreamManager, names: Names, options: DeadLettersOptions = {}) {
    this.#js = js;
    this.#jsm = jsm;
    this.#n = names;
    this.#opts = options;
  }

  async add(entry: DeadLetter): Promise<void> {
    const h = headers();
    h.set('Nats-Msg-Id', `dlq:${entry.key}:${entry.at}`);
    await this.#js.publish(this.#n.dlq(entry.supplierId, entry.executionId), encodeJson(entry), { headers: h });
  }

  /** Entries in stream order, filtered; malformed ones are left out (see {@link scan}). */
  async list(filter: DlqFilter = {}, limit = 1_000): Promise<DlqEntry[]> {
    return (await this.scan(filter, limit)).entries;
  }

  /**
   * Entries in stream order, filtered, up to `limit`; and the stored messages met on the way that are no entry
   * (`malformed`: on the filtered supplier's subjects, if any, but whatever the other filters, since what they hold
   * cannot be filtered on).
   */
  async scan(filter: DlqFilter = {}, limit = 1_000): Promise<{ entries: DlqEntry[]; malformed: DlqMalformed[] }> {
    const entries: DlqEntry[] = [];
    const malformed: DlqMalformed[] = [];
    const info = await this.#jsm.streams.info(this.#n.streams.dlq);
    if (info.state.messages === 0) return { entries, malformed };
    // A supplier id is a subject token: anything else would widen or break the filter, and matches no entry anyway.
    if (filter.supplierId !== undefined && !isSupplierId(filter.supplierId)) return { entries, malformed };
    const consumer = await this.#js.consumers.get(this.#n.streams.dlq, {
      deliver_policy: DeliverPolicy.All,
      ...(filter.supplierId ? { filter_subjects: `${this.#n.prefix}.dlq.${filter.supplierId}.*` } : {}),
    });
    if ((await consumer.info()).num_pending === 0) return { entries, malformed };
    const messages = await consumer.consume({ max_messages: 1_000 });
    try {
      for await (const m of messages) {
        const e = this.#entryOf(m.seq, m.subject, m.data);
        if ('reason' in e) malformed.push(e);
        else if (matches(e, filter)) entries.push(e);
        if (entries.length >= limit || m.info.pending === 0) break;
      }
    } finally {
      await messages.close();
    }
    return { entries, malformed };
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
    const e = this.#entryOf(seq, m.subject, m.data);
    if ('reason' in e) throw malformedError(e);
    return e;
  }

  /**
   * Resumes the execution at its failed step, then removes the entry; recorded in the audit stream with `by` (R34).
   * An entry that names no execution work can be sent to (a malformed one, or one with ids that are not subject tokens)
   * is refused with DLQ_ENTRY_MALFORMED: discard it instead.
   */
  async replay(seq: number, by = 'unknown'): Promise<DlqEntry> {
    const e = await this.get(seq);
    if (!isSupplierId(e.supplierId) || !isExecutionId(e.executionId)) {
      throw malformedError({ seq, reason: 'its supplier or execution id cannot be addressed: nothing to replay' });
    }
    const work: Work = { k: 'replay' };
    const h = headers();
    h.set('Nats-Msg-Id', `replay:${seq}`);
    await this.#js.publish(this.#n.work(e.tier, e.supplierId, e.executionId), encode(work), { headers: h });
    await this.#jsm.streams.deleteMessage(this.#n.streams.dlq, seq, false);
    await this.#audit('replay', by, e);
    return e;
  }

  /**
   * Removes the entry without replaying it (the execution stays failed); audited like a replay. A malformed entry is
   * removed too (the only way out of the stream for it): what is returned then holds the ids its subject names, if any,
   * and its `error` says why it was malformed.
   */
  async discard(seq: number, by = 'unknown'): Promise<DlqEntry> {
    let e: DlqEntry;
    try {
      e = await this.get(seq);
    } catch (err) {
      if (!(err instanceof RejectedError && err.code === 'DLQ_ENTRY_MALFORMED')) throw err;
      const m = await this.#jsm.streams.getMessage(this.#n.streams.dlq, { seq });
      if (!m) throw new RejectedError('DLQ_ENTRY_MISSING', `no dead-letter entry ${seq}`);
      e = placeholder(seq, m.subject, errorMessage(err));
    }
    await this.#jsm.streams.deleteMessage(this.#n.streams.dlq, seq, false);
    await this.#audit('discard', by, e);
    return e;
  }

  /** The entry a stored message holds, or why it holds none (recorded once when this reader records). */
  #entryOf(seq: number, subject: string, data: Uint8Array): DlqEntry | DlqMalformed {
    let value: unknown;
    try {
      value = JSON.parse(utf8.decode(data));
    } catch {
      return this.#malformed(seq, subject, data, 'not UTF-8 JSON');
    }
    if (!EntryShape.Check(value)) {
      const first = typeof value === 'object' && value !== null ? EntryShape.Errors(value).First() : undefined;
      const path = first ? '$' + first.path.replace(/\//g, '.') : '$';
      return this.#malformed(seq, subject, data, `${path}: ${first?.message ?? 'not an object'}`);
    }
    // The subject is what filters by supplier and what replay and discard act on: an entry elsewhere is not one the
    // runtime wrote (it publishes each on the subject of its own ids).
    if (subject !== this.#n.dlq(value.supplierId, value.executionId)) {
      return this.#malformed(seq, subject, data, 'its ids do not match its subject');
    }
    return { ...(value as DeadLetter), seq };
  }

  #malformed(seq: number, subject: string, data: Uint8Array, reason: string): DlqMalformed {
    if (this.#opts.recordMalformed && !this.#recorded.has(seq)) {
      if (this.#recorded.size >= MAX_RECORDED) this.#recorded.clear();
      this.#recorded.add(seq);
      // A hex prefix, not text: an entry's error message may quote a client's personal data.
      const record = binaryRejectRecord({ code: 'DLQ_ENTRY_MALFORMED', message: reason }, subject, data, this.#opts.now?.() ?? Date.now());
      const h = headers();
      h.set('Nats-Msg-Id', `dlq:${this.#n.streams.dlq}:${seq}`);
      this.#js.publish(this.#n.rejects('dlq'), encodeJson(record), { headers: h }).catch((err: unknown) => this.#opts.onError?.(err));
    }
    return { seq, subject, reason };
  }

  async #audit(action: 'replay' | 'discard', by: string, e: DlqEntry): Promise<void> {
    const record = { action: `dlq.${action}`, by, target: e.executionId, seq: e.seq, stepId: e.stepId, at: Date.now() };
    await this.#js.publish(`${this.#n.prefix}.audit.dlq.${action}`, encodeJson(record));
  }
}

function malformedError(m: Pick<DlqMalformed, 'seq' | 'reason'>): RejectedError {
  return new RejectedError('DLQ_ENTRY_MALFORMED', `dead-letter entry ${m.seq} is malformed (${m.reason}): discard it`);
}

/** What a discarded malformed entry returns: the ids its subject names (`<prefix>.dlq.<supplier>.<execution>`), if any. */
function placeholder(seq: number, subject: string, error: string): DlqEntry {
  const parts = subject.split('.');
  const [supplierId = '', executionId = ''] = parts.length === 4 ? parts.slice(2) : [];
  return { seq, executionId, supplierId, journeyId: '', version: 0, stepId: '', visit: 0, key: '', action: '', error, attempts: 0, tier: 'low', at: 0, history: [] };
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

/**
 * JetStream publishes whose acknowledgements (PubAcks) come back through one inbox subscription. nats.js makes each
 * `js.publish` a request of its own, with a timer, and after every reply builds an `Error` it never throws
 * (`RequestError("cancelled")`, plus a `TimeoutError` up front with async traces on): 11–14 % of the CPU of scenario 1 in
 * `npm run bench:profile`. Here a publish is a core publish with a reply subject under one wildcard subscription, the
 * reply is matched by its token, and one sweep a second fails the overdue ones. Same server semantics: the stream stores
 * the message (deduplicated by `Nats-Msg-Id`, compare-and-set by `Nats-Expected-Last-Subject-Sequence`) and answers.
 */
import { createInbox, headers as newHeaders, type Msg, type MsgHdrs, type NatsConnection, type Subscription } from '@nats-io/transport-node';

export interface PubAck {
  stream: string;
  seq: number;
  duplicate: boolean;
}

/** A publish the stream refused (`code` is JetStream's `err_code`, e.g. 10071 for a wrong last sequence), or no stream listens. */
export class PublishError extends Error {
  readonly code: number;
  constructor(message: string, code: number) {
    super(message);
    this.name = 'PublishError';
    this.code = code;
  }
}

interface Waiting {
  resolve(ack: PubAck): void;
  reject(err: Error): void;
  at: number;
}

const decoder = new TextDecoder();

export class AckedPublisher {
  readonly #nc: NatsConnection;
  readonly #inbox: string;
  readonly #timeoutMs: number;
  readonly #waiting = new Map<string, Waiting>();
  #sub: Subscription | undefined;
  #sweep: NodeJS.Timeout | undefined;
  #next = 0;

  constructor(nc: NatsConnection, opts: { timeoutMs?: number } = {}) {
    this.#nc = nc;
    // The connection's own inbox prefix, so a role limited to `_INBOX_<role>.>` receives its acks (runtime/roles.ts).
    const prefix = (nc as unknown as { options?: { inboxPrefix?: string } }).options?.inboxPrefix;
    this.#inbox = createInbox(prefix);
    this.#timeoutMs = opts.timeoutMs ?? 5_000;
  }

  /** Publishes to a stream's subject; resolves with its PubAck, rejects with `PublishError` or on timeout. */
  publish(subject: string, data: Uint8Array, opts: { msgId?: string; expectedLastSubjectSequence?: number; headers?: MsgHdrs } = {}): Promise<PubAck> {
    this.#start();
    let h = opts.headers;
    if (opts.msgId !== undefined || opts.expectedLastSubjectSequence !== undefined) {
      h ??= newHeaders();
      if (opts.msgId !== undefined) h.set('Nats-Msg-Id', opts.msgId);
      if (opts.expectedLastSubjectSequence !== undefined) h.set('Nats-Expected-Last-Subject-Sequence', String(opts.expectedLastSubjectSequence));
    }
    const token = (this.#next++).toString(36);
    return new Promise<PubAck>((resolve, reject) => {
      this.#waiting.set(token, { resolve, reject, at: Date.now() });
      try {
        this.#nc.publish(subject, data, { reply: `${this.#inbox}.${token}`, ...(h ? { headers: h } : {}) });
      } catch (err) {
        this.#waiting.delete(token);
        reject(err as Error);
      }
    });
  }

  /** Stops listening; publishes still waiting fail. */
  close(): void {
    clearInterval(this.#sweep);
    this.#sweep = undefined;
    this.#sub?.unsubscribe();
    this.#sub = undefined;
    for (const [token, w] of this.#waiting) {
      this.#waiting.delete(token);
      w.reject(new Error('publisher closed before the stream answered'));
    }
  }

  #start(): void {
    if (this.#sub) return;
    this.#sub = this.#nc.subscribe(`${this.#inbox}.*`, { callback: (err, msg) => (err ? undefined : this.#answer(msg)) });
    this.#sweep = setInterval(() => this.#expire(), 1_000);
    this.#sweep.unref();
  }

  #answer(msg: Msg): void {
    const token = msg.subject.slice(this.#inbox.length + 1);
    const w = this.#waiting.get(token);
    if (!w) return; // timed out already
    this.#waiting.delete(token);
    // No stream captures the subject: the server says so with a 503 status and no body.
    if (msg.data.length === 0) {
      const code = msg.headers?.code ?? 0;
      w.reject(new PublishError(code === 503 ? 'no stream for this subject (no responders)' : `publish failed: status ${code}`, code));
      return;
    }
    let body: { stream?: string; seq?: number; duplicate?: boolean; error?: { err_code?: number; code?: number; description?: string } };
    try {
      body = JSON.parse(decoder.decode(msg.data)) as typeof body;
    } catch {
      w.reject(new PublishError('the stream answered with something other than a PubAck', 0));
      return;
    }
    if (body.error) w.reject(new PublishError(body.error.description ?? 'publish refused', body.error.err_code ?? body.error.code ?? 0));
    else w.resolve({ stream: body.stream ?? '', seq: body.seq ?? 0, duplicate: body.duplicate === true });
  }

  #expire(): void {
    const overdue = Date.now() - this.#timeoutMs;
    for (const [token, w] of this.#waiting) {
      if (w.at > overdue) break; // tokens are in publish order
      this.#waiting.delete(token);
      w.reject(new PublishError(`no PubAck within ${this.#timeoutMs} ms`, 408));
    }
  }
}

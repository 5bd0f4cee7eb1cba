/**
 * The dashboard's live feed (R27): one NATS subscription per subject (`<p>.stats.cluster`, `<p>.alerts`,
 * `<p>.supervisor.decisions`) shared by every browser connected to `/events`, forwarded as Server-Sent Events
 * (`event: stats|alert|decision`, JSON data). It remembers what a new page needs so it does not start empty: the latest
 * cluster stats (read back from the `<P>_STATS` stream at start), the open alerts (the alerts kept in the same stream,
 * replayed once, then followed live) and the recent scaling decisions.
 *
 * Stats are slimmed once per message before being fanned out: histograms (only needed for merging) and the per-journey
 * detail are dropped, so a browser receives a few KiB per window instead of up to 900 KiB.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { DeliverPolicy } from '@nats-io/jetstream';
import type { Subscription } from '@nats-io/transport-node';
import type { AlertEvent } from '../../actors/alerts.ts';
import type { DecisionRecord } from '../../actors/supervisor.ts';
import type { StatsMessage } from '../../schemas/stats.ts';
import { decodeText } from '../codec.ts';
import type { Runtime } from '../runtime.ts';

/** A decision as published on `<p>.supervisor.decisions`. */
export type PublishedDecision = DecisionRecord & { instance: string };

export interface LiveFeedOptions {
  /** Sent first on every connection (`event: config`): thresholds and names the page needs. */
  config: Record<string, unknown>;
  /** Comment lines keeping proxies and the browser from timing the stream out. @default 15000 */
  heartbeatMs?: number;
  /** Decisions remembered for new pages. @default 20 */
  decisionHistory?: number;
  /** A client this far behind (bytes buffered) is dropped; its browser reconnects. @default 8 MiB */
  maxBufferedBytes?: number;
  /** Streams open at once; another is answered 503 (its browser retries). @default 100 */
  maxClients?: number;
  onError?(err: unknown): void;
}

/** An open alert is the latest event of its id when that is `raised`; events are ordered by `at`. */
class OpenAlerts {
  readonly #latest = new Map<string, AlertEvent>();

  apply(e: AlertEvent): void {
    const prev = this.#latest.get(e.id);
    if (prev && prev.at > e.at) return; // an older event replayed after a newer live one
    this.#latest.set(e.id, e);
  }

  open(): AlertEvent[] {
    return [...this.#latest.values()].filter((e) => e.type === 'raised').sort((a, b) => a.at - b.at);
  }
}

/** Drops what a browser never reads: histograms (merging only) and the per-journey breakdown. */
export function slimStats(stats: StatsMessage): unknown {
  const strip = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(strip);
    if (v === null || typeof v !== 'object') return v;
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (k !== 'histogram' && x !== undefined) out[k] = strip(x);
    return out;
  };
  return strip({ ...stats, byJourney: undefined });
}

const frame = (event: string, data: string): string => `event: ${event}\ndata: ${data}\n\n`;

export class LiveFeed {
  readonly #rt: Runtime;
  readonly #o: LiveFeedOptions;
  readonly #clients = new Set<ServerResponse>();
  readonly #subs: Subscription[] = [];
  readonly #alerts = new OpenAlerts();
  readonly #decisions: string[] = [];
  readonly #decisionKeys = new Set<string>();
  readonly #heartbeat: NodeJS.Timeout;
  readonly #ready: Promise<void>;
  #stats: { at: string; json: string } | undefined;
  #closed = false;

  constructor(runtime: Runtime, opts: LiveFeedOptions) {
    this.#rt = runtime;
    this.#o = opts;
    const n = runtime.names;
    this.#subs.push(
      runtime.nc.subscribe(n.statsCluster, { callback: (_e, m) => this.#guard(() => this.#onStats(decodeText(m.data), true)) }),
      runtime.nc.subscribe(n.alerts, { callback: (_e, m) => this.#guard(() => this.#onAlert(decodeText(m.data), true)) }),
      runtime.nc.subscribe(n.decisions, { callback: (_e, m) => this.#guard(() => this.#onDecision(decodeText(m.data), true)) }),
    );
    // Decisions this instance already made, for a page opened before the next one.
    for (const d of runtime.supervisor?.snapshot?.context.decisions ?? []) {
      this.#guard(() => this.#onDecision(JSON.stringify({ instance: runtime.instanceId, ...d }), false));
    }
    this.#ready = this.#restore().catch((err: unknown) => this.#o.onError?.(err));
    this.#heartbeat = setInterval(() => this.#broadcast(`: heartbeat ${Date.now()}\n\n`), opts.heartbeatMs ?? 15_000);
    this.#heartbeat.unref();
  }

  /** Connected browsers. */
  get clients(): number {
    return this.#clients.size;
  }

  /** The `/events` handler. */
  async handle(_req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.#clients.size >= (this.#o.maxClients ?? 100)) {
      res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '10' });
      res.end(JSON.stringify({ ok: false, error: { code: 'TOO_MANY_CLIENTS', message: 'too many live dashboards: try again later' } }));
      return;
    }
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.write('retry: 2000\n\n');
    let gone = false;
    const drop = (): void => {
      gone = true;
      this.#clients.delete(res);
    };
    // The response's 'close' fires when the browser goes away (or the stream is ended): the one cleanup path.
    res.on('close', drop);
    res.on('error', drop);
    await this.#ready;
    if (gone || this.#closed) {
      if (!res.writableEnded) res.end();
      return;
    }
    // The snapshot and the registration happen in one synchronous block: no live message falls in between.
    res.write(frame('config', JSON.stringify(this.#o.config)));
    if (this.#stats) res.write(frame('stats', this.#stats.json));
    for (const a of this.#alerts.open()) res.write(frame('alert', JSON.stringify(a)));
    for (const d of this.#decisions) res.write(frame('decision', d));
    this.#clients.add(res);
  }

  /** Ends every stream (so the HTTP server can close) and unsubscribes. */
  close(): void {
    this.#closed = true;
    clearInterval(this.#heartbeat);
    for (const s of this.#subs) s.unsubscribe();
    for (const res of this.#clients) res.end();
    this.#clients.clear();
  }

  #guard(f: () => void): void {
    try {
      f();
    } catch (err) {
      this.#o.onError?.(err);
    }
  }

  #broadcast(chunk: string): void {
    const limit = this.#o.maxBufferedBytes ?? 8 * 1024 * 1024;
    for (const res of this.#clients) {
      if (res.writableLength > limit) {
        // Too slow to keep up: drop it, its EventSource reconnects and gets a fresh snapshot.
        this.#clients.delete(res);
        res.destroy();
        continue;
      }
      res.write(chunk);
    }
  }

  #onStats(text: string, live: boolean): void {
    const stats = JSON.parse(text) as StatsMessage;
    if (this.#stats && this.#stats.at >= stats.at) return;
    const json = JSON.stringify(slimStats(stats));
    this.#stats = { at: stats.at, json };
    if (live) this.#broadcast(frame('stats', json));
  }

  #onAlert(text: string, live: boolean): void {
    const e = JSON.parse(text) as AlertEvent;
    this.#alerts.apply(e);
    if (live) this.#broadcast(frame('alert', JSON.stringify(e)));
  }

  #onDecision(text: string, live: boolean): void {
    const d = JSON.parse(text) as PublishedDecision;
    const key = `${d.instance}:${d.seq}`;
    if (this.#decisionKeys.has(key)) return;
    this.#decisionKeys.add(key);
    const json = JSON.stringify(d);
    this.#decisions.push(json);
    const max = this.#o.decisionHistory ?? 20;
    while (this.#decisions.length > max) {
      const old = JSON.parse(this.#decisions.shift()!) as PublishedDecision;
      this.#decisionKeys.delete(`${old.instance}:${old.seq}`);
    }
    if (live) this.#broadcast(frame('decision', json));
  }

  /** The latest cluster stats and the alerts history from `<P>_STATS`, so a page opened now is not empty. */
  async #restore(): Promise<void> {
    const { jsm, js, names: n } = this.#rt;
    const last = await jsm.streams.getMessage(n.streams.stats, { last_by_subj: n.statsCluster }).catch(() => null);
    if (last) this.#guard(() => this.#onStats(decodeText(last.data), false));
    const lastAlert = await jsm.streams.getMessage(n.streams.stats, { last_by_subj: n.alerts }).catch(() => null);
    if (!lastAlert) return;
    // Alerts are rare (raised once while open, cleared once): replaying the stream's 30 days of them is cheap.
    const consumer = await js.consumers.get(n.streams.stats, { deliver_policy: DeliverPolicy.All, filter_subjects: n.alerts });
    const messages = await consumer.consume({ max_messages: 500 });
    for await (const m of messages) {
      this.#guard(() => this.#onAlert(decodeText(m.data), false));
      if (m.seq >= lastAlert.seq || m.info.pending === 0) break;
    }
    await messages.close();
  }
}

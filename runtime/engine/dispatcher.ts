/**
 * Priority dispatch (R9): one JetStream consumer per tier feeds a local queue; free workers take the highest tier with
 * work, except that every `1/minShare`-th pick goes to a lower tier with work, so lower tiers never starve. Small
 * prefetch on lower tiers keeps a backlog from crowding out critical work that arrives later (FINDINGS 16).
 *
 * Concurrency is set per tier (the supervisor's decision, R16): each tier may run up to its own number of handlers, and
 * a tier may borrow slots the others leave idle when no tier with queued work is below its own number. While critical
 * work is about, the lower tiers yield to it (see {@link pickTier}).
 */
import type { Consumer, ConsumerMessages, JetStreamClient, JsMsg } from '@nats-io/jetstream';
import { TIERS, type Tier } from '../../actors/priority.ts';
import { atMost } from '../at-most.ts';
import { LoopLag } from './loop-lag.ts';
import { pickTier } from './tier-pick.ts';

export interface DispatcherOptions {
  js: JetStreamClient;
  stream: string;
  consumerOf(tier: Tier): string;
  /** Concurrent handlers in this process, split across tiers. @default 64 (critical 24, high 16, medium 12, low 12) */
  concurrency?: number | Record<Tier, number>;
  /** Minimum share of picks for lower tiers while higher ones have work. @default 0.1 */
  minShare?: number;
  /** Messages pulled ahead per tier. @default { critical: 256, high: 128, medium: 64, low: 32 } */
  prefetch?: Partial<Record<Tier, number>>;
  handle(tier: Tier, msg: JsMsg): Promise<void>;
  /**
   * A held message (queued here or being handled) that has gone this long without a signal to the server gets an
   * in-progress signal (`msg.working()`), so a slow action or a deep local queue is not redelivered while this process
   * lives; set it to a third of the consumers' ack wait. A crashed process sends none, and its messages come back after
   * one ack wait. @default 0 (no signals)
   */
  workingEveryMs?: number;
  onError(err: unknown): void;
}

const DEFAULT_PREFETCH: Record<Tier, number> = { critical: 256, high: 128, medium: 64, low: 32 };
/**
 * How long one pull waits for messages before the next is sent: the server's minimum, 1 s. With 5 s, critical starts
 * filed right after a 100k backlog of another tier waited up to about 6 s in two of four runs of bench scenario 3 (p99
 * 6,002 and 6,031 ms) and about 50 ms in the other two; with 1 s, 37–45 ms in three of three (nats-server 2.9.10): a pull
 * under way did not get them, the next one did. A quiet tier costs one pull request a second.
 */
const PULL_EXPIRES_MS = 1_000;
/** Critical work seen this recently still counts as about: arrivals are spread out, the lower tiers should not surge between them. */
const CRITICAL_ABOUT_MS = 1_000;
/**
 * The loop counts as behind when a 5 ms timer fires this late. Bench scenario 3 (100 critical starts a second behind a
 * 100k low backlog): with 3 ms, critical p50 9 ms; with 1 ms, 5.7 ms; the drain rate the same (2,150–2,220/s).
 */
const LAG_MS = 1;

export class Dispatcher {
  readonly #o: DispatcherOptions;
  readonly #queues = new Map<Tier, JsMsg[]>(TIERS.map((t) => [t, []]));
  readonly #space = new Map<Tier, (() => void) | undefined>();
  /** Pulls under way (one per tier at most), closed on stop; and the feeders, awaited on stop. */
  readonly #pulls = new Set<ConsumerMessages>();
  readonly #feeding: Promise<void>[] = [];
  #active = 0;
  readonly #activeBy: Record<Tier, number> = { critical: 0, high: 0, medium: 0, low: 0 };
  #picks = 0;
  #running = false;
  #limits: Record<Tier, number>;
  #total: number;
  readonly #shareEvery: number;
  readonly #prefetch: Record<Tier, number>;
  /** When a handler last finished (0: none yet): with work queued and no progress, consumers have stalled. */
  lastProgressAt = 0;
  /** Messages handled per tier since start. */
  readonly handled: Record<Tier, number> = { critical: 0, high: 0, medium: 0, low: 0 };
  /** Every message received and not yet handled to the end, with when the server last heard of it (delivery or signal). */
  readonly #held = new Map<JsMsg, number>();
  #heartbeat: NodeJS.Timeout | undefined;
  readonly #lag = new LoopLag();
  /** When critical work was last queued or running here. */
  #criticalAt = 0;
  /** Per tier, the consumer's undelivered messages as the last delivery here reported them (`msg.info.pending`). */
  readonly #pendingSeen: Record<Tier, number> = { critical: 0, high: 0, medium: 0, low: 0 };

  constructor(opts: DispatcherOptions) {
    this.#o = opts;
    this.#limits = splitConcurrency(opts.concurrency ?? 64);
    this.#total = sum(this.#limits);
    const share = opts.minShare ?? 0.1;
    this.#shareEvery = share > 0 ? Math.max(2, Math.round(1 / share)) : Number.POSITIVE_INFINITY;
    this.#prefetch = { ...DEFAULT_PREFETCH, ...opts.prefetch };
  }

  async start(): Promise<void> {
    this.#running = true;
    const every = this.#o.workingEveryMs ?? 0;
    if (every > 0) {
      // One sweep for all held messages rather than a timer each: most are handled long before they need a signal.
      this.#heartbeat = setInterval(() => this.#signalWorking(every), Math.max(50, Math.floor(every / 4)));
      this.#heartbeat.unref();
    }
    this.#lag.start(() => this.#pump());
    for (const tier of TIERS) {
      const consumer = await this.#o.js.consumers.get(this.#o.stream, this.#o.consumerOf(tier));
      this.#feeding.push(this.#feed(tier, consumer));
    }
  }

  /** Stops pulling; waits for handlers in flight. Unacked prefetched messages are redelivered to other instances. */
  async stop(): Promise<void> {
    this.#running = false;
    clearInterval(this.#heartbeat);
    this.#lag.stop();
    // Wake feeders waiting for room, and end the pulls under way: each feeder then returns.
    for (const wake of this.#space.values()) wake?.();
    this.#space.clear();
    await Promise.all([...this.#pulls].map((p) => p.close()));
    // Bounded: a feeder whose pull request is in flight to an unreachable server ends on its own later.
    await atMost(Promise.all(this.#feeding), 2_000);
    for (const q of this.#queues.values()) for (const m of q.splice(0)) this.#held.delete(m);
    while (this.#active > 0) await new Promise((r) => setTimeout(r, 10));
  }

  #signalWorking(everyMs: number): void {
    const now = Date.now();
    for (const [msg, last] of this.#held) {
      if (now - last < everyMs) continue;
      msg.working();
      this.#held.set(msg, now);
    }
  }

  /** Sets each tier's handler count (from the supervisor); takes effect as handlers finish. */
  setConcurrency(limits: Record<Tier, number>): void {
    this.#limits = { ...limits };
    this.#total = sum(limits);
    this.#pump();
  }

  get concurrency(): Readonly<Record<Tier, number>> {
    return this.#limits;
  }

  /**
   * A tier's queue as this instance knows it without asking the server: `pending`, the consumer's undelivered messages
   * when the last one was delivered here (fresh while the tier has work, since every delivery carries it; 0 once a pull
   * ends short); `ackPending`, the messages delivered here and not yet acknowledged (this instance's share).
   * Consumer info would give both exactly, but on nats-server 2.9 it scans the stream for a filtered consumer and
   * stalls concurrent publishes by 20-100 ms behind a 100k backlog (bench scenario 3): it is kept off the periodic paths.
   */
  queue(tier: Tier): { pending: number; ackPending: number } {
    return { pending: this.#pendingSeen[tier], ackPending: this.#queues.get(tier)!.length + this.#activeBy[tier] };
  }

  /** Messages waiting locally plus those being handled. */
  get load(): number {
    let n = this.#active;
    for (const q of this.#queues.values()) n += q.length;
    return n;
  }

  /**
   * Pulls exactly the room left in the tier's local queue, so every message delivered to this process is in a queue
   * here (and gets in-progress signals) rather than waiting unseen in a client buffer while its ack wait runs out.
   * A pull waits up to {@link PULL_EXPIRES_MS} for messages, so a quiet tier costs one request a second.
   */
  async #feed(tier: Tier, consumer: Consumer): Promise<void> {
    const queue = this.#queues.get(tier)!;
    while (this.#running) {
      const room = this.#prefetch[tier] - queue.length;
      // Pull again once a quarter of the queue is free (or it is empty), not per message handled.
      if (room <= 0 || (queue.length > 0 && room < Math.ceil(this.#prefetch[tier] / 4))) {
        await new Promise<void>((resolve) => this.#space.set(tier, resolve));
        continue;
      }
      let pull: ConsumerMessages | undefined;
      try {
        pull = await consumer.fetch({ max_messages: room, expires: PULL_EXPIRES_MS });
        this.#pulls.add(pull);
        if (!this.#running) await pull.close();
        let received = 0;
        for await (const m of pull) {
          if (!this.#running) break;
          received++;
          queue.push(m);
          this.#pendingSeen[tier] = m.info.pending;
          this.#held.set(m, Date.now());
          this.#pump();
        }
        // A pull that ended short found nothing more to deliver (or the consumer's ack-pending limit: then the held
        // messages, reported as ackPending, show the load).
        if (received < room) this.#pendingSeen[tier] = 0;
      } catch (err) {
        if (!this.#running) return;
        // nats.js ends a fetch that heard nothing, not even the server's idle heartbeat, for two heartbeat intervals
        // (2 x 500 ms with 1 s pulls): the pull is over, the consumer is not at fault. Pull again at once: waiting a
        // second here as well made bench scenarios 1 and 3 wait about 2 s (p99 1,865 and 1,932 ms in one run of three).
        if (isMissedHeartbeats(err)) continue;
        this.#o.onError(err);
        await new Promise((r) => setTimeout(r, 1_000)); // the consumer or the connection is gone for now: retry
      } finally {
        if (pull) this.#pulls.delete(pull);
      }
    }
  }

  #pick(): { tier: Tier; msg: JsMsg } | undefined {
    const queued = { critical: 0, high: 0, medium: 0, low: 0 };
    for (const t of TIERS) queued[t] = this.#queues.get(t)!.length;
    const now = Date.now();
    if (queued.critical > 0 || this.#activeBy.critical > 0) this.#criticalAt = now;
    const tier = pickTier(
      { queued, active: this.#activeBy, limits: this.#limits },
      {
        picks: this.#picks + 1,
        shareEvery: this.#shareEvery,
        criticalAbout: now - this.#criticalAt < CRITICAL_ABOUT_MS,
        lagging: this.#lag.ms > LAG_MS,
      },
    );
    if (!tier) return undefined;
    this.#picks++;
    const msg = this.#queues.get(tier)!.shift()!;
    const wake = this.#space.get(tier);
    if (wake) {
      this.#space.delete(tier);
      wake();
    }
    return { tier, msg };
  }

  #pump(): void {
    while (this.#running && this.#active < this.#total) {
      const next = this.#pick();
      if (!next) return;
      this.#active++;
      this.#activeBy[next.tier]++;
      this.handled[next.tier]++;
      void this.#o
        .handle(next.tier, next.msg)
        .catch((err: unknown) => this.#o.onError(err))
        .finally(() => {
          this.#held.delete(next.msg);
          this.#active--;
          this.#activeBy[next.tier]--;
          this.lastProgressAt = Date.now();
          this.#pump();
        });
    }
  }
}

const isMissedHeartbeats = (err: unknown): boolean => err instanceof Error && err.message === 'heartbeats missed';

const sum = (r: Record<Tier, number>): number => TIERS.reduce((n, t) => n + r[t], 0);

/** A total split across tiers, most to critical: 3/8, 1/4, 3/16, 3/16 (at least 1 each). */
function splitConcurrency(c: number | Record<Tier, number>): Record<Tier, number> {
  if (typeof c !== 'number') return { ...c };
  const high = Math.max(1, Math.round(c / 4));
  const medium = Math.max(1, Math.round((c * 3) / 16));
  const low = Math.max(1, Math.round((c * 3) / 16));
  return { critical: Math.max(1, c - high - medium - low), high, medium, low };
}

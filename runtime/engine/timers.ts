/**
 * Durable timers on a JetStream stream, read one time slot at a time.
 *
 * A timer is a message on `<prefix>.timer.<slot>`, where the slot is its due time divided by the slot length (one minute).
 * Only the slots about to fall due are read (an ordered consumer filtered on the slot subject), their timers held in a heap
 * until due, fired as work messages (deduplicated by `Nats-Msg-Id`), and the slot purged once it has fully passed. So the
 * work done is proportional to the timers falling due, not to all timers that exist, and a wait of three years costs one
 * stored message. Every instance reads the due slots: the dedup window makes a timer fired twice land once, and any
 * survivor carries on when another instance dies. Servers ≥ 2.12 have message schedules; this design does not need them.
 *
 * Every stored entry is checked as it is read (R30): one that is not a timer (not msgpack, wrong shape, a work message
 * the runtime would refuse, due after its own slot) is recorded on `<prefix>.rejects.timer` and skipped. It still counts
 * as read, so it neither holds back the slot's other timers nor keeps the slot from being purged.
 */
import type { JetStreamClient, JetStreamManager, ConsumerMessages } from '@nats-io/jetstream';
import { atMost } from '../at-most.ts';
import type { KV } from '@nats-io/kv';
import { headers } from '@nats-io/transport-node';
import { isValidTimeZone } from '../../actors/time.ts';
import type { Clock } from '../clock.ts';
import { encode, encodeJson } from '../codec.ts';
import { RejectedError } from '../errors.ts';
import type { Names } from '../subjects.ts';
import { MAX_WORK_BYTES, asRejected, binaryRejectRecord, checkWork, decodeBounded, isCalendarDate, isExecutionId, isSupplierId, type Work } from './work.ts';

/** A stored timer: when it fires, `work` is published to the execution's work subject. */
export interface TimerEntry {
  /** Unique per timer and stable across re-scheduling: it is the dedup id of the fired work. */
  id: string;
  due: number;
  sup: string;
  ex: string;
  wd?: string;
  tz: string;
  work: Work;
}

export interface TimerServiceOptions {
  js: JetStreamClient;
  jsm: JetStreamManager;
  names: Names;
  clock: Clock;
  state: KV;
  /** Publishes the fired timer's work; must be idempotent on `entry.id`. */
  fire(entry: TimerEntry): Promise<void>;
  /** Stores a message in a stream and awaits its PubAck (the runtime's `AckedPublisher`). @default `js.publish` */
  publish?(subject: string, data: Uint8Array, msgId: string): Promise<unknown>;
  onError(err: unknown): void;
  /** @default 60000 */
  slotMs?: number;
  /** Slots are opened this long before they begin, so timers at the start of a slot are not late. @default 5000 */
  lookaheadMs?: number;
  /** A slot is purged only this long after it ended (clock skew between instances). @default 30000 */
  graceMs?: number;
  /** @default 200 */
  tickMs?: number;
  /** Largest work message a timer may carry (an entry may be 4 KiB more). @default MAX_WORK_BYTES */
  maxWorkBytes?: number;
  /** A stored entry was refused (its record is on `<prefix>.rejects.timer`), with its error code: for metrics. */
  onReject?(code: string): void;
}

interface HeapItem {
  due: number;
  slot: number;
  gen: number;
  entry: TimerEntry;
  /** Due time of the first try, when firing failed and the timer waits to be tried again. */
  firstDue?: number;
}

interface SlotReader {
  slot: number;
  /** Counts of the current read of the slot; a re-read (after a server restart) starts them again under a new `gen`. */
  gen: number;
  received: number;
  outstanding: number;
  messages: ConsumerMessages | undefined;
  closing: boolean;
  /** Settles when the slot's read loop has ended. */
  done: Promise<void>;
  /** Since when the stream has held more of the slot's messages than were read (seen when the slot was due to close). */
  unreadSince: number | undefined;
}

/** Gap (in slots) past which catching up lists the non-empty slots instead of opening each one. */
const CATCH_UP_SLOTS = 120;
const CURSOR_KEY = 'timers.cursor';
const TIMER_ID = /^[\x21-\x7e]{1,512}$/;

export class TimerService {
  readonly #o: Required<Omit<TimerServiceOptions, 'fire' | 'onError' | 'onReject'>> & Pick<TimerServiceOptions, 'fire' | 'onError' | 'onReject'>;
  readonly #heap: HeapItem[] = [];
  /** Timers whose firing failed, waiting in the heap to be tried again (their lateness counts from the first try). */
  readonly #retrying = new Set<HeapItem>();
  readonly #readers = new Map<number, SlotReader>();
  #cursor = 0;
  #savedCursor = 0;
  #cancelTick: (() => void) | undefined;
  #running = false;
  #ticking = false;
  #firing = 0;
  #lastTickAt = 0;
  #wake: { due: number; cancel: () => void } | undefined;
  /** Lateness of fired timers (ms), for stats and benchmarks. */
  readonly lateness = { count: 0, max: 0, sum: 0 };

  constructor(opts: TimerServiceOptions) {
    const publish = async (subject: string, data: Uint8Array, msgId: string): Promise<void> => {
      const h = headers();
      h.set('Nats-Msg-Id', msgId);
      await opts.js.publish(subject, data, { headers: h });
    };
    this.#o = { slotMs: 60_000, lookaheadMs: 5_000, graceMs: 30_000, tickMs: 200, maxWorkBytes: MAX_WORK_BYTES, publish, ...opts };
  }

  slotOf(ms: number): number {
    return Math.floor(ms / this.#o.slotMs);
  }

  async start(): Promise<void> {
    const saved = await this.#o.state.get(CURSOR_KEY).catch(() => null);
    const stored = saved?.value.length ? Number(new TextDecoder().decode(saved.value)) : NaN;
    this.#cursor = Number.isFinite(stored) ? stored : this.slotOf(this.#o.clock.now() - this.#o.graceMs);
    this.#savedCursor = this.#cursor;
    this.#running = true;
    this.#arm();
  }

  async stop(): Promise<void> {
    this.#running = false;
    this.#cancelTick?.();
    this.#wake?.cancel();
    this.#wake = undefined;
    const readers = [...this.#readers.values()];
    for (const r of readers) {
      r.closing = true;
      // Not awaited one by one: closing an ordered consumer's iterator has been seen never to settle.
      void r.messages?.close().catch(() => undefined);
    }
    // A read that was opening its consumer meanwhile closes it itself and ends: wait for them, but not past a bound
    // (a request in flight to an unreachable server may take its whole timeout).
    await atMost(Promise.all(readers.map((r) => r.done)), 2_000);
    this.#readers.clear();
    this.#heap.length = 0;
    this.#retrying.clear();
  }

  /**
   * Reads every open slot again from its first timer (after a reconnect: a consumer of the server that went away would
   * otherwise notice only when its heartbeats stop, tens of seconds later).
   */
  reread(): void {
    for (const r of this.#readers.values()) if (!r.closing) void r.messages?.close();
  }

  /**
   * Stores a timer. One already due is fired at once instead; one due in a moment is stored like any other (the open
   * slot's reader brings it back and a wake-up fires it on time), since firing it now would run it early: a 100 ms
   * retry backoff must not become 0 ms.
   */
  async schedule(entry: TimerEntry): Promise<void> {
    const now = this.#o.clock.now();
    if (entry.due <= now) {
      await this.#o.fire(entry);
      return;
    }
    await this.#o.publish(this.#o.names.timer(this.slotOf(entry.due)), encode(entry), `ts:${entry.id}`);
  }

  /** True when no timer is due or being fired right now. */
  idle(): boolean {
    const top = this.#heap[0];
    return this.#firing === 0 && !this.#ticking && (top === undefined || top.due > this.#o.clock.now());
  }

  /**
   * How far the oldest due, unfired timer is behind (0 when none is), and since when the pump last ran. Timers count
   * that are held and due, that failed to fire and wait for another try (from their first due time), and that a slot
   * due to close still holds unread (from when that was first seen: a read that keeps failing is noticed too).
   */
  health(): { behindMs: number; lastTickAt: number; sinceTickMs: number } {
    const now = this.#o.clock.now();
    const top = this.#heap[0];
    let oldest = top && top.due < now ? top.due : now;
    for (const item of this.#retrying) oldest = Math.min(oldest, item.firstDue ?? item.due);
    for (const r of this.#readers.values()) if (r.unreadSince !== undefined) oldest = Math.min(oldest, r.unreadSince);
    return { behindMs: Math.max(0, now - oldest), lastTickAt: this.#lastTickAt, sinceTickMs: this.#lastTickAt > 0 ? Math.max(0, now - this.#lastTickAt) : 0 };
  }

  /** Timers read into memory and not fired yet. */
  get held(): number {
    return this.#heap.length;
  }

  /** Runs one pass now (tests under a simulated clock call it after moving the clock). */
  async tick(): Promise<void> {
    if (this.#ticking || !this.#running) return;
    this.#ticking = true;
    this.#lastTickAt = this.#o.clock.now();
    try {
      await this.#openSlots();
      await this.#fireDue();
      const top = this.#heap[0];
      if (top) this.#wakeAt(top.due);
      await this.#closeSlots();
    } catch (err) {
      this.#o.onError(err);
    } finally {
      this.#ticking = false;
    }
  }

  #arm(): void {
    if (!this.#running) return;
    this.#cancelTick = this.#o.clock.setTimer(() => {
      void this.tick().finally(() => this.#arm());
    }, this.#o.tickMs);
  }

  /**
   * Keeps one wake-up armed for the earliest held timer, so timers fire at their due time, not at the next tick. Re-armed
   * only when an earlier timer arrives: one pending clock timer, whatever the number of held timers.
   */
  #wakeAt(due: number): void {
    if (!this.#running || (this.#wake !== undefined && this.#wake.due <= due)) return;
    this.#wake?.cancel();
    const cancel = this.#o.clock.setTimer(() => {
      this.#wake = undefined;
      void this.#fireDue()
        .then(() => {
          const top = this.#heap[0];
          if (top) this.#wakeAt(top.due);
        })
        .catch(this.#o.onError);
    }, Math.max(0, due - this.#o.clock.now()));
    this.#wake = { due, cancel };
  }

  async #openSlots(): Promise<void> {
    const now = this.#o.clock.now();
    const horizon = this.slotOf(now + this.#o.lookaheadMs);
    if (horizon - this.#cursor > CATCH_UP_SLOTS) {
      // Long gap (downtime, or a simulated clock jumping ahead): open only the slots that hold timers.
      for (const slot of await this.#nonEmptySlots(this.#cursor, horizon)) await this.#open(slot);
      const lowestOpen = Math.min(horizon, ...[...this.#readers.keys()]);
      this.#cursor = Math.max(this.#cursor, lowestOpen);
      return;
    }
    const opening: Promise<void>[] = [];
    for (let slot = this.#cursor; slot <= horizon; slot++) if (!this.#readers.has(slot)) opening.push(this.#open(slot));
    await Promise.all(opening);
  }

  async #nonEmptySlots(from: number, to: number): Promise<number[]> {
    const prefix = `${this.#o.names.prefix}.timer.`;
    const info = await this.#o.jsm.streams.info(this.#o.names.streams.timers, { subjects_filter: `${prefix}*` });
    return Object.keys(info.state.subjects ?? {})
      .map((s) => Number(s.slice(prefix.length)))
      .filter((slot) => slot >= from && slot <= to)
      .sort((a, b) => a - b);
  }

  async #open(slot: number): Promise<void> {
    if (this.#readers.has(slot)) return;
    const reader: SlotReader = { slot, gen: 0, received: 0, outstanding: 0, messages: undefined, closing: false, done: Promise.resolve(), unreadSince: undefined };
    this.#readers.set(slot, reader);
    reader.done = this.#read(reader);
  }

  /**
   * Reads a slot until it is closed. A read that ends on its own (the server restarted and the consumer could not be
   * recreated) starts again a moment later from the slot's first timer: its timers may not have fired yet, and one
   * fired twice lands once (the work stream dedups on the timer id, and the execution ignores a stale timer).
   */
  async #read(reader: SlotReader): Promise<void> {
    while (this.#running && !reader.closing) {
      try {
        const consumer = await this.#o.js.consumers.get(this.#o.names.streams.timers, {
          filter_subjects: this.#o.names.timer(reader.slot),
        });
        const messages = await consumer.consume({ max_messages: 1_000 });
        const gen = ++reader.gen;
        reader.received = 0;
        reader.outstanding = 0;
        reader.messages = messages;
        if (reader.closing || !this.#running) {
          await messages.close();
          return;
        }
        for await (const m of messages) {
          reader.received++;
          const entry = this.#entryOf(reader.slot, m.subject, m.data, m.seq);
          if (!entry) continue;
          reader.outstanding++;
          this.#push({ due: entry.due, slot: reader.slot, gen, entry });
          this.#wakeAt(entry.due);
        }
      } catch (err) {
        if (this.#running && !reader.closing) this.#o.onError(err);
      }
      if (this.#running && !reader.closing) await new Promise((r) => setTimeout(r, 250));
    }
  }

  /** The entry a stored message holds, or undefined when it holds none (recorded as a reject). */
  #entryOf(slot: number, subject: string, data: Uint8Array, seq: number): TimerEntry | undefined {
    try {
      return checkTimerEntry(decodeBounded(data, this.#o.maxWorkBytes + 4_096), { slotMs: this.#o.slotMs, slot });
    } catch (caught) {
      const err = asRejected(caught);
      this.#o.onReject?.(err.code);
      // Every instance reads every slot, and reads it again after a reconnect: one record per stored message (the
      // rejects stream drops repeats of a message id within its dedup window).
      const h = headers();
      h.set('Nats-Msg-Id', `timer:${this.#o.names.streams.timers}:${seq}`);
      const record = binaryRejectRecord(err, subject, data, this.#o.clock.now());
      this.#o.js.publish(this.#o.names.rejects('timer'), encodeJson(record), { headers: h }).catch(this.#o.onError);
      return undefined;
    }
  }

  async #fireDue(): Promise<void> {
    const now = this.#o.clock.now();
    const batch: HeapItem[] = [];
    while (this.#heap.length > 0 && this.#heap[0]!.due <= now && batch.length < 2_000) batch.push(this.#pop()!);
    if (batch.length === 0) return;
    this.#firing += batch.length;
    await Promise.all(
      batch.map(async (item) => {
        try {
          await this.#o.fire(item.entry);
          const late = Math.max(0, this.#o.clock.now() - item.due);
          this.lateness.count++;
          this.lateness.sum += late;
          this.lateness.max = Math.max(this.lateness.max, late);
          const r = this.#readers.get(item.slot);
          if (r && r.gen === item.gen) r.outstanding--;
          this.#retrying.delete(item);
        } catch (err) {
          this.#o.onError(err);
          this.#retrying.delete(item);
          const again = { ...item, due: this.#o.clock.now() + 1_000, firstDue: item.firstDue ?? item.due };
          this.#retrying.add(again);
          this.#push(again);
        } finally {
          this.#firing--;
        }
      }),
    );
    if (this.#heap.length > 0 && this.#heap[0]!.due <= this.#o.clock.now()) await this.#fireDue();
  }

  /** Purges slots that ended more than the grace period ago and whose timers have all fired. */
  async #closeSlots(): Promise<void> {
    const limit = this.slotOf(this.#o.clock.now() - this.#o.graceMs);
    for (const reader of [...this.#readers.values()].sort((a, b) => a.slot - b.slot)) {
      if (reader.slot >= limit || reader.outstanding > 0 || reader.closing) continue;
      const subject = this.#o.names.timer(reader.slot);
      const info = await this.#o.jsm.streams.info(this.#o.names.streams.timers, { subjects_filter: subject });
      const stored = info.state.subjects?.[subject] ?? 0;
      if (stored > reader.received) {
        reader.unreadSince ??= this.#o.clock.now(); // still reading, or a read that keeps failing: health() tells
        continue;
      }
      reader.unreadSince = undefined;
      reader.closing = true;
      try {
        await this.#o.jsm.streams.purge(this.#o.names.streams.timers, { filter: subject });
      } catch (err) {
        reader.closing = false; // tried again next pass, instead of holding the slot open for good
        throw err;
      }
      void reader.messages?.close().catch(() => undefined); // not awaited: see stop()
      this.#readers.delete(reader.slot);
    }
    const open = [...this.#readers.keys()];
    const next = open.length > 0 ? Math.min(...open) : Math.max(this.#cursor, limit);
    this.#cursor = Math.max(this.#cursor, Math.min(next, limit));
    if (this.#cursor > this.#savedCursor) {
      this.#savedCursor = this.#cursor;
      await this.#o.state.put(CURSOR_KEY, String(this.#cursor));
    }
  }

  #push(item: HeapItem): void {
    const h = this.#heap;
    h.push(item);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (h[parent]!.due <= h[i]!.due) break;
      [h[parent], h[i]] = [h[i]!, h[parent]!];
      i = parent;
    }
  }

  #pop(): HeapItem | undefined {
    const h = this.#heap;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && h[l]!.due < h[m]!.due) m = l;
        if (r < h.length && h[r]!.due < h[m]!.due) m = r;
        if (m === i) break;
        [h[m], h[i]] = [h[i]!, h[m]!];
        i = m;
      }
    }
    return top;
  }
}

/**
 * Checks a decoded value as the timer entry stored in `slot` (R30): string ids with valid supplier and execution tokens
 * (they become a work subject), a finite due time within the slot or before it (one due after its slot's end would hold
 * the slot open past its purge; the runtime never stores one there), a known time zone and a calendar wedding date (the
 * tier is computed from them when it fires), and `work` a message the work consumers would accept for that execution.
 * Throws `RejectedError` (BAD_COMMAND, INVALID_PAYLOAD).
 */
export function checkTimerEntry(value: unknown, where?: { slotMs: number; slot: number }): TimerEntry {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new RejectedError('BAD_COMMAND', '$: not a timer entry');
  const e = value as Partial<Record<keyof TimerEntry, unknown>>;
  const bad = (path: string, what: string): never => {
    throw new RejectedError('BAD_COMMAND', `$.${path}: ${what}`);
  };
  // The id becomes a message header (`Nats-Msg-Id`): visible ASCII only, as every id the runtime makes.
  if (typeof e.id !== 'string' || !TIMER_ID.test(e.id)) bad('id', 'expected 1 to 512 visible ASCII characters');
  if (typeof e.due !== 'number' || !Number.isFinite(e.due)) bad('due', 'expected a finite number');
  if (!isSupplierId(e.sup)) bad('sup', 'expected a supplier id');
  if (!isExecutionId(e.ex)) bad('ex', 'expected an execution id');
  if (typeof e.tz !== 'string' || e.tz.length > 64 || !isValidTimeZone(e.tz)) bad('tz', 'expected an IANA time zone');
  if (e.wd !== undefined && (typeof e.wd !== 'string' || !isCalendarDate(e.wd))) bad('wd', 'expected a calendar date');
  if (where && (e.due as number) >= (where.slot + 1) * where.slotMs) bad('due', `after the end of its slot ${where.slot}`);
  try {
    checkWork(e.work, { supplierId: e.sup as string, executionId: e.ex as string });
  } catch (err) {
    if (err instanceof RejectedError) throw new RejectedError(err.code, err.message.replace(/^\$/, '$.work'), { cause: err });
    throw err;
  }
  return value as TimerEntry;
}

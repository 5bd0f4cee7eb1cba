/**
 * Per-supplier start rate limit (R31) that holds across every runtime instance: counts live in a KV bucket, one key per
 * (supplier, window), incremented with compare-and-set. A start over the limit is not dropped: it reserves a place in the
 * first window with room, spread evenly across that window, and the runtime parks it on a durable timer until then,
 * within a horizon: a start that would wait longer is refused (`RATE_LIMITED`) rather than parked for days.
 *
 * The bucket keeps entries for a day ({@link RATE_LIMIT_TTL_MS}): every counter and reservation is written at most a
 * horizon plus a window before it is used, so none expires before its window has passed.
 */
import type { KV } from '@nats-io/kv';
import { decodeText } from '../codec.ts';
import { RejectedError, RuntimeError } from '../errors.ts';

/** How long the rate-limit bucket keeps an entry after its last write (its `max_age`). */
export const RATE_LIMIT_TTL_MS = 24 * 60 * 60 * 1000;

export interface RateLimitOptions {
  /** Starts per window for a supplier without its own limit. @default 100 */
  defaultLimit?: number;
  /** Per-supplier limits. */
  perSupplier?: Record<string, number>;
  /** @default 60000 */
  windowMs?: number;
  /**
   * How far ahead a start may be parked; one that would wait longer is refused with `RATE_LIMITED` (recorded on
   * `<p>.rejects.start`). At most a day less one window. @default 6 hours
   */
  horizonMs?: number;
}

export interface Reservation {
  /** When the start may run: `now` when the current window had room. */
  at: number;
  /** Windows skipped because they were full (0 = not delayed). */
  delayedWindows: number;
}

export class RateLimiter {
  readonly #kv: KV;
  readonly #limit: number;
  readonly #per: Record<string, number>;
  readonly #windowMs: number;
  readonly #horizonMs: number;
  /** First window that may still have room, per supplier: a hint that saves scanning full windows again. */
  readonly #hint = new Map<string, number>();

  constructor(kv: KV, opts: RateLimitOptions = {}) {
    this.#kv = kv;
    this.#limit = opts.defaultLimit ?? 100;
    this.#per = opts.perSupplier ?? {};
    this.#windowMs = opts.windowMs ?? 60_000;
    this.#horizonMs = opts.horizonMs ?? 6 * 60 * 60 * 1000;
    if (!(this.#horizonMs >= 0 && this.#horizonMs + this.#windowMs <= RATE_LIMIT_TTL_MS)) {
      throw new RuntimeError('CONFIG_INVALID', `rate limit: the horizon plus one window must be within ${RATE_LIMIT_TTL_MS} ms (the bucket's TTL)`);
    }
  }

  limitOf(supplierId: string): number {
    return this.#per[supplierId] ?? this.#limit;
  }

  /**
   * Takes one start from the supplier's budget: in the current window if it has room, else in the first that does
   * within the horizon, where the execution's reservation is recorded (see {@link reserved}); beyond it, `RATE_LIMITED`.
   */
  async reserve(supplierId: string, now: number, executionId: string): Promise<Reservation> {
    const limit = this.limitOf(supplierId);
    const current = Math.floor(now / this.#windowMs);
    const last = Math.floor((now + this.#horizonMs) / this.#windowMs);
    let w = Math.max(current, this.#hint.get(supplierId) ?? current);
    for (;;) {
      if (w > last) {
        throw new RejectedError('RATE_LIMITED', `${supplierId} is over its limit of ${limit} starts per ${this.#windowMs} ms for the next ${this.#horizonMs} ms: start refused`);
      }
      const key = `${supplierId}.${w}`;
      const e = await this.#kv.get(key);
      const count = e && e.value.length > 0 ? Number(decodeText(e.value)) : 0;
      if (count >= limit) {
        w++;
        continue;
      }
      try {
        if (e) await this.#kv.update(key, String(count + 1), e.revision);
        else await this.#kv.create(key, String(count + 1));
      } catch (err) {
        if (err instanceof Error && /wrong last sequence|key exists/i.test(err.message)) continue; // raced: re-read
        throw err;
      }
      this.#hint.set(supplierId, w);
      if (w === current) return { at: now, delayedWindows: 0 };
      // Spread the reserved starts across the window instead of releasing them all at its first millisecond.
      const at = w * this.#windowMs + Math.floor((count / limit) * this.#windowMs);
      await this.#kv.put(reservationKey(executionId), String(at));
      return { at, delayedWindows: w - current };
    }
  }

  /**
   * Whether this runtime parked the execution's start after taking its place: the only proof that a start marked
   * `reserved` may skip the limit (a work message saying so proves nothing by itself).
   */
  async reserved(executionId: string): Promise<boolean> {
    const e = await this.#kv.get(reservationKey(executionId));
    return e !== null && e.value.length > 0;
  }
}

const reservationKey = (executionId: string): string => `reserved.${executionId}`;

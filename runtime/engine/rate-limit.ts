/**
 * Per-supplier start rate limit (R31) that holds across every runtime instance: counts live in a KV bucket, one key per
 * (supplier, window), incremented with compare-and-set. A start over the limit is not dropped: it reserves a place in the
 * first window with room, spread evenly across that window, and the runtime parks it on a durable timer until then.
 */
import type { KV } from '@nats-io/kv';
import { decodeText } from '../codec.ts';

export interface RateLimitOptions {
  /** Starts per window for a supplier without its own limit. @default 100 */
  defaultLimit?: number;
  /** Per-supplier limits. */
  perSupplier?: Record<string, number>;
  /** @default 60000 */
  windowMs?: number;
}

export interface Reservation {
  /** When the start may run: `now` when the current window had room. */
  at: number;
  /** Windows skipped because they were full (0 = not delayed). */
  delayedWindows: number;
}

const MAX_SCAN_WINDOWS = 10_000;

export class RateLimiter {
  readonly #kv: KV;
  readonly #limit: number;
  readonly #per: Record<string, number>;
  readonly #windowMs: number;
  /** First window that may still have room, per supplier: a hint that saves scanning full windows again. */
  readonly #hint = new Map<string, number>();

  constructor(kv: KV, opts: RateLimitOptions = {}) {
    this.#kv = kv;
    this.#limit = opts.defaultLimit ?? 100;
    this.#per = opts.perSupplier ?? {};
    this.#windowMs = opts.windowMs ?? 60_000;
  }

  limitOf(supplierId: string): number {
    return this.#per[supplierId] ?? this.#limit;
  }

  /** Takes one start from the supplier's budget: in the current window if it has room, else in the first that does. */
  async reserve(supplierId: string, now: number): Promise<Reservation> {
    const limit = this.limitOf(supplierId);
    const current = Math.floor(now / this.#windowMs);
    let w = Math.max(current, this.#hint.get(supplierId) ?? current);
    for (let scanned = 0; scanned < MAX_SCAN_WINDOWS; ) {
      const key = `${supplierId}.${w}`;
      const e = await this.#kv.get(key);
      const count = e && e.value.length > 0 ? Number(decodeText(e.value)) : 0;
      if (count >= limit) {
        w++;
        scanned++;
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
      return { at: w * this.#windowMs + Math.floor((count / limit) * this.#windowMs), delayedWindows: w - current };
    }
    throw new Error(`rate limit: no room for ${supplierId} in the next ${MAX_SCAN_WINDOWS} windows`);
  }
}

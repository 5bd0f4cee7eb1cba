/** Clocks, latency histograms and summaries shared by the scenarios and the child processes. */

/** Wall-clock milliseconds with sub-millisecond resolution (comparable across processes on one machine). */
export function now(): number {
  return performance.timeOrigin + performance.now();
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Fixed-memory latency histogram (about 630 KB of counters, however many samples): 0.1 ms buckets below 100 ms, 1 ms
 * buckets up to 120 s, 100 ms buckets up to 1 h. Quantiles are the upper bound of their bucket.
 */
export class Histogram {
  readonly #fine = new Uint32Array(1_000); // 0..100 ms by 0.1 ms
  readonly #mid = new Uint32Array(120_000); // 100 ms..120 s by 1 ms
  readonly #coarse = new Uint32Array(36_000); // 120 s..1 h by 100 ms
  count = 0;
  max = 0;
  min = Number.POSITIVE_INFINITY;
  sum = 0;

  record(ms: number): void {
    const v = Math.max(0, ms);
    this.count++;
    this.sum += v;
    if (v > this.max) this.max = v;
    if (v < this.min) this.min = v;
    if (v < 100) this.#fine[Math.floor(v * 10)]!++;
    else if (v < 120_000) this.#mid[Math.floor(v)]!++;
    else this.#coarse[Math.min(35_999, Math.floor((v - 120_000) / 100))]!++;
  }

  /** Value at quantile q (0..1): the upper bound of the bucket holding it, capped by the maximum seen. */
  quantile(q: number): number {
    if (this.count === 0) return NaN;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < this.#fine.length; i++) {
      seen += this.#fine[i]!;
      if (seen >= rank) return Math.min(this.max, (i + 1) / 10);
    }
    for (let i = 100; i < this.#mid.length; i++) {
      seen += this.#mid[i]!;
      if (seen >= rank) return Math.min(this.max, i + 1);
    }
    for (let i = 0; i < this.#coarse.length; i++) {
      seen += this.#coarse[i]!;
      if (seen >= rank) return Math.min(this.max, 120_000 + (i + 1) * 100);
    }
    return this.max;
  }

  summary(): LatencySummary {
    return {
      count: this.count,
      p50: this.quantile(0.5),
      p90: this.quantile(0.9),
      p99: this.quantile(0.99),
      max: this.count ? this.max : NaN,
      mean: this.count ? this.sum / this.count : NaN,
    };
  }
}

export interface LatencySummary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

/** Median and spread of one figure over repetitions. */
export interface Spread {
  median: number;
  min: number;
  max: number;
  runs: number[];
}

export function spread(runs: number[]): Spread {
  const ok = runs.filter((v) => Number.isFinite(v));
  if (ok.length === 0) return { median: NaN, min: NaN, max: NaN, runs };
  const s = [...ok].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { median, min: s[0]!, max: s[s.length - 1]!, runs };
}

/** Runs `task` over `items` with at most `limit` in flight. */
export async function pool<T>(items: number, limit: number, task: (i: number) => Promise<T>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items) {
      const i = next++;
      await task(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items) }, worker));
}

/** Polls `check` until it is truthy; throws after `timeoutMs`. */
export async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  everyMs = 20,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** Publishes at a steady rate: calls `fire(i)` at start + i / rate, for `count` items (does not await them in order). */
export async function paced(count: number, ratePerSec: number, fire: (i: number) => void): Promise<void> {
  const start = now();
  for (let i = 0; i < count; i++) {
    const due = start + (i * 1000) / ratePerSec;
    const wait = due - now();
    if (wait > 1) await sleep(wait);
    fire(i);
  }
}

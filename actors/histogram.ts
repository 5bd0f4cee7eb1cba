/**
 * A mergeable latency histogram with fixed log-scale buckets (the DDSketch layout, without its collapsing).
 *
 * Every instance uses the same bucket boundaries, so merging two histograms is adding counts bucket by bucket: the merge of
 * per-instance histograms is exactly the histogram of all their samples, and cluster-wide percentiles are as good as local
 * ones. That is why the monitor ships histograms rather than percentiles, which cannot be averaged.
 *
 * Layout (part of stats message `v: 1`; changing it is a new message version):
 * - bucket 0 holds values <= 1 ms (including 0);
 * - bucket i (1 .. {@link LAST_BUCKET}) holds values in (γ^(i-1), γ^i] ms, with γ = (1 + α) / (1 - α) and
 *   α = {@link RELATIVE_ERROR}; the last regular bucket reaches past 1 h;
 * - bucket {@link OVERFLOW_BUCKET} holds values above {@link MAX_TRACKED_MS} (1 h).
 *
 * A histogram is a plain JSON value and is never mutated: `record` and `merge` return new objects (sharing nothing that is
 * later changed), so they are safe in XState context and in persisted snapshots.
 */

/** Relative error of {@link quantile} for values between 1 ms and 1 h. */
export const RELATIVE_ERROR = 0.04;
/** Largest value with a bounded error; larger ones land in {@link OVERFLOW_BUCKET}. */
export const MAX_TRACKED_MS = 3_600_000;

const GAMMA = (1 + RELATIVE_ERROR) / (1 - RELATIVE_ERROR);
const LOG_GAMMA = Math.log(GAMMA);

/** Index of the last regular bucket: the first whose upper bound reaches {@link MAX_TRACKED_MS} (189). */
export const LAST_BUCKET = Math.ceil(Math.log(MAX_TRACKED_MS) / LOG_GAMMA);
/** Index of the bucket for values above {@link MAX_TRACKED_MS} (190). */
export const OVERFLOW_BUCKET = LAST_BUCKET + 1;

/**
 * Upper bounds, computed once: `bucketIndex` checks its logarithm estimate against this table, so the bounds a reader gets
 * from {@link bucketUpperBound} (say, for Prometheus `le` labels) are exactly the ones used to file values.
 */
const UPPER: readonly number[] = Array.from({ length: LAST_BUCKET + 1 }, (_, i) =>
  // The last regular bucket ends at MAX_TRACKED_MS exactly (γ^189 overshoots it): what lies above is overflow, so every
  // value stays within its bucket's bounds.
  i === LAST_BUCKET ? MAX_TRACKED_MS : GAMMA ** i,
);

/** A histogram: sparse buckets plus exact count, sum, min and max. JSON-serialisable as is. */
export interface Histogram {
  /** Non-empty buckets as `[index, count]`, ascending by index, every count >= 1. */
  readonly buckets: readonly (readonly [number, number])[];
  /** Number of recorded values. */
  readonly count: number;
  /** Sum of recorded values in ms (for the mean). */
  readonly sum: number;
  /** Smallest recorded value; 0 when empty. */
  readonly min: number;
  /** Largest recorded value; 0 when empty. */
  readonly max: number;
}

const EMPTY: Histogram = Object.freeze({ buckets: Object.freeze([]), count: 0, sum: 0, min: 0, max: 0 });

/** The empty histogram (shared and frozen: nothing ever mutates a histogram). */
export function emptyHistogram(): Histogram {
  return EMPTY;
}

/** Bucket index of a value in ms (negative values count as 0). */
export function bucketIndex(ms: number): number {
  if (!(ms > 1)) return 0;
  if (ms > MAX_TRACKED_MS) return OVERFLOW_BUCKET;
  // The logarithm can land one off at a boundary; the table decides.
  let i = Math.min(LAST_BUCKET, Math.max(1, Math.ceil(Math.log(ms) / LOG_GAMMA)));
  while (i < LAST_BUCKET && ms > (UPPER[i] ?? Infinity)) i++;
  while (i > 1 && ms <= (UPPER[i - 1] ?? 0)) i--;
  return i;
}

/** Inclusive upper bound in ms of bucket `index`; `Infinity` for the overflow bucket. */
export function bucketUpperBound(index: number): number {
  if (index >= OVERFLOW_BUCKET) return Infinity;
  return UPPER[Math.max(0, index)] ?? Infinity;
}

/**
 * The value reported for a bucket: the point whose relative distance to both ends is α, so any value of the bucket is within
 * α of it. Bucket 0 ([0, 1] ms) has no relative bound and reports 0.5 (absolute error <= 0.5 ms); the overflow bucket reports
 * the exact maximum.
 */
function representative(index: number, max: number): number {
  if (index === 0) return 0.5;
  if (index >= OVERFLOW_BUCKET) return max;
  return (2 * (UPPER[index] ?? 0)) / (GAMMA + 1);
}

/**
 * `h` plus one value, as a new histogram. Negative values (clock skew) count as 0; non-finite ones are ignored, because a
 * NaN or an infinity would poison `sum` and does not survive JSON.
 */
export function record(h: Histogram, ms: number): Histogram {
  if (!Number.isFinite(ms)) return h;
  const out: HistogramDraft = { ...h, buckets: h.buckets.slice() };
  recordInto(out, ms);
  return out;
}

/** A histogram being built: its bucket list is its own to change (the `[index, count]` pairs are replaced, never changed). */
export interface HistogramDraft {
  buckets: (readonly [number, number])[];
  count: number;
  sum: number;
  min: number;
  max: number;
}

/** Adds one value to `h` in place, as {@link record} does to a copy: for batches that own their histograms. */
export function recordInto(h: HistogramDraft, ms: number): void {
  if (!Number.isFinite(ms)) return;
  const v = Math.max(0, ms);
  const index = bucketIndex(v);
  const buckets = h.buckets;
  // Binary search: the first position whose index is >= `index`.
  let lo = 0;
  let hi = buckets.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((buckets[mid]?.[0] ?? Infinity) < index) lo = mid + 1;
    else hi = mid;
  }
  const at = buckets[lo];
  if (at !== undefined && at[0] === index) buckets[lo] = [index, at[1] + 1];
  else buckets.splice(lo, 0, [index, 1]);
  h.min = h.count === 0 ? v : Math.min(h.min, v);
  h.max = h.count === 0 ? v : Math.max(h.max, v);
  h.count += 1;
  h.sum += v;
}

/** A histogram of `values` (convenience for tests and batch building). */
export function histogramOf(values: Iterable<number>): Histogram {
  const dense = new Map<number, number>();
  let count = 0;
  let sum = 0;
  let min = Infinity;
  let max = -Infinity;
  for (const raw of values) {
    if (!Number.isFinite(raw)) continue;
    const v = Math.max(0, raw);
    const i = bucketIndex(v);
    dense.set(i, (dense.get(i) ?? 0) + 1);
    count++;
    sum += v;
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  if (count === 0) return EMPTY;
  const buckets = [...dense.entries()].sort((a, b) => a[0] - b[0]);
  return { buckets, count, sum, min, max };
}

/**
 * The histogram of the samples of both: bucket counts added, min/max/count/sum combined. Commutative and associative
 * (up to floating-point rounding of `sum`).
 */
export function merge(a: Histogram, b: Histogram): Histogram {
  if (b.count === 0) return a;
  if (a.count === 0) return b;
  const out: [number, number][] = [];
  let i = 0;
  let j = 0;
  while (i < a.buckets.length || j < b.buckets.length) {
    const x = a.buckets[i];
    const y = b.buckets[j];
    if (x !== undefined && (y === undefined || x[0] < y[0])) {
      out.push([x[0], x[1]]);
      i++;
    } else if (y !== undefined && (x === undefined || y[0] < x[0])) {
      out.push([y[0], y[1]]);
      j++;
    } else if (x !== undefined && y !== undefined) {
      out.push([x[0], x[1] + y[1]]);
      i++;
      j++;
    }
  }
  return {
    buckets: out,
    count: a.count + b.count,
    sum: a.sum + b.sum,
    min: Math.min(a.min, b.min),
    max: Math.max(a.max, b.max),
  };
}

/** Number of recorded values. */
export function count(h: Histogram): number {
  return h.count;
}

/** Largest recorded value (exact); undefined when empty. */
export function max(h: Histogram): number | undefined {
  return h.count === 0 ? undefined : h.max;
}

/** Sum of recorded values in ms. */
export function sum(h: Histogram): number {
  return h.sum;
}

/** Mean of recorded values (exact); undefined when empty. */
export function mean(h: Histogram): number | undefined {
  return h.count === 0 ? undefined : h.sum / h.count;
}

/**
 * Estimated `q`-quantile (0 <= q <= 1) with nearest-rank semantics: the value of rank `max(1, ceil(q * count))` among the
 * sorted samples. The estimate is within {@link RELATIVE_ERROR} of that sample when it lies in [1 ms, 1 h], within 0.5 ms
 * below 1 ms, and exact for the smallest and largest ranks (q = 0 gives min, q = 1 gives max). Undefined when empty.
 */
export function quantile(h: Histogram, q: number): number | undefined {
  if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile: q must be in [0, 1], got ${q}`);
  if (h.count === 0) return undefined;
  // The epsilon keeps float noise (0.57 * 100 = 56.99999999999999) from moving the rank.
  const rank = Math.max(1, Math.ceil(q * h.count - 1e-9));
  if (rank === 1) return h.min;
  if (rank >= h.count) return h.max;
  let seen = 0;
  for (const [index, n] of h.buckets) {
    seen += n;
    // Clamping to [min, max] can only move the estimate towards the true sample, which lies in between.
    if (seen >= rank) return Math.min(h.max, Math.max(h.min, representative(index, h.max)));
  }
  return h.max;
}

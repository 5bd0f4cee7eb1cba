import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  LAST_BUCKET,
  MAX_TRACKED_MS,
  OVERFLOW_BUCKET,
  RELATIVE_ERROR,
  bucketIndex,
  bucketUpperBound,
  count,
  emptyHistogram,
  histogramOf,
  max,
  mean,
  merge,
  quantile,
  record,
  sum,
  type Histogram,
} from '../actors/histogram.ts';

/** Latencies spread evenly over the decades from 1 ms to 1 h, plus plain integers. */
const inRange = fc.oneof(
  fc
    .double({ min: 0, max: Math.log(MAX_TRACKED_MS), noNaN: true })
    .map((x) => Math.min(MAX_TRACKED_MS, Math.max(1, Math.exp(x)))),
  fc.integer({ min: 1, max: MAX_TRACKED_MS }),
);
/** Anything the runtime could send, below 1 ms and above 1 h included. */
const anyLatency = fc.oneof(
  inRange,
  fc.double({ min: 0, max: 1, noNaN: true }),
  fc.integer({ min: 0, max: 10 * MAX_TRACKED_MS }),
  // Just past the tracked maximum, where the last bucket's bound once overshot it (a 1-in-10 flake).
  fc.integer({ min: MAX_TRACKED_MS - 1_000, max: MAX_TRACKED_MS + 200_000 }),
);
const samples = fc.array(anyLatency, { maxLength: 300 });
const qs = fc.integer({ min: 0, max: 1000 }).map((n) => n / 1000);

/** Nearest-rank quantile of the samples, by sorting: the definition the histogram documents. */
function exactQuantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil(q * sorted.length - 1e-9));
  return sorted[rank - 1] ?? NaN;
}

/** Everything but `sum`, whose floating-point additions depend on their order. */
const shape = (h: Histogram) => ({ buckets: h.buckets, count: h.count, min: h.min, max: h.max });

describe('histogram - layout', () => {
  it('histogram - bucket 0 holds values up to 1 ms, the last regular bucket reaches 1 h, above is overflow', () => {
    expect(bucketIndex(0)).toBe(0);
    expect(bucketIndex(1)).toBe(0);
    expect(bucketIndex(1.0001)).toBe(1);
    expect(bucketIndex(MAX_TRACKED_MS)).toBe(LAST_BUCKET);
    expect(bucketIndex(MAX_TRACKED_MS + 1)).toBe(OVERFLOW_BUCKET);
    expect(bucketUpperBound(LAST_BUCKET)).toBeGreaterThanOrEqual(MAX_TRACKED_MS);
    expect(bucketUpperBound(LAST_BUCKET - 1)).toBeLessThan(MAX_TRACKED_MS);
    expect(bucketUpperBound(OVERFLOW_BUCKET)).toBe(Infinity);
    expect(OVERFLOW_BUCKET).toBeLessThan(200);
  });

  it('histogram - every value lies within the bounds of its bucket', () => {
    fc.assert(
      fc.property(anyLatency, (v) => {
        const i = bucketIndex(v);
        expect(v).toBeLessThanOrEqual(bucketUpperBound(i));
        if (i > 0) expect(v).toBeGreaterThan(bucketUpperBound(i - 1));
      }),
    );
  });

  it('histogram - consecutive bounds grow by (1 + α) / (1 - α)', () => {
    const gamma = (1 + RELATIVE_ERROR) / (1 - RELATIVE_ERROR);
    for (let i = 1; i < LAST_BUCKET; i++) expect(bucketUpperBound(i) / bucketUpperBound(i - 1)).toBeCloseTo(gamma, 12);
    // The last regular bucket is cut at the tracked maximum: narrower, so its error is smaller still.
    expect(bucketUpperBound(LAST_BUCKET)).toBe(MAX_TRACKED_MS);
    expect(bucketUpperBound(LAST_BUCKET) / bucketUpperBound(LAST_BUCKET - 1)).toBeLessThan(gamma);
  });
});

describe('histogram - recording', () => {
  it('histogram - record returns a new histogram and leaves the old one alone', () => {
    const a = record(emptyHistogram(), 10);
    const b = record(a, 10);
    const c = record(b, 500);
    expect(a).toEqual({ buckets: [[bucketIndex(10), 1]], count: 1, sum: 10, min: 10, max: 10 });
    expect(b.buckets).toEqual([[bucketIndex(10), 2]]);
    expect(c.buckets).toEqual([
      [bucketIndex(10), 2],
      [bucketIndex(500), 1],
    ]);
    expect([count(c), sum(c), max(c), mean(c)]).toEqual([3, 520, 500, 520 / 3]);
    expect(emptyHistogram().count).toBe(0);
  });

  it('histogram - non-finite values are ignored and negative ones count as 0', () => {
    const h = [NaN, Infinity, -Infinity, -5].reduce(record, emptyHistogram());
    expect(h).toEqual({ buckets: [[0, 1]], count: 1, sum: 0, min: 0, max: 0 });
  });

  it('histogram - record one by one equals building from all values, sparse and ascending', () => {
    fc.assert(
      fc.property(samples, (values) => {
        const folded = values.reduce(record, emptyHistogram());
        const built = histogramOf(values);
        expect(shape(folded)).toEqual(shape(built));
        expect(folded.sum).toBeCloseTo(built.sum, 3);
        const indexes = built.buckets.map(([i]) => i);
        expect(indexes).toEqual([...new Set(indexes)].sort((a, b) => a - b));
        expect(built.buckets.every(([, n]) => n >= 1)).toBe(true);
        expect(built.buckets.reduce((n, [, c]) => n + c, 0)).toBe(values.length);
      }),
    );
  });

  it('histogram - survives a JSON round trip unchanged', () => {
    fc.assert(
      fc.property(samples, (values) => {
        const h = histogramOf(values);
        const copy = JSON.parse(JSON.stringify(h)) as Histogram;
        expect(copy).toEqual(h);
        expect(quantile(copy, 0.9)).toBe(quantile(h, 0.9));
      }),
    );
  });
});

describe('histogram - merging', () => {
  it('histogram - merge is commutative', () => {
    fc.assert(
      fc.property(samples, samples, (xs, ys) => {
        const [a, b] = [histogramOf(xs), histogramOf(ys)];
        expect(merge(a, b)).toEqual(merge(b, a));
      }),
    );
  });

  it('histogram - merge is associative', () => {
    fc.assert(
      fc.property(samples, samples, samples, (xs, ys, zs) => {
        const [a, b, c] = [histogramOf(xs), histogramOf(ys), histogramOf(zs)];
        const left = merge(merge(a, b), c);
        const right = merge(a, merge(b, c));
        expect(shape(left)).toEqual(shape(right));
        expect(left.sum).toBeCloseTo(right.sum, 3);
      }),
    );
  });

  it('histogram - the empty histogram is the identity of merge', () => {
    fc.assert(
      fc.property(samples, (xs) => {
        const h = histogramOf(xs);
        expect(merge(h, emptyHistogram())).toEqual(h);
        expect(merge(emptyHistogram(), h)).toEqual(h);
      }),
    );
  });

  it('histogram - merging equals recording the concatenated samples, quantiles included', () => {
    fc.assert(
      fc.property(samples, samples, qs, (xs, ys, q) => {
        const merged = merge(histogramOf(xs), histogramOf(ys));
        const whole = histogramOf([...xs, ...ys]);
        expect(shape(merged)).toEqual(shape(whole));
        expect(quantile(merged, q)).toBe(quantile(whole, q));
        if (xs.length + ys.length > 0) {
          expect(withinError(quantile(merged, q), exactQuantile([...xs, ...ys], q))).toBe(true);
        }
      }),
    );
  });
});

/** The documented bound: relative α in [1 ms, 1 h], 0.5 ms below 1 ms, none for overflow. */
function withinError(estimate: number | undefined, exact: number): boolean {
  if (estimate === undefined) return false;
  if (exact > MAX_TRACKED_MS) return estimate > MAX_TRACKED_MS;
  if (exact <= 1) return Math.abs(estimate - exact) <= 0.5 + 1e-12;
  return Math.abs(estimate - exact) <= exact * RELATIVE_ERROR * (1 + 1e-9);
}

describe('histogram - quantiles', () => {
  it('histogram - a quantile is within 4 % of the exact sample quantile for 1 ms .. 1 h', () => {
    fc.assert(
      fc.property(fc.array(inRange, { minLength: 1, maxLength: 400 }), qs, (values, q) => {
        const estimate = quantile(histogramOf(values), q);
        const exact = exactQuantile(values, q);
        expect(estimate).toBeDefined();
        expect(Math.abs((estimate ?? NaN) - exact)).toBeLessThanOrEqual(exact * RELATIVE_ERROR * (1 + 1e-9));
      }),
      { numRuns: 500 },
    );
  });

  it('histogram - sub-millisecond and overflow values stay within their documented bounds', () => {
    fc.assert(
      fc.property(fc.array(anyLatency, { minLength: 1, maxLength: 300 }), qs, (values, q) => {
        expect(withinError(quantile(histogramOf(values), q), exactQuantile(values, q))).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('histogram - q = 0 and q = 1 are the exact min and max, an empty histogram has none', () => {
    const h = histogramOf([3.3, 47, 1234.5, 90_000]);
    expect(quantile(h, 0)).toBe(3.3);
    expect(quantile(h, 1)).toBe(90_000);
    expect(quantile(emptyHistogram(), 0.5)).toBeUndefined();
    expect(max(emptyHistogram())).toBeUndefined();
    expect(mean(emptyHistogram())).toBeUndefined();
  });

  it('histogram - quantile of values above 1 h reports the exact maximum', () => {
    const h = histogramOf([10, 2 * MAX_TRACKED_MS, 3 * MAX_TRACKED_MS, 5 * MAX_TRACKED_MS]);
    expect(quantile(h, 0.75)).toBe(5 * MAX_TRACKED_MS);
  });

  it('histogram - quantile rejects q outside [0, 1]', () => {
    const h = histogramOf([1, 2, 3]);
    for (const q of [-0.1, 1.01, NaN]) expect(() => quantile(h, q)).toThrow(RangeError);
  });
});

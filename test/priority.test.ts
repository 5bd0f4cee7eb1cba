import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TIERS, priorityForDays, tierAt, type Tier } from '../actors/priority.ts';

const DAY = 86_400_000;
const MIN_MS = Date.UTC(2000, 0, 1);
const MAX_MS = Date.UTC(2040, 11, 31);
const ZONES = ['Pacific/Auckland', 'America/New_York', 'Europe/London', 'Asia/Kolkata', 'Pacific/Kiritimati'] as const;

/** Independent reimplementation of the table, written as data rather than as branches. */
const TABLE: readonly { maxDays: number; tier: Tier; priority: number }[] = [
  { maxDays: 1, tier: 'critical', priority: 10 },
  { maxDays: 3, tier: 'high', priority: 9 },
  { maxDays: 7, tier: 'high', priority: 8 },
  { maxDays: 14, tier: 'medium', priority: 7 },
  { maxDays: 30, tier: 'medium', priority: 6 },
  { maxDays: 90, tier: 'low', priority: 5 },
];
function oracle(days: number | undefined): { tier: Tier; priority: number } {
  if (days === undefined || days < 0) return { tier: 'low', priority: 4 };
  const row = TABLE.find((r) => days <= r.maxDays);
  return row === undefined ? { tier: 'low', priority: 4 } : { tier: row.tier, priority: row.priority };
}

/** Local calendar days from `nowMs` to `date`, via toLocaleDateString and UTC day numbers. */
function oracleDays(nowMs: number, date: string, tz: string): number {
  const today = new Date(nowMs).toLocaleDateString('en-CA', { timeZone: tz });
  return (Date.parse(`${date}T00:00:00Z`) - Date.parse(`${today}T00:00:00Z`)) / DAY;
}

const rank = (tier: Tier): number => TIERS.indexOf(tier);

describe('priority - table', () => {
  it.each<[number | undefined, Tier, number]>([
    [undefined, 'low', 4],
    [Number.NaN, 'low', 4],
    [-1, 'low', 4],
    [-400, 'low', 4],
    [0, 'critical', 10],
    [1, 'critical', 10],
    [2, 'high', 9],
    [3, 'high', 9],
    [4, 'high', 8],
    [7, 'high', 8],
    [8, 'medium', 7],
    [14, 'medium', 7],
    [15, 'medium', 6],
    [30, 'medium', 6],
    [31, 'low', 5],
    [90, 'low', 5],
    [91, 'low', 4],
    [10_000, 'low', 4],
  ])('priority - %s days is %s %s', (days, tier, priority) => {
    expect(priorityForDays(days)).toEqual({ tier, priority });
  });

  it('priority - TIERS are ordered most urgent first', () => {
    expect(TIERS).toEqual(['critical', 'high', 'medium', 'low']);
  });
});

describe('priority - tierAt', () => {
  it('priority - an Auckland wedding at 00:30 local is critical on the day, though UTC is the day before', () => {
    // 2027-06-13 00:30 NZST is 2027-06-12T12:30Z.
    const now = Date.parse('2027-06-12T12:30:00Z');
    expect(new Date(now).toISOString().slice(0, 10)).toBe('2027-06-12');
    expect(tierAt(now, '2027-06-13', 'Pacific/Auckland')).toEqual({ tier: 'critical', priority: 10, daysToWedding: 0 });
    // A wedding two days out by the UTC date is still tomorrow in Auckland: critical, not high.
    expect(tierAt(now, '2027-06-14', 'Pacific/Auckland')).toEqual({ tier: 'critical', priority: 10, daysToWedding: 1 });
  });

  it('priority - unknown and passed weddings are low 4', () => {
    expect(tierAt(0, undefined, 'UTC')).toEqual({ tier: 'low', priority: 4, daysToWedding: undefined });
    expect(tierAt(Date.parse('2027-06-14T12:00:00Z'), '2027-06-13', 'UTC')).toEqual({
      tier: 'low',
      priority: 4,
      daysToWedding: -1,
    });
  });

  it('priority - a malformed wedding date throws RangeError', () => {
    expect(() => tierAt(0, '13/06/2027', 'UTC')).toThrow(RangeError);
  });

  it('priority - priorityForDays is monotone: a closer wedding is never lower priority', () => {
    fc.assert(
      fc.property(fc.nat({ max: 500 }), fc.nat({ max: 500 }), (a, b) => {
        const [near, far] = a <= b ? [a, b] : [b, a];
        const p = priorityForDays(near);
        const q = priorityForDays(far);
        expect(p.priority).toBeGreaterThanOrEqual(q.priority);
        expect(rank(p.tier)).toBeLessThanOrEqual(rank(q.tier));
      }),
      { numRuns: 300 },
    );
  });

  it('priority - tierAt matches the independent table with days from toLocaleDateString', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: MIN_MS, max: MAX_MS }),
        fc.integer({ min: -20, max: 200 }),
        fc.constantFrom(...ZONES),
        (now, delta, tz) => {
          const wedding = new Date(now + delta * DAY).toISOString().slice(0, 10);
          const days = oracleDays(now, wedding, tz);
          expect(tierAt(now, wedding, tz)).toEqual({ ...oracle(days), daysToWedding: days });
        },
      ),
      { numRuns: 300 },
    );
  });

  it('priority - as time passes towards the wedding, priority never drops', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: MIN_MS, max: MAX_MS }),
        fc.nat({ max: 120 * DAY }),
        fc.nat({ max: 120 * DAY }),
        fc.constantFrom(...ZONES),
        (wedding0, x, y, tz) => {
          const wedding = new Date(wedding0).toISOString().slice(0, 10);
          // Two moments before the end of the wedding day (any zone: UTC-12..+14).
          const end = Date.parse(`${wedding}T00:00:00Z`) + DAY - 14 * 3_600_000 - 1;
          const [early, late] = [end - Math.max(x, y), end - Math.min(x, y)];
          const a = tierAt(early, wedding, tz);
          const b = tierAt(late, wedding, tz);
          expect(b.priority).toBeGreaterThanOrEqual(a.priority);
          expect(rank(b.tier)).toBeLessThanOrEqual(rank(a.tier));
        },
      ),
      { numRuns: 300 },
    );
  });
});

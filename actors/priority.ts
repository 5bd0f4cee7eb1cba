/**
 * Journey priority from how close the wedding is. Days are counted in the wedding's local
 * calendar, so a wedding "tomorrow" in Auckland is tomorrow there, whatever the UTC date says.
 */
import { daysUntil } from './time.ts';

/** Priority tiers, most urgent first. */
export const TIERS = ['critical', 'high', 'medium', 'low'] as const;
/** One of {@link TIERS}. */
export type Tier = (typeof TIERS)[number];

/**
 * Tier and numeric priority (higher is more urgent) for a wedding `daysToWedding` local days away:
 *
 * | days                     | tier     | priority       |
 * | ------------------------ | -------- | -------------- |
 * | 0-1                      | critical | 10             |
 * | 2-7                      | high     | 9 if <= 3 else 8 |
 * | 8-30                     | medium   | 7 if <= 14 else 6 |
 * | > 30                     | low      | 5 if <= 90 else 4 |
 * | passed, unknown, or NaN  | low      | 4              |
 *
 * A passed wedding ranks lowest: follow-ups after the day are never urgent.
 */
export function priorityForDays(daysToWedding: number | undefined): { tier: Tier; priority: number } {
  const d = daysToWedding;
  if (d === undefined || Number.isNaN(d) || d < 0) return { tier: 'low', priority: 4 };
  if (d <= 1) return { tier: 'critical', priority: 10 };
  if (d <= 7) return { tier: 'high', priority: d <= 3 ? 9 : 8 };
  if (d <= 30) return { tier: 'medium', priority: d <= 14 ? 7 : 6 };
  return { tier: 'low', priority: d <= 90 ? 5 : 4 };
}

/**
 * Tier at `nowMs` for a wedding on local date `weddingDate` (`YYYY-MM-DD`) in `timeZone`.
 * An undefined date means unknown (low, 4); a malformed one throws RangeError rather than being
 * silently demoted, because it is a data error upstream.
 */
export function tierAt(
  nowMs: number,
  weddingDate: string | undefined,
  timeZone: string,
): Readonly<{ tier: Tier; priority: number; daysToWedding: number | undefined }> {
  if (weddingDate === undefined) return UNKNOWN_DATE;
  // One step asks for its wedding's tier several times within a second (the start, each metric, the finish): the
  // answers of the current second are kept. Days change at local midnight, a whole second, so this is exact.
  const second = Math.floor(nowMs / 1000);
  if (second !== memoSecond) {
    memo.clear();
    memoSecond = second;
  }
  const key = `${weddingDate}|${timeZone}`;
  let hit = memo.get(key);
  if (hit === undefined) {
    const daysToWedding = daysUntil(nowMs, weddingDate, timeZone);
    hit = Object.freeze({ ...priorityForDays(daysToWedding), daysToWedding });
    if (memo.size < MEMO_LIMIT) memo.set(key, hit);
  }
  return hit;
}

const UNKNOWN_DATE = Object.freeze({ ...priorityForDays(undefined), daysToWedding: undefined });
const MEMO_LIMIT = 10_000;
let memoSecond = Number.NaN;
const memo = new Map<string, Readonly<{ tier: Tier; priority: number; daysToWedding: number }>>();

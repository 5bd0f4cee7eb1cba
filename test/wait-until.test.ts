/**
 * `waitUntil` and priority across DST changes and time zones, property-based against an independent calculation that
 * uses only its own Intl formatter and Date.UTC arithmetic (never the module under test).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseDuration } from '../actors/duration.ts';
import { resolveWaitUntil } from '../actors/time.ts';
import { tierAt } from '../actors/priority.ts';

const ZONES = ['Pacific/Auckland', 'America/New_York', 'Europe/London', 'Asia/Kolkata'] as const;
const DAY = 86_400_000;

const fmt = new Map<string, Intl.DateTimeFormat>();
function wall(epochMs: number, tz: string): { date: string; time: string } {
  let f = fmt.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-GB', { timeZone: tz, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' });
    fmt.set(tz, f);
  }
  const p = Object.fromEntries(f.formatToParts(epochMs).map((x) => [x.type, x.value]));
  return { date: `${p['year']}-${p['month']}-${p['day']}`, time: `${p['hour']}:${p['minute']}` };
}
const plusDays = (date: string, days: number): string => new Date(Date.parse(`${date}T00:00:00Z`) + days * DAY).toISOString().slice(0, 10);

/** Every instant in [date - 1 day, date + 2 days] (15-minute steps) whose local wall clock reads `date time`. */
function instantsShowing(date: string, time: string, tz: string): number[] {
  const naive = Date.parse(`${date}T${time}:00Z`);
  const out: number[] = [];
  for (let off = -14 * 60; off <= 14 * 60; off += 15) {
    const t = naive - off * 60_000;
    const w = wall(t, tz);
    if (w.date === date && w.time === time) out.push(t);
  }
  return out.sort((a, b) => a - b);
}

const dateArb = fc.integer({ min: Date.UTC(2001, 0, 1), max: Date.UTC(2039, 11, 1) }).map((ms) => new Date(ms).toISOString().slice(0, 10));
const timeArb = fc.tuple(fc.integer({ min: 0, max: 23 }), fc.integer({ min: 0, max: 3 })).map(([h, q]) => `${String(h).padStart(2, '0')}:${String(q * 15).padStart(2, '0')}`);

describe('waitUntil across time zones and DST', () => {
  it('wait-until - a date anchor with a day offset lands on that local date at the local time (or just after a DST gap)', () => {
    fc.assert(
      fc.property(dateArb, fc.integer({ min: -400, max: 400 }), timeArb, fc.constantFrom(...ZONES), (anchor, days, at, tz) => {
        const offset = parseDuration(`${days < 0 ? '-' : ''}P${Math.abs(days)}D`)!;
        const due = resolveWaitUntil({ anchor, offset, at }, tz);
        const target = plusDays(anchor, days);
        const showing = instantsShowing(target, at, tz);
        if (showing.length > 0) {
          expect(due).toBe(showing[0]); // ambiguous (fall back): the earlier instant
        } else {
          // A spring-forward gap: the first instant after it, on the same local date.
          const w = wall(due, tz);
          expect(w.date).toBe(target);
          expect(w.time > at).toBe(true);
          expect(wall(due - 60 * 60_000, tz).time < at || wall(due - 60 * 60_000, tz).date < target).toBe(true);
        }
      }),
      { numRuns: 400 },
    );
  });

  it('wait-until - six weeks before a wedding is 42 local days before, whatever the DST changes in between', () => {
    fc.assert(
      fc.property(dateArb, fc.constantFrom(...ZONES), (wedding, tz) => {
        const due = resolveWaitUntil({ anchor: wedding, offset: parseDuration('-P42D')!, at: '09:00' }, tz);
        expect(wall(due, tz)).toEqual({ date: plusDays(wedding, -42), time: '09:00' });
      }),
      { numRuns: 300 },
    );
  });

  it('wait-until - the tier follows the local calendar: critical on the local day before and of the wedding only', () => {
    fc.assert(
      fc.property(dateArb, fc.integer({ min: -3 * DAY, max: 3 * DAY }), fc.constantFrom(...ZONES), (wedding, shift, tz) => {
        const now = Date.parse(`${wedding}T12:00:00Z`) + shift;
        const days = (Date.parse(`${wedding}T00:00:00Z`) - Date.parse(`${wall(now, tz).date}T00:00:00Z`)) / DAY;
        const { tier } = tierAt(now, wedding, tz);
        expect(tier === 'critical').toBe(days === 0 || days === 1);
      }),
      { numRuns: 400 },
    );
  });
});

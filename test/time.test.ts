import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseDuration } from '../actors/duration.ts';
import {
  addDaysToDate,
  daysBetweenDates,
  daysUntil,
  isCalendarDate,
  isSaturday,
  isValidTimeZone,
  isWeddingSeason,
  localDate,
  localParts,
  nextAllowedTime,
  resolveWaitUntil,
  zonedToEpoch,
  type QuietHours,
} from '../actors/time.ts';

const at = (iso: string): number => {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) throw new Error(`bad fixture ${iso}`);
  return ms;
};
const iso = (ms: number): string => new Date(ms).toISOString();

// ---------------------------------------------------------------------------------------------
// Independent oracle: its own formatters, brute force, and Date.UTC arithmetic. It never calls
// the module under test, so a shared bug cannot make both sides agree.
// ---------------------------------------------------------------------------------------------

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const MIN_MS = Date.UTC(2000, 0, 1);
const MAX_MS = Date.UTC(2040, 11, 31);

const oracleFormatters = new Map<string, Intl.DateTimeFormat>();
function oracleWall(epochMs: number, tz: string): string {
  let f = oracleFormatters.get(tz);
  if (f === undefined) {
    f = new Intl.DateTimeFormat('en-GB', {
      timeZone: tz,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    oracleFormatters.set(tz, f);
  }
  const p = Object.fromEntries(f.formatToParts(epochMs).map((x) => [x.type, x.value]));
  return `${p['year']}-${p['month']}-${p['day']}T${p['hour']}:${p['minute']}:${p['second']}`;
}
/** Wall time read as UTC, in ms. */
const oracleWallMs = (epochMs: number, tz: string): number => Date.parse(`${oracleWall(epochMs, tz)}Z`);
const oracleOffset = (epochMs: number, tz: string): number =>
  oracleWallMs(epochMs, tz) - Math.floor(epochMs / 1000) * 1000;

/** Every instant whose wall clock shows `wanted`, by scanning offsets -14h..+14h in 15-min steps. */
function bruteForceInstants(wanted: string, tz: string): number[] {
  const naive = Date.parse(`${wanted}Z`);
  const found: number[] = [];
  for (let off = -14 * 60; off <= 14 * 60; off += 15) {
    const t = naive - off * MINUTE;
    if (oracleWall(t, tz) === wanted) found.push(t);
  }
  return found.sort((a, b) => a - b);
}

/** Offset transitions in [2000, 2041): weekly scan, then binary search to the second. */
function transitions(tz: string): number[] {
  const out: number[] = [];
  for (let t = MIN_MS; t < MAX_MS; t += 7 * DAY) {
    if (oracleOffset(t, tz) === oracleOffset(t + 7 * DAY, tz)) continue;
    let lo = t;
    let hi = t + 7 * DAY;
    while (hi - lo > 1000) {
      const mid = lo + Math.floor((hi - lo) / 2000) * 1000;
      if (oracleOffset(mid, tz) === oracleOffset(lo, tz)) lo = mid;
      else hi = mid;
    }
    out.push(hi);
  }
  return out;
}

const ZONES = [
  'Pacific/Auckland',
  'America/New_York',
  'Europe/London',
  'Asia/Kolkata',
  'Australia/Lord_Howe', // 30-minute DST shift
  'Pacific/Chatham', // +12:45 / +13:45
  'America/Sao_Paulo', // DST used to start at local midnight
  'Pacific/Apia', // skipped 2011-12-30 entirely
] as const;
const TRANSITIONS = new Map<string, number[]>(ZONES.map((z) => [z, transitions(z)]));

/** An instant in 2000-2040, half the time within a few hours of one of `tz`'s DST transitions. */
function instantIn(tz: string, spreadMs = 3 * HOUR): fc.Arbitrary<number> {
  const uniform = fc.integer({ min: MIN_MS, max: MAX_MS });
  const list = TRANSITIONS.get(tz) ?? [];
  if (list.length === 0) return uniform;
  const near = fc
    .tuple(fc.constantFrom(...list), fc.integer({ min: -spreadMs / 1000, max: spreadMs / 1000 }))
    .map(([t, s]) => t + s * 1000);
  return fc.oneof(uniform, near);
}

const zoneAndInstant = (spreadMs?: number): fc.Arbitrary<[string, number]> =>
  fc.constantFrom(...ZONES).chain((tz) => instantIn(tz, spreadMs).map((t): [string, number] => [tz, t]));

/**
 * A zone and a wall time (as `YYYY-MM-DDTHH:MM:SS`), half the time within 3 h of the wall clock
 * at a transition, so that it often falls in a gap (missing) or an overlap (repeated).
 */
const zoneAndWall: fc.Arbitrary<[string, string]> = fc.constantFrom(...ZONES).chain((tz) => {
  const list = TRANSITIONS.get(tz) ?? [];
  const uniform = fc.integer({ min: MIN_MS, max: MAX_MS }).map((t) => oracleWallMs(t, tz));
  if (list.length === 0) return uniform.map((w): [string, string] => [tz, new Date(w).toISOString().slice(0, 19)]);
  const near = fc
    .tuple(fc.constantFrom(...list), fc.integer({ min: -3 * 3600, max: 3 * 3600 }))
    .map(([t, s]) => oracleWallMs(t - 1000, tz) + 1000 + s * 1000);
  const wall = fc.oneof(uniform, near);
  return wall.map((w): [string, string] => [tz, new Date(w).toISOString().slice(0, 19)]);
});

const hhmm = (minuteOfDay: number): string =>
  `${String(Math.floor(minuteOfDay / 60)).padStart(2, '0')}:${String(minuteOfDay % 60).padStart(2, '0')}`;

function oracleQuiet(epochMs: number, quiet: QuietHours, tz: string): boolean {
  const toSec = (s: string): number => Number(s.slice(0, 2)) * 3600 + Number(s.slice(3, 5)) * 60;
  const wall = oracleWall(epochMs, tz);
  const sec = Number(wall.slice(11, 13)) * 3600 + Number(wall.slice(14, 16)) * 60 + Number(wall.slice(17, 19));
  const start = toSec(quiet.start);
  const end = toSec(quiet.end);
  if (start === end) return false;
  return start < end ? sec >= start && sec < end : sec >= start || sec < end;
}

const utcDay = (date: string): number => Date.parse(`${date}T00:00:00Z`) / DAY;

// ---------------------------------------------------------------------------------------------

describe('time - zones', () => {
  it('time - isValidTimeZone accepts IANA names and rejects junk', () => {
    expect(isValidTimeZone('Pacific/Auckland')).toBe(true);
    expect(isValidTimeZone('UTC')).toBe(true);
    expect(isValidTimeZone('Mars/Olympus_Mons')).toBe(false);
    expect(isValidTimeZone('')).toBe(false);
  });

  it('time - unknown zones throw RangeError', () => {
    expect(() => localParts(0, 'Nowhere/Special')).toThrow(RangeError);
    expect(() => zonedToEpoch('2027-01-01', '09:00', 'Nowhere/Special')).toThrow(RangeError);
  });
});

describe('time - fixed DST cases', () => {
  const cases: [tz: string, date: string, time: string, expected: string, why: string][] = [
    // Pacific/Auckland: NZST +12 -> NZDT +13 at 02:00 on 2027-09-26; back at 03:00 on 2027-04-04.
    ['Pacific/Auckland', '2027-09-26', '01:59', '2027-09-25T13:59:00Z', 'just before the gap'],
    ['Pacific/Auckland', '2027-09-26', '02:30', '2027-09-25T14:30:00Z', 'gap: pushed forward to 03:30 NZDT'],
    ['Pacific/Auckland', '2027-09-26', '03:00', '2027-09-25T14:00:00Z', 'first time after the gap'],
    ['Pacific/Auckland', '2027-04-04', '02:30', '2027-04-03T13:30:00Z', 'overlap: earlier (NZDT)'],
    ['Pacific/Auckland', '2027-04-04', '03:00', '2027-04-03T15:00:00Z', 'after the overlap'],
    ['Pacific/Auckland', '2027-06-13', '00:30', '2027-06-12T12:30:00Z', 'local date ahead of UTC'],
    // America/New_York: EST -5 -> EDT -4 at 02:00 on 2027-03-14; back at 02:00 on 2027-11-07.
    ['America/New_York', '2027-03-14', '02:30', '2027-03-14T07:30:00Z', 'gap: pushed forward to 03:30 EDT'],
    ['America/New_York', '2027-03-14', '03:00', '2027-03-14T07:00:00Z', 'first time after the gap'],
    ['America/New_York', '2027-11-07', '01:30', '2027-11-07T05:30:00Z', 'overlap: earlier (EDT)'],
    ['America/New_York', '2027-11-07', '02:00', '2027-11-07T07:00:00Z', 'after the overlap'],
    // Europe/London: GMT -> BST at 01:00 on 2027-03-28; back at 02:00 BST on 2027-10-31.
    ['Europe/London', '2027-03-28', '01:30', '2027-03-28T01:30:00Z', 'gap: pushed forward to 02:30 BST'],
    ['Europe/London', '2027-10-31', '01:30', '2027-10-31T00:30:00Z', 'overlap: earlier (BST)'],
    ['Europe/London', '2027-01-15', '09:00:30', '2027-01-15T09:00:30Z', 'winter, with seconds'],
    // Asia/Kolkata: +05:30 all year.
    ['Asia/Kolkata', '2027-03-14', '09:00', '2027-03-14T03:30:00Z', 'half-hour offset'],
    ['Asia/Kolkata', '2027-01-01', '00:00', '2026-12-31T18:30:00Z', 'midnight is the previous UTC day'],
  ];
  it.each(cases)('time - zonedToEpoch %s %s %s (%s)', (tz, date, time, expected) => {
    expect(iso(zonedToEpoch(date, time, tz))).toBe(iso(at(expected)));
  });

  it('time - localParts reads both sides of a transition', () => {
    expect(localParts(at('2027-09-25T13:59:59Z'), 'Pacific/Auckland')).toMatchObject({ day: 26, hour: 1, minute: 59 });
    expect(localParts(at('2027-09-25T14:00:00Z'), 'Pacific/Auckland')).toMatchObject({ day: 26, hour: 3, minute: 0 });
    // The repeated hour in New York: 01:30 happens at 05:30Z (EDT) and again at 06:30Z (EST).
    expect(localParts(at('2027-11-07T05:30:00Z'), 'America/New_York')).toMatchObject({ hour: 1, minute: 30 });
    expect(localParts(at('2027-11-07T06:30:00Z'), 'America/New_York')).toMatchObject({ hour: 1, minute: 30 });
    expect(localParts(0, 'Asia/Kolkata')).toEqual({
      year: 1970,
      month: 1,
      day: 1,
      hour: 5,
      minute: 30,
      second: 0,
      weekday: 4,
    });
    // Midnight renders as 0, not 24.
    expect(localParts(at('2027-06-12T04:00:00Z'), 'America/New_York')).toMatchObject({ hour: 0, weekday: 6 });
  });

  it('time - localDate and daysUntil follow the local calendar', () => {
    expect(localDate(at('2027-06-12T18:29:59Z'), 'Asia/Kolkata')).toBe('2027-06-12');
    expect(localDate(at('2027-06-12T18:30:00Z'), 'Asia/Kolkata')).toBe('2027-06-13');
    // 11:30Z on the 12th is 23:30 in Auckland; 12:30Z is already the 13th.
    expect(daysUntil(at('2027-06-12T11:30:00Z'), '2027-06-13', 'Pacific/Auckland')).toBe(1);
    expect(daysUntil(at('2027-06-12T12:30:00Z'), '2027-06-13', 'Pacific/Auckland')).toBe(0);
    expect(daysUntil(at('2027-06-14T12:30:00Z'), '2027-06-13', 'Pacific/Auckland')).toBe(-2);
  });

  it('time - calendar arithmetic on plain dates', () => {
    expect(addDaysToDate('2028-02-28', 1)).toBe('2028-02-29');
    expect(addDaysToDate('2027-02-28', 1)).toBe('2027-03-01');
    expect(addDaysToDate('2027-01-01', -1)).toBe('2026-12-31');
    expect(daysBetweenDates('2027-01-01', '2028-01-01')).toBe(365);
    expect(daysBetweenDates('2028-01-01', '2027-01-01')).toBe(-365);
    expect(() => addDaysToDate('2027-02-30', 1)).toThrow(RangeError);
    expect(() => daysBetweenDates('27-1-1', '2027-01-01')).toThrow(RangeError);
  });

  it('time - wedding season is May to October with 1-based months', () => {
    expect(isWeddingSeason('2027-04-30')).toBe(false);
    expect(isWeddingSeason('2027-05-01')).toBe(true);
    expect(isWeddingSeason('2027-10-31')).toBe(true);
    expect(isWeddingSeason('2027-11-01')).toBe(false); // the old getMonth() bug said true
    expect(isWeddingSeason('2027-01-15', [12, 1, 2])).toBe(true);
  });

  it('time - isSaturday uses the given local date', () => {
    expect(isSaturday('2027-06-12')).toBe(true);
    expect(isSaturday('2027-06-13')).toBe(false);
    expect(isSaturday('2000-01-01')).toBe(true);
  });
});

describe('time - quiet hours', () => {
  const night: QuietHours = { start: '21:00', end: '08:00' };
  const ny = 'America/New_York';

  it.each([
    ['2027-06-13T02:00:00Z', '2027-06-13T12:00:00Z', '22:00 EDT waits for 08:00 next day'],
    ['2027-06-12T11:59:00Z', '2027-06-12T12:00:00Z', '07:59 waits a minute'],
    ['2027-06-12T11:59:59.500Z', '2027-06-12T12:00:00Z', 'sub-second before the end'],
    ['2027-06-12T12:00:00Z', '2027-06-12T12:00:00Z', '08:00 exactly is allowed'],
    ['2027-06-13T00:59:00Z', '2027-06-13T00:59:00Z', '20:59 is allowed'],
    ['2027-06-13T01:00:00Z', '2027-06-13T12:00:00Z', '21:00 starts the window'],
    ['2027-03-14T03:00:00Z', '2027-03-14T12:00:00Z', 'over spring-forward: 08:00 EDT, not 08:00 EST'],
    ['2027-11-07T02:00:00Z', '2027-11-07T13:00:00Z', 'over fall-back: 08:00 EST'],
  ])('time - nextAllowedTime wrapping 21:00-08:00 in New York: %s -> %s (%s)', (input, expected) => {
    expect(iso(nextAllowedTime(at(input), night, ny))).toBe(iso(at(expected)));
  });

  it('time - nextAllowedTime with the end inside a DST gap returns the transition', () => {
    // 22:00-02:30 on 2027-03-14: at 01:45 EST the clock jumps to 03:00 EDT, already past 02:30.
    expect(iso(nextAllowedTime(at('2027-03-14T06:45:00Z'), { start: '22:00', end: '02:30' }, ny))).toBe(
      '2027-03-14T07:00:00.000Z',
    );
  });

  it('time - nextAllowedTime in the repeated hour waits for the right occurrence', () => {
    const q: QuietHours = { start: '00:00', end: '01:30' };
    expect(iso(nextAllowedTime(at('2027-11-07T05:10:00Z'), q, ny))).toBe('2027-11-07T05:30:00.000Z'); // 01:10 EDT
    expect(iso(nextAllowedTime(at('2027-11-07T06:10:00Z'), q, ny))).toBe('2027-11-07T06:30:00.000Z'); // 01:10 EST
  });

  it('time - nextAllowedTime ends early when a fall-back sets the clock before the start', () => {
    // 01:30-08:00 in New York: at 01:45 EDT the clock falls back to 01:00 EST, outside the window
    // by the local clock, until 01:30 EST starts it again.
    const q: QuietHours = { start: '01:30', end: '08:00' };
    expect(iso(nextAllowedTime(at('2027-11-07T05:45:00Z'), q, ny))).toBe('2027-11-07T06:00:00.000Z');
    expect(iso(nextAllowedTime(at('2027-11-07T06:30:00Z'), q, ny))).toBe('2027-11-07T13:00:00.000Z');
    // Found by the property below: Sao Paulo fell back at local midnight (00:00 -02 -> 23:00 -03).
    const late: QuietHours = { start: '23:01', end: '00:00' };
    expect(iso(nextAllowedTime(at('2000-02-27T01:59:59Z'), late, 'America/Sao_Paulo'))).toBe(
      '2000-02-27T02:00:00.000Z',
    );
  });

  it('time - nextAllowedTime when a whole local day is skipped (Samoa, 2011-12-30)', () => {
    // 22:00 on the 29th (-10); the clock jumps to 00:00 on the 31st (+14), still quiet, so 08:00.
    expect(iso(nextAllowedTime(at('2011-12-30T08:00:00Z'), night, 'Pacific/Apia'))).toBe('2011-12-30T18:00:00.000Z');
    expect(iso(zonedToEpoch('2011-12-30', '09:00', 'Pacific/Apia'))).toBe('2011-12-30T19:00:00.000Z');
  });

  it('time - nextAllowedTime non-wrapping window, empty window and no window', () => {
    const lunch: QuietHours = { start: '12:00', end: '14:00' };
    expect(iso(nextAllowedTime(at('2027-06-12T07:30:00Z'), lunch, 'Asia/Kolkata'))).toBe('2027-06-12T08:30:00.000Z');
    expect(nextAllowedTime(123_456, { start: '09:00', end: '09:00' }, ny)).toBe(123_456);
    expect(nextAllowedTime(123_456, undefined, ny)).toBe(123_456);
    expect(() => nextAllowedTime(0, { start: '25:00', end: '08:00' }, ny)).toThrow(RangeError);
  });

  it('time - nextAllowedTime in Auckland over a wrapping window', () => {
    // 2027-09-25 22:00 NZST = 10:00Z; the clock springs forward overnight; 08:00 NZDT = 19:00Z.
    expect(iso(nextAllowedTime(at('2027-09-25T10:00:00Z'), night, 'Pacific/Auckland'))).toBe(
      '2027-09-25T19:00:00.000Z',
    );
  });
});

describe('time - resolveWaitUntil', () => {
  const minus42 = parseDuration('-P42D');

  it('time - -P42D at 09:00 from a date anchor keeps local 09:00 across DST', () => {
    // Six weeks before 2027-06-12 is 2027-05-01: 09:00 BST.
    expect(iso(resolveWaitUntil({ anchor: '2027-06-12', offset: minus42, at: '09:00' }, 'Europe/London'))).toBe(
      '2027-05-01T08:00:00.000Z',
    );
    // Six weeks before 2027-04-10 is 2027-02-27, before the clocks changed: 09:00 GMT.
    expect(iso(resolveWaitUntil({ anchor: '2027-04-10', offset: minus42, at: '09:00' }, 'Europe/London'))).toBe(
      '2027-02-27T09:00:00.000Z',
    );
    expect(iso(resolveWaitUntil({ anchor: '2027-06-12', offset: minus42 }, 'America/New_York'))).toBe(
      '2027-05-01T13:00:00.000Z',
    );
  });

  it('time - date anchor: time parts are exact, after the local date and time', () => {
    // 2027-03-13 09:00 EST = 14:00Z, then one hour earlier.
    const d = parseDuration('-P1DT1H');
    expect(iso(resolveWaitUntil({ anchor: '2027-03-14', offset: d }, 'America/New_York'))).toBe(
      '2027-03-13T13:00:00.000Z',
    );
    expect(iso(resolveWaitUntil({ anchor: '2027-03-14', at: '02:30' }, 'America/New_York'))).toBe(
      '2027-03-14T07:30:00.000Z',
    );
  });

  it('time - instant anchor uses its local date and time, or `at`', () => {
    // 10:00Z is 11:00 BST; six weeks earlier is 11:00 GMT.
    expect(iso(resolveWaitUntil({ anchor: '2027-04-10T10:00:00Z', offset: minus42 }, 'Europe/London'))).toBe(
      '2027-02-27T11:00:00.000Z',
    );
    expect(
      iso(resolveWaitUntil({ anchor: '2027-04-10T11:00:00+01:00', offset: minus42, at: '09:00' }, 'Europe/London')),
    ).toBe('2027-02-27T09:00:00.000Z');
    expect(iso(resolveWaitUntil({ anchor: '2027-04-10T10:00:00.250Z' }, 'Europe/London'))).toBe(
      '2027-04-10T10:00:00.250Z',
    );
    expect(
      iso(resolveWaitUntil({ anchor: '2027-11-07T06:30:00Z', offset: parseDuration('PT30M') }, 'America/New_York')),
    ).toBe('2027-11-07T07:00:00.000Z');
    // The instant's local date, not its UTC date: 2027-06-12T20:00Z is the 13th in Auckland.
    expect(iso(resolveWaitUntil({ anchor: '2027-06-12T20:00:00Z', at: '09:00' }, 'Pacific/Auckland'))).toBe(
      '2027-06-12T21:00:00.000Z',
    );
  });

  it.each([
    '',
    'next tuesday',
    '2027-13-01',
    '2027-02-30',
    '2027-01-01T10:00:00',
    '2027-01-01 10:00Z',
    '2027-01-01T25:00Z',
  ])('time - resolveWaitUntil rejects the anchor %j with RangeError', (anchor) => {
    expect(() => resolveWaitUntil({ anchor }, 'UTC')).toThrow(RangeError);
  });
});

describe('time - properties against an independent oracle', () => {
  it('time - isCalendarDate agrees with Date on every day of 1999-2101 and on impossible days', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1999, max: 2101 }), fc.integer({ min: 0, max: 13 }), fc.integer({ min: 0, max: 32 }), (y, m, d) => {
        const date = `${y}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}`;
        const oracle = new Date(`${date}T00:00:00Z`);
        const exists = !Number.isNaN(oracle.getTime()) && oracle.toISOString().startsWith(date);
        expect(isCalendarDate(date)).toBe(exists);
      }),
      { numRuns: 5_000 },
    );
    for (const bad of ['2027-6-12', '2027-06-12T00:00', ' 2027-06-12', '2100-02-29', '2027-02-29']) expect(isCalendarDate(bad)).toBe(false);
    for (const good of ['2000-02-29', '2028-02-29', '2027-12-31']) expect(isCalendarDate(good)).toBe(true);
  });

  it('time - zonedToEpoch matches a brute-force offset scan', () => {
    const seen = { gap: 0, overlap: 0 };
    fc.assert(
      fc.property(zoneAndWall, ([tz, wanted]) => {
        const date = wanted.slice(0, 10);
        const time = wanted.slice(11, 19);
        const result = zonedToEpoch(date, time, tz);
        const found = bruteForceInstants(wanted, tz);
        if (found.length > 0) {
          if (found.length > 1) seen.overlap++;
          expect(result).toBe(found[0]);
        } else {
          // Gap: read the wall time with the offset in force before it, i.e. push it forward.
          seen.gap++;
          const naive = Date.parse(`${wanted}Z`);
          const before = oracleOffset(naive - DAY, tz);
          const after = oracleOffset(naive + DAY, tz);
          expect(after).toBeGreaterThan(before);
          expect(result).toBe(naive - before);
          expect(oracleWallMs(result, tz) - naive).toBe(after - before);
        }
      }),
      { numRuns: 250 },
    );
    // Guard the generator: the interesting cases must actually occur.
    expect(seen.gap).toBeGreaterThan(0);
    expect(seen.overlap).toBeGreaterThan(0);
  });

  it('time - localDate and daysUntil match toLocaleDateString and UTC day arithmetic', () => {
    fc.assert(
      fc.property(zoneAndInstant(), fc.integer({ min: -400, max: 400 }), ([tz, now], delta) => {
        const today = new Date(now).toLocaleDateString('en-CA', { timeZone: tz });
        const target = new Date(now + delta * DAY).toISOString().slice(0, 10);
        expect(localDate(now, tz)).toBe(today);
        expect(daysUntil(now, target, tz)).toBe(utcDay(target) - utcDay(today));
      }),
      { numRuns: 300 },
    );
  });

  it('time - addDaysToDate and daysBetweenDates agree with Date.UTC', () => {
    fc.assert(
      fc.property(fc.integer({ min: MIN_MS, max: MAX_MS }), fc.integer({ min: -5000, max: 5000 }), (t, n) => {
        const from = new Date(t).toISOString().slice(0, 10);
        const to = new Date(utcDay(from) * DAY + n * DAY).toISOString().slice(0, 10);
        expect(addDaysToDate(from, n)).toBe(to);
        expect(daysBetweenDates(from, to)).toBe(n);
        expect(isSaturday(from)).toBe(new Date(t).getUTCDay() === 6);
      }),
      { numRuns: 300 },
    );
  });

  it('time - nextAllowedTime is the first allowed minute at or after the input', () => {
    const minuteOfDay = fc.integer({ min: 0, max: 24 * 60 - 1 });
    const anyCase = fc
      .tuple(zoneAndInstant(30 * HOUR), minuteOfDay, minuteOfDay)
      .map(([[tz, t], s, e]): [string, number, QuietHours] => [tz, t, { start: hhmm(s), end: hhmm(e) }]);
    // A transition falls inside the window: the input is up to 6 h before it, the window starts up
    // to 2 h before the input's wall time and ends within 90 min of the transition's wall time.
    const acrossTransition = fc
      .tuple(
        fc.constantFrom(...ZONES.filter((z) => (TRANSITIONS.get(z) ?? []).length > 0)),
        fc.nat(),
        fc.integer({ min: 1, max: 6 * 3600 }),
        fc.integer({ min: 0, max: 120 }),
        fc.integer({ min: -90, max: 90 }),
      )
      .map(([tz, i, lead, back, shift]): [string, number, QuietHours] => {
        const list = TRANSITIONS.get(tz) ?? [];
        const transition = list[i % list.length] ?? 0;
        const t = transition - lead * 1000;
        const minuteOf = (ms: number): number => Math.floor(oracleWallMs(ms, tz) / MINUTE) % (24 * 60);
        const wrap = (m: number): number => (m + 24 * 60) % (24 * 60);
        const start = wrap(minuteOf(t) - back);
        const end = wrap(minuteOf(transition - 1000) + 1 + shift);
        return [tz, t, { start: hhmm(start), end: hhmm(end) }];
      });
    let transitionWins = 0;
    fc.assert(
      fc.property(fc.oneof(anyCase, acrossTransition), ([tz, t, quiet]) => {
        const result = nextAllowedTime(t, quiet, tz);
        expect(result).toBeGreaterThanOrEqual(t);
        expect(oracleQuiet(result, quiet, tz)).toBe(false);
        if (result === t) return;
        expect(oracleQuiet(t, quiet, tz)).toBe(true);
        // Windows open on whole minutes (HH:MM ends, transitions on the minute): scan them all.
        expect(result % MINUTE).toBe(0);
        expect(result - t).toBeLessThanOrEqual(2 * DAY);
        if (oracleWall(result, tz).slice(11, 16) !== quiet.end) transitionWins++;
        for (let m = Math.ceil(t / MINUTE) * MINUTE; m < result; m += MINUTE) {
          if (!oracleQuiet(m, quiet, tz)) expect.fail(`${iso(m)} is allowed, before ${iso(result)}`);
        }
      }),
      { numRuns: 150 },
    );
    // Guard the generator: windows ended early by a transition must actually be exercised.
    expect(transitionWins).toBeGreaterThan(0);
  });
});

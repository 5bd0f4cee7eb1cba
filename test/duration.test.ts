import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { addDuration, durationMs, parseDuration, type Duration } from '../actors/duration.ts';

const at = (iso: string): number => {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) throw new Error(`bad fixture ${iso}`);
  return ms;
};
const iso = (ms: number): string => new Date(ms).toISOString();
const ZERO: Duration = { sign: 1, years: 0, months: 0, weeks: 0, days: 0, hours: 0, minutes: 0, seconds: 0 };
const dur = (text: string): Duration => {
  const d = parseDuration(text);
  if (d === undefined) throw new Error(`bad fixture ${text}`);
  return d;
};

describe('duration - parsing', () => {
  it.each<[string, Partial<Duration>]>([
    ['P1Y2M', { years: 1, months: 2 }],
    ['-P42D', { sign: -1, days: 42 }],
    ['PT30S', { seconds: 30 }],
    ['PT0.5S', { seconds: 0.5 }],
    ['PT1,25S', { seconds: 1.25 }],
    ['P3W', { weeks: 3 }],
    ['P0D', {}],
    ['PT36H', { hours: 36 }],
    ['P1Y2M3W4DT5H6M7.5S', { years: 1, months: 2, weeks: 3, days: 4, hours: 5, minutes: 6, seconds: 7.5 }],
    ['-P1DT1H', { sign: -1, days: 1, hours: 1 }],
    ['PT5M', { minutes: 5 }],
    ['P5M', { months: 5 }],
  ])('duration - parses %s', (text, expected) => {
    expect(parseDuration(text)).toEqual({ ...ZERO, ...expected });
  });

  it.each([
    'P',
    'PT',
    '',
    '-P',
    'P1H',
    'P1DT',
    'P-1D',
    '+P1D',
    '--P1D',
    'p1d',
    'P1.5D',
    'PT1.5M',
    'PT.5S',
    'PT1.S',
    'P1D2Y',
    'PT1S2M',
    ' P1D',
    'P1D ',
    '1D',
    'P1Y1Y',
    'garbage',
    `P${'9'.repeat(20)}D`,
  ])('duration - rejects %j', (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });

  it('duration - durationMs approximates with 30-day months and 365-day years', () => {
    expect(durationMs(dur('P1D'))).toBe(86_400_000);
    expect(durationMs(dur('P1W'))).toBe(7 * 86_400_000);
    expect(durationMs(dur('P1M'))).toBe(30 * 86_400_000);
    expect(durationMs(dur('P1Y'))).toBe(365 * 86_400_000);
    expect(durationMs(dur('-PT1H1M1.5S'))).toBe(-3_661_500);
  });
});

describe('duration - addDuration', () => {
  it.each([
    // Europe/London: clocks go forward at 01:00 GMT on 2027-03-28 and back at 02:00 BST on 2027-10-31.
    ['Europe/London', '2027-03-27T12:00:00Z', 'P1D', '2027-03-28T11:00:00Z', 'noon GMT -> noon BST'],
    ['Europe/London', '2027-03-27T12:00:00Z', 'PT24H', '2027-03-28T12:00:00Z', '24 exact hours = 13:00 BST'],
    ['Europe/London', '2027-10-30T12:00:00Z', 'P1D', '2027-10-31T13:00:00Z', '13:00 BST -> 13:00 GMT (25 h)'],
    ['Europe/London', '2027-03-27T01:30:00Z', 'P1D', '2027-03-28T01:30:00Z', '01:30 lands in the gap -> 02:30 BST'],
    ['Europe/London', '2027-10-30T00:30:00Z', 'P1D', '2027-10-31T00:30:00Z', 'ambiguous 01:30 -> earlier (BST)'],
    ['Europe/London', '2027-04-28T08:00:00Z', '-P1M', '2027-03-28T08:00:00Z', '09:00 BST back a month, still BST'],
    ['Europe/London', '2027-04-10T08:00:00Z', '-P6W', '2027-02-27T09:00:00Z', '09:00 BST -> 09:00 GMT'],
    // America/New_York: EST -> EDT at 02:00 on 2027-03-14; back at 02:00 on 2027-11-07.
    ['America/New_York', '2027-03-13T14:00:00Z', 'P1D', '2027-03-14T13:00:00Z', '09:00 EST -> 09:00 EDT'],
    ['America/New_York', '2027-03-13T07:30:00Z', 'P1D', '2027-03-14T07:30:00Z', '02:30 lands in the gap -> 03:30 EDT'],
    ['America/New_York', '2027-11-06T05:30:00Z', 'P1D', '2027-11-07T05:30:00Z', 'ambiguous 01:30 -> earlier (EDT)'],
    ['America/New_York', '2027-11-06T13:00:00Z', 'P1D', '2027-11-07T14:00:00Z', '09:00 EDT -> 09:00 EST'],
    ['America/New_York', '2027-11-07T05:30:00Z', 'PT1H', '2027-11-07T06:30:00Z', 'exact hour into the repeat'],
    ['America/New_York', '2027-11-07T06:30:00Z', 'PT0S', '2027-11-07T06:30:00Z', 'second 01:30 stays put'],
    ['America/New_York', '2027-03-14T13:00:00Z', '-P1DT1H', '2027-03-13T13:00:00Z', '09:00 EDT -> 09:00 EST - 1h'],
    ['America/New_York', '2027-03-13T14:00:00.250Z', 'P1DT0.5S', '2027-03-14T13:00:00.750Z', 'keeps milliseconds'],
  ])('duration - addDuration in %s: %s + %s = %s (%s)', (tz, start, text, expected) => {
    expect(iso(addDuration(at(start), dur(text), tz))).toBe(iso(at(expected)));
  });

  it.each([
    ['2027-01-31T10:00:00Z', 'P1M', '2027-02-28T10:00:00Z'],
    ['2028-01-31T10:00:00Z', 'P1M', '2028-02-29T10:00:00Z'],
    ['2027-03-31T10:00:00Z', '-P1M', '2027-02-28T10:00:00Z'],
    ['2028-02-29T10:00:00Z', 'P1Y', '2029-02-28T10:00:00Z'],
    ['2028-02-29T10:00:00Z', 'P4Y', '2032-02-29T10:00:00Z'],
    ['2027-01-31T10:00:00Z', 'P1M1D', '2027-03-01T10:00:00Z'], // clamp first, then add days
    ['2027-12-31T10:00:00Z', 'P2M', '2028-02-29T10:00:00Z'],
    ['2027-01-31T10:00:00Z', '-P13M', '2025-12-31T10:00:00Z'],
  ])('duration - month-end clamping (UTC): %s + %s = %s', (start, text, expected) => {
    expect(iso(addDuration(at(start), dur(text), 'UTC'))).toBe(iso(at(expected)));
  });

  it('duration - month-end clamping uses the local date, not the UTC one', () => {
    // 2027-01-31 10:00 in Auckland is 2027-01-30T21:00Z; a month later is Feb 28 10:00 NZDT.
    expect(iso(addDuration(at('2027-01-30T21:00:00Z'), dur('P1M'), 'Pacific/Auckland'))).toBe(
      '2027-02-27T21:00:00.000Z',
    );
  });

  it('duration - an unknown zone throws RangeError', () => {
    expect(() => addDuration(0, dur('PT1H'), 'Nowhere/Special')).toThrow(RangeError);
  });

  it('duration - time-only durations are exact elapsed time', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2040, 11, 31) }),
        fc.constantFrom(-1 as const, 1 as const),
        fc.nat({ max: 100 }),
        fc.nat({ max: 1000 }),
        fc.nat({ max: 100_000 }),
        fc.constantFrom('Europe/London', 'America/New_York', 'Pacific/Auckland', 'Asia/Kolkata'),
        (t, sign, hours, minutes, seconds, tz) => {
          const d: Duration = { ...ZERO, sign, hours, minutes, seconds };
          expect(addDuration(t, d, tz)).toBe(t + sign * (hours * 3_600_000 + minutes * 60_000 + seconds * 1000));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('duration - P<n>D moves the local date by n and keeps the local time outside gaps', () => {
    const wall = (ms: number, tz: string): string =>
      new Date(ms).toLocaleString('sv-SE', { timeZone: tz, hourCycle: 'h23' }); // "YYYY-MM-DD HH:MM:SS"
    fc.assert(
      fc.property(
        fc.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2040, 11, 31) }),
        fc.integer({ min: -400, max: 400 }),
        fc.constantFrom('Europe/London', 'America/New_York', 'Pacific/Auckland', 'Asia/Kolkata'),
        (t, n, tz) => {
          const d: Duration = { ...ZERO, sign: n < 0 ? -1 : 1, days: Math.abs(n) };
          const result = addDuration(t, d, tz);
          const [date0 = '', time0 = ''] = wall(t, tz).split(' ');
          const [date1 = '', time1 = ''] = wall(result, tz).split(' ');
          const dayDiff = (Date.parse(`${date1}T00:00:00Z`) - Date.parse(`${date0}T00:00:00Z`)) / 86_400_000;
          // A gap can only push the time forward by at most an hour, possibly past midnight.
          if (time1 === time0) expect(dayDiff).toBe(n);
          else
            expect(Date.parse(`${date1}T${time1}Z`) - Date.parse(`${date0}T${time0}Z`) - n * 86_400_000).toBe(
              3_600_000,
            );
        },
      ),
      { numRuns: 200 },
    );
  });
});

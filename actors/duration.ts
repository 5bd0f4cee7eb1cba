/**
 * ISO-8601 durations (`P1Y2M3W4DT5H6M7.5S`, optionally negative) and zone-aware addition.
 *
 * Journey waits are written by people ("six weeks before the wedding, at 9"), so calendar parts
 * follow the local calendar and wall clock, while hours/minutes/seconds are exact elapsed time:
 * the same split Temporal's `ZonedDateTime.add` makes.
 */
import { addCalendarToDate, localParts, zonedToEpoch } from './time.ts';

/** A parsed duration. Components are non-negative; `sign` applies to all of them. */
export interface Duration {
  sign: 1 | -1;
  years: number;
  months: number;
  weeks: number;
  days: number;
  hours: number;
  minutes: number;
  /** May be fractional (`PT0.5S`); every other component is an integer. */
  seconds: number;
}

const DURATION_RE =
  /^(-)?P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:[.,]\d+)?)S)?)?$/;

/**
 * Parses an ISO-8601 duration such as `P1Y2M`, `-P42D`, `PT30S` or `PT0.5S`. Returns undefined for
 * anything else, including `P`, `PT` (no components), `P1H` (time part without `T`), signs on
 * individual components, fractions anywhere but seconds, and values beyond safe integers.
 */
export function parseDuration(text: string): Duration | undefined {
  const m = DURATION_RE.exec(text);
  if (m === null) return undefined;
  const [, minus, ...fields] = m;
  // The regex makes every component optional, so `P` and `PT` match it; a trailing `T` with
  // nothing after it is also rejected because ISO requires at least one time component there.
  if (fields.every((f) => f === undefined) || text.endsWith('T')) return undefined;
  const [years, months, weeks, days, hours, minutes, seconds] = fields.map((f) => Number((f ?? '0').replace(',', '.')));
  const values = [years, months, weeks, days, hours, minutes, seconds];
  if (!values.every((v) => v !== undefined && Number.isFinite(v) && v <= Number.MAX_SAFE_INTEGER)) return undefined;
  return {
    sign: minus === undefined ? 1 : -1,
    years: years ?? 0,
    months: months ?? 0,
    weeks: weeks ?? 0,
    days: days ?? 0,
    hours: hours ?? 0,
    minutes: minutes ?? 0,
    seconds: seconds ?? 0,
  };
}

const pad = (n: number): string => String(n).padStart(2, '0');

/**
 * `epochMs` plus `d`, viewed from `timeZone`. Calendar parts move the local date and keep the
 * local wall-clock time (Jan 31 + P1M = Feb 28/29; a time landing in a DST gap moves forward by
 * the gap; an ambiguous one takes the earlier instant). Time parts are then added as exact
 * elapsed time, so `PT24H` across a DST change is not the same as `P1D`.
 * Seconds are applied at millisecond precision.
 */
export function addDuration(epochMs: number, d: Duration, timeZone: string): number {
  // Resolving the zone even when unused keeps a bad zone an error regardless of the duration.
  const p = localParts(epochMs, timeZone);
  let base = epochMs;
  // With no calendar parts, skip the wall-clock round trip: it would move an instant in a repeated
  // (fall-back) hour to the first occurrence.
  if (d.years !== 0 || d.months !== 0 || d.weeks !== 0 || d.days !== 0) {
    const date = addCalendarToDate(`${String(p.year).padStart(4, '0')}-${pad(p.month)}-${pad(p.day)}`, d);
    const subSecond = epochMs - Math.floor(epochMs / 1_000) * 1_000;
    base = zonedToEpoch(date, `${pad(p.hour)}:${pad(p.minute)}:${pad(p.second)}`, timeZone) + subSecond;
  }
  return base + d.sign * (d.hours * 3_600_000 + d.minutes * 60_000 + Math.round(d.seconds * 1_000));
}

/**
 * Approximate length in ms (day = 24 h, week = 7 d, month = 30 d, year = 365 d). For validation
 * and limits only; never for scheduling, which must use {@link addDuration}.
 */
export function durationMs(d: Duration): number {
  const days = d.years * 365 + d.months * 30 + d.weeks * 7 + d.days;
  return d.sign * (days * 86_400_000 + d.hours * 3_600_000 + d.minutes * 60_000 + Math.round(d.seconds * 1_000));
}

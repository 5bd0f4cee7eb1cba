/**
 * Pure calendar and time-zone helpers for journey actors.
 *
 * Actors are replayed deterministically, so nothing here reads the clock: every instant arrives as
 * epoch milliseconds. Zone math uses only `Intl.DateTimeFormat`; calendar math on `YYYY-MM-DD`
 * strings uses proleptic-Gregorian day numbers (no `Date`, whose two-digit-year rules would bite).
 *
 * Local wall times that do not exist or exist twice are resolved like Temporal's `'compatible'`
 * disambiguation: a time inside a DST gap is pushed forward by the gap length, an ambiguous time
 * takes the earlier instant.
 */
import type { Duration } from './duration.ts';

const MS_PER_SECOND = 1_000;
const MS_PER_MINUTE = 60_000;
const MS_PER_HOUR = 3_600_000;
const MS_PER_DAY = 86_400_000;

const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})$/;
const TIME_RE = /^(\d{2}):(\d{2})(?::(\d{2}))?$/;
const INSTANT_RE = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}(?::\d{2})?)(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/i;

/** Zone names are a small closed set, but they come from vendor data: bound the cache anyway. */
const MAX_CACHED_ZONES = 1_024;
const formatters = new Map<string, Intl.DateTimeFormat>();

/** One formatter per zone: constructing `Intl.DateTimeFormat` is far slower than using one. */
function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timeZone);
  if (formatter === undefined) {
    // Throws RangeError for an unknown zone, before anything is cached.
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone,
      calendar: 'gregory',
      numberingSystem: 'latn',
      // 'h23' rather than `hour12: false`, which renders midnight as "24" in some ICU versions.
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    if (formatters.size >= MAX_CACHED_ZONES) formatters.clear();
    formatters.set(timeZone, formatter);
  }
  return formatter;
}

/** True when `tz` is an IANA time-zone name (or alias) that `Intl` understands. */
export function isValidTimeZone(tz: string): boolean {
  try {
    formatterFor(tz);
    return true;
  } catch {
    return false;
  }
}

/** Wall-clock fields of an instant in some zone. */
export interface LocalParts {
  year: number;
  /** 1-12 */
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  /** 0 = Sunday .. 6 = Saturday */
  weekday: number;
}

// Day numbers since 1970-01-01 (H. Hinnant's civil-calendar algorithms): exact for any year.
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * ((month + 9) % 12) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146_097 + doe - 719_468;
}

function civilFromDays(days: number): { year: number; month: number; day: number } {
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097;
  const yoe = Math.floor((doe - Math.floor(doe / 1_460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const month = mp < 10 ? mp + 3 : mp - 9;
  return { year: yoe + era * 400 + (month <= 2 ? 1 : 0), month, day: doy - Math.floor((153 * mp + 2) / 5) + 1 };
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

function formatDate(year: number, month: number, day: number): string {
  return `${pad(year, 4)}-${pad(month)}-${pad(day)}`;
}

/** True for `YYYY-MM-DD` naming a day that exists (`2027-02-30` does not). Arithmetic, no `Date`: it runs per command. */
export function isCalendarDate(date: string): boolean {
  const m = DATE_RE.exec(date);
  if (m === null) return false;
  const month = Number(m[2]);
  const day = Number(m[3]);
  return month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth(Number(m[1]), month);
}

/** Parses a real calendar date; `2027-02-30` is rejected rather than rolled over. */
function parseDate(date: string): { year: number; month: number; day: number } {
  const m = DATE_RE.exec(date);
  const year = Number(m?.[1]);
  const month = Number(m?.[2]);
  const day = Number(m?.[3]);
  if (m === null || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) {
    throw new RangeError(`invalid date "${date}": expected YYYY-MM-DD`);
  }
  return { year, month, day };
}

/** `HH:MM` or `HH:MM:SS` (00:00 .. 23:59:59) as seconds since local midnight. */
function parseTime(time: string): number {
  const m = TIME_RE.exec(time);
  const h = Number(m?.[1]);
  const min = Number(m?.[2]);
  const s = Number(m?.[3] ?? 0);
  if (m === null || h > 23 || min > 59 || s > 59) {
    throw new RangeError(`invalid time "${time}": expected HH:MM or HH:MM:SS`);
  }
  return h * 3_600 + min * 60 + s;
}

/** Wall-clock fields of `epochMs` in `timeZone`; throws RangeError for an unknown zone. */
export function localParts(epochMs: number, timeZone: string): LocalParts {
  // Intl drops milliseconds, so the parts of one second are the same for every millisecond in it: memoise by second.
  // Priority tiers are computed several times per step, each a formatToParts call otherwise (the hot path's main cost).
  const key = `${timeZone}|${Math.floor(epochMs / 1000)}`;
  const hit = partsMemo.get(key);
  if (hit !== undefined) return hit;
  const parts = computeLocalParts(epochMs, timeZone);
  if (partsMemo.size >= PARTS_MEMO_LIMIT) partsMemo.clear();
  partsMemo.set(key, parts);
  return parts;
}

const PARTS_MEMO_LIMIT = 4_096;
const partsMemo = new Map<string, Readonly<LocalParts>>();

function computeLocalParts(epochMs: number, timeZone: string): LocalParts {
  const p: Record<string, number> = {};
  for (const part of formatterFor(timeZone).formatToParts(epochMs)) {
    if (part.type !== 'literal') p[part.type] = Number(part.value);
  }
  const year = p['year'] ?? NaN;
  const month = p['month'] ?? NaN;
  const day = p['day'] ?? NaN;
  // 1970-01-01 was a Thursday (4).
  const weekday = (((daysFromCivil(year, month, day) + 4) % 7) + 7) % 7;
  return { year, month, day, hour: p['hour'] ?? NaN, minute: p['minute'] ?? NaN, second: p['second'] ?? NaN, weekday };
}

/** Local calendar date of `epochMs` in `timeZone`, as `YYYY-MM-DD`. */
export function localDate(epochMs: number, timeZone: string): string {
  const p = localParts(epochMs, timeZone);
  return formatDate(p.year, p.month, p.day);
}

/**
 * Local wall time as if it were UTC, in ms. Comparing these is how we reason about wall clocks
 * without caring about offsets. Sub-second precision is dropped because `Intl` drops it.
 */
function wallOf(epochMs: number, timeZone: string): number {
  const p = localParts(epochMs, timeZone);
  return (
    daysFromCivil(p.year, p.month, p.day) * MS_PER_DAY + (p.hour * 3_600 + p.minute * 60 + p.second) * MS_PER_SECOND
  );
}

function offsetAt(epochMs: number, timeZone: string): number {
  return wallOf(epochMs, timeZone) - Math.floor(epochMs / MS_PER_SECOND) * MS_PER_SECOND;
}

/**
 * All instants showing wall time `wall` (0, 1 or 2 of them, ascending), plus the offset in force
 * a day earlier. Real offsets stay within ±14 h, so a day away is safely on the far side of the
 * one transition that can make a wall time missing or repeated.
 */
function interpretWall(wall: number, timeZone: string): { instants: number[]; before: number } {
  const before = offsetAt(wall - MS_PER_DAY, timeZone);
  const after = offsetAt(wall + MS_PER_DAY, timeZone);
  const candidates = before === after ? [wall - before] : [wall - before, wall - after].sort((a, b) => a - b);
  return { instants: candidates.filter((t) => wallOf(t, timeZone) === wall), before };
}

function wallToEpoch(wall: number, timeZone: string): number {
  const { instants, before } = interpretWall(wall, timeZone);
  // In a gap, reading the wall time with the pre-transition offset lands `gap` later on the clock.
  return instants[0] ?? wall - before;
}

/**
 * Instant of local `date` + `time` in `timeZone`. A nonexistent time (DST gap) is shifted forward
 * by the gap; an ambiguous one (DST overlap) resolves to the earlier instant.
 */
export function zonedToEpoch(date: string, time: string, timeZone: string): number {
  const { year, month, day } = parseDate(date);
  return wallToEpoch(daysFromCivil(year, month, day) * MS_PER_DAY + parseTime(time) * MS_PER_SECOND, timeZone);
}

/** `date` plus `days` calendar days (no zone involved). */
export function addDaysToDate(date: string, days: number): string {
  if (!Number.isInteger(days)) throw new RangeError(`addDaysToDate: days must be an integer, got ${days}`);
  const { year, month, day } = parseDate(date);
  const c = civilFromDays(daysFromCivil(year, month, day) + days);
  return formatDate(c.year, c.month, c.day);
}

/** Calendar days from `from` to `to` (negative when `to` is earlier). */
export function daysBetweenDates(from: string, to: string): number {
  const a = parseDate(from);
  const b = parseDate(to);
  return daysFromCivil(b.year, b.month, b.day) - daysFromCivil(a.year, a.month, a.day);
}

/**
 * Whole local calendar days from today (in `timeZone`, at `nowMs`) until `date`: 0 on the day
 * itself, 1 the day before, negative once it has passed.
 */
export function daysUntil(nowMs: number, date: string, timeZone: string): number {
  return daysBetweenDates(localDate(nowMs, timeZone), date);
}

/**
 * Adds the calendar parts of `d` (years, months, weeks, days; times `d.sign`) to a local date, the
 * way Temporal's `PlainDate.add` does: years and months first, clamping the day to the month's
 * length (Jan 31 + P1M = Feb 28/29), then weeks and days. Time parts are ignored.
 */
export function addCalendarToDate(date: string, d: Duration): string {
  const { years, months, weeks, days } = d;
  if (![years, months, weeks, days].every(Number.isInteger)) {
    throw new RangeError('duration calendar parts (years, months, weeks, days) must be integers');
  }
  const start = parseDate(date);
  const monthIndex = start.year * 12 + (start.month - 1) + d.sign * (years * 12 + months);
  const year = Math.floor(monthIndex / 12);
  const month = monthIndex - year * 12 + 1;
  const day = Math.min(start.day, daysInMonth(year, month));
  const c = civilFromDays(daysFromCivil(year, month, day) + d.sign * (weeks * 7 + days));
  return formatDate(c.year, c.month, c.day);
}

/** Exact length of the time parts; duplicated from duration.ts to avoid a runtime import cycle. */
function timePartsMs(d: Duration | undefined): number {
  if (d === undefined) return 0;
  return d.sign * (d.hours * MS_PER_HOUR + d.minutes * MS_PER_MINUTE + Math.round(d.seconds * MS_PER_SECOND));
}

/** A do-not-disturb window in local wall time. */
export interface QuietHours {
  /** `HH:MM` local; the window may wrap midnight (21:00-08:00). `start === end` means none. */
  start: string;
  /** `HH:MM` local, exclusive: a message may go out at exactly `end`. */
  end: string;
}

/**
 * The earliest instant at or after `epochMs` whose local wall-clock time is outside `quiet`:
 * `epochMs` itself when already allowed, otherwise normally when the clock next shows the window's
 * `end` (in the repeated hour after a fall-back, the showing after `epochMs`). A DST transition can
 * end the window sooner: when the clock jumps over `end` (spring forward) or back to before
 * `start` (fall back), the transition instant itself is returned. Assumes at most one offset
 * change per day, which holds for every real zone.
 */
export function nextAllowedTime(epochMs: number, quiet: QuietHours | undefined, timeZone: string): number {
  if (quiet === undefined) return epochMs;
  const start = parseTime(quiet.start);
  const end = parseTime(quiet.end);
  if (start === end) return epochMs;
  const p = localParts(epochMs, timeZone);
  const now = p.hour * 3_600 + p.minute * 60 + p.second;
  const wraps = start > end;
  const isQuiet = (sec: number): boolean => (wraps ? sec >= start || sec < end : sec >= start && sec < end);
  if (!isQuiet(now)) return epochMs;
  // In the evening part of a wrapping window, the end is tomorrow morning.
  const endDay = daysFromCivil(p.year, p.month, p.day) + (wraps && now >= start ? 1 : 0);
  const endWall = endDay * MS_PER_DAY + end * MS_PER_SECOND;
  const { instants, before } = interpretWall(endWall, timeZone);
  // Inside a repeated hour we may be past the first showing of `end`. If `end` is in a gap it never
  // shows; `endWall - before` lies past the gap, and the transition search below finds the jump.
  const endAt = instants.find((t) => t >= epochMs) ?? endWall - before;
  const offsetNow = offsetAt(epochMs, timeZone);
  if (offsetNow === offsetAt(endAt, timeZone)) return endAt;

  // The offset changes before `end`: binary-search the transition (offsets change on whole seconds).
  let lo = Math.floor(epochMs / MS_PER_SECOND) * MS_PER_SECOND;
  let hi = endAt;
  while (hi - lo > MS_PER_SECOND) {
    const mid = lo + Math.floor((hi - lo) / (2 * MS_PER_SECOND)) * MS_PER_SECOND;
    if (offsetAt(mid, timeZone) === offsetNow) lo = mid;
    else hi = mid;
  }
  // If the clock lands outside the window, that is the answer; otherwise (say, a whole skipped
  // day, as in Samoa in 2011) start again from the transition, which makes progress.
  return nextAllowedTime(hi, quiet, timeZone);
}

/** Parses `YYYY-MM-DDTHH:MM[:SS[.fff]](Z|±HH:MM)`; undefined if it is not one. */
function parseInstant(text: string): number | undefined {
  const m = INSTANT_RE.exec(text);
  if (m === null) return undefined;
  const [, date = '', time = '', fraction = '', zone = ''] = m;
  let offsetMs = 0;
  if (zone.toUpperCase() !== 'Z') {
    const h = Number(zone.slice(1, 3));
    const min = Number(zone.slice(4, 6));
    if (h > 23 || min > 59) return undefined;
    offsetMs = (zone.startsWith('-') ? -1 : 1) * (h * MS_PER_HOUR + min * MS_PER_MINUTE);
  }
  try {
    const { year, month, day } = parseDate(date);
    const ms = Number(fraction.padEnd(3, '0').slice(0, 3));
    return daysFromCivil(year, month, day) * MS_PER_DAY + parseTime(time) * MS_PER_SECOND + ms - offsetMs;
  } catch {
    return undefined;
  }
}

/** A wait target: an anchor, optionally moved by a duration and pinned to a local time of day. */
export interface WaitAnchor {
  /** `YYYY-MM-DD` (a local date) or an instant with `Z` or an offset, e.g. `2027-01-01T10:00:00Z`. */
  anchor: string;
  offset?: Duration;
  /** `HH:MM` local time of day; defaults to 09:00 for date anchors, the anchor's own time for instants. */
  at?: string;
}

/**
 * Resolves a wait target to an instant. The offset's calendar parts move the local date (so
 * `-P42D` at 09:00 is 09:00 local six weeks earlier, whatever DST did in between); its time parts
 * are then added as exact elapsed time. Throws RangeError on an unparsable anchor.
 */
export function resolveWaitUntil(spec: WaitAnchor, timeZone: string): number {
  const { anchor, offset, at } = spec;
  const timeMs = timePartsMs(offset);
  if (DATE_RE.test(anchor)) {
    const date = offset === undefined ? anchor : addCalendarToDate(anchor, offset);
    return zonedToEpoch(date, at ?? '09:00', timeZone) + timeMs;
  }
  const instant = parseInstant(anchor);
  if (instant === undefined) {
    throw new RangeError(
      `resolveWaitUntil: unparsable anchor "${anchor}": expected YYYY-MM-DD or an ISO instant with Z or ±HH:MM`,
    );
  }
  const calendar = offset !== undefined && (offset.years || offset.months || offset.weeks || offset.days);
  // Nothing to do in wall time: skip the round trip, which would move a repeated-hour instant.
  if (at === undefined && !calendar) return instant + timeMs;
  const p = localParts(instant, timeZone);
  const localDay = formatDate(p.year, p.month, p.day);
  const date = offset === undefined ? localDay : addCalendarToDate(localDay, offset);
  if (at !== undefined) return zonedToEpoch(date, at, timeZone) + timeMs;
  const subSecond = instant - Math.floor(instant / MS_PER_SECOND) * MS_PER_SECOND;
  return zonedToEpoch(date, `${pad(p.hour)}:${pad(p.minute)}:${pad(p.second)}`, timeZone) + subSecond + timeMs;
}

/** May to October, 1-based (an earlier design used `getMonth()` and wrongly included November). */
const DEFAULT_SEASON_MONTHS: readonly number[] = [5, 6, 7, 8, 9, 10];

/** True when the local date's month (1-12) is one of `seasonMonths`. */
export function isWeddingSeason(date: string, seasonMonths: readonly number[] = DEFAULT_SEASON_MONTHS): boolean {
  return seasonMonths.includes(parseDate(date).month);
}

/** True when the local date `YYYY-MM-DD` is a Saturday. */
export function isSaturday(date: string): boolean {
  const { year, month, day } = parseDate(date);
  return (((daysFromCivil(year, month, day) + 4) % 7) + 7) % 7 === 6;
}

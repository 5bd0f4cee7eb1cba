/** Output helpers of the `journeys` CLI: aligned tables, JSON, and times shown in a zone. */
import { localParts } from '../../actors/time.ts';

/** Rows with columns padded to their widest cell; the last column is not padded. */
export function columns(rows: readonly (readonly string[])[]): string {
  const count = Math.max(0, ...rows.map((r) => r.length));
  const widths = Array.from({ length: count }, (_, c) => Math.max(0, ...rows.map((r) => (r[c] ?? '').length)));
  return rows
    .map((r) =>
      r
        .map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** A table with a header row. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  return columns([headers, ...rows]);
}

export function json(value: unknown): string {
  return JSON.stringify(value, null, 2);
}

/** Cuts `text` to `max` characters with an ellipsis. */
export function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'] as const;
const pad = (n: number): string => String(n).padStart(2, '0');

/** `Sat 2027-05-01 09:00` in `timeZone`. */
export function localTime(epochMs: number, timeZone: string): string {
  const p = localParts(epochMs, timeZone);
  return `${WEEKDAYS[p.weekday]} ${p.year}-${pad(p.month)}-${pad(p.day)} ${pad(p.hour)}:${pad(p.minute)}`;
}

/** An ISO instant shortened for tables: `2027-05-01 08:00Z`. */
export function shortIso(iso: string | undefined): string {
  if (!iso) return '-';
  return iso.replace('T', ' ').replace(/:\d{2}\.\d{3}Z$/, 'Z');
}

/** A server URL (or comma-separated list) without user info, for messages and banners. */
export function redactUrl(url: string): string {
  return url.replace(/(\w+:\/\/)[^@/,]*@/g, '$1***@');
}

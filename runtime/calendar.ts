/**
 * The wedding calendar the supervisor pre-scales on (R17): how many executions have their wedding on each local date, per
 * time zone, in a KV bucket (`<date>.<zone>` → `{ tz, n }`). Counts change in memory as executions start or move their
 * wedding, and are flushed with compare-and-set every few seconds, so the hot path never waits on the calendar.
 */
import type { KV } from '@nats-io/kv';
import { addDaysToDate, localDate } from '../actors/time.ts';
import { decodeText, encodeJson } from './codec.ts';

export interface CalendarEntry {
  date: string;
  timeZone: string;
  weddings: number;
}

const keyOf = (date: string, tz: string): string => `${date}.${tz.replace(/[^-/_=a-zA-Z0-9]/g, '_')}`;

export class WeddingCalendar {
  readonly #kv: KV;
  readonly #deltas = new Map<string, { date: string; tz: string; n: number }>();

  constructor(kv: KV) {
    this.#kv = kv;
  }

  /** Counts a wedding (delta +1) or un-counts a moved one (-1). */
  add(date: string, tz: string, delta = 1): void {
    const key = keyOf(date, tz);
    const d = this.#deltas.get(key) ?? { date, tz, n: 0 };
    d.n += delta;
    this.#deltas.set(key, d);
  }

  /** Writes pending deltas (compare-and-set, retried on conflict with another instance). */
  async flush(): Promise<void> {
    const pending = [...this.#deltas.entries()];
    this.#deltas.clear();
    for (const [key, d] of pending) {
      if (d.n === 0) continue;
      for (let tries = 0; tries < 20; tries++) {
        const e = await this.#kv.get(key);
        const current = e && e.value.length > 0 ? (JSON.parse(decodeText(e.value)) as { n: number }).n : 0;
        const value = encodeJson({ tz: d.tz, n: Math.max(0, current + d.n) });
        try {
          if (e) await this.#kv.update(key, value, e.revision);
          else await this.#kv.create(key, value);
          break;
        } catch (err) {
          if (!(err instanceof Error && /wrong last sequence|key exists/i.test(err.message))) throw err;
        }
      }
    }
  }

  /** Entries from yesterday to `days` ahead (UTC dates; every zone's local today is within a day of it). */
  async upcoming(now: number, days = 7): Promise<CalendarEntry[]> {
    const out: CalendarEntry[] = [];
    const today = localDate(now, 'UTC');
    for (let i = -1; i <= days; i++) {
      const date = addDaysToDate(today, i);
      for await (const key of await this.#kv.keys(`${date}.>`)) {
        const e = await this.#kv.get(key);
        if (!e || e.value.length === 0) continue;
        const v = JSON.parse(decodeText(e.value)) as { tz: string; n: number };
        if (v.n > 0) out.push({ date, timeZone: v.tz, weddings: v.n });
      }
    }
    return out;
  }
}

/**
 * Data of one journey execution, as the execution machine keeps it in its context. Pure types and helpers: no I/O.
 */

/** What an execution is waiting for. The runtime turns it into durable timers and action invocations. */
export type Pending =
  | {
      kind: 'action';
      stepId: string;
      visit: number;
      /** Idempotency key (execution, step, visit): outbound commands use it as `Nats-Msg-Id`. */
      key: string;
      action: string;
      params: Record<string, unknown>;
    }
  | { kind: 'approval'; stepId: string; visit: number }
  | { kind: 'event'; stepId: string; visit: number; event: string; timer: TimerRef }
  | { kind: 'timer'; stepId: string; visit: number; timer: TimerRef };

/** A durable timer the execution waits on. `id` changes whenever the due time is recomputed. */
export interface TimerRef {
  id: string;
  dueAt: number;
  purpose: 'wait' | 'waitUntil' | 'eventTimeout' | 'quietHours';
  /** Set for `waitUntil` steps anchored to the wedding date, so a moved wedding re-times them. */
  anchoredToWedding?: boolean;
  /** A re-timed `waitUntil` that now lies in the past with `ifPast: skip`. */
  skip?: boolean;
}

export interface HistoryEntry {
  step: string;
  at: number;
  note?: string;
}

export interface ExecutionContext {
  executionId: string;
  supplierId: string;
  clientId: string;
  journeyId: string;
  version: number;
  vendorType: string;
  timeZone: string;
  /** Local wedding date, `YYYY-MM-DD`. */
  weddingDate?: string;
  /** Booking instant, ISO-8601. */
  bookedAt?: string;
  data: Record<string, unknown>;
  /** Time of the event being processed (epoch ms): machines never read the clock. */
  now: number;
  step: string;
  visits: Record<string, number>;
  pending: Pending | null;
  paused: boolean;
  failure: { stepId: string; visit: number; error: string; attempts: number } | null;
  /** Variant chosen at each split step. */
  cohorts: Record<string, string>;
  history: HistoryEntry[];
}

/** What starts an execution. */
export interface ExecutionInput {
  executionId: string;
  supplierId: string;
  clientId: string;
  journeyId: string;
  version: number;
  vendorType?: string;
  timeZone: string;
  weddingDate?: string;
  bookedAt?: string;
  data?: Record<string, unknown>;
  now: number;
}

/** Events the execution machine understands. Every one carries the time it is processed at. */
export type ExecutionEvent =
  | { type: 'TIMER'; id: string; now: number }
  | { type: 'ACTION_DONE'; key: string; now: number; result?: Record<string, unknown> }
  | { type: 'ACTION_FAILED'; key: string; now: number; error: string; attempts: number }
  | { type: 'RETRY'; now: number }
  | { type: 'EVENT'; name: string; data?: Record<string, unknown>; now: number }
  | { type: 'CANCEL'; now: number; reason?: string }
  | { type: 'PAUSE'; now: number }
  | { type: 'RESUME'; now: number };

/** Terminal outcomes; the machine's final states carry these names. */
export const OUTCOMES = ['completed', 'exited', 'cancelled'] as const;
export type Outcome = (typeof OUTCOMES)[number];

export const HISTORY_LIMIT = 50;

/** The idempotency key of an action invocation: deterministic in (execution, step, visit). */
export function actionKey(executionId: string, stepId: string, visit: number): string {
  return `${executionId}.${stepId}.${visit}`;
}

/** Appends to the bounded history. */
export function withHistory(history: HistoryEntry[], entry: HistoryEntry): HistoryEntry[] {
  const next = history.length >= HISTORY_LIMIT ? history.slice(history.length - HISTORY_LIMIT + 1) : history.slice();
  next.push(entry);
  return next;
}

/** Deterministic A/B cohort: FNV-1a of (execution, step) over the weights. Same execution, same variant, always. */
export function pickVariant<T extends { weight: number }>(executionId: string, stepId: string, variants: readonly T[]): T {
  let h = 0x811c9dc5;
  const s = `${executionId}/${stepId}`;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  const total = variants.reduce((sum, v) => sum + v.weight, 0);
  let point = h % total;
  for (const v of variants) {
    if (point < v.weight) return v;
    point -= v.weight;
  }
  return variants[variants.length - 1]!;
}

/** What a benchmark child process (a runtime instance or a BullMQ worker) reports to the orchestrator over IPC. */
import { Histogram, now, type LatencySummary } from '../stats.ts';

const timings: Record<string, number> = { imported: performance.now() };

export interface ChildStats {
  pid: number;
  /** Action handler calls (ours) or processor calls (BullMQ). */
  steps: number;
  firstStepAt: number | null;
  lastStepAt: number | null;
  /** Due time → handler call, for items that carry a due time. */
  lateness: LatencySummary;
  /** Ours only: the timer service's own lateness (due → work published) and timers held in memory. */
  timers?: { count: number; max: number; mean: number; held: number };
}

export type ToChild = { type: 'stats'; id: number };
/** Milliseconds since the child process started (its `performance.now()`), at each start-up milestone. */
export type StartTimings = Record<string, number>;

export type FromChild =
  | { type: 'ready'; pid: number; timings: StartTimings }
  | { type: 'stats'; id: number; stats: ChildStats }
  | { type: 'fatal'; error: string };

/** Step counting and lateness shared by both child kinds; answers `stats` requests. */
export function childReporter(extra: () => Pick<ChildStats, 'timers'> = () => ({})) {
  const lateness = new Histogram();
  let steps = 0;
  let firstStepAt: number | null = null;
  let lastStepAt: number | null = null;
  process.on('message', (m: ToChild) => {
    if (m?.type === 'stats') {
      const stats: ChildStats = {
        pid: process.pid,
        steps,
        firstStepAt,
        lastStepAt,
        lateness: lateness.summary(),
        ...extra(),
      };
      process.send?.({ type: 'stats', id: m.id, stats } satisfies FromChild);
    }
  });
  return {
    step(due?: number): void {
      const t = now();
      steps++;
      firstStepAt ??= t;
      lastStepAt = t;
      if (due !== undefined && Number.isFinite(due)) lateness.record(t - due);
    },
    /** Records a start-up milestone (`imported` is taken when this module loads). */
    mark(name: string): void {
      timings[name] = performance.now();
    },
    ready(): void {
      timings['ready'] = performance.now();
      process.send?.({ type: 'ready', pid: process.pid, timings } satisfies FromChild);
    },
    fatal(err: unknown): never {
      process.send?.({
        type: 'fatal',
        error: err instanceof Error ? (err.stack ?? err.message) : String(err),
      } satisfies FromChild);
      process.exit(1);
    },
  };
}

/**
 * Time for the runtime. Machines never read the clock; the runtime reads it here, so tests can run a journey under a
 * simulated clock and production under the system one.
 */

/** Node fires timers longer than 2^31-1 ms after 1 ms (FINDINGS 11): longer waits are re-armed in chunks. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

export interface Clock {
  now(): number;
  /** Calls `fn` after `ms`; returns a cancel function. */
  setTimer(fn: () => void, ms: number): () => void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(fn, ms) {
    let handle: NodeJS.Timeout;
    const due = Date.now() + ms;
    const arm = (): void => {
      const left = due - Date.now();
      handle = setTimeout(left > MAX_TIMEOUT_MS ? arm : fn, Math.min(Math.max(left, 0), MAX_TIMEOUT_MS));
      handle.unref?.();
    };
    arm();
    return () => clearTimeout(handle);
  },
};

/** A clock that moves only when told to. Timers fire, in due order, during `advance`. */
export class SimulatedClock implements Clock {
  #now: number;
  #timers: { due: number; fn: () => void; seq: number }[] = [];
  #seq = 0;
  constructor(start: number) {
    this.#now = start;
  }
  now(): number {
    return this.#now;
  }
  setTimer(fn: () => void, ms: number): () => void {
    const t = { due: this.#now + Math.max(0, ms), fn, seq: this.#seq++ };
    this.#timers.push(t);
    return () => {
      this.#timers = this.#timers.filter((x) => x !== t);
    };
  }
  /** Moves time forward by `ms`, firing every timer that falls due on the way. */
  advance(ms: number): void {
    this.set(this.#now + ms);
  }
  /**
   * Moves time to `at` (never backwards) and fires the timers that were due by then, once each: a timer that re-arms
   * itself while firing waits for the next move, so a jump of years is one step, not millions.
   */
  set(at: number): void {
    this.#now = Math.max(at, this.#now);
    const due = this.#timers.filter((t) => t.due <= this.#now).sort((a, b) => a.due - b.due || a.seq - b.seq);
    this.#timers = this.#timers.filter((t) => t.due > this.#now);
    for (const t of due) t.fn();
  }
}

/**
 * How far behind its timers the event loop runs: a timer every {@link EVERY_MS} notes how late it fired. Cheap (200
 * wake-ups a second) and local: it says whether this process's own loop is busy, which is what a critical message
 * arriving now would wait through.
 */
const EVERY_MS = 5;

export class LoopLag {
  #lagMs = 0;
  #timer: NodeJS.Timeout | undefined;

  /** Starts sampling; `onSample` runs after each sample (the dispatcher re-checks what it may start). */
  start(onSample: () => void): void {
    let expected = performance.now() + EVERY_MS;
    this.#timer = setInterval(() => {
      const t = performance.now();
      this.#lagMs = Math.max(0, t - expected);
      expected = t + EVERY_MS;
      onSample();
    }, EVERY_MS);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#lagMs = 0;
  }

  /** Milliseconds the last sample fired late. */
  get ms(): number {
    return this.#lagMs;
  }
}

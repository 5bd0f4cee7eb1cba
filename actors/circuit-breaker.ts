/**
 * Circuit breaker per action (R13), pure: the caller passes the time. Closed, it lets every attempt through and keeps the
 * last `window` outcomes younger than `withinMs`; when at least `minCalls` of them are known and the failure share
 * reaches `failureRate`, it opens. Open, it holds every attempt until `coolOffMs` has passed, then lets exactly one
 * probe through (half-open): the probe's success closes it, its failure (or no answer within `probeTimeoutMs`) opens it
 * again. Held attempts do not count as attempts: the caller parks them on a durable timer until {@link holdUntil}.
 */
export interface BreakerSettings {
  failureRate: number;
  window: number;
  minCalls: number;
  withinMs: number;
  coolOffMs: number;
}

export const DEFAULT_BREAKER: Readonly<BreakerSettings> = Object.freeze({
  failureRate: 0.5,
  window: 20,
  minCalls: 10,
  withinMs: 60_000,
  coolOffMs: 30_000,
});

export type BreakerState = 'closed' | 'open' | 'half-open';

/** What the caller may do with one attempt. */
export type Admission = { pass: true; probe: boolean } | { pass: false; until: number };

export interface BreakerChange {
  state: BreakerState;
  failureRate: number;
}

export class CircuitBreaker {
  readonly #s: BreakerSettings;
  /** Recent outcomes (true = failure) with their times, oldest first, at most `window`. */
  #outcomes: { at: number; failed: boolean }[] = [];
  #state: BreakerState = 'closed';
  #openedAt = 0;
  /** When the probe in flight was let through (half-open), 0 when none is. */
  #probeAt = 0;
  readonly #probeTimeoutMs: number;

  constructor(settings: BreakerSettings, probeTimeoutMs: number) {
    this.#s = settings;
    this.#probeTimeoutMs = probeTimeoutMs;
  }

  get state(): BreakerState {
    return this.#state;
  }

  /** Until when held attempts wait: the end of the cool-off, or of the probe in flight. */
  holdUntil(now: number): number {
    if (this.#state === 'open') return Math.max(now, this.#openedAt + this.#s.coolOffMs);
    // Half-open: until the probe has answered (checked again every cool-off) or its time is up.
    return Math.max(now, Math.min(this.#probeAt + this.#probeTimeoutMs, now + this.#s.coolOffMs));
  }

  /** Decides one attempt; may move open → half-open (returned as a change when it does). */
  admit(now: number): { admission: Admission; change?: BreakerChange } {
    if (this.#state === 'closed') return { admission: { pass: true, probe: false } };
    if (this.#state === 'open' && now >= this.#openedAt + this.#s.coolOffMs) {
      this.#state = 'half-open';
      this.#probeAt = now;
      return { admission: { pass: true, probe: true }, change: this.#change(now) };
    }
    if (this.#state === 'half-open' && now >= this.#probeAt + this.#probeTimeoutMs) {
      // The probe never answered: another one goes.
      this.#probeAt = now;
      return { admission: { pass: true, probe: true } };
    }
    return { admission: { pass: false, until: this.holdUntil(now) } };
  }

  /** Records the outcome of an attempt that was let through; returns the state change it caused, if any. */
  record(now: number, failed: boolean, probe: boolean): BreakerChange | undefined {
    if (this.#state === 'half-open') {
      // Outcomes of attempts sent before the circuit opened still arrive: only the probe decides.
      if (!probe) return undefined;
      this.#probeAt = 0;
      if (failed) return this.#open(now, 1);
      this.#state = 'closed';
      this.#outcomes = [];
      return this.#change(now);
    }
    this.#outcomes.push({ at: now, failed });
    if (this.#outcomes.length > this.#s.window) this.#outcomes.shift();
    if (this.#state === 'open' || !failed) return undefined;
    const recent = this.#recent(now);
    if (recent.length < this.#s.minCalls) return undefined;
    const rate = recent.filter((o) => o.failed).length / recent.length;
    return rate >= this.#s.failureRate ? this.#open(now, rate) : undefined;
  }

  /** Failure share of the recent outcomes (0 when none). */
  failureRate(now: number): number {
    const recent = this.#recent(now);
    return recent.length === 0 ? 0 : recent.filter((o) => o.failed).length / recent.length;
  }

  #recent(now: number): { at: number; failed: boolean }[] {
    const from = now - this.#s.withinMs;
    return this.#outcomes.filter((o) => o.at > from);
  }

  #open(now: number, failureRate: number): BreakerChange {
    this.#state = 'open';
    this.#openedAt = now;
    this.#outcomes = [];
    return { state: 'open', failureRate };
  }

  #change(now: number): BreakerChange {
    return { state: this.#state, failureRate: this.failureRate(now) };
  }
}

/**
 * Retry policy (R10): attempts and exponential backoff with jitter, faster for the critical tier. Pure: the random
 * number for jitter comes in as an argument.
 */
import type { Tier } from './priority.ts';

export interface RetryPolicy {
  /** Total attempts, the first included. */
  attempts: number;
  /** Delay before the first retry. */
  baseMs: number;
  /** Multiplier per further retry. */
  factor: number;
  /** Jitter as a fraction of the delay (0.2 = ±20 %). */
  jitter: number;
}

/** Defaults: critical retries after 1 s, 2 s, 4 s; other tiers after 5 s, 25 s, 125 s. */
export const DEFAULT_RETRY: Readonly<Record<'critical' | 'default', RetryPolicy>> = {
  critical: { attempts: 3, baseMs: 1_000, factor: 2, jitter: 0.2 },
  default: { attempts: 3, baseMs: 5_000, factor: 5, jitter: 0.2 },
};

/** The policy for a step: the tier's default, with the step's own fields on top. */
export function retryPolicyFor(
  tier: Tier,
  override: Partial<Pick<RetryPolicy, 'attempts' | 'baseMs' | 'factor'>> | undefined,
  defaults: Readonly<Record<'critical' | 'default', RetryPolicy>> = DEFAULT_RETRY,
): RetryPolicy {
  return { ...(tier === 'critical' ? defaults.critical : defaults.default), ...override };
}

/** Delay before attempt `nextAttempt` (2 = first retry). `random` in [0, 1). */
export function retryDelayMs(policy: RetryPolicy, nextAttempt: number, random: number): number {
  const raw = policy.baseMs * policy.factor ** Math.max(0, nextAttempt - 2);
  return Math.max(0, Math.round(raw * (1 + policy.jitter * (2 * random - 1))));
}

import { describe, expect, it } from 'vitest';
import { CircuitBreaker, DEFAULT_BREAKER } from '../actors/circuit-breaker.ts';
import { resolve } from '../runtime/engine/actions.ts';

const settings = { failureRate: 0.5, window: 10, minCalls: 4, withinMs: 60_000, coolOffMs: 5_000 };

describe('circuit breaker', () => {
  it('breaker - opens at the failure share once enough outcomes are known, not before', () => {
    const b = new CircuitBreaker(settings, 30_000);
    expect(b.record(0, true, false)).toBeUndefined();
    expect(b.record(1, true, false)).toBeUndefined();
    expect(b.record(2, true, false)).toBeUndefined(); // 3 of 3 failed, but fewer than minCalls
    expect(b.record(3, true, false)).toEqual({ state: 'open', failureRate: 1 });
    expect(b.admit(4)).toEqual({ admission: { pass: false, until: 3 + 5_000 } });
  });

  it('breaker - stays closed below the share, and forgets outcomes older than the window', () => {
    const b = new CircuitBreaker(settings, 30_000);
    for (let i = 0; i < 6; i++) b.record(i, i % 4 === 1, false); // 2 failures in 6
    expect(b.state).toBe('closed');
    // Three failures long ago and one now: only the recent one counts, and one is fewer than minCalls.
    const c = new CircuitBreaker(settings, 30_000);
    for (let i = 0; i < 3; i++) c.record(i, true, false);
    expect(c.record(120_000, true, false)).toBeUndefined();
    expect(c.state).toBe('closed');
  });

  it('breaker - after the cool-off one probe goes; others are held; its success closes, its failure reopens', () => {
    const b = new CircuitBreaker(settings, 30_000);
    for (let i = 0; i < 4; i++) b.record(i, true, false);
    expect(b.admit(5_002).admission.pass).toBe(false);
    expect(b.admit(5_003)).toEqual({ admission: { pass: true, probe: true }, change: { state: 'half-open', failureRate: 0 } });
    expect(b.admit(5_004)).toEqual({ admission: { pass: false, until: 5_004 + 5_000 } });
    // An answer to an attempt sent before the circuit opened does not decide.
    expect(b.record(5_005, false, false)).toBeUndefined();
    expect(b.record(5_010, true, true)).toEqual({ state: 'open', failureRate: 1 });
    expect(b.admit(10_009).admission.pass).toBe(false);
    expect(b.admit(10_010).admission).toEqual({ pass: true, probe: true });
    expect(b.record(10_020, false, true)).toEqual({ state: 'closed', failureRate: 0 });
    expect(b.admit(10_021)).toEqual({ admission: { pass: true, probe: false } });
  });

  it('breaker - a probe that never answers is replaced by another after the probe timeout', () => {
    const b = new CircuitBreaker(settings, 2_000);
    for (let i = 0; i < 4; i++) b.record(i, true, false);
    expect(b.admit(5_003).admission).toEqual({ pass: true, probe: true });
    expect(b.admit(7_002).admission).toEqual({ pass: false, until: 7_003 });
    expect(b.admit(7_003).admission).toEqual({ pass: true, probe: true });
  });
});

describe('action settings', () => {
  it('actions - an action listed nowhere is outbound with a 30 s timeout and the default breaker', () => {
    expect(resolve(undefined, 'email.send', false)).toEqual({ mode: 'outbound', timeoutMs: 30_000, breaker: { ...DEFAULT_BREAKER } });
  });

  it('actions - the entry wins over the defaults; in-process handlers and fire-and-forget have no breaker', () => {
    const file = {
      defaults: { mode: 'fire-and-forget' as const, timeout: 'PT10S' },
      actions: { 'sms.send': { mode: 'request' as const, subject: 'sms.svc', retry: { attempts: 5, backoff: 'PT2S' }, breaker: { coolOff: 'PT1M' } } },
    };
    expect(resolve(file, 'sms.send', false)).toEqual({
      mode: 'request',
      subject: 'sms.svc',
      timeoutMs: 10_000,
      retry: { attempts: 5, baseMs: 2_000 },
      breaker: { ...DEFAULT_BREAKER, coolOffMs: 60_000 },
    });
    expect(resolve(file, 'task.create', false)).toEqual({ mode: 'fire-and-forget', timeoutMs: 10_000, breaker: false });
    expect(resolve(file, 'sms.send', true).mode).toBe('in-process');
    expect(resolve(file, 'sms.send', true).breaker).toBe(false);
  });
});

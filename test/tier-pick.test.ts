import { describe, expect, it } from 'vitest';
import type { Tier } from '../actors/priority.ts';
import { LOWER_FLOOR, pickTier, type PickContext } from '../runtime/engine/tier-pick.ts';

const tiers = (c: number, h: number, m: number, l: number): Record<Tier, number> => ({ critical: c, high: h, medium: m, low: l });
const limits = tiers(16, 8, 8, 64);
const calm: PickContext = { picks: 1, shareEvery: 10, criticalAbout: false, lagging: false };

describe('pickTier', () => {
  it('serves the highest tier with work within its own number', () => {
    expect(pickTier({ queued: tiers(3, 0, 0, 500), active: tiers(0, 0, 0, 10), limits }, calm)).toBe('critical');
    expect(pickTier({ queued: tiers(0, 2, 0, 500), active: tiers(0, 8, 0, 10), limits }, calm)).toBe('low');
    expect(pickTier({ queued: tiers(0, 0, 0, 0), active: tiers(0, 0, 0, 0), limits }, calm)).toBeUndefined();
  });

  it('every n-th pick goes to a lower tier, rotating among those with work', () => {
    const load = { queued: tiers(5, 5, 5, 5), active: tiers(0, 0, 0, 0), limits };
    const picks = Array.from({ length: 30 }, (_, i) => pickTier(load, { ...calm, picks: i + 1 }));
    expect(picks.filter((t) => t !== 'critical')).toEqual(['medium', 'low', 'high']);
    expect([picks[9], picks[19], picks[29]]).toEqual(['medium', 'low', 'high']);
  });

  it('a lower tier borrows idle slots only while no critical work is about', () => {
    const load = { queued: tiers(0, 0, 0, 500), active: tiers(0, 8, 8, 64), limits };
    expect(pickTier(load, calm)).toBe('low');
    expect(pickTier(load, { ...calm, criticalAbout: true })).toBeUndefined();
    // Critical may still borrow beyond its own number.
    expect(pickTier({ ...load, queued: tiers(4, 0, 0, 500), active: tiers(16, 8, 8, 64) }, { ...calm, criticalAbout: true })).toBe('critical');
  });

  it('with critical work about and the loop behind, the lower tiers start nothing beyond the floor', () => {
    const busy: PickContext = { ...calm, criticalAbout: true, lagging: true };
    const atFloor = { queued: tiers(0, 0, 0, 500), active: tiers(1, 0, 0, LOWER_FLOOR), limits };
    expect(pickTier(atFloor, busy)).toBeUndefined();
    expect(pickTier(atFloor, { ...busy, lagging: false })).toBe('low');
    expect(pickTier(atFloor, { ...busy, criticalAbout: false })).toBe('low');
    // Below the floor they keep moving, and critical work is never held back.
    expect(pickTier({ ...atFloor, active: tiers(1, 0, 0, LOWER_FLOOR - 1) }, busy)).toBe('low');
    expect(pickTier({ ...atFloor, queued: tiers(2, 0, 0, 500) }, busy)).toBe('critical');
  });
});

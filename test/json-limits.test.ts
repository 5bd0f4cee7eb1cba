import { describe, expect, it } from 'vitest';
import { FREE_JSON_LIMITS, jsonLimitProblem } from '../runtime/json-limits.ts';

/** `levels` containers around 1, built in a loop (a recursive builder would overflow for the deep cases). */
function nested(levels: number, kind: 'object' | 'array' = 'object'): unknown {
  let v: unknown = 1;
  for (let i = 0; i < levels; i++) v = kind === 'object' ? { a: v } : [v];
  return v;
}

describe('free JSON limits', () => {
  it('json limits - depth is counted in containers: 32 levels pass, 33 fail with the path to the 33rd', () => {
    expect(jsonLimitProblem(nested(32), FREE_JSON_LIMITS)).toBeUndefined();
    expect(jsonLimitProblem(nested(32, 'array'), FREE_JSON_LIMITS)).toBeUndefined();
    expect(jsonLimitProblem(nested(33), FREE_JSON_LIMITS, '$.data')).toBe(
      `$.data${'.a'.repeat(32)}: nested deeper than 32 levels`,
    );
    expect(jsonLimitProblem(nested(33, 'array'), FREE_JSON_LIMITS)).toMatch(
      /^\$(\[0\]){32}: nested deeper than 32 levels$/,
    );
    expect(jsonLimitProblem({ a: 'x'.repeat(100_000), b: [1, 2, 3] }, FREE_JSON_LIMITS)).toBeUndefined();
    for (const scalar of [null, 1, 'x', true, undefined])
      expect(jsonLimitProblem(scalar, FREE_JSON_LIMITS)).toBeUndefined();
  });

  it('json limits - keys are counted across the whole value, prototype keys included; array items are not keys', () => {
    const keys = (n: number, prefix = 'k') =>
      Object.fromEntries(Array.from({ length: n }, (_, i) => [`${prefix}${i}`, i]));
    expect(jsonLimitProblem(keys(1_000), FREE_JSON_LIMITS)).toBeUndefined();
    expect(jsonLimitProblem(keys(1_001), FREE_JSON_LIMITS)).toBe('$: more than 1000 keys in total');
    expect(jsonLimitProblem({ a: keys(600), b: [keys(401, 'b')] }, FREE_JSON_LIMITS)).toMatch(/more than 1000 keys/);
    expect(
      jsonLimitProblem(
        Array.from({ length: 5_000 }, (_, i) => i),
        FREE_JSON_LIMITS,
      ),
    ).toBeUndefined();
    const polluting = JSON.parse(`{"__proto__": ${JSON.stringify(keys(1_000))}}`) as unknown;
    expect(jsonLimitProblem(polluting, FREE_JSON_LIMITS)).toMatch(/^\$\.__proto__: more than 1000 keys/);
  });

  it('json limits - a million levels are measured without overflowing the stack, with a short path', () => {
    const problem = jsonLimitProblem(nested(1_000_000), FREE_JSON_LIMITS);
    expect(problem).toMatch(/nested deeper than 32 levels$/);
    expect(problem!.length).toBeLessThan(200);
    expect(jsonLimitProblem({ [`k${'x'.repeat(10_000)}`]: nested(40) }, FREE_JSON_LIMITS)!.length).toBeLessThan(200);
  });
});

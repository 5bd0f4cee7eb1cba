import { describe, expect, it } from 'vitest';
import {
  evaluate,
  ExpressionError,
  MAX_EXPRESSION_DEPTH,
  MAX_EXPRESSION_LENGTH,
  parseExpression,
  truthy,
  type Expr,
} from '../actors/expression.ts';

const scope = {
  data: {
    guestCount: 120,
    package: 'gold',
    vip: true,
    zero: 0,
    empty: '',
    nothing: null,
    weddingDate: '2027-06-12',
    client: { city: 'Bath', address: { postcode: 'BA1' } },
    tags: ['a', 'b'],
  },
};

const run = (src: string, s: Record<string, unknown> = scope): unknown => evaluate(parseExpression(src), s);

function syntaxError(src: string): ExpressionError {
  try {
    parseExpression(src);
  } catch (err) {
    expect(err).toBeInstanceOf(ExpressionError);
    return err as ExpressionError;
  }
  throw new Error(`expected a syntax error for ${JSON.stringify(src)}`);
}

describe('literals and paths', () => {
  it('reads literals', () => {
    expect(run('42')).toBe(42);
    expect(run('-1.5e2')).toBe(-150);
    expect(run("'it\\'s'")).toBe("it's");
    expect(run('"double \\"quoted\\""')).toBe('double "quoted"');
    expect(run('true')).toBe(true);
    expect(run('false')).toBe(false);
    expect(run('null')).toBe(null);
  });

  it('reads nested paths and yields undefined for missing ones', () => {
    expect(run('data.guestCount')).toBe(120);
    expect(run('data.client.city')).toBe('Bath');
    expect(run('data.client.address.postcode')).toBe('BA1');
    expect(run('data.client.country')).toBeUndefined();
    expect(run('data.missing.deeper')).toBeUndefined();
    expect(run('data.package.length')).toBeUndefined(); // no walking into primitives
    expect(run('other.thing')).toBeUndefined();
    expect(run('data.guestCount', {})).toBeUndefined();
  });

  it('allows keywords as property names after a dot', () => {
    expect(run('data.in == 1', { data: { in: 1 } })).toBe(true);
  });
});

describe('operators', () => {
  it('compares numbers and strings', () => {
    expect(run('data.guestCount > 100')).toBe(true);
    expect(run('data.guestCount >= 120')).toBe(true);
    expect(run('data.guestCount < 120')).toBe(false);
    expect(run('data.guestCount <= 119')).toBe(false);
    expect(run("data.package == 'gold'")).toBe(true);
    expect(run("data.package != 'gold'")).toBe(false);
    expect(run("data.weddingDate < '2028-01-01'")).toBe(true);
  });

  it('gives && precedence over ||, and ! over both', () => {
    expect(run('true || false && false')).toBe(true);
    expect(run('(true || false) && false')).toBe(false);
    expect(run('!false && false')).toBe(false);
    expect(run('!(false && false)')).toBe(true);
    expect(run('!data.vip == false')).toBe(true); // (!data.vip) == false
    expect(parseExpression('a || b && c')).toEqual({
      kind: 'or',
      operands: [
        { kind: 'path', segments: ['a'] },
        {
          kind: 'and',
          operands: [
            { kind: 'path', segments: ['b'] },
            { kind: 'path', segments: ['c'] },
          ],
        },
      ],
    });
  });

  it('evaluates the example branch condition', () => {
    expect(run("data.guestCount > 100 && data.package == 'gold'")).toBe(true);
    expect(run("data.guestCount > 100 && data.package == 'gold'", { data: { guestCount: 80, package: 'gold' } })).toBe(
      false,
    );
  });

  it('short-circuits and returns booleans', () => {
    expect(run('data.guestCount && data.package')).toBe(true);
    expect(run('data.zero || data.empty')).toBe(false);
  });

  it('supports `in` with an array literal', () => {
    expect(run("data.package in ['gold', 'silver']")).toBe(true);
    expect(run("data.package in ['bronze']")).toBe(false);
    expect(run('data.guestCount in [100, 120]')).toBe(true);
    expect(run("data.guestCount in ['120']")).toBe(false);
    expect(run('data.missing in [null]')).toBe(true);
    expect(run('data.package in []')).toBe(false);
    expect(run("!(data.package in ['gold']) || data.vip")).toBe(true);
  });
});

describe('mismatched types', () => {
  it('are never equal and never ordered, without throwing', () => {
    expect(run("data.guestCount == '120'")).toBe(false);
    expect(run("data.guestCount != '120'")).toBe(true);
    expect(run("data.guestCount > '100'")).toBe(false);
    expect(run("data.guestCount <= '100'")).toBe(false);
    expect(run('data.missing > 1')).toBe(false);
    expect(run('data.missing < 1')).toBe(false);
    expect(run('data.nothing >= 0')).toBe(false);
    expect(run('data.vip > false')).toBe(false);
    expect(run("data.tags == 'a'")).toBe(false);
    expect(run('data.client == data.client')).toBe(false);
  });

  it('treat null and missing as equal', () => {
    expect(run('data.nothing == null')).toBe(true);
    expect(run('data.missing == null')).toBe(true);
    expect(run('data.zero == null')).toBe(false);
    expect(run('data.missing != null')).toBe(false);
  });
});

describe('prototype access', () => {
  it('does not read inherited properties', () => {
    expect(run('data.toString')).toBeUndefined();
    expect(run('data.hasOwnProperty')).toBeUndefined();
    expect(run('data.client.valueOf == null')).toBe(true);
    expect(run('data.tags.map')).toBeUndefined();
    expect(run('toString')).toBeUndefined();
  });

  it('rejects prototype-reaching names when parsing', () => {
    for (const name of ['__proto__', 'constructor', 'prototype']) {
      expect(syntaxError(`data.${name}`).message).toContain(`'${name}' is not allowed`);
      expect(syntaxError(`${name}.x`).position).toBe(0);
    }
  });

  it('ignores prototype-reaching names in hand-built trees and own properties named like them', () => {
    const own = JSON.parse('{"data": {"__proto__": {"polluted": true}, "constructor": 1}}') as Record<string, unknown>;
    for (const name of ['__proto__', 'constructor', 'prototype']) {
      const expr: Expr = { kind: 'path', segments: ['data', name] };
      expect(evaluate(expr, own)).toBeUndefined();
      expect(evaluate({ kind: 'path', segments: ['data', name, 'polluted'] }, own)).toBeUndefined();
    }
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });
});

describe('syntax errors', () => {
  it('carry the code and the position', () => {
    const cases: [string, number][] = [
      ['data.x >', 8],
      ['data.x = 1', 7],
      ['data.x && || y', 10],
      ["'unterminated", 0],
      ['(data.x', 7],
      ['data.x)', 6],
      ['data.', 5],
      ['data.1', 5],
      ["data.x in 'gold'", 10],
      ["data.x in ['a' 'b']", 15],
      ['data.x in [data.y]', 11],
      ['1 < 2 < 3', 6],
      ['data.x # 1', 7],
      ["'bad \\q escape'", 5],
      ['', 0],
    ];
    for (const [src, position] of cases) {
      const err = syntaxError(src);
      expect(err.code, src).toBe('EXPRESSION_SYNTAX');
      expect(err.position, src).toBe(position);
      expect(err.message, src).toContain(`position ${position}`);
    }
  });

  it('hint at the right operator', () => {
    expect(syntaxError('a = 1').message).toContain("use '=='");
    expect(syntaxError('a & b').message).toContain("use '&&'");
  });
});

describe('limits', () => {
  it('rejects sources longer than the maximum', () => {
    const ok = `data.x == '${'a'.repeat(MAX_EXPRESSION_LENGTH - 12)}'`;
    expect(ok).toHaveLength(MAX_EXPRESSION_LENGTH);
    expect(() => parseExpression(ok)).not.toThrow();
    const err = syntaxError(`${ok} `);
    expect(err.message).toContain(`longer than ${MAX_EXPRESSION_LENGTH}`);
  });

  it('rejects nesting deeper than the maximum', () => {
    const nested = (n: number) => `${'('.repeat(n)}true${')'.repeat(n)}`;
    expect(run(nested(MAX_EXPRESSION_DEPTH))).toBe(true);
    const err = syntaxError(nested(MAX_EXPRESSION_DEPTH + 1));
    expect(err.message).toContain(`deeper than ${MAX_EXPRESSION_DEPTH}`);
    expect(err.position).toBe(MAX_EXPRESSION_DEPTH);
    expect(() => parseExpression(`${'!'.repeat(MAX_EXPRESSION_DEPTH + 1)}true`)).toThrow(ExpressionError);
    expect(run(`${'!'.repeat(MAX_EXPRESSION_DEPTH)}true`)).toBe(true);
  });

  it('does not count long && / || chains as nesting', () => {
    const chain = Array.from({ length: 40 }, (_, i) => `data.x${i}`).join(' || ');
    expect(chain.length).toBeLessThanOrEqual(MAX_EXPRESSION_LENGTH);
    expect(run(`${chain} || true`)).toBe(true);
  });
});

describe('truthy', () => {
  it('follows JavaScript truthiness for JSON values', () => {
    for (const v of [false, null, undefined, 0, Number.NaN, '']) expect(truthy(v), String(v)).toBe(false);
    for (const v of [true, 1, -1, 'x', [], {}]) expect(truthy(v), JSON.stringify(v)).toBe(true);
  });
});

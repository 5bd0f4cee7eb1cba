/**
 * A deliberately tiny, safe expression language for `branch` conditions.
 *
 * Journey definitions come from vendors, so conditions are data, never code: there is no `eval`,
 * no `Function`, no calls, no arithmetic and no way to reach a prototype. Evaluation is total:
 * it never throws, and comparisons between values of different types are simply false.
 *
 * Grammar (lowest precedence first):
 * ```text
 * or         := and ( '||' and )*
 * and        := comparison ( '&&' comparison )*
 * comparison := unary ( ( '==' | '!=' | '<' | '<=' | '>' | '>=' ) unary | 'in' list )?
 * unary      := '!' unary | primary
 * primary    := literal | path | '(' or ')'
 * list       := '[' ( literal ( ',' literal )* )? ']'
 * literal    := number | '-' number | string | 'true' | 'false' | 'null'
 * path       := identifier ( '.' identifier )*
 * ```
 * Comparisons do not chain (`a < b < c` is a syntax error) because the JavaScript reading of
 * that is almost never what an author means.
 */

/** Longest accepted source, in UTF-16 code units: conditions are one-liners, not programs. */
export const MAX_EXPRESSION_LENGTH = 500;
/** Deepest accepted nesting of parentheses and `!`: bounds recursion in both parser and evaluator. */
export const MAX_EXPRESSION_DEPTH = 32;

/** Path segments that could reach a prototype; rejected by the parser and ignored by the evaluator. */
const FORBIDDEN_SEGMENTS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/** A literal value as written in the source. */
export type LiteralValue = string | number | boolean | null;

/** Binary comparison operators. */
export type CompareOp = '==' | '!=' | '<' | '<=' | '>' | '>=';

/**
 * Parsed expression. `and`/`or` are n-ary so that long chains do not count as nesting.
 */
export type Expr =
  | { readonly kind: 'literal'; readonly value: LiteralValue }
  | { readonly kind: 'path'; readonly segments: readonly string[] }
  | { readonly kind: 'not'; readonly operand: Expr }
  | { readonly kind: 'and'; readonly operands: readonly Expr[] }
  | { readonly kind: 'or'; readonly operands: readonly Expr[] }
  | { readonly kind: 'compare'; readonly op: CompareOp; readonly left: Expr; readonly right: Expr }
  | { readonly kind: 'in'; readonly operand: Expr; readonly values: readonly LiteralValue[] };

/** Thrown by {@link parseExpression}; `position` is the 0-based offset in the source. */
export class ExpressionError extends Error {
  override name = 'ExpressionError';
  readonly code = 'EXPRESSION_SYNTAX';
  readonly position: number;
  constructor(message: string, position: number) {
    super(`${message} at position ${position}`);
    this.position = position;
  }
}

type Token =
  | { readonly t: 'num'; readonly value: number; readonly pos: number }
  | { readonly t: 'str'; readonly value: string; readonly pos: number }
  | { readonly t: 'word'; readonly value: string; readonly pos: number }
  | { readonly t: 'op'; readonly value: string; readonly pos: number }
  | { readonly t: 'eof'; readonly pos: number };

const OPERATORS = ['==', '!=', '<=', '>=', '&&', '||', '<', '>', '!', '(', ')', '[', ']', ',', '.', '-'] as const;
const ESCAPES: Readonly<Record<string, string>> = { '\\': '\\', "'": "'", '"': '"', n: '\n', t: '\t' };
const NUMBER_RE = /[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const WORD_RE = /[A-Za-z_][A-Za-z0-9_]*/y;

function tokenize(src: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const ch = src[i] as string;
    if (ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r') {
      i++;
      continue;
    }
    if (ch >= '0' && ch <= '9') {
      NUMBER_RE.lastIndex = i;
      const text = (NUMBER_RE.exec(src) as RegExpExecArray)[0];
      tokens.push({ t: 'num', value: Number(text), pos: i });
      i += text.length;
      continue;
    }
    WORD_RE.lastIndex = i;
    const word = WORD_RE.exec(src);
    if (word) {
      tokens.push({ t: 'word', value: word[0], pos: i });
      i += word[0].length;
      continue;
    }
    if (ch === "'" || ch === '"') {
      const start = i;
      let value = '';
      i++;
      for (;;) {
        const c = src[i];
        if (c === undefined) throw new ExpressionError('Unterminated string', start);
        if (c === ch) break;
        if (c === '\\') {
          const escaped = ESCAPES[src[i + 1] ?? ''];
          if (escaped === undefined) throw new ExpressionError('Invalid escape sequence in string', i);
          value += escaped;
          i += 2;
        } else {
          value += c;
          i++;
        }
      }
      tokens.push({ t: 'str', value, pos: start });
      i++;
      continue;
    }
    const op = OPERATORS.find((o) => src.startsWith(o, i));
    if (op === undefined) {
      const hint = ch === '=' ? " (use '==')" : ch === '&' ? " (use '&&')" : ch === '|' ? " (use '||')" : '';
      throw new ExpressionError(`Unexpected character ${JSON.stringify(ch)}${hint}`, i);
    }
    tokens.push({ t: 'op', value: op, pos: i });
    i += op.length;
  }
  tokens.push({ t: 'eof', pos: src.length });
  return tokens;
}

function describe(tok: Token): string {
  switch (tok.t) {
    case 'eof':
      return 'end of expression';
    case 'str':
      return `string ${JSON.stringify(tok.value)}`;
    case 'num':
      return `number ${tok.value}`;
    default:
      return `'${tok.value}'`;
  }
}

const COMPARE_OPS: ReadonlySet<string> = new Set<CompareOp>(['==', '!=', '<', '<=', '>', '>=']);

/** Recursive-descent parser over the token list; `depth` counts open parentheses and `!`. */
class Parser {
  private index = 0;
  private depth = 0;
  constructor(private readonly tokens: readonly Token[]) {}

  parse(): Expr {
    const expr = this.or();
    const tok = this.peek();
    if (tok.t !== 'eof') throw new ExpressionError(`Unexpected ${describe(tok)}`, tok.pos);
    return expr;
  }

  private peek(): Token {
    // The token list always ends with 'eof' and the parser never advances past it.
    return this.tokens[this.index] as Token;
  }

  private next(): Token {
    const tok = this.peek();
    if (tok.t !== 'eof') this.index++;
    return tok;
  }

  private isOp(value: string): boolean {
    const tok = this.peek();
    return tok.t === 'op' && tok.value === value;
  }

  private expectOp(value: string): void {
    const tok = this.next();
    if (tok.t !== 'op' || tok.value !== value) {
      throw new ExpressionError(`Expected '${value}' but found ${describe(tok)}`, tok.pos);
    }
  }

  private enter(pos: number): void {
    if (++this.depth > MAX_EXPRESSION_DEPTH) {
      throw new ExpressionError(`Expression nested deeper than ${MAX_EXPRESSION_DEPTH} levels`, pos);
    }
  }

  private or(): Expr {
    const operands = [this.and()];
    while (this.isOp('||')) {
      this.next();
      operands.push(this.and());
    }
    return operands.length === 1 ? (operands[0] as Expr) : { kind: 'or', operands };
  }

  private and(): Expr {
    const operands = [this.comparison()];
    while (this.isOp('&&')) {
      this.next();
      operands.push(this.comparison());
    }
    return operands.length === 1 ? (operands[0] as Expr) : { kind: 'and', operands };
  }

  private comparison(): Expr {
    const left = this.unary();
    const tok = this.peek();
    let result: Expr = left;
    if (tok.t === 'op' && COMPARE_OPS.has(tok.value)) {
      this.next();
      result = { kind: 'compare', op: tok.value as CompareOp, left, right: this.unary() };
    } else if (tok.t === 'word' && tok.value === 'in') {
      this.next();
      result = { kind: 'in', operand: left, values: this.list() };
    } else {
      return left;
    }
    const after = this.peek();
    if ((after.t === 'op' && COMPARE_OPS.has(after.value)) || (after.t === 'word' && after.value === 'in')) {
      throw new ExpressionError(`Comparisons cannot be chained; add parentheses before ${describe(after)}`, after.pos);
    }
    return result;
  }

  private unary(): Expr {
    const tok = this.peek();
    if (tok.t === 'op' && tok.value === '!') {
      this.next();
      this.enter(tok.pos);
      const operand = this.unary();
      this.depth--;
      return { kind: 'not', operand };
    }
    return this.primary();
  }

  private primary(): Expr {
    const tok = this.peek();
    if (tok.t === 'op' && tok.value === '(') {
      this.next();
      this.enter(tok.pos);
      const inner = this.or();
      this.expectOp(')');
      this.depth--;
      return inner;
    }
    if (tok.t === 'word' && !isKeyword(tok.value)) return this.path();
    return { kind: 'literal', value: this.literal() };
  }

  private literal(): LiteralValue {
    const tok = this.next();
    if (tok.t === 'num' || tok.t === 'str') return tok.value;
    if (tok.t === 'word') {
      if (tok.value === 'true') return true;
      if (tok.value === 'false') return false;
      if (tok.value === 'null') return null;
    }
    if (tok.t === 'op' && tok.value === '-') {
      const num = this.next();
      if (num.t === 'num') return -num.value;
      throw new ExpressionError(`Expected a number after '-' but found ${describe(num)}`, num.pos);
    }
    throw new ExpressionError(`Unexpected ${describe(tok)}`, tok.pos);
  }

  private path(): Expr {
    const segments = [this.segment()];
    while (this.isOp('.')) {
      this.next();
      segments.push(this.segment());
    }
    return { kind: 'path', segments };
  }

  private segment(): string {
    const tok = this.next();
    if (tok.t !== 'word') throw new ExpressionError(`Expected a property name but found ${describe(tok)}`, tok.pos);
    if (FORBIDDEN_SEGMENTS.has(tok.value)) {
      throw new ExpressionError(`Property name '${tok.value}' is not allowed`, tok.pos);
    }
    return tok.value;
  }

  private list(): LiteralValue[] {
    this.expectOp('[');
    const values: LiteralValue[] = [];
    if (this.isOp(']')) {
      this.next();
      return values;
    }
    for (;;) {
      values.push(this.literal());
      const tok = this.next();
      if (tok.t === 'op' && tok.value === ']') return values;
      if (tok.t !== 'op' || tok.value !== ',') {
        throw new ExpressionError(`Expected ',' or ']' but found ${describe(tok)}`, tok.pos);
      }
    }
  }
}

function isKeyword(word: string): boolean {
  return word === 'true' || word === 'false' || word === 'null' || word === 'in';
}

/**
 * Parses a condition such as `data.guestCount > 100 && data.package in ['gold', 'silver']`.
 *
 * @throws {ExpressionError} code `EXPRESSION_SYNTAX`, with the 0-based `position` of the problem
 *   (also in the message); also thrown when the source exceeds {@link MAX_EXPRESSION_LENGTH}
 *   characters or {@link MAX_EXPRESSION_DEPTH} levels of nesting.
 */
export function parseExpression(src: string): Expr {
  if (src.length > MAX_EXPRESSION_LENGTH) {
    throw new ExpressionError(`Expression longer than ${MAX_EXPRESSION_LENGTH} characters`, MAX_EXPRESSION_LENGTH);
  }
  return new Parser(tokenize(src)).parse();
}

/**
 * Truthiness used by `!`, `&&`, `||` and branch selection: `false`, `null`, `undefined`, `0`,
 * `NaN` and `''` are false; everything else (including empty arrays and objects) is true.
 */
export function truthy(v: unknown): boolean {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') return v !== 0 && !Number.isNaN(v);
  if (typeof v === 'string') return v.length > 0;
  return v !== null && v !== undefined;
}

/**
 * Evaluates an expression against `scope` (typically `{ data }`). Never throws.
 *
 * - A path reads only own properties of plain objects/arrays; a missing segment, a primitive in
 *   the middle of the path, or a prototype-reaching name yields `undefined`.
 * - `==` is strict equality between primitives of the same type; `null` and a missing value
 *   (`undefined`) are equal to each other; objects and arrays are never equal to anything.
 *   `!=` is exactly `!(a == b)`.
 * - `<`, `<=`, `>`, `>=` compare two numbers or two strings; any other pairing is `false`.
 * - `x in [..]` is true when `x == item` for some item.
 * - `!`, `&&`, `||` always produce booleans (see {@link truthy}); `&&`/`||` short-circuit.
 */
export function evaluate(expr: Expr, scope: Record<string, unknown>): unknown {
  switch (expr.kind) {
    case 'literal':
      return expr.value;
    case 'path':
      return readPath(scope, expr.segments);
    case 'not':
      return !truthy(evaluate(expr.operand, scope));
    case 'and':
      return expr.operands.every((e) => truthy(evaluate(e, scope)));
    case 'or':
      return expr.operands.some((e) => truthy(evaluate(e, scope)));
    case 'in': {
      const value = evaluate(expr.operand, scope);
      return expr.values.some((item) => equals(value, item));
    }
    case 'compare':
      return compare(expr.op, evaluate(expr.left, scope), evaluate(expr.right, scope));
  }
}

function readPath(scope: unknown, segments: readonly string[]): unknown {
  let current: unknown = scope;
  for (const segment of segments) {
    // Own properties of objects only: this is what keeps `toString`, `__proto__` & co. out of reach.
    if (typeof current !== 'object' || current === null) return undefined;
    if (FORBIDDEN_SEGMENTS.has(segment) || !Object.hasOwn(current, segment)) return undefined;
    current = (current as Record<string, unknown>)[segment];
  }
  return current;
}

function equals(a: unknown, b: unknown): boolean {
  if (a === undefined || a === null) return b === undefined || b === null;
  if (typeof a === 'object' || typeof b === 'object') return false;
  return a === b;
}

function compare(op: CompareOp, a: unknown, b: unknown): boolean {
  if (op === '==') return equals(a, b);
  if (op === '!=') return !equals(a, b);
  // Ordering only makes sense within one type; NaN never orders, hence the NaN sign.
  let sign: number;
  if (typeof a === 'number' && typeof b === 'number') sign = a < b ? -1 : a > b ? 1 : a === b ? 0 : NaN;
  else if (typeof a === 'string' && typeof b === 'string') sign = a < b ? -1 : a > b ? 1 : 0;
  else return false;
  switch (op) {
    case '<':
      return sign < 0;
    case '<=':
      return sign <= 0;
    case '>':
      return sign > 0;
    case '>=':
      return sign >= 0;
  }
}

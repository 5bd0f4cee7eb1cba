/**
 * Bounds on free JSON: the `data` of start and event commands and the `params` of definition steps, which no schema
 * shapes. Whatever handles such a value later (msgpack, `JSON.stringify`, `structuredClone`, XState) recurses once per
 * level, and a 64 KiB payload can nest 30,000 levels: far past the stack. So depth and key count are checked once, at
 * the edge, with an explicit stack, so that the check itself cannot overflow.
 */

export interface JsonLimits {
  /** Containers (objects, arrays) on the longest path; `{}` is 1, a number is 0. */
  maxDepth: number;
  /** Object keys in the whole value, nested ones included. */
  maxKeys: number;
}

/** Limits of free JSON values (R30). */
export const FREE_JSON_LIMITS: Readonly<JsonLimits> = { maxDepth: 32, maxKeys: 1_000 };

/** Depth of a whole document (a definition, with its params inside), so that validating it cannot overflow either. */
export const MAX_DOCUMENT_DEPTH = 64;

interface Frame {
  value: unknown;
  depth: number;
  parent: Frame | undefined;
  key: string | number;
}

/** The first way `value` exceeds `limits`, as `"<path>: <reason>"` with paths under `root`; undefined when within. */
export function jsonLimitProblem(value: unknown, limits: Readonly<JsonLimits>, root = '$'): string | undefined {
  let keys = 0;
  const stack: Frame[] = [{ value, depth: 0, parent: undefined, key: '' }];
  for (let f = stack.pop(); f !== undefined; f = stack.pop()) {
    const v = f.value;
    if (typeof v !== 'object' || v === null) continue;
    const depth = f.depth + 1;
    if (depth > limits.maxDepth) return `${pathOf(f, root)}: nested deeper than ${limits.maxDepth} levels`;
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) stack.push({ value: v[i], depth, parent: f, key: i });
      continue;
    }
    const own = Object.keys(v);
    keys += own.length;
    if (keys > limits.maxKeys) return `${pathOf(f, root)}: more than ${limits.maxKeys} keys in total`;
    // Own keys only, and read as data: a `__proto__` key from JSON.parse is an own property, never the prototype.
    for (const k of own) stack.push({ value: (v as Record<string, unknown>)[k], depth, parent: f, key: k });
  }
  return undefined;
}

/** `.key` for plain keys, `["odd key"]` otherwise, cut short: a key may be most of a 64 KiB payload. */
export function pathSegment(key: string | number): string {
  if (typeof key === 'number') return `[${key}]`;
  if (/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(key)) return `.${key}`;
  const shown = key.length > 40 ? `${key.slice(0, 37)}...` : key;
  return `[${JSON.stringify(shown)}]`;
}

function pathOf(frame: Frame, root: string): string {
  const segments: string[] = [];
  for (let f: Frame | undefined = frame; f?.parent !== undefined; f = f.parent) segments.push(pathSegment(f.key));
  const path = root + segments.reverse().join('');
  return path.length > 160 ? `${path.slice(0, 100)}...${path.slice(-57)}` : path;
}

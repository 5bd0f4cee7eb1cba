/**
 * A small argument parser for the `journeys` CLI: `--flag value`, `--flag=value`, boolean flags (`--json`,
 * `--no-sample`), `-h`, `--` to end flags, and positionals. Unknown flags and missing values are usage errors (exit 2).
 */

/** `string`: takes a value; `boolean`: a switch (`--x=false` allowed). */
export type FlagKind = 'string' | 'boolean';
export type FlagSpec = Readonly<Record<string, FlagKind>>;

export interface ParsedArgs {
  positionals: string[];
  flags: Record<string, string | boolean>;
}

/** A wrong invocation: unknown command or flag, missing or malformed argument. Exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

const SHORT: Readonly<Record<string, string>> = { h: 'help' };

export function parseArgs(argv: readonly string[], spec: FlagSpec): ParsedArgs {
  const out: ParsedArgs = { positionals: [], flags: {} };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      out.positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg.length < 2 || !arg.startsWith('-')) {
      out.positionals.push(arg);
      continue;
    }
    let name: string;
    let inline: string | undefined;
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
      inline = eq === -1 ? undefined : arg.slice(eq + 1);
    } else {
      const short = SHORT[arg.slice(1)];
      if (short === undefined) throw new UsageError(`unknown flag ${arg}`);
      name = short;
    }
    const kind = spec[name];
    if (kind === undefined) throw new UsageError(`unknown flag --${name}`);
    if (kind === 'boolean') {
      if (inline === undefined || inline === 'true') out.flags[name] = true;
      else if (inline === 'false') out.flags[name] = false;
      else throw new UsageError(`flag --${name} takes no value`);
      continue;
    }
    let value = inline;
    if (value === undefined) {
      value = argv[i + 1];
      if (value === undefined || (value.startsWith('--') && value.length > 2))
        throw new UsageError(`flag --${name} needs a value`);
      i++;
    }
    out.flags[name] = value;
  }
  return out;
}

/** Reads typed flags off parsed arguments, raising usage errors with the flag's name. */
export class Flags {
  constructor(readonly parsed: ParsedArgs) {}

  get positionals(): string[] {
    return this.parsed.positionals;
  }

  str(name: string): string | undefined {
    const v = this.parsed.flags[name];
    return typeof v === 'string' ? v : undefined;
  }

  required(name: string): string {
    const v = this.str(name);
    if (v === undefined || v === '') throw new UsageError(`missing --${name}`);
    return v;
  }

  bool(name: string): boolean {
    return this.parsed.flags[name] === true;
  }

  int(name: string, min = 0): number | undefined {
    const v = this.str(name);
    if (v === undefined) return undefined;
    if (!/^-?\d+$/.test(v) || Number(v) < min)
      throw new UsageError(`--${name} must be an integer of at least ${min}, got "${v}"`);
    return Number(v);
  }

  /** An ISO-8601 instant as epoch ms. */
  instant(name: string): number | undefined {
    const v = this.str(name);
    if (v === undefined) return undefined;
    const ms = Date.parse(v);
    if (Number.isNaN(ms)) throw new UsageError(`--${name} must be an ISO-8601 date or instant, got "${v}"`);
    return ms;
  }

  /** A JSON object. */
  json(name: string): Record<string, unknown> | undefined {
    const v = this.str(name);
    if (v === undefined) return undefined;
    let parsed: unknown;
    try {
      parsed = JSON.parse(v);
    } catch (err) {
      throw new UsageError(`--${name} is not valid JSON: ${(err as Error).message}`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      throw new UsageError(`--${name} must be a JSON object`);
    return parsed as Record<string, unknown>;
  }

  /** The positional at `index`, or a usage error naming it. */
  arg(index: number, what: string): string {
    const v = this.parsed.positionals[index];
    if (v === undefined) throw new UsageError(`missing ${what}`);
    return v;
  }

  /** Refuses positionals beyond `count`. */
  noMoreThan(count: number): void {
    const extra = this.parsed.positionals[count];
    if (extra !== undefined) throw new UsageError(`unexpected argument "${extra}"`);
  }
}

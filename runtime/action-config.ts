/**
 * The file of `journeys run --actions FILE` (or `JRN_ACTIONS`): how each action is performed (docs/actions-config.md).
 * YAML or JSON, checked in full before anything starts: structure by the TypeBox schema of `schemas/actions.ts`, then
 * what a schema cannot say (durations that parse and are positive, a subject exactly where `request` needs one, a breaker
 * that can decide). The first problem is reported on one line that names the file and the entry, so an operator can fix
 * it without reading a stack trace.
 */
import { readFile } from 'node:fs/promises';
import type { TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { ValueErrorType, type ValueError } from '@sinclair/typebox/errors';
import { Value } from '@sinclair/typebox/value';
import { parseDocument } from 'yaml';
import { DEFAULT_BREAKER } from '../actors/circuit-breaker.ts';
import { durationMs, parseDuration } from '../actors/duration.ts';
import { ActionsFileSchema, type ActionConfig, type ActionsFile } from '../schemas/actions.ts';
import { ErrorCodes, RuntimeError } from './errors.ts';

/** Stable code of every actions-file problem (matched by scripts and operators; never renamed). */
export const INVALID_ACTIONS_CONFIG = ErrorCodes.INVALID_ACTIONS_CONFIG;

/** An actions file (or `actionConfig` object) that cannot be used: fixing the file is the only remedy. */
export class ActionsConfigError extends RuntimeError {
  override name = 'ActionsConfigError';
  /** Where the bad entry is, e.g. `actions."email.send".timeout`; empty for the file as a whole. */
  readonly path: string;
  constructor(where: string, path: string, problem: string, options?: { cause?: unknown }) {
    super('INVALID_ACTIONS_CONFIG', `${where}: ${path ? `${path}: ` : ''}${problem}`, options);
    this.path = path;
  }
}

/** Parses and validates the text of an actions file; `source` names it in errors (the path as the operator gave it). */
export function parseActionsFile(text: string, source: string): ActionsFile {
  const where = `actions file ${source}`;
  const doc = parseDocument(text);
  const bad = doc.errors[0];
  if (bad) {
    const pos = bad.linePos?.[0];
    // The library's message repeats the position and adds a multi-line excerpt: keep its first sentence only.
    const what = (bad.message.split('\n')[0] ?? bad.message).replace(/ at line \d+, column \d+:?$/, '');
    throw new ActionsConfigError(
      where,
      '',
      `YAML syntax error${pos ? ` at line ${pos.line}, column ${pos.col}` : ''}: ${what}`,
      {
        cause: bad,
      },
    );
  }
  const value: unknown = doc.toJS();
  if (value === null || value === undefined)
    throw new ActionsConfigError(where, '', 'the file is empty (expected `defaults:` and/or `actions:`)');
  return validateActionsConfig(value, where);
}

/** Reads, parses and validates an actions file. */
export async function loadActionsFile(path: string): Promise<ActionsFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const problem =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EISDIR'
          ? 'is a directory'
          : `cannot be read (${code ?? String(err)})`;
    throw new ActionsConfigError(`actions file ${path}`, '', problem, { cause: err });
  }
  return parseActionsFile(text, path);
}

const checkFile = TypeCompiler.Compile(ActionsFileSchema);
const ACTION_NAME = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;
/** A concrete NATS subject: non-empty tokens, no whitespace, no `*` or `>` wildcards. */
const SUBJECT = /^[^\s.*>]+(\.[^\s.*>]+)*$/;
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Validates an already parsed configuration (what `serve({ actionConfig })` receives from an embedder). `where` starts
 * every error message.
 */
export function validateActionsConfig(value: unknown, where = 'actionConfig'): ActionsFile {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new ActionsConfigError(
      where,
      '',
      `expected a mapping with \`defaults:\` and/or \`actions:\`, got ${kindOf(value)}`,
    );
  // Names first: the schema refuses a bad name too, but only as an unknown field.
  const actions = (value as { actions?: unknown }).actions;
  if (typeof actions === 'object' && actions !== null && !Array.isArray(actions)) {
    const bad = Object.keys(actions).find((name) => !ACTION_NAME.test(name));
    if (bad !== undefined) {
      throw new ActionsConfigError(where, render(['actions', bad]), 'not a valid action name (letters, digits, _ and -, in parts separated by dots)');
    }
  }
  if (!checkFile.Check(value)) {
    const first = checkFile.Errors(value).First();
    const [path, problem] = first ? describe(first) : ['', 'does not match the schema'];
    throw new ActionsConfigError(where, path, problem);
  }
  const file = value;
  const defaults = file.defaults ?? {};
  checkEntry(where, ['defaults'], defaults, defaults, 'defaults');
  for (const [name, own] of Object.entries(file.actions ?? {})) {
    // Shallow, as the runtime applies it (runtime/engine/actions.ts `resolve`): an entry's `retry` or `breaker` replaces the defaults' one.
    checkEntry(where, ['actions', name], own, { ...defaults, ...own }, 'action');
  }
  return file;
}

/** `own` is what the entry itself says; `effective` is it over the defaults. */
function checkEntry(
  where: string,
  at: string[],
  own: Partial<ActionConfig>,
  effective: Partial<ActionConfig>,
  what: 'defaults' | 'action',
): void {
  const fail = (sub: string[], problem: string): never => {
    throw new ActionsConfigError(where, render([...at, ...sub]), problem);
  };
  const durations: [string[], string | undefined][] = [
    [['timeout'], own.timeout],
    [['retry', 'backoff'], own.retry?.backoff],
    [['breaker', 'within'], own.breaker ? own.breaker.within : undefined],
    [['breaker', 'coolOff'], own.breaker ? own.breaker.coolOff : undefined],
  ];
  for (const [sub, text] of durations) {
    if (text === undefined) continue;
    const problem = durationProblem(text);
    if (problem) fail(sub, problem);
  }
  if (own.subject !== undefined && !SUBJECT.test(own.subject))
    fail(
      ['subject'],
      `${show(own.subject)} is not a subject a request can go to (dot-separated tokens, no spaces or wildcards)`,
    );
  const mode = effective.mode ?? 'outbound';
  if (mode === 'request' && !effective.subject) fail([], 'mode request needs a subject');
  if (own.subject !== undefined && mode !== 'request')
    fail(
      ['subject'],
      `a subject is only used by mode request, and ${what === 'defaults' ? 'the defaults are' : 'this action is'} ${mode}`,
    );
  if (own.breaker) {
    const minCalls = own.breaker.minCalls ?? DEFAULT_BREAKER.minCalls;
    const window = own.breaker.window ?? DEFAULT_BREAKER.window;
    if (minCalls > window) {
      const dflt = (field: 'minCalls' | 'window'): string =>
        own.breaker && own.breaker[field] === undefined ? ' (the default)' : '';
      fail(
        ['breaker'],
        `minCalls ${minCalls}${dflt('minCalls')} is more than window ${window}${dflt('window')}: the breaker could never open`,
      );
    }
  }
}

function durationProblem(text: string): string | undefined {
  const d = parseDuration(text);
  if (!d) return `${JSON.stringify(text)} is not an ISO-8601 duration (e.g. PT30S)`;
  if (durationMs(d) <= 0) return `${JSON.stringify(text)} is not a positive duration`;
  return undefined;
}

/** The first schema error as `[path, problem]`, in the terms of the file rather than of JSON Schema. */
function describe(e: ValueError, prefix: string[] = []): [string, string] {
  const at = [...prefix, ...pointerSegments(e.path)];
  const schema = e.schema as { title?: string; properties?: Record<string, unknown>; anyOf?: TSchema[] };
  switch (e.type) {
    case ValueErrorType.StringPattern:
      if (schema.title === 'ISO-8601 duration') return [render(at), durationProblem(String(e.value)) ?? e.message];
      break;
    case ValueErrorType.ObjectAdditionalProperties: {
      const allowed = Object.keys(schema.properties ?? {}).join(', ');
      return [render(at), `unknown field${allowed ? ` (expected one of ${allowed})` : ''}`];
    }
    case ValueErrorType.Union: {
      const members = schema.anyOf ?? [];
      const consts = members.map((m) => (m as { const?: unknown }).const);
      if (consts.every((c) => typeof c === 'string'))
        return [render(at), `${show(e.value)} is not one of ${consts.join(', ')}`];
      // `breaker`: settings or `false`. An object was meant as settings: report what is wrong inside it.
      const object = members.find((m) => (m as { type?: unknown }).type === 'object');
      if (object && typeof e.value === 'object' && e.value !== null && !Array.isArray(e.value)) {
        const inner = Value.Errors(object, e.value).First();
        if (inner) return describe(inner, at);
      }
      return [render(at), `expected settings or false, got ${show(e.value)}`];
    }
    case ValueErrorType.Object:
      return [render(at), `expected a mapping, got ${show(e.value)}`];
    default:
      break;
  }
  return [render(at), `${e.message.charAt(0).toLowerCase()}${e.message.slice(1)}, got ${show(e.value)}`];
}

function pointerSegments(pointer: string): string[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** `actions."email.send".retry.backoff`: action names always quoted (they usually hold dots), other keys when not identifiers. */
function render(at: readonly string[]): string {
  return at
    .map((seg, i) => (IDENTIFIER.test(seg) && !(i === 1 && at[0] === 'actions') ? seg : JSON.stringify(seg)))
    .join('.');
}

function show(v: unknown): string {
  const text = v === undefined ? 'nothing' : (JSON.stringify(v) ?? String(v));
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function kindOf(v: unknown): string {
  if (Array.isArray(v)) return 'a list';
  if (v === null) return 'null';
  return typeof v === 'string' ? `the text ${show(v)}` : `${typeof v} ${show(v)}`;
}

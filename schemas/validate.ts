/**
 * Full validation of a journey definition: structure (TypeBox), then the semantic and graph
 * checks a JSON Schema cannot express. Every problem found is reported, each with a JSON path and
 * a stable code, so an editor can underline all of them at once.
 */
import type { TSchema } from '@sinclair/typebox';
import { ValueErrorType, type ValueError } from '@sinclair/typebox/errors';
import { Value } from '@sinclair/typebox/value';
import { durationMs, parseDuration } from '../actors/duration.ts';
import { ExpressionError, parseExpression } from '../actors/expression.ts';
import { isValidTimeZone, resolveWaitUntil } from '../actors/time.ts';
import {
  ActionStepSchema,
  BranchStepSchema,
  EndStepSchema,
  JourneyDefinitionSchema,
  SplitStepSchema,
  STEP_ID_PATTERN,
  STEP_TYPES,
  StepSchema,
  TIME_OF_DAY_PATTERN,
  WaitForEventStepSchema,
  WaitStepSchema,
  WaitUntilStepSchema,
  type JourneyDefinition,
  type Step,
  type StepType,
  type WaitUntilStep,
} from './journey-definition.ts';

/** Stable issue codes: API clients and the editor match on them, so never rename one. */
export const ValidationCodes = {
  SCHEMA: 'SCHEMA',
  UNKNOWN_ACTION: 'UNKNOWN_ACTION',
  UNKNOWN_STEP: 'UNKNOWN_STEP',
  UNREACHABLE_STEP: 'UNREACHABLE_STEP',
  CYCLE_WITHOUT_WAIT: 'CYCLE_WITHOUT_WAIT',
  BAD_DURATION: 'BAD_DURATION',
  BAD_TIME_ZONE: 'BAD_TIME_ZONE',
  BAD_EXPRESSION: 'BAD_EXPRESSION',
  BAD_TIME: 'BAD_TIME',
  BAD_SKIP: 'BAD_SKIP',
  NO_END: 'NO_END',
  DUPLICATE_VARIANT: 'DUPLICATE_VARIANT',
} as const;
export type ValidationCode = (typeof ValidationCodes)[keyof typeof ValidationCodes];

/** One problem, located by a JSON path such as `$.steps.welcome.next` or `$.steps.b.cases[0].when`. */
export interface ValidationIssue {
  path: string;
  code: string;
  message: string;
}

export type ValidationResult =
  { ok: true; definition: JourneyDefinition; warnings: ValidationIssue[] } | { ok: false; errors: ValidationIssue[] };

export interface ValidationOptions {
  /** Registered action names; when given, any other `action` is an UNKNOWN_ACTION error. */
  knownActions?: readonly string[];
}

/** Thrown where an invalid definition cannot be accepted (publishing, starting an execution). */
export class DefinitionInvalidError extends Error {
  override name = 'DefinitionInvalidError';
  /** Same code as the runtime's `ErrorCodes.DEFINITION_INVALID` (schemas/ stays free of runtime imports). */
  readonly code = 'DEFINITION_INVALID' as const;
  readonly retryable = false as const;
  readonly issues: readonly ValidationIssue[];
  constructor(issues: readonly ValidationIssue[], options?: { cause?: unknown }) {
    super(summarise(issues), options?.cause === undefined ? undefined : { cause: options.cause });
    this.issues = issues;
  }
}

function summarise(issues: readonly ValidationIssue[]): string {
  const first = issues[0];
  if (first === undefined) return 'Invalid journey definition';
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more issue${issues.length > 2 ? 's' : ''})` : '';
  return `Invalid journey definition: ${first.path}: ${first.message} [${first.code}]${more}`.replace(/\s+/g, ' ');
}

/** Validates `doc` (parsed JSON) as a journey definition. Never throws. */
export function validateJourneyConfiguration(doc: unknown, options: ValidationOptions = {}): ValidationResult {
  const issues = structuralIssues(doc);
  const warnings: Issue[] = [];
  if (isObject(doc)) semanticChecks(doc, issues, warnings, options);

  const errors = issues.map((i) => toPublic(i, doc));
  if (errors.length === 0 && !Value.Check(JourneyDefinitionSchema, doc)) {
    // Safety net: never hand out a `definition` the schema rejects, even if a check above is lax.
    errors.push({ path: '$', code: ValidationCodes.SCHEMA, message: 'Document does not match the journey schema' });
  }
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, definition: doc as JourneyDefinition, warnings: warnings.map((w) => toPublic(w, doc)) };
}

// ---------------------------------------------------------------------------------------------
// Issues are collected with JSON-pointer-like segment lists and turned into JSON paths at the
// end, because only then do we walk the document to tell array indexes from object keys.

type Segments = readonly (string | number)[];
interface Issue {
  at: Segments;
  code: ValidationCode;
  message: string;
}

function toPublic(issue: Issue, doc: unknown): ValidationIssue {
  return { path: jsonPath(issue.at, doc), code: issue.code, message: issue.message };
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** `$.a.b[0]`, with `['odd-key']` for keys that are not identifiers (RFC 9535 shorthand rules). */
function jsonPath(at: Segments, doc: unknown): string {
  let path = '$';
  let node: unknown = doc;
  for (const seg of at) {
    if (Array.isArray(node) && (typeof seg === 'number' || /^(0|[1-9][0-9]*)$/.test(seg))) path += `[${seg}]`;
    else if (IDENTIFIER.test(String(seg))) path += `.${seg}`;
    else path += `['${String(seg).replace(/\\/g, '\\\\').replace(/'/g, "\\'")}']`;
    node = isObject(node) || Array.isArray(node) ? ownValue(node, String(seg)) : undefined;
  }
  return path;
}

function pointerSegments(pointer: string): string[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function ownValue(container: object, key: string): unknown {
  return Object.hasOwn(container, key) ? (container as Record<string, unknown>)[key] : undefined;
}

function show(v: unknown): string {
  const text = v === undefined ? 'nothing' : (JSON.stringify(v) ?? String(v));
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

// ---------------------------------------------------------------------------------------------
// Structure

const STEP_VARIANTS: Readonly<Record<StepType, TSchema>> = {
  action: ActionStepSchema,
  wait: WaitStepSchema,
  waitUntil: WaitUntilStepSchema,
  waitForEvent: WaitForEventStepSchema,
  branch: BranchStepSchema,
  split: SplitStepSchema,
  end: EndStepSchema,
};
const STEPS_RECORD: TSchema = JourneyDefinitionSchema.properties.steps;
const STEP_ID_RE = new RegExp(STEP_ID_PATTERN);

function structuralIssues(doc: unknown): Issue[] {
  const out: Issue[] = [];
  collectSchemaErrors(JourneyDefinitionSchema, doc, [], out);
  // TypeBox stops at the first step id that fails the key pattern; report every one of them.
  const steps = isObject(doc) ? doc['steps'] : undefined;
  if (isObject(steps)) {
    for (const id of Object.keys(steps)) {
      if (!STEP_ID_RE.test(id)) {
        out.push({
          at: ['steps', id],
          code: 'SCHEMA',
          message: `Invalid step id ${show(id)}: expected ${STEP_ID_PATTERN}`,
        });
      }
    }
  }
  return out;
}

function collectSchemaErrors(schema: TSchema, value: unknown, prefix: Segments, out: Issue[]): void {
  const missing = new Set<string>();
  for (const e of Value.Errors(schema, value)) {
    // A missing property is also reported as the wrong type at the same path; keep the first.
    if (missing.has(e.path)) continue;
    if (e.type === ValueErrorType.ObjectRequiredProperty) missing.add(e.path);
    if (e.type === ValueErrorType.ObjectAdditionalProperties && e.schema === STEPS_RECORD) continue;
    const at = [...prefix, ...pointerSegments(e.path)];
    if (e.type === ValueErrorType.Union && e.schema.$id === StepSchema.$id) expandStepError(e.value, at, out);
    else out.push(describeError(e, at));
  }
}

/**
 * TypeBox reports a union mismatch as one "Expected union value"; since steps are discriminated by
 * `type`, checking against the variant the author meant gives precise errors instead.
 */
function expandStepError(value: unknown, at: Segments, out: Issue[]): void {
  if (!isObject(value)) {
    out.push({ at, code: 'SCHEMA', message: `Expected a step object, got ${show(value)}` });
    return;
  }
  const type = ownValue(value, 'type');
  const variant =
    typeof type === 'string' && Object.hasOwn(STEP_VARIANTS, type) ? STEP_VARIANTS[type as StepType] : undefined;
  if (variant !== undefined) {
    collectSchemaErrors(variant, value, at, out);
  } else if (type === undefined) {
    out.push({ at: [...at, 'type'], code: 'SCHEMA', message: 'Missing required property "type"' });
  } else {
    out.push({
      at: [...at, 'type'],
      code: 'SCHEMA',
      message: `Unknown step type ${show(type)}: expected one of ${STEP_TYPES.join(', ')}`,
    });
  }
}

function describeError(e: ValueError, at: Segments): Issue {
  const last = String(at[at.length - 1] ?? '');
  const schema = e.schema as { pattern?: string; title?: string; anyOf?: { const?: unknown }[] };
  switch (e.type) {
    case ValueErrorType.StringPattern:
      // A bad HH:MM is a semantic error with its own code, not a structural one.
      if (schema.pattern === TIME_OF_DAY_PATTERN) {
        return { at, code: 'BAD_TIME', message: `Invalid time ${show(e.value)}: expected HH:MM from 00:00 to 23:59` };
      }
      return {
        at,
        code: 'SCHEMA',
        message: `Expected ${schema.title ?? 'a string'} matching ${schema.pattern}, got ${show(e.value)}`,
      };
    case ValueErrorType.ObjectRequiredProperty:
      return { at, code: 'SCHEMA', message: `Missing required property "${last}"` };
    case ValueErrorType.ObjectAdditionalProperties:
      return { at, code: 'SCHEMA', message: `Unexpected property "${last}"` };
    case ValueErrorType.Union:
      if (schema.anyOf?.every((s) => s.const !== undefined)) {
        const allowed = schema.anyOf.map((s) => show(s.const)).join(', ');
        return { at, code: 'SCHEMA', message: `Expected one of ${allowed}, got ${show(e.value)}` };
      }
      return { at, code: 'SCHEMA', message: e.message };
    default:
      return { at, code: 'SCHEMA', message: `${e.message}, got ${show(e.value)}` };
  }
}

// ---------------------------------------------------------------------------------------------
// Semantics and graph. These run on whatever parts are structurally sound, so that one typo does
// not hide the other problems; graph-wide checks need every step and `start` to be sound.

function semanticChecks(
  doc: Record<string, unknown>,
  errors: Issue[],
  warnings: Issue[],
  opts: ValidationOptions,
): void {
  // True when a structural error sits at or below `prefix`.
  const unsound = (...prefix: string[]) =>
    errors.some((i) => i.code === 'SCHEMA' && prefix.every((seg, k) => i.at[k] === seg));

  const timeZone = doc['timeZone'];
  if (typeof timeZone === 'string' && !isValidTimeZone(timeZone)) {
    errors.push({ at: ['timeZone'], code: 'BAD_TIME_ZONE', message: `Unknown IANA time zone ${show(timeZone)}` });
  }

  const rawSteps = doc['steps'];
  if (!isObject(rawSteps)) return;
  const ids = new Set(Object.keys(rawSteps));
  // Only steps without structural errors are looked at; a Map avoids inherited names like `toString`.
  const steps = new Map<string, Step>();
  for (const id of ids) if (!unsound('steps', id)) steps.set(id, rawSteps[id] as Step);

  const found: Issue[] = [];
  const start = doc['start'];
  if (typeof start === 'string' && !ids.has(start)) {
    found.push({ at: ['start'], code: 'UNKNOWN_STEP', message: `Start step ${show(start)} does not exist` });
  }
  for (const [id, step] of steps) checkStep(id, step, steps, ids, opts, found);

  // From a missing start everything would be "unreachable": that is noise, not information.
  if (
    typeof start === 'string' &&
    ids.has(start) &&
    !unsound('steps') &&
    !unsound('start') &&
    steps.size === ids.size
  ) {
    checkGraph(start, steps, found, warnings);
  }
  errors.push(...found);
}

/** Step references (edges) of one step, with where they are written. */
function refsOf(step: Step): { target: string; at: Segments; live: boolean }[] {
  switch (step.type) {
    case 'action':
    case 'wait':
      return [{ target: step.next, at: ['next'], live: true }];
    case 'waitUntil':
      return [
        { target: step.next, at: ['next'], live: true },
        // `skipTo` is only ever followed when `ifPast` is `skip`.
        ...(step.skipTo === undefined ? [] : [{ target: step.skipTo, at: ['skipTo'], live: step.ifPast === 'skip' }]),
      ];
    case 'waitForEvent':
      return [
        { target: step.onEvent, at: ['onEvent'], live: true },
        { target: step.onTimeout, at: ['onTimeout'], live: true },
      ];
    case 'branch':
      return [
        ...step.cases.map((c, i) => ({ target: c.next, at: ['cases', i, 'next'], live: true })),
        { target: step.default, at: ['default'], live: true },
      ];
    case 'split':
      return step.variants.map((v, i) => ({ target: v.next, at: ['variants', i, 'next'], live: true }));
    case 'end':
      return [];
  }
}

function checkStep(
  id: string,
  step: Step,
  steps: ReadonlyMap<string, Step>,
  ids: ReadonlySet<string>,
  opts: ValidationOptions,
  out: Issue[],
): void {
  const at = (...rest: (string | number)[]): Segments => ['steps', id, ...rest];
  for (const ref of refsOf(step)) {
    if (!ids.has(ref.target)) {
      out.push({ at: at(...ref.at), code: 'UNKNOWN_STEP', message: `Step ${show(ref.target)} does not exist` });
    }
  }
  const duration = (value: string | undefined, field: Segments, positive: boolean) => {
    if (value === undefined) return;
    const d = parseDuration(value);
    if (d === undefined) {
      out.push({ at: at(...field), code: 'BAD_DURATION', message: `Invalid ISO-8601 duration ${show(value)}` });
    } else if (positive && durationMs(d) <= 0) {
      out.push({ at: at(...field), code: 'BAD_DURATION', message: `Duration ${show(value)} must be positive` });
    }
  };

  switch (step.type) {
    case 'action':
      if (opts.knownActions && !opts.knownActions.includes(step.action)) {
        out.push({ at: at('action'), code: 'UNKNOWN_ACTION', message: `No action handler named ${show(step.action)}` });
      }
      duration(step.timeout, ['timeout'], true);
      duration(step.retry?.backoff, ['retry', 'backoff'], true);
      break;
    case 'wait':
      duration(step.duration, ['duration'], true);
      break;
    case 'waitUntil':
      duration(step.offset, ['offset'], false);
      checkAnchor(step, at('anchor'), out);
      checkSkip(step, steps, ids, at('ifPast'), out);
      break;
    case 'waitForEvent':
      duration(step.timeout, ['timeout'], true);
      break;
    case 'branch':
      step.cases.forEach((c, i) => {
        try {
          parseExpression(c.when);
        } catch (err) {
          const message = err instanceof ExpressionError ? err.message : String(err);
          out.push({ at: at('cases', i, 'when'), code: 'BAD_EXPRESSION', message });
        }
      });
      break;
    case 'split': {
      const seen = new Set<string>();
      step.variants.forEach((v, i) => {
        if (seen.has(v.name)) {
          out.push({
            at: at('variants', i, 'name'),
            code: 'DUPLICATE_VARIANT',
            message: `Duplicate variant name ${show(v.name)}`,
          });
        }
        seen.add(v.name);
      });
      break;
    }
    case 'end':
      break;
  }
}

/** Absolute anchors must be real dates/instants; resolving one is exactly what the runtime will do. */
function checkAnchor(step: WaitUntilStep, at: Segments, out: Issue[]): void {
  const { anchor } = step;
  if (anchor === 'weddingDate' || anchor === 'bookedAt' || anchor.startsWith('data.')) return;
  try {
    resolveWaitUntil({ anchor }, 'UTC');
  } catch {
    out.push({ at, code: 'BAD_TIME', message: `Anchor ${show(anchor)} is not a valid calendar date or instant` });
  }
}

/** Without `skipTo`, a skip goes to the `next` of the step after the wait, which must have one. */
function checkSkip(
  step: WaitUntilStep,
  steps: ReadonlyMap<string, Step>,
  ids: ReadonlySet<string>,
  at: Segments,
  out: Issue[],
): void {
  if (step.ifPast !== 'skip' || step.skipTo !== undefined) return;
  if (!ids.has(step.next)) {
    out.push({ at, code: 'BAD_SKIP', message: `Cannot skip past ${show(step.next)}: no such step; set skipTo` });
    return;
  }
  const follower = steps.get(step.next);
  if (follower === undefined) return; // structurally broken: already reported
  if (follower.type !== 'action' && follower.type !== 'wait' && follower.type !== 'waitUntil') {
    out.push({
      at,
      code: 'BAD_SKIP',
      message: `Cannot skip past ${show(step.next)}: a ${follower.type} step has no single next; set skipTo`,
    });
  }
}

const WAITS: ReadonlySet<StepType> = new Set<StepType>(['wait', 'waitUntil', 'waitForEvent']);

function checkGraph(start: string, steps: ReadonlyMap<string, Step>, errors: Issue[], warnings: Issue[]): void {
  // Reachability: breadth-first over live edges.
  const reached = new Set([start]);
  const queue = [start];
  for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
    const step = steps.get(id);
    for (const ref of step ? refsOf(step) : []) {
      if (ref.live && !reached.has(ref.target)) {
        reached.add(ref.target);
        queue.push(ref.target);
      }
    }
  }
  for (const id of steps.keys()) {
    if (!reached.has(id)) {
      errors.push({
        at: ['steps', id],
        code: 'UNREACHABLE_STEP',
        message: `Step ${show(id)} is not reachable from start`,
      });
    }
  }
  if (![...reached].some((id) => steps.get(id)?.type === 'end')) {
    warnings.push({ at: ['steps'], code: 'NO_END', message: 'No end step is reachable from start' });
  }

  for (const cycle of cyclesWithoutWait(steps)) {
    errors.push({
      at: ['steps', cycle[0] as string],
      code: 'CYCLE_WITHOUT_WAIT',
      message: `Cycle without a wait step: ${[...cycle, cycle[0]].join(' → ')}; it would run in a tight loop`,
    });
  }
}

/**
 * Cycles made only of action/branch/split steps, one per distinct set of steps. Iterative DFS, so a
 * long chain of steps cannot overflow the stack.
 */
function cyclesWithoutWait(steps: ReadonlyMap<string, Step>): string[][] {
  const successors = (id: string): string[] => {
    const step = steps.get(id);
    if (step === undefined || WAITS.has(step.type)) return [];
    const targets = refsOf(step).map((r) => r.target);
    return [...new Set(targets)].filter((t) => {
      const s = steps.get(t);
      return s !== undefined && !WAITS.has(s.type);
    });
  };
  const state = new Map<string, 'open' | 'done'>();
  const cycles = new Map<string, string[]>();
  for (const root of steps.keys()) {
    if (state.has(root) || WAITS.has((steps.get(root) as Step).type)) continue;
    state.set(root, 'open');
    const stack = [{ id: root, targets: successors(root), i: 0 }];
    while (stack.length > 0) {
      const top = stack[stack.length - 1] as (typeof stack)[number];
      const target = top.targets[top.i++];
      if (target === undefined) {
        state.set(top.id, 'done');
        stack.pop();
      } else if (!state.has(target)) {
        state.set(target, 'open');
        stack.push({ id: target, targets: successors(target), i: 0 });
      } else if (state.get(target) === 'open') {
        const cycle = stack.slice(stack.findIndex((f) => f.id === target)).map((f) => f.id);
        const key = [...cycle].sort().join('\u0000');
        if (!cycles.has(key)) cycles.set(key, cycle);
      }
    }
  }
  return [...cycles.values()];
}

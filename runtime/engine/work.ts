/**
 * Internal work messages on `<prefix>.work.<tier>.<supplier>.<execution>` (msgpack). Only the runtime writes them, but
 * anyone allowed on the subject can: every one is checked when read (R30), and one that fails is recorded on
 * `<prefix>.rejects.work` and acknowledged, never retried nor dead-lettered (no redelivery can mend it).
 */
import { Type, type TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { TIERS, type Tier } from '../../actors/priority.ts';
import { isCalendarDate, isValidTimeZone } from '../../actors/time.ts';

export { isCalendarDate };
import { ActionResultSchema, type ActionResult } from '../../schemas/actions.ts';
import { ExecutionId, StartCommandSchema, type StartCommand } from '../../schemas/commands.ts';
import { EVENT_NAME_PATTERN, JOURNEY_ID_PATTERN, MAX_VERSION } from '../../schemas/journey-definition.ts';
import { decode } from '../codec.ts';
import { RejectedError, errorMessage, type ErrorCode } from '../errors.ts';
import { executionIdOf } from './execution-record.ts';
import { FREE_JSON_LIMITS, jsonLimitProblem } from '../json-limits.ts';
import type { Sealed } from '../sealed.ts';

export type Work =
  /** The command without `client`: personal data travels sealed in `pii`. `reserved`: its rate-limit slot is taken. */
  | { k: 'start'; cmd: Omit<StartCommand, 'client'>; pii?: Sealed; def: { id: string; version: number }; reserved?: boolean }
  | { k: 'event'; name: string; data?: Record<string, unknown> }
  | { k: 'timer'; id: string }
  | { k: 'retry'; key: string; attempt: number }
  /** A service's result for an outbound action (from `<prefix>.results.>`, validated). */
  | { k: 'result'; result: ActionResult }
  /** An outbound attempt's deadline passed (a durable timer). */
  | { k: 'timeout'; key: string; attempt: number; deadline: number }
  | { k: 'replay' }
  | { k: 'cancel'; reason?: string }
  | { k: 'pause' }
  | { k: 'resume' };

/** Supplier and execution id from a work subject (no check: see {@link parseWorkSubject}). */
export function workTarget(subject: string): { supplierId: string; executionId: string } {
  const parts = subject.split('.');
  return { supplierId: parts[parts.length - 2] ?? '', executionId: parts[parts.length - 1] ?? '' };
}

/**
 * Largest work message read. Starts and events carry up to a command's payload (64 KiB of JSON by default) and results
 * up to 64 KiB; msgpack may take up to 2.25 times the bytes of the same JSON (a float is 9 bytes, `0.5,` is 4). The
 * runtime raises it with a larger `maxPayloadBytes` ({@link maxWorkBytes}).
 */
export const MAX_WORK_BYTES = 256 * 1024;

/** The work size limit that goes with a command size limit: never below {@link MAX_WORK_BYTES}. */
export function maxWorkBytes(maxPayloadBytes: number): number {
  return Math.max(MAX_WORK_BYTES, 3 * maxPayloadBytes + 65_536);
}

const SUPPLIER_ID = /^[A-Za-z0-9_-]{1,64}$/;
const EXECUTION_ID = new RegExp(ExecutionId.pattern ?? '^ex_[a-z2-7]{26}$');

/** True for a supplier id the router accepts: a subject token, and a KV key part. */
export function isSupplierId(s: unknown): s is string {
  return typeof s === 'string' && SUPPLIER_ID.test(s);
}

/** True for an execution id as `executionIdOf` makes it. */
export function isExecutionId(s: unknown): s is string {
  return typeof s === 'string' && EXECUTION_ID.test(s);
}

/**
 * Supplier and execution id of a work subject, checked: exactly `<prefix>.work.<tier>.<supplier>.<execution>` with valid
 * tokens. Throws `RejectedError` (BAD_COMMAND).
 */
export function parseWorkSubject(subject: string): { tier: Tier; supplierId: string; executionId: string } {
  const parts = subject.split('.');
  const [, branch, tier, supplierId, executionId] = parts;
  if (parts.length !== 5 || branch !== 'work' || !(TIERS as readonly (string | undefined)[]).includes(tier)) {
    throw new RejectedError('BAD_COMMAND', `subject: not <prefix>.work.<tier>.<supplier>.<execution>`);
  }
  if (!isSupplierId(supplierId)) throw new RejectedError('BAD_COMMAND', 'subject: supplier token is not a supplier id');
  if (!isExecutionId(executionId)) throw new RejectedError('BAD_COMMAND', 'subject: execution token is not an execution id');
  return { tier: tier as Tier, supplierId, executionId };
}

// Objects are left open where a later runtime may add a field (a rolling upgrade must not turn its work into rejects);
// the start command keeps the command schema's own closed shape, which the router enforced when it made it.
const Key = Type.String({ minLength: 1, maxLength: 256 });
const Attempt = Type.Integer({ minimum: 1, maximum: 1_000_000 });
const Data = Type.Record(Type.String(), Type.Unknown());
const KIND_SCHEMAS = {
  start: Type.Object({
    k: Type.Literal('start'),
    cmd: Type.Omit(StartCommandSchema, ['client'], { additionalProperties: false }),
    pii: Type.Optional(Type.Object({ kid: Type.String({ minLength: 1, maxLength: 64 }), data: Type.Uint8Array() })),
    def: Type.Object({ id: Type.String({ pattern: JOURNEY_ID_PATTERN }), version: Type.Integer({ minimum: 1, maximum: MAX_VERSION }) }),
    reserved: Type.Optional(Type.Boolean()),
  }),
  event: Type.Object({ k: Type.Literal('event'), name: Type.String({ pattern: EVENT_NAME_PATTERN }), data: Type.Optional(Data) }),
  timer: Type.Object({ k: Type.Literal('timer'), id: Type.String({ minLength: 1, maxLength: 512 }) }),
  retry: Type.Object({ k: Type.Literal('retry'), key: Key, attempt: Attempt }),
  result: Type.Object({ k: Type.Literal('result'), result: ActionResultSchema }),
  timeout: Type.Object({ k: Type.Literal('timeout'), key: Key, attempt: Attempt, deadline: Type.Number() }),
  replay: Type.Object({ k: Type.Literal('replay') }),
  cancel: Type.Object({ k: Type.Literal('cancel'), reason: Type.Optional(Type.String({ maxLength: 500 })) }),
  pause: Type.Object({ k: Type.Literal('pause') }),
  resume: Type.Object({ k: Type.Literal('resume') }),
} satisfies Record<Work['k'], TSchema>;
const KIND_CHECKS = Object.fromEntries(
  Object.entries(KIND_SCHEMAS).map(([k, s]) => [k, TypeCompiler.Compile(s as TSchema)]),
) as Record<Work['k'], TypeCheck<TSchema>>;

/**
 * Checks a decoded value as a work message for the execution it is addressed to (`target`, from its subject or its
 * timer): the variant's shape, free JSON (`data`) within {@link FREE_JSON_LIMITS} and made of JSON values only (msgpack
 * also carries binaries, dates and 64-bit integers, which later `JSON.stringify` or expressions would trip on), and a
 * start's own ids matching its target. Throws `RejectedError` naming the path at fault.
 */
export function checkWork(value: unknown, target?: { supplierId: string; executionId: string }): Work {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new RejectedError('BAD_COMMAND', `$: ${describe(value)}, not a work message`);
  }
  const k = (value as { k?: unknown }).k;
  if (typeof k !== 'string' || !Object.hasOwn(KIND_CHECKS, k)) {
    throw new RejectedError('BAD_COMMAND', `$.k: ${typeof k === 'string' ? `unknown work kind "${k.slice(0, 32)}"` : 'missing'}`);
  }
  const c = KIND_CHECKS[k as Work['k']];
  if (!c.Check(value)) {
    const first = c.Errors(value).First();
    const path = first ? '$' + first.path.replace(/\//g, '.') : '$';
    throw new RejectedError('BAD_COMMAND', `${path}: ${first?.message ?? 'invalid'}`);
  }
  const work = value as Work;
  switch (work.k) {
    case 'start': {
      const cmd = work.cmd;
      if (cmd.timeZone !== undefined && !isValidTimeZone(cmd.timeZone)) throw new RejectedError('BAD_COMMAND', '$.cmd.timeZone: unknown IANA time zone');
      if (cmd.weddingDate !== undefined && !isCalendarDate(cmd.weddingDate)) throw new RejectedError('BAD_COMMAND', '$.cmd.weddingDate: not a calendar date');
      if (cmd.bookedAt !== undefined && Number.isNaN(Date.parse(cmd.bookedAt))) throw new RejectedError('BAD_COMMAND', '$.cmd.bookedAt: not a valid instant');
      freeJson(cmd.data, '$.cmd.data');
      // The router addresses a start to the execution its ids name; any other address is not one it made.
      if (target && (cmd.supplierId !== target.supplierId || executionIdOf(cmd) !== target.executionId)) {
        throw new RejectedError('BAD_COMMAND', '$.cmd: its supplier and ids do not name the execution it is addressed to');
      }
      break;
    }
    case 'event':
      freeJson(work.data, '$.data');
      break;
    case 'result':
      if ('data' in work.result) freeJson(work.result.data, '$.result.data');
      break;
    default:
      break;
  }
  return work;
}

/**
 * Decodes and checks one work message read from `subject` (see {@link checkWork}); throws `RejectedError` with a stable
 * code: PAYLOAD_TOO_LARGE, BAD_COMMAND (subject, msgpack or shape), INVALID_PAYLOAD (free JSON too deep or too wide).
 */
export function parseWork(bytes: Uint8Array, subject?: string, maxBytes = MAX_WORK_BYTES): Work {
  const target = subject === undefined ? undefined : parseWorkSubject(subject);
  return checkWork(decodeBounded(bytes, maxBytes), target);
}

/**
 * The rejection for whatever a check threw: itself when it is one, else BAD_COMMAND. A check that fails in an unforeseen
 * way must still skip the message, never leave it to be read again and fail again.
 */
export function asRejected(err: unknown): RejectedError {
  return err instanceof RejectedError ? err : new RejectedError('BAD_COMMAND', `$: cannot be checked (${errorMessage(err).slice(0, 120)})`, { cause: err });
}

/** Msgpack within `maxBytes`, or `RejectedError` (PAYLOAD_TOO_LARGE, BAD_COMMAND). */
export function decodeBounded(bytes: Uint8Array, maxBytes: number): unknown {
  if (bytes.byteLength > maxBytes) {
    throw new RejectedError('PAYLOAD_TOO_LARGE', `payload of ${bytes.byteLength} bytes exceeds the limit of ${maxBytes}`);
  }
  if (bytes.byteLength === 0) throw new RejectedError('BAD_COMMAND', '$: empty, not msgpack');
  try {
    return decode<unknown>(bytes);
  } catch (err) {
    // Nesting deeper than the stack ends in a RangeError here: caught like any other undecodable input.
    throw new RejectedError('BAD_COMMAND', `$: not msgpack (${errorMessage(err).slice(0, 120)})`);
  }
}

/** What `<prefix>.rejects.<kind>` records of a refused message. */
export interface RejectRecord {
  code: ErrorCode;
  reason: string;
  subject: string;
  bytes: number;
  sample: string;
  at: number;
}

/**
 * A record about a binary (msgpack) message: its sample is a hex prefix of at most 64 bytes, never decoded text, since
 * the message may hold a client's personal data.
 */
export function binaryRejectRecord(err: { code: ErrorCode; message: string }, subject: string, data: Uint8Array, at: number): RejectRecord {
  return rejectRecord(err, subject, data, at, Buffer.from(data.subarray(0, 64)).toString('hex'));
}

/** A record about a JSON message from a service: its first KiB as text, as the command router has always recorded them. */
export function jsonRejectRecord(err: { code: ErrorCode; message: string }, subject: string, data: Uint8Array, at: number): RejectRecord {
  return rejectRecord(err, subject, data, at, new TextDecoder().decode(data.subarray(0, 1024)));
}

function rejectRecord(err: { code: ErrorCode; message: string }, subject: string, data: Uint8Array, at: number, sample: string): RejectRecord {
  return { code: err.code, reason: err.message, subject, bytes: data.byteLength, sample, at };
}

function freeJson(data: Record<string, unknown> | undefined, root: string): void {
  if (data === undefined) return;
  const problem = jsonLimitProblem(data, FREE_JSON_LIMITS, root) ?? nonJsonProblem(data, root);
  if (problem) throw new RejectedError('INVALID_PAYLOAD', problem);
}

/** The first value that JSON cannot carry, as `"<root>: <what>"`; only called on values within the depth limit. */
function nonJsonProblem(value: unknown, root: string): string | undefined {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (v === null || typeof v === 'string' || typeof v === 'boolean') continue;
    if (typeof v === 'number') {
      if (Number.isFinite(v)) continue;
      return `${root}: holds a non-finite number`;
    }
    // Pushed one by one: spreading a long array into push() overflows the argument limit.
    if (Array.isArray(v)) for (const item of v) stack.push(item);
    else if (typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) for (const item of Object.values(v)) stack.push(item);
    else return `${root}: holds ${describe(v)}, not a JSON value`;
  }
  return undefined;
}

function describe(v: unknown): string {
  if (v === null || v === undefined) return String(v);
  if (Array.isArray(v)) return 'an array';
  if (v instanceof Uint8Array) return 'binary';
  if (v instanceof Date) return 'a date';
  return typeof v === 'object' ? 'an object of another kind' : `a ${typeof v}`;
}

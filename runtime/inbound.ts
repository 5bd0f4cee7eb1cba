/**
 * Validation of every message that comes from outside (R30): size, JSON, shape, and the checks a schema cannot express.
 * Failures are `RejectedError`s with a stable code; callers answer and record them, never crash on them.
 */
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import type { TSchema, Static } from '@sinclair/typebox';
import { durationMs, parseDuration } from '../actors/duration.ts';
import type { Tier } from '../actors/priority.ts';
import { isCalendarDate, isValidTimeZone } from '../actors/time.ts';
import {
  ControlCommandSchema,
  EventCommandSchema,
  ClearOverrideSchema,
  MAX_OVERRIDE_MS,
  SetOverrideSchema,
  StartCommandSchema,
  type ControlCommand,
  type EventCommand,
  type StartCommand,
} from '../schemas/commands.ts';
import {
  ADMIN_ACTIONS,
  DeadLetterRequestSchema,
  DeployRequestSchema,
  ExecutionStatusRequestSchema,
  type AdminAction,
} from '../schemas/admin.ts';
import { ActionResultSchema, type ActionResult } from '../schemas/actions.ts';
import { RejectedError } from './errors.ts';
import { FREE_JSON_LIMITS, jsonLimitProblem } from './json-limits.ts';
import type { CommandVerb } from './subjects.ts';

export type Command =
  | { verb: 'start'; body: StartCommand }
  | { verb: 'event'; body: EventCommand }
  | { verb: 'cancel' | 'pause' | 'resume'; body: ControlCommand };

const checks = {
  start: TypeCompiler.Compile(StartCommandSchema),
  event: TypeCompiler.Compile(EventCommandSchema),
  control: TypeCompiler.Compile(ControlCommandSchema),
  clearOverride: TypeCompiler.Compile(ClearOverrideSchema),
  setOverride: TypeCompiler.Compile(SetOverrideSchema),
  status: TypeCompiler.Compile(ExecutionStatusRequestSchema),
  deadLetter: TypeCompiler.Compile(DeadLetterRequestSchema),
  deploy: TypeCompiler.Compile(DeployRequestSchema),
  result: TypeCompiler.Compile(ActionResultSchema),
};

/** A supervisor override request, validated, with its expiry as an instant. */
export type OverrideRequest =
  | { clear: true; by: string }
  | { clear: false; by: string; until: number; concurrency?: Partial<Record<Tier, number>>; replicas?: number };

/** Largest override request accepted: a few fields. */
export const MAX_OVERRIDE_BYTES = 4_096;

/** An admin request, validated; `by` when the request names who asks. */
export type AdminRequest =
  | { action: 'executions.status'; executionId: string }
  | { action: 'dlq.replay' | 'dlq.discard'; seq: number; by?: string }
  | { action: 'definitions.deploy'; definition: unknown; by?: string };

/** Largest `definitions.deploy` request: a definition is the one large admin request. */
export const MAX_DEPLOY_BYTES = 65_536;
/** Largest other admin request: a few fields. */
export const MAX_ADMIN_BYTES = 4_096;

const text = new TextDecoder('utf-8', { fatal: true });

/** Largest action result accepted from a service (its `data` lands in the execution's data). */
export const MAX_RESULT_BYTES = 65_536;

/** Parses and validates an action result a service published on `<prefix>.results.<action>`. */
export function parseResult(data: Uint8Array): ActionResult {
  const body = check(checks.result, parseJson(data, MAX_RESULT_BYTES));
  if ('data' in body) bounded(body.data);
  return body;
}

/** Validates a start command already parsed (or built by a client); throws `RejectedError` with the reason. */
export function checkStart(value: unknown): StartCommand {
  const body = check(checks.start, value);
  if (body.timeZone !== undefined && !isValidTimeZone(body.timeZone)) {
    throw new RejectedError('BAD_COMMAND', `$.timeZone: unknown IANA time zone "${body.timeZone}"`);
  }
  if (body.weddingDate !== undefined && !isCalendarDate(body.weddingDate)) {
    throw new RejectedError('BAD_COMMAND', `$.weddingDate: "${body.weddingDate}" is not a calendar date`);
  }
  if (body.bookedAt !== undefined && Number.isNaN(Date.parse(body.bookedAt))) {
    throw new RejectedError('BAD_COMMAND', `$.bookedAt: "${body.bookedAt}" is not a valid instant`);
  }
  bounded(body.data);
  return body;
}

/** Parses and validates a command payload; throws `RejectedError` with the reason. */
export function parseCommand(verb: string, data: Uint8Array, maxBytes: number): Command {
  const json = parseJson(data, maxBytes);
  switch (verb as CommandVerb) {
    case 'start':
      return { verb: 'start', body: checkStart(json) };
    case 'event': {
      const body = check(checks.event, json);
      bounded(body.data);
      return { verb: 'event', body };
    }
    case 'cancel':
    case 'pause':
    case 'resume':
      return { verb: verb as 'cancel', body: check(checks.control, json) };
    default:
      throw new RejectedError('BAD_COMMAND', `unknown command "${verb}"`);
  }
}

/**
 * Parses and validates a request on `<prefix>.supervisor.override` at `now`: the expiry must lie ahead, within
 * {@link MAX_OVERRIDE_MS}. Throws `RejectedError` with the reason.
 */
export function parseOverride(data: Uint8Array, now: number): OverrideRequest {
  const json = parseJson(data, MAX_OVERRIDE_BYTES);
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new RejectedError('BAD_COMMAND', '$: an override is a JSON object');
  // The two shapes are told apart by `clear`, so the reason names the field at fault rather than "no union member".
  if ('clear' in json) return { clear: true, by: check(checks.clearOverride, json).by };
  const body = check(checks.setOverride, json);
  if (body.concurrency === undefined && body.replicas === undefined) {
    throw new RejectedError('BAD_COMMAND', 'an override sets "concurrency" or "replicas"');
  }
  if ((body.until === undefined) === (body.for === undefined)) {
    throw new RejectedError('BAD_COMMAND', 'give the expiry as "until" (epoch ms) or as "for" (an ISO-8601 duration), one of them');
  }
  let until: number;
  if (body.for !== undefined) {
    const d = parseDuration(body.for);
    if (!d || durationMs(d) <= 0) throw new RejectedError('BAD_COMMAND', `$.for: "${body.for}" is not a positive ISO-8601 duration`);
    until = now + durationMs(d);
  } else {
    until = body.until!;
  }
  if (until <= now) throw new RejectedError('BAD_COMMAND', '"until" must be later than now');
  if (until > now + MAX_OVERRIDE_MS) {
    throw new RejectedError('BAD_COMMAND', `an override reaches at most ${MAX_OVERRIDE_MS / 86_400_000} days ahead (until ${new Date(now + MAX_OVERRIDE_MS).toISOString()})`);
  }
  return {
    clear: false,
    by: body.by,
    until,
    ...(body.concurrency ? { concurrency: body.concurrency } : {}),
    ...(body.replicas !== undefined ? { replicas: body.replicas } : {}),
  };
}

/**
 * Parses and validates a request on `<prefix>.admin.<action>`. A deployed definition is only checked for being an object
 * here: the registry validates it (with every issue and its path) and bounds its depth. Throws `RejectedError`.
 */
export function parseAdmin(action: string, data: Uint8Array): AdminRequest {
  if (!(ADMIN_ACTIONS as readonly string[]).includes(action)) {
    throw new RejectedError('BAD_COMMAND', `unknown admin action "${action.slice(0, 64)}": one of ${ADMIN_ACTIONS.join(', ')}`);
  }
  const json = parseJson(data, action === 'definitions.deploy' ? MAX_DEPLOY_BYTES : MAX_ADMIN_BYTES);
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new RejectedError('BAD_COMMAND', '$: an admin request is a JSON object');
  switch (action as AdminAction) {
    case 'executions.status':
      return { action: 'executions.status', executionId: check(checks.status, json).executionId };
    case 'dlq.replay':
    case 'dlq.discard': {
      const { seq, by } = check(checks.deadLetter, json);
      return { action: action as 'dlq.replay', seq, ...(by !== undefined ? { by } : {}) };
    }
    case 'definitions.deploy': {
      // A definition has no `definition` property, so its presence tells the wrapped form from a bare definition.
      if (!Object.hasOwn(json, 'definition')) return { action: 'definitions.deploy', definition: json };
      const { definition, by } = check(checks.deploy, json);
      return { action: 'definitions.deploy', definition, ...(by !== undefined ? { by } : {}) };
    }
  }
}

/** Free JSON within {@link FREE_JSON_LIMITS}, or `INVALID_PAYLOAD`. */
function bounded(data: Record<string, unknown> | undefined): void {
  const problem = data === undefined ? undefined : jsonLimitProblem(data, FREE_JSON_LIMITS, '$.data');
  if (problem) throw new RejectedError('INVALID_PAYLOAD', problem);
}

function parseJson(data: Uint8Array, maxBytes: number): unknown {
  if (data.byteLength > maxBytes) {
    throw new RejectedError('PAYLOAD_TOO_LARGE', `payload of ${data.byteLength} bytes exceeds the limit of ${maxBytes}`);
  }
  try {
    return JSON.parse(text.decode(data));
  } catch {
    throw new RejectedError('BAD_JSON', 'payload is not valid UTF-8 JSON');
  }
}

function check<T extends TSchema>(c: TypeCheck<T>, value: unknown): Static<T> {
  if (c.Check(value)) return value;
  const first = c.Errors(value).First();
  const path = first ? '$' + first.path.replace(/\//g, '.') : '$';
  throw new RejectedError('BAD_COMMAND', `${path}: ${first?.message ?? 'invalid'}`);
}

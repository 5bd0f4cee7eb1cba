/**
 * Validation of every message that comes from outside (R30): size, JSON, shape, and the checks a schema cannot express.
 * Failures are `RejectedError`s with a stable code; callers answer and record them, never crash on them.
 */
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import type { TSchema, Static } from '@sinclair/typebox';
import { isValidTimeZone } from '../actors/time.ts';
import {
  ControlCommandSchema,
  EventCommandSchema,
  StartCommandSchema,
  type ControlCommand,
  type EventCommand,
  type StartCommand,
} from '../schemas/commands.ts';
import { RejectedError } from './errors.ts';
import type { CommandVerb } from './subjects.ts';

export type Command =
  | { verb: 'start'; body: StartCommand }
  | { verb: 'event'; body: EventCommand }
  | { verb: 'cancel' | 'pause' | 'resume'; body: ControlCommand };

const checks = {
  start: TypeCompiler.Compile(StartCommandSchema),
  event: TypeCompiler.Compile(EventCommandSchema),
  control: TypeCompiler.Compile(ControlCommandSchema),
};

const text = new TextDecoder('utf-8', { fatal: true });

/** Parses and validates a command payload; throws `RejectedError` with the reason. */
export function parseCommand(verb: string, data: Uint8Array, maxBytes: number): Command {
  if (data.byteLength > maxBytes) {
    throw new RejectedError('PAYLOAD_TOO_LARGE', `payload of ${data.byteLength} bytes exceeds the limit of ${maxBytes}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text.decode(data));
  } catch {
    throw new RejectedError('BAD_JSON', 'payload is not valid UTF-8 JSON');
  }
  switch (verb as CommandVerb) {
    case 'start': {
      const body = check(checks.start, json);
      if (body.timeZone !== undefined && !isValidTimeZone(body.timeZone)) {
        throw new RejectedError('BAD_COMMAND', `$.timeZone: unknown IANA time zone "${body.timeZone}"`);
      }
      if (body.weddingDate !== undefined && !isCalendarDate(body.weddingDate)) {
        throw new RejectedError('BAD_COMMAND', `$.weddingDate: "${body.weddingDate}" is not a calendar date`);
      }
      if (body.bookedAt !== undefined && Number.isNaN(Date.parse(body.bookedAt))) {
        throw new RejectedError('BAD_COMMAND', `$.bookedAt: "${body.bookedAt}" is not a valid instant`);
      }
      return { verb: 'start', body };
    }
    case 'event':
      return { verb: 'event', body: check(checks.event, json) };
    case 'cancel':
    case 'pause':
    case 'resume':
      return { verb: verb as 'cancel', body: check(checks.control, json) };
    default:
      throw new RejectedError('BAD_COMMAND', `unknown command "${verb}"`);
  }
}

function check<T extends TSchema>(c: TypeCheck<T>, value: unknown): Static<T> {
  if (c.Check(value)) return value;
  const first = c.Errors(value).First();
  const path = first ? '$' + first.path.replace(/\//g, '.') : '$';
  throw new RejectedError('BAD_COMMAND', `${path}: ${first?.message ?? 'invalid'}`);
}

function isCalendarDate(date: string): boolean {
  const d = new Date(`${date}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().startsWith(date);
}

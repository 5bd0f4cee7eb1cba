/**
 * The stored form of one execution (one KV entry per execution, key = execution id): the machine snapshot plus what the
 * runtime needs to route and retry without decoding it. Personal data sits in its own sealed field under a key id, so it
 * can be encrypted at rest (R32) without a format change.
 */
import { createHash } from 'node:crypto';
import { Kind, Type, TypeRegistry } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import type { ExecutionContext } from '../../actors/execution-state.ts';
import type { StartCommand } from '../../schemas/commands.ts';
import { decode, encode } from '../codec.ts';
import { RuntimeError, errorMessage } from '../errors.ts';
import type { Sealed } from '../sealed.ts';

export interface ExecutionRecord {
  v: 1;
  /** The client's personal data (`StartCommand.client`), sealed under a key id. */
  pii: Sealed | null;
  def: { id: string; version: number };
  status: 'active' | 'done';
  snap: { value: unknown; context: ExecutionContext };
  /** An action attempt waiting on a timer: a retry's backoff, or an attempt held while the action's circuit is open. */
  retry?: { key: string; attempt: number; dueAt: number };
  /** Attempts used before the step was replayed from the dead-letter queue: the policy's count starts after them. */
  spent?: number;
  /** An outbound attempt sent and awaiting the service's result until `deadline` (`probe`: the circuit's probe). */
  awaiting?: { key: string; attempt: number; action: string; deadline: number; sentAt: number; probe?: boolean };
  /** Id of the last timer handed to the timer service, so it is scheduled once. */
  scheduled?: string;
  startedAt: number;
  updatedAt: number;
}

export function encodeRecord(r: ExecutionRecord): Uint8Array {
  return encode(r);
}

/**
 * What the runtime relies on in a stored record, checked on every read: a value damaged in KV (by hand, by another
 * program, by a bug) then fails here with its path, instead of as a TypeError deep in the executor. Open objects, so a
 * field added later does not make older runtimes refuse newer records.
 */
const Str = Type.String();
const Num = Type.Number();
// Not `Type.Number()`, which refuses ±Infinity and NaN: a wait anchored to a missing date is due at -Infinity.
TypeRegistry.Set('AnyNumber', (_schema, value) => typeof value === 'number');
const TimerRefShape = Type.Object({
  id: Str,
  dueAt: Type.Unsafe<number>({ [Kind]: 'AnyNumber', type: 'number' }),
  purpose: Str,
});
const StepFields = { stepId: Str, visit: Num };
const PendingShape = Type.Union([
  Type.Object({
    kind: Type.Literal('action'),
    ...StepFields,
    key: Str,
    action: Str,
    params: Type.Record(Str, Type.Unknown()),
  }),
  Type.Object({ kind: Type.Literal('approval'), ...StepFields }),
  Type.Object({ kind: Type.Literal('event'), ...StepFields, event: Str, timer: TimerRefShape }),
  Type.Object({ kind: Type.Literal('timer'), ...StepFields, timer: TimerRefShape }),
]);
const ContextShape = Type.Object({
  executionId: Str,
  supplierId: Str,
  clientId: Str,
  journeyId: Str,
  version: Num,
  vendorType: Str,
  timeZone: Str,
  weddingDate: Type.Optional(Str),
  bookedAt: Type.Optional(Str),
  data: Type.Record(Str, Type.Unknown()),
  now: Num,
  step: Str,
  visits: Type.Record(Str, Num),
  pending: Type.Union([Type.Null(), PendingShape]),
  paused: Type.Boolean(),
  failure: Type.Union([Type.Null(), Type.Object({ stepId: Str, visit: Num, error: Str, attempts: Num })]),
  cohorts: Type.Record(Str, Str),
  history: Type.Array(Type.Object({ step: Str, at: Num, note: Type.Optional(Str) })),
});
const RecordShape = TypeCompiler.Compile(
  Type.Object({
    v: Type.Literal(1),
    pii: Type.Union([Type.Null(), Type.Object({ kid: Str, data: Type.Uint8Array() })]),
    def: Type.Object({ id: Str, version: Type.Integer({ minimum: 1 }) }),
    status: Type.Union([Type.Literal('active'), Type.Literal('done')]),
    snap: Type.Object({ value: Type.Union([Str, Type.Record(Str, Type.Unknown())]), context: ContextShape }),
    retry: Type.Optional(Type.Object({ key: Str, attempt: Num, dueAt: Num })),
    spent: Type.Optional(Num),
    awaiting: Type.Optional(
      Type.Object({ key: Str, attempt: Num, action: Str, deadline: Num, sentAt: Num, probe: Type.Optional(Type.Boolean()) }),
    ),
    scheduled: Type.Optional(Str),
    startedAt: Num,
    updatedAt: Num,
  }),
);

/** A stored execution record that cannot be used: not retryable by reading it again, so it ends in the dead-letter queue. */
export class CorruptRecordError extends RuntimeError {
  override name = 'CorruptRecordError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('RECORD_CORRUPT', `stored execution record is corrupt: ${message}`, { ...options, retryable: false });
  }
}

/** Decodes and checks a stored record; throws {@link CorruptRecordError} when it is not one. */
export function decodeRecord(bytes: Uint8Array): ExecutionRecord {
  let value: unknown;
  try {
    value = decode<unknown>(bytes);
  } catch (err) {
    throw new CorruptRecordError(`not msgpack (${errorMessage(err)})`, { cause: err });
  }
  if (RecordShape.Check(value)) return value as ExecutionRecord;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new CorruptRecordError(
      `$: ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}, not a record`,
    );
  }
  const first = RecordShape.Errors(value).First();
  const path = first ? '$' + first.path.replace(/\//g, '.') : '$';
  throw new CorruptRecordError(`${path}: ${first?.message ?? 'not an execution record'}`);
}

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

/** Deterministic execution id from (supplier, client, journey, re-entry key): starting twice finds the same id (R6). */
export function executionIdOf(cmd: Pick<StartCommand, 'supplierId' | 'clientId' | 'journeyId' | 'reentryKey'>): string {
  const digest = createHash('sha256')
    .update(`${cmd.supplierId}\u0000${cmd.clientId}\u0000${cmd.journeyId}\u0000${cmd.reentryKey ?? ''}`)
    .digest();
  let out = 'ex_';
  let bits = 0;
  let acc = 0;
  for (const byte of digest) {
    acc = (acc << 8) | byte;
    bits += 8;
    while (bits >= 5 && out.length < 29) {
      out += BASE32[(acc >>> (bits - 5)) & 31];
      bits -= 5;
    }
    if (out.length >= 29) break;
  }
  return out;
}

/**
 * Largest execution data (`context.data`, msgpack) an event may leave behind: events merge their data into it, and a
 * record past the server's 1 MB message limit could never be written again. An event that would pass it is refused with
 * `DATA_TOO_LARGE` and changes nothing.
 */
export const MAX_DATA_BYTES = 256 * 1024;

/** The `DATA_TOO_LARGE` reason when `data` merged with `extra` (keys replaced, as events merge) passes {@link MAX_DATA_BYTES}, else undefined. */
export function dataTooLarge(data: Record<string, unknown>, extra: Record<string, unknown> | undefined): string | undefined {
  if (!extra || Object.keys(extra).length === 0) return undefined;
  const bytes = encode({ ...data, ...extra }).byteLength;
  return bytes > MAX_DATA_BYTES ? `the execution's data would be ${bytes} bytes with this event's, over the limit of ${MAX_DATA_BYTES}` : undefined;
}

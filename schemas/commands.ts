/**
 * Inbound command payloads (JSON on `<prefix>.cmd.<verb>` or `<prefix>.api.<verb>`). One TypeBox source gives the types,
 * the runtime validation and the published JSON Schema files.
 */
import { Type, type Static } from '@sinclair/typebox';
import { JOURNEY_ID_PATTERN, MAX_VERSION } from './journey-definition.ts';

const ID = 'urn:wedsync:journey:command:';
const Id = (description: string) => Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$', description });
const EventName = Type.String({ pattern: '^[a-z][a-z0-9_.-]{0,63}$', description: 'Event name, e.g. `form.submitted`.' });
// Depth and key count are bounded too (32 levels, 1,000 keys): checked by the runtime, as JSON Schema cannot say it.
const Data = Type.Record(Type.String(), Type.Unknown(), { description: 'Free JSON object (at most 32 levels deep and 1,000 keys).' });
/** Execution ids are KV keys and subject tokens: exactly what `executionIdOf` makes. */
export const ExecutionId = Type.String({ pattern: '^ex_[a-z2-7]{26}$', description: 'Execution id, as returned by start.' });

/** Personal data of the client couple: kept apart from execution data so it can be encrypted at rest. */
export const ClientSchema = Type.Object(
  {
    name: Type.Optional(Type.String({ maxLength: 200 })),
    email: Type.Optional(Type.String({ maxLength: 320 })),
    phone: Type.Optional(Type.String({ maxLength: 40 })),
  },
  { additionalProperties: false },
);

export const StartCommandSchema = Type.Object(
  {
    supplierId: Id('Vendor (tenant) id.'),
    clientId: Id('Client (couple) id within the supplier.'),
    journeyId: Type.String({ pattern: JOURNEY_ID_PATTERN }),
    version: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_VERSION, description: 'Definition version; the latest deployed when absent.' })),
    reentryKey: Type.Optional(Id('Distinguishes repeated runs of the same journey for the same client.')),
    weddingDate: Type.Optional(Type.String({ pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}$', description: 'Local wedding date.' })),
    timeZone: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'IANA zone of the wedding.' })),
    bookedAt: Type.Optional(
      Type.String({ pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\\.[0-9]{1,9})?)?(Z|[+-][0-9]{2}:[0-9]{2})$', description: 'Booking instant, ISO-8601 with Z or an offset.' }),
    ),
    client: Type.Optional(ClientSchema),
    data: Type.Optional(Data),
  },
  { $id: `${ID}start`, additionalProperties: false, title: 'start command' },
);
export type StartCommand = Static<typeof StartCommandSchema>;

export const EventCommandSchema = Type.Object(
  { executionId: ExecutionId, name: EventName, data: Type.Optional(Data) },
  { $id: `${ID}event`, additionalProperties: false, title: 'event command' },
);
export type EventCommand = Static<typeof EventCommandSchema>;

/** cancel, pause, resume: one execution, or every execution of a supplier. */
export const ControlCommandSchema = Type.Union(
  [
    Type.Object({ executionId: ExecutionId, reason: Type.Optional(Type.String({ maxLength: 500 })) }, { additionalProperties: false }),
    Type.Object({ supplierId: Id('Every execution of this supplier.'), reason: Type.Optional(Type.String({ maxLength: 500 })) }, { additionalProperties: false }),
  ],
  { $id: `${ID}control`, title: 'cancel / pause / resume command' },
);
export type ControlCommand = Static<typeof ControlCommandSchema>;

export const Who = Type.String({ minLength: 1, maxLength: 100, description: 'Who asks, for the audit trail.' });
const Handlers = Type.Integer({ minimum: 1, maximum: 10_000 });

/**
 * A request on `<prefix>.supervisor.override`: set per-tier concurrency and/or replicas until an instant (`until`, epoch
 * ms) or for a while (`for`, an ISO-8601 duration), at most {@link MAX_OVERRIDE_MS} ahead; or clear the one in force.
 */
export const ClearOverrideSchema = Type.Object({ by: Who, clear: Type.Literal(true) }, { additionalProperties: false });
export const SetOverrideSchema = Type.Object(
  {
    by: Who,
    until: Type.Optional(Type.Integer({ minimum: 0, maximum: 8.64e15, description: 'Expiry, epoch milliseconds.' })),
    for: Type.Optional(Type.String({ maxLength: 32, description: 'Expiry as a duration from now, e.g. `PT2H`.' })),
    concurrency: Type.Optional(
      Type.Object(
        {
          critical: Type.Optional(Handlers),
          high: Type.Optional(Handlers),
          medium: Type.Optional(Handlers),
          low: Type.Optional(Handlers),
        },
        { additionalProperties: false, minProperties: 1 },
      ),
    ),
    replicas: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000 })),
  },
  { additionalProperties: false },
);
export const ScaleOverrideSchema = Type.Union([ClearOverrideSchema, SetOverrideSchema], {
  $id: `${ID}scale-override`,
  title: 'supervisor override request',
});
export type ScaleOverrideRequest = Static<typeof ScaleOverrideSchema>;

/** The farthest an override may reach: an operator's correction, not a new configuration. */
export const MAX_OVERRIDE_MS = 30 * 86_400_000;

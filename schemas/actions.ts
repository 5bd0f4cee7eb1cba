/**
 * The action contract between the runtime and the services that perform actions (docs/actions.md): the command the
 * runtime publishes, the result a service publishes back, and the per-action configuration of `journeys run --actions`.
 * One TypeBox source gives the types, the runtime validation and the published JSON Schema files.
 */
import { Type, type Static } from '@sinclair/typebox';

const ID = 'urn:wedsync:journey:action:';
/** `<executionId>.<stepId>.<visit>`: the same for every attempt of one step visit, the unit services dedup on. */
const Key = Type.String({ pattern: '^ex_[a-z2-7]{26}\\.[A-Za-z][A-Za-z0-9_-]{0,63}\\.[0-9]{1,6}$', description: 'Idempotency key of the step visit (`<executionId>.<stepId>.<visit>`).' });
const Attempt = Type.Integer({ minimum: 1, maximum: 1000, description: 'Attempt number, echoed from the command.' });
const Data = Type.Record(Type.String(), Type.Unknown(), { description: 'Free JSON object (at most 32 levels deep and 1,000 keys).' });
const IsoDuration = (description: string) => Type.String({ title: 'ISO-8601 duration', pattern: '^-?P', description });

/** Published on `<prefix>.actions.<action>` (stream `<PREFIX>_ACTIONS`, `Nats-Msg-Id` = `<key>:<attempt>`). */
export const ActionCommandSchema = Type.Object(
  {
    action: Type.String({ description: 'Action name, e.g. `email.send`.' }),
    params: Data,
    key: Key,
    attempt: Attempt,
    executionId: Type.String(),
    supplierId: Type.String(),
    clientId: Type.String(),
    journeyId: Type.String(),
    stepId: Type.String(),
    tier: Type.Union([Type.Literal('critical'), Type.Literal('high'), Type.Literal('medium'), Type.Literal('low')]),
    weddingDate: Type.Optional(Type.String({ description: 'Local wedding date (YYYY-MM-DD).' })),
    timeZone: Type.String({ description: 'IANA zone of the wedding.' }),
    client: Type.Optional(
      Type.Object({ name: Type.Optional(Type.String()), email: Type.Optional(Type.String()), phone: Type.Optional(Type.String()) }),
    ),
    deadline: Type.Optional(
      Type.Integer({ description: 'Epoch ms by which a result is expected (outbound mode); after it the attempt counts as failed (ACTION_TIMEOUT).' }),
    ),
    resultSubject: Type.Optional(Type.String({ description: 'Where to publish the result (outbound mode): `<prefix>.results.<action>`.' })),
  },
  { $id: `${ID}command`, title: 'Action command', additionalProperties: false },
);
export type ActionCommand = Static<typeof ActionCommandSchema>;

const ResultBase = { key: Key, attempt: Attempt };

/** Published by a service on `<prefix>.results.<action>` (stream `<PREFIX>_RESULTS`), `Nats-Msg-Id` = `<key>:<attempt>`. */
export const ActionResultSchema = Type.Union(
  [
    Type.Object(
      { ...ResultBase, ok: Type.Literal(true), data: Type.Optional(Data) },
      { title: 'Success', description: '`data` is stored in the execution under `data.<stepId>`.', additionalProperties: false },
    ),
    Type.Object(
      {
        ...ResultBase,
        ok: Type.Literal(false),
        error: Type.Object(
          { code: Type.String({ minLength: 1, maxLength: 64 }), message: Type.String({ maxLength: 2000 }) },
          { additionalProperties: false },
        ),
        retryable: Type.Boolean({ description: 'True: the step is retried by its policy; false: it is dead-lettered now.' }),
      },
      { title: 'Failure', additionalProperties: false },
    ),
    Type.Object(
      {
        ...ResultBase,
        working: Type.Literal(true),
        extendMs: Type.Integer({ minimum: 1, maximum: 86_400_000, description: 'New deadline: this many ms from when the runtime reads it.' }),
      },
      { title: 'Progress', description: 'The service is still working: the attempt\'s deadline moves.', additionalProperties: false },
    ),
  ],
  { $id: `${ID}result`, title: 'Action result' },
);
export type ActionResult = Static<typeof ActionResultSchema>;

export const ACTION_MODES = ['outbound', 'request', 'fire-and-forget'] as const;
export type ActionMode = (typeof ACTION_MODES)[number];

const Retry = Type.Object(
  {
    attempts: Type.Optional(Type.Integer({ minimum: 1, maximum: 20 })),
    backoff: Type.Optional(IsoDuration('Delay before the first retry, e.g. `PT10S`.')),
    factor: Type.Optional(Type.Number({ minimum: 1, maximum: 10 })),
  },
  { additionalProperties: false, description: 'Default retry policy of the action; a step\'s own `retry` wins.' },
);

const Breaker = Type.Object(
  {
    failureRate: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1, description: 'Opens at this share of failures. Default 0.5.' })),
    window: Type.Optional(Type.Integer({ minimum: 2, maximum: 1000, description: 'Outcomes considered (the last N). Default 20.' })),
    minCalls: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'No decision on fewer outcomes. Default 10.' })),
    within: Type.Optional(IsoDuration('Outcomes older than this are forgotten. Default PT1M.')),
    coolOff: Type.Optional(IsoDuration('How long the circuit stays open before a probe. Default PT30S.')),
  },
  { additionalProperties: false },
);

export const ActionConfigSchema = Type.Object(
  {
    mode: Type.Union(ACTION_MODES.map((m) => Type.Literal(m)), {
      description:
        '`outbound`: command on `<prefix>.actions.<name>`, result expected on `<prefix>.results.<name>`; `request`: ' +
        'request/reply on `subject`; `fire-and-forget`: succeeds once the command is stored.',
    }),
    subject: Type.Optional(Type.String({ minLength: 1, maxLength: 255, description: 'Request subject (request mode only, required there).' })),
    timeout: Type.Optional(IsoDuration('Longest one attempt may take before it counts as failed (ACTION_TIMEOUT). Default PT30S.')),
    retry: Type.Optional(Retry),
    concurrency: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000, description: 'Attempts in flight at once in one runtime process.' })),
    breaker: Type.Optional(Type.Union([Breaker, Type.Literal(false)], { description: 'Circuit breaker settings; `false` turns it off.' })),
  },
  { additionalProperties: false },
);
export type ActionConfig = Static<typeof ActionConfigSchema>;

/** The file of `journeys run --actions FILE` (YAML or JSON). */
export const ActionsFileSchema = Type.Object(
  {
    defaults: Type.Optional(Type.Partial(ActionConfigSchema, { description: 'Applies to every action, listed or not; an entry\'s own fields win.' })),
    actions: Type.Optional(
      Type.Record(Type.String({ pattern: '^[A-Za-z0-9_-]+(\\.[A-Za-z0-9_-]+)*$' }), Type.Partial(ActionConfigSchema), {
        description: 'Per action name. An action in neither place is `outbound` with the defaults above.',
        additionalProperties: false,
      }),
    ),
  },
  { $id: `${ID}config`, title: 'Action services configuration', additionalProperties: false },
);
export type ActionsFile = Static<typeof ActionsFileSchema>;

/**
 * Admin requests (JSON on `<prefix>.admin.<action>`), from operators with the plain `nats` CLI. Like the commands, one
 * TypeBox source gives the types, the runtime validation and the published JSON Schema files. Unknown properties are
 * refused: a typo in an operator's request should say so, not be ignored.
 */
import { Type, type Static } from '@sinclair/typebox';
import { ExecutionId, Who } from './commands.ts';

const ID = 'urn:wedsync:journey:admin:';

/** `executions.status`: one execution's state. */
export const ExecutionStatusRequestSchema = Type.Object(
  { executionId: ExecutionId },
  { $id: `${ID}executions.status`, additionalProperties: false, title: 'execution status request' },
);
export type ExecutionStatusRequest = Static<typeof ExecutionStatusRequestSchema>;

/** `dlq.replay` and `dlq.discard`: one dead letter, by its stream sequence. */
export const DeadLetterRequestSchema = Type.Object(
  {
    seq: Type.Integer({
      minimum: 1,
      maximum: Number.MAX_SAFE_INTEGER,
      description: 'Stream sequence of the dead letter.',
    }),
    by: Type.Optional(Who),
  },
  { $id: `${ID}dlq`, additionalProperties: false, title: 'dead-letter replay / discard request' },
);
export type DeadLetterRequest = Static<typeof DeadLetterRequestSchema>;

/**
 * `definitions.deploy` with who deploys: `{ definition, by }`. A bare journey definition is accepted as well (it has no
 * `definition` property); either way the definition is checked against `journey-definition.schema.json`.
 */
export const DeployRequestSchema = Type.Object(
  {
    definition: Type.Record(Type.String(), Type.Unknown(), {
      description: 'A journey definition (journey-definition.schema.json).',
    }),
    by: Type.Optional(Who),
  },
  { $id: `${ID}definitions.deploy`, additionalProperties: false, title: 'definition deploy request' },
);
export type DeployRequest = Static<typeof DeployRequestSchema>;

/** Actions answered on `<prefix>.admin.<action>`. */
export const ADMIN_ACTIONS = ['executions.status', 'dlq.replay', 'dlq.discard', 'definitions.deploy'] as const;
export type AdminAction = (typeof ADMIN_ACTIONS)[number];

/** An instant as `Date.prototype.toISOString` writes it (a pattern, not `format`: TypeBox refuses unregistered formats). */
const IsoInstant = (description: string): ReturnType<typeof Type.String> =>
  Type.String({ pattern: '^[+-]?\\d{4,6}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}\\.\\d{3}Z$', description });

/** What a waiting execution waits for, derived from its stored `pending` step and action retry. */
export const ExecutionWaitSchema = Type.Object(
  {
    kind: Type.Union(
      [
        Type.Literal('timer'),
        Type.Literal('event'),
        Type.Literal('action'),
        Type.Literal('approval'),
        Type.Literal('retry'),
        Type.Literal('result'),
      ],
      {
        description:
          'timer: a wait, waitUntil or quiet-hours hold falls due at dueAt. event: a waitForEvent step waits for `event` ' +
          'until its timeout at dueAt. action: the action `action` is to run or is running (also while the execution is ' +
          'failed and its dead letter awaits a replay). approval: an action step with approval: true waits for an ' +
          'approval.granted or approval.rejected event. retry: the action `action` failed (or is held while its circuit is ' +
          'open) and its next attempt is due at dueAt. result: attempt `attempt` of the outbound action `action` was sent ' +
          'and its result is awaited until dueAt.',
      },
    ),
    stepId: Type.String({ description: 'The step that waits.' }),
    dueAt: Type.Optional(
      IsoInstant(
        'When the timer, the event timeout, the retry or the result deadline falls due (UTC). Absent for action and approval, and for a ' +
          'waitUntil whose anchor is missing (due at once).',
      ),
    ),
    event: Type.Optional(Type.String({ description: 'kind event: the event name waited for, e.g. form.submitted.' })),
    action: Type.Optional(Type.String({ description: 'kind action, retry or result: the action name, e.g. email.send.' })),
    attempt: Type.Optional(Type.Integer({ minimum: 1, description: 'kind result: the attempt whose result is awaited.' })),
  },
  { title: 'execution wait' },
);
export type ExecutionWait = Static<typeof ExecutionWaitSchema>;

/**
 * `executions.status` result: the execution as `journeys status --json` prints it. Open: a later runtime may add fields,
 * so a validator should not refuse unknown ones.
 */
export const ExecutionStatusResultSchema = Type.Object(
  {
    executionId: ExecutionId,
    supplierId: Type.String({ description: 'Supplier (vendor) id of the start command.' }),
    clientId: Type.String({ description: 'Client (couple) id of the start command.' }),
    journeyId: Type.String({ description: 'Journey definition id.' }),
    version: Type.Integer({ minimum: 1, description: 'Definition version the execution runs (kept from its start).' }),
    state: Type.String({
      description: 'Current step id, or the final state: completed (any end step), exited (an exit event), cancelled.',
    }),
    status: Type.Union([Type.Literal('active'), Type.Literal('paused'), Type.Literal('failed'), Type.Literal('done')], {
      description: 'done: finished; failed: a step is dead-lettered (replay resumes it); paused; else active.',
    }),
    weddingDate: Type.Optional(
      Type.String({
        pattern: '^\\d{4}-\\d{2}-\\d{2}$',
        description: 'Local wedding date (YYYY-MM-DD); absent when unknown.',
      }),
    ),
    timeZone: Type.String({ description: "IANA time zone of the wedding (or the journey's)." }),
    tier: Type.Union([Type.Literal('critical'), Type.Literal('high'), Type.Literal('medium'), Type.Literal('low')], {
      description:
        "Priority tier at the answering runtime's clock, from the days to the wedding in its local calendar: critical " +
        '0-1, high 2-7, medium 8-30, low > 30, passed or unknown (actors/priority.ts tierAt).',
    }),
    waiting: Type.Union([Type.Null(), ExecutionWaitSchema], {
      description: 'What the execution waits for, or null (finished, or between two steps).',
    }),
    waitingFor: Type.Optional(
      Type.String({
        description: 'One-line summary of waiting, e.g. "event form.submitted" (kept for older readers).',
      }),
    ),
    dueAt: Type.Optional(
      IsoInstant('Due instant of a pending timer or event timeout (kept for older readers; see waiting).'),
    ),
    failure: Type.Optional(
      Type.Object(
        {
          stepId: Type.String({ description: 'The failed step.' }),
          error: Type.String({ description: 'The last error message.' }),
          attempts: Type.Integer({ minimum: 1, description: 'Attempts made.' }),
        },
        { description: 'Present while a step is dead-lettered.' },
      ),
    ),
    history: Type.Array(
      Type.Object({
        step: Type.String({ description: 'Step entered (or a final state).' }),
        at: IsoInstant('When (UTC).'),
        note: Type.Optional(
          Type.String({ description: 'Why, when not the plain next step (event, timeout, skip...).' }),
        ),
      }),
      { description: 'Steps entered, oldest first.' },
    ),
    updatedAt: IsoInstant('When the stored record was last written (UTC).'),
  },
  { title: 'execution status' },
);
export type ExecutionStatusResult = Static<typeof ExecutionStatusResultSchema>;

/** The whole reply on `<prefix>.admin.executions.status`: the status, or why there is none. */
export const ExecutionStatusReplySchema = Type.Union(
  [
    Type.Object(
      { ok: Type.Literal(true), result: ExecutionStatusResultSchema },
      { description: 'The execution was found.' },
    ),
    Type.Object(
      {
        ok: Type.Literal(false),
        error: Type.Object(
          {
            code: Type.String({
              description: 'Stable error code, e.g. UNKNOWN_EXECUTION, BAD_COMMAND (runtime/errors.ts).',
            }),
            message: Type.String({ description: 'For humans.' }),
          },
          { description: 'Why the request was refused or failed.' },
        ),
      },
      { description: 'Refused (unknown execution, bad request) or failed.' },
    ),
  ],
  { $id: `${ID}executions.status.reply`, title: 'execution status reply' },
);
export type ExecutionStatusReply = Static<typeof ExecutionStatusReplySchema>;

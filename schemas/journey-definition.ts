/**
 * TypeBox schema of a journey definition: the single source of both the TypeScript types
 * (`Static<>`) and the published `journey-definition.schema.json` (see `generate.ts`).
 *
 * The schema checks shape only. Whatever needs real parsing (durations, time zones, branch
 * conditions, calendar dates) or a view of the whole graph is checked by `validate.ts`, which
 * reports it under a specific code instead of a bare "does not match pattern".
 */
import { Type, type Static } from '@sinclair/typebox';

/** Namespace of the `$id`s: URNs, because nothing is (or needs to be) served from a URL. */
const ID = 'urn:wedsync:journey:';

/** Journey ids end up in NATS subjects and KV keys, hence lower case and no dots. */
export const JOURNEY_ID_PATTERN = '^[a-z0-9][a-z0-9_-]{0,63}$';
/** Step ids are keys of `steps` and are referenced by `next` & co. */
export const STEP_ID_PATTERN = '^[A-Za-z][A-Za-z0-9_-]{0,63}$';
/** Domain event names, e.g. `booking.created`. */
export const EVENT_NAME_PATTERN = '^[a-z][a-z0-9_.-]{0,63}$';
/** `HH:MM`, 00:00 to 23:59. */
export const TIME_OF_DAY_PATTERN = '^([01][0-9]|2[0-3]):[0-5][0-9]$';
/**
 * Shape of a `waitUntil` anchor: `weddingDate`, `bookedAt`, `data.<field>`, a `YYYY-MM-DD` date or
 * an instant with `Z` or an offset. Calendar validity (no 30 February) is checked by the validator.
 */
export const ANCHOR_PATTERN =
  '^(weddingDate|bookedAt|data\\.[A-Za-z][A-Za-z0-9_]*|[0-9]{4}-[0-9]{2}-[0-9]{2}' +
  '(T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\\.[0-9]{1,9})?)?(Z|z|[+-][0-9]{2}:[0-9]{2}))?)$';

/** Highest version number: versions end up in KV keys (`<id>.v<version>`), so they stay small integers. */
export const MAX_VERSION = 1_000_000;

/** Vendor types a journey can be written for. */
export const VENDOR_TYPES = ['photographer', 'venue', 'caterer', 'florist', 'planner', 'other'] as const;

const StepId = (description: string) =>
  Type.String({ title: 'step id', pattern: STEP_ID_PATTERN, description: `${description} (a key of \`steps\`).` });

const EventName = (description: string) =>
  Type.String({ title: 'event name', pattern: EVENT_NAME_PATTERN, description });

// No pattern: `parseDuration` is the authority, and the validator reports failures as BAD_DURATION.
const IsoDuration = (description: string) => Type.String({ title: 'ISO-8601 duration', description });

const TimeOfDay = (description: string) =>
  Type.String({ title: 'local time of day (HH:MM)', pattern: TIME_OF_DAY_PATTERN, description });

/** Invokes an action handler (send an email, create a task, …) and moves on to `next`. */
export const ActionStepSchema = Type.Object(
  {
    type: Type.Literal('action'),
    action: Type.String({
      minLength: 1,
      maxLength: 128,
      description: 'Name of the registered action handler, e.g. `email.send`.',
    }),
    params: Type.Optional(
      Type.Record(Type.String(), Type.Unknown(), { description: 'Free JSON object passed to the action handler.' }),
    ),
    next: StepId('Step to go to once the action has succeeded'),
    timeout: Type.Optional(IsoDuration('Longest a single attempt may take, e.g. `PT30S`; positive.')),
    retry: Type.Optional(
      Type.Object(
        {
          attempts: Type.Optional(
            Type.Integer({ minimum: 1, maximum: 10, description: 'Total attempts, including the first.' }),
          ),
          backoff: Type.Optional(IsoDuration('Delay before the first retry, e.g. `PT10S`; positive.')),
          factor: Type.Optional(
            Type.Number({ minimum: 1, maximum: 10, description: 'Multiplier applied to the delay per retry.' }),
          ),
        },
        {
          additionalProperties: false,
          description: 'Overrides the runtime default retry policy for this step; absent fields keep the tier default.',
        },
      ),
    ),
    approval: Type.Optional(
      Type.Boolean({ description: 'When true, the vendor must approve before the action runs.' }),
    ),
    quietHours: Type.Optional(
      Type.Boolean({
        default: true,
        description: "When true (the default) the action is held back during the definition's quiet hours.",
      }),
    ),
  },
  { $id: `${ID}step:action`, title: 'action step', additionalProperties: false, description: 'Runs an action.' },
);

/** Waits a fixed duration. */
export const WaitStepSchema = Type.Object(
  {
    type: Type.Literal('wait'),
    duration: IsoDuration('How long to wait, e.g. `P7D`; positive.'),
    next: StepId('Step to go to after the wait'),
  },
  { $id: `${ID}step:wait`, title: 'wait step', additionalProperties: false, description: 'Waits a fixed duration.' },
);

/** Waits until a point in time derived from an anchor (typically the wedding date). */
export const WaitUntilStepSchema = Type.Object(
  {
    type: Type.Literal('waitUntil'),
    anchor: Type.String({
      title: 'anchor',
      pattern: ANCHOR_PATTERN,
      description:
        '`weddingDate`, `bookedAt`, `data.<field>` (a date field of the execution data), ' +
        'an ISO date `YYYY-MM-DD`, or an ISO date-time with `Z` or an offset.',
    }),
    offset: Type.Optional(IsoDuration('Added to the anchor; may be negative, e.g. `-P42D` for six weeks before.')),
    at: Type.Optional(TimeOfDay('Local time of day to fire at, in the execution time zone.')),
    ifPast: Type.Optional(
      Type.Union([Type.Literal('run'), Type.Literal('skip')], {
        default: 'run',
        description: '`run` (default): continue at once if the moment has passed; `skip`: jump to `skipTo`.',
      }),
    ),
    skipTo: Type.Optional(
      StepId(
        'Target when `ifPast` is `skip` and the moment has passed; ' +
          'defaults to the `next` of the step that `next` points to',
      ),
    ),
    next: StepId('Step to go to when the moment arrives'),
  },
  {
    $id: `${ID}step:waitUntil`,
    title: 'waitUntil step',
    additionalProperties: false,
    description: 'Waits until an anchored moment.',
  },
);

/** Waits for a domain event, or gives up after a timeout. */
export const WaitForEventStepSchema = Type.Object(
  {
    type: Type.Literal('waitForEvent'),
    event: EventName('Event that ends the wait, e.g. `form.submitted`.'),
    timeout: IsoDuration('How long to wait for the event; positive.'),
    onEvent: StepId('Step to go to when the event arrives'),
    onTimeout: StepId('Step to go to when the timeout expires first'),
  },
  {
    $id: `${ID}step:waitForEvent`,
    title: 'waitForEvent step',
    additionalProperties: false,
    description: 'Waits for an event, with a timeout.',
  },
);

/** Picks the first case whose condition holds, else `default`. */
export const BranchStepSchema = Type.Object(
  {
    type: Type.Literal('branch'),
    cases: Type.Array(
      Type.Object(
        {
          when: Type.String({
            minLength: 1,
            maxLength: 500,
            description: "Condition, e.g. `data.guestCount > 100 && data.package == 'gold'`.",
          }),
          next: StepId('Step to go to when the condition holds'),
        },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: 20, description: 'Evaluated in order; the first match wins.' },
    ),
    default: StepId('Step to go to when no case matches'),
  },
  {
    $id: `${ID}step:branch`,
    title: 'branch step',
    additionalProperties: false,
    description: 'Conditional branch.',
  },
);

/** Assigns the execution to one of several variants, by weight (A/B tests). */
export const SplitStepSchema = Type.Object(
  {
    type: Type.Literal('split'),
    variants: Type.Array(
      Type.Object(
        {
          name: Type.String({ minLength: 1, maxLength: 64, description: 'Variant name, unique within the step.' }),
          weight: Type.Integer({ minimum: 1, maximum: 1000, description: 'Relative weight.' }),
          next: StepId('Step to go to for this variant'),
        },
        { additionalProperties: false },
      ),
      { minItems: 2, maxItems: 10 },
    ),
  },
  {
    $id: `${ID}step:split`,
    title: 'split step',
    additionalProperties: false,
    description: 'Weighted random split.',
  },
);

/** Ends the execution. */
export const EndStepSchema = Type.Object(
  { type: Type.Literal('end') },
  { $id: `${ID}step:end`, title: 'end step', additionalProperties: false, description: 'Ends the journey.' },
);

/** Any step, discriminated by `type`. */
export const StepSchema = Type.Union(
  [
    ActionStepSchema,
    WaitStepSchema,
    WaitUntilStepSchema,
    WaitForEventStepSchema,
    BranchStepSchema,
    SplitStepSchema,
    EndStepSchema,
  ],
  { $id: `${ID}step`, title: 'step', description: 'One step of a journey, discriminated by `type`.' },
);

/** A complete journey definition document. */
export const JourneyDefinitionSchema = Type.Object(
  {
    id: Type.String({ title: 'journey id', pattern: JOURNEY_ID_PATTERN, description: 'Stable journey id.' }),
    version: Type.Integer({
      minimum: 1,
      maximum: MAX_VERSION,
      description: 'Version of this journey; each published version is immutable.',
    }),
    name: Type.String({ minLength: 1, maxLength: 200, description: 'Human-readable name.' }),
    vendorType: Type.Union(
      VENDOR_TYPES.map((v) => Type.Literal(v)),
      { description: 'Kind of vendor the journey is written for.' },
    ),
    trigger: Type.Object(
      { event: EventName('Event that starts an execution, e.g. `booking.created`.') },
      { additionalProperties: false, description: 'What starts an execution.' },
    ),
    timeZone: Type.Optional(
      Type.String({ description: 'IANA time zone used when an execution gives none, e.g. `Europe/London`.' }),
    ),
    quietHours: Type.Optional(
      Type.Object(
        {
          start: TimeOfDay('Start of the quiet window, local time.'),
          end: TimeOfDay('End of the quiet window (exclusive), local time; may be earlier than start.'),
        },
        { additionalProperties: false, description: 'Local window in which actions are held back.' },
      ),
    ),
    exitEvents: Type.Optional(
      Type.Array(EventName('Event name.'), { description: 'Events that end an execution early, wherever it is.' }),
    ),
    start: StepId('First step'),
    steps: Type.Record(Type.String({ pattern: STEP_ID_PATTERN }), StepSchema, {
      minProperties: 1,
      additionalProperties: false,
      description: 'Steps by id.',
    }),
  },
  {
    $id: `${ID}definition`,
    title: 'Journey definition',
    additionalProperties: false,
    description: 'A versioned journey: a graph of steps run for each booking.',
  },
);

export type JourneyDefinition = Static<typeof JourneyDefinitionSchema>;
export type Step = Static<typeof StepSchema>;
export type ActionStep = Static<typeof ActionStepSchema>;
export type WaitStep = Static<typeof WaitStepSchema>;
export type WaitUntilStep = Static<typeof WaitUntilStepSchema>;
export type WaitForEventStep = Static<typeof WaitForEventStepSchema>;
export type BranchStep = Static<typeof BranchStepSchema>;
export type SplitStep = Static<typeof SplitStepSchema>;
export type EndStep = Static<typeof EndStepSchema>;
export type StepType = Step['type'];
/** Every step type, in schema order. */
export const STEP_TYPES: readonly StepType[] = [
  'action',
  'wait',
  'waitUntil',
  'waitForEvent',
  'branch',
  'split',
  'end',
];

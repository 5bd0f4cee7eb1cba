/**
 * The stats message the monitor publishes every few seconds, per instance and merged cluster-wide (R19, R20). One TypeBox
 * source gives the TypeScript type and the published `stats.schema.json`, which dashboards and other languages validate.
 *
 * Every object carries raw counts and histograms next to the rates and percentiles derived from them: a dashboard reads
 * the derived numbers, while merging (`mergeStats` in `actors/monitor.ts`) only ever adds the raw ones, because rates and
 * percentiles cannot be averaged. Objects are left open: consumers must ignore fields they do not know, and a change that
 * breaks readers bumps `v`.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { LAST_BUCKET, MAX_TRACKED_MS, OVERFLOW_BUCKET, RELATIVE_ERROR } from '../actors/histogram.ts';
import type { Tier } from '../actors/priority.ts';

const ID = 'urn:wedsync:journey:';

/**
 * A `$ref` to a shared sub-schema, typed as its target. Sharing keeps the generated file small (a group appears a dozen
 * times); validators resolve the refs from `definitions` in the JSON file, and TypeBox from {@link STATS_SCHEMA_REFERENCES}.
 */
const Ref = <T extends TSchema>(schema: T) => Type.Unsafe<Static<T>>(Type.Ref(schema.$id ?? ''));

const ISO_INSTANT = '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,9})?Z$';
const Count = (description: string) => Type.Integer({ minimum: 0, description });
const Ms = (description: string) =>
  Type.Union([Type.Number({ minimum: 0 }), Type.Null()], { description: `${description} (ms; null without samples)` });
const Rate = (description: string) =>
  Type.Union([Type.Number({ minimum: 0, maximum: 1 }), Type.Null()], {
    description: `${description} (0..1; null without samples)`,
  });

/** Sparse log-scale latency histogram; see `actors/histogram.ts`. */
export const HistogramSchema = Type.Object(
  {
    buckets: Type.Array(
      Type.Tuple([Type.Integer({ minimum: 0, maximum: OVERFLOW_BUCKET }), Type.Integer({ minimum: 1 })]),
      { maxItems: OVERFLOW_BUCKET + 1, description: 'Non-empty buckets as [index, count], ascending by index.' },
    ),
    count: Count('Number of samples.'),
    sum: Type.Number({ minimum: 0, description: 'Sum of the samples in ms.' }),
    min: Type.Number({ minimum: 0, description: 'Smallest sample in ms (0 when empty).' }),
    max: Type.Number({ minimum: 0, description: 'Largest sample in ms (0 when empty).' }),
  },
  {
    description:
      `Mergeable histogram: bucket 0 holds <= 1 ms, bucket i in 1..${LAST_BUCKET} holds (g^(i-1), g^i] ms with ` +
      `g = ${1 + RELATIVE_ERROR}/${1 - RELATIVE_ERROR}, bucket ${OVERFLOW_BUCKET} holds > ${MAX_TRACKED_MS} ms. ` +
      'Merge by adding counts per index.',
    $id: `${ID}stats:histogram`,
  },
);
export type HistogramJson = Static<typeof HistogramSchema>;

/** Percentiles for a dashboard, and the histogram they come from for merging. */
export const LatencySchema = Type.Object(
  {
    count: Count('Number of samples.'),
    mean: Ms('Mean'),
    p50: Ms('Median, within 4 %'),
    p90: Ms('90th percentile, within 4 %'),
    p99: Ms('99th percentile, within 4 %'),
    max: Ms('Largest sample, exact'),
    histogram: Ref(HistogramSchema),
  },
  { $id: `${ID}stats:latency`, description: 'Latency summary.' },
);
export type Latency = Static<typeof LatencySchema>;

const LatencyPair = Type.Object(
  {
    step: Ref(LatencySchema),
    execution: Ref(LatencySchema),
  },
  { description: 'step: one step attempt (action run included); execution: start to finish of a journey execution.' },
);

const COUNT_PROPERTIES = {
  started: Count('Executions started.'),
  completed: Count('Executions that reached an end step.'),
  exited: Count('Executions ended by an exit event.'),
  cancelled: Count('Executions cancelled.'),
  failed: Count('Executions that failed: a step exhausted its attempts (outcome dead).'),
  stepsDone: Count('Steps finished successfully.'),
  retried: Count('Step attempts that failed and were scheduled again.'),
  deadLettered: Count('Steps sent to the dead-letter queue (one per failed execution).'),
  successRate: Rate('stepsDone / (stepsDone + deadLettered)'),
};

/** Counters of executions and steps, and the step success rate. */
export const CountsSchema = Type.Object(COUNT_PROPERTIES, { description: 'Counters.' });
export type Counts = Static<typeof CountsSchema>;

/** Counters plus latency: one tier, vendor type, the wedding-day slice. */
export const GroupSchema = Type.Object(
  { ...COUNT_PROPERTIES, latency: LatencyPair },
  { $id: `${ID}stats:group`, description: 'Counters and latency.' },
);
const Group = Ref(GroupSchema);
export type GroupStats = Static<typeof GroupSchema>;

/** One step of one journey. */
export const StepStatsSchema = Type.Object(
  {
    done: Count('Step finished successfully.'),
    retried: Count('Attempts that failed and were scheduled again.'),
    failed: Count('Attempts exhausted: dead-lettered.'),
    successRate: Rate('done / (done + failed)'),
    latency: Ref(LatencySchema),
  },
  { description: 'Per-step counters and latency.' },
);
export type StepStats = Static<typeof StepStatsSchema>;

/** One journey, with its steps. */
export const JourneyStatsSchema = Type.Object(
  {
    ...COUNT_PROPERTIES,
    latency: LatencyPair,
    vendorType: Type.String({
      description: 'Vendor type of the journey; `_mixed` for the `_other` bucket of several.',
    }),
    steps: Type.Record(Type.String(), StepStatsSchema, {
      description: 'By step id; at most 50 named steps per journey, the rest under `_other`.',
    }),
  },
  { description: 'Per-journey counters and latency.' },
);
export type JourneyStats = Static<typeof JourneyStatsSchema>;

/** One action's attempts (R13): what its service did, whichever journeys and steps used it. */
export const ActionStatsSchema = Type.Object(
  {
    ok: Count('Attempts that succeeded (step done).'),
    failed: Count('Attempts that failed: retried or dead.'),
    held: Count('Attempts not made: held while the circuit of the action was open (neither success nor failure).'),
    attempts: Count('ok + failed.'),
    successRate: Rate('ok / (ok + failed), every failed attempt counted (unlike step success, which counts dead steps)'),
    latency: Ref(LatencySchema),
  },
  { $id: `${ID}stats:action`, description: 'Attempts and latency (ok and failed attempts) of one action.' },
);
export type ActionStats = Static<typeof ActionStatsSchema>;

/** A circuit state, worst last: `open` holds every attempt, `half-open` lets one probe through. */
export const CIRCUIT_STATES = ['closed', 'half-open', 'open'] as const;
/** One of {@link CIRCUIT_STATES}. */
export type CircuitState = (typeof CIRCUIT_STATES)[number];
const Circuit = (description: string) =>
  Type.Union(
    CIRCUIT_STATES.map((s) => Type.Literal(s)),
    { description },
  );

/** The circuit breaker of one action, as last reported (a gauge: kept from window to window). */
export const CircuitSchema = Type.Object(
  {
    state: Circuit('State last reported; cluster-wide, the worst over the instances (open > half-open > closed).'),
    worst: Circuit(
      'Worst state held during the window (the state it started in included), so a circuit that opened and closed ' +
        'again within one window is still seen open; cluster-wide, the worst over the instances.',
    ),
    failureRate: Type.Number({
      minimum: 0,
      maximum: 1,
      description: 'Failure share of recent attempts the breaker reported with its last change (cluster-wide: the highest).',
    }),
    at: Type.String({ pattern: ISO_INSTANT, description: 'When the last change was reported (cluster-wide: the latest).' }),
  },
  { description: 'Circuit breaker of one action.' },
);
export type CircuitStats = Static<typeof CircuitSchema>;

/** One object per tier, every tier present. Typed against `Tier` so a new tier fails to compile here. */
const ByTier = <T extends TSchema>(schema: T, description: string) =>
  Type.Object({ critical: schema, high: schema, medium: schema, low: schema } satisfies Record<Tier, T>, {
    description,
  });

/** Work queue depth of one tier. */
export const QueueSchema = Type.Object(
  {
    pending: Count('Messages waiting for delivery (num_pending).'),
    ackPending: Count('Messages delivered and not yet acknowledged (num_ack_pending).'),
  },
  {
    description:
      'Latest reading; cluster-wide, the sum over instances (or the max when each reports the whole consumer). Queue length = pending + ackPending.',
  },
);

/** Totals since the instance started, for reports that must survive lost stats messages (counter semantics). */
export const CumulativeSchema = Type.Object(
  {
    since: Type.String({
      pattern: ISO_INSTANT,
      description: 'Start of the counting (earliest instance, cluster-wide).',
    }),
    totals: CountsSchema,
    latency: LatencyPair,
    weddingDay: Group,
    byTier: ByTier(Group, 'By priority tier.'),
    byVendor: Type.Record(Type.String(), Group, { description: 'By vendor type.' }),
    byAction: Type.Optional(
      Type.Record(Type.String(), Ref(ActionStatsSchema), { description: 'By action (absent before R13).' }),
    ),
  },
  { description: 'Counters since `since`; they reset when an instance restarts.' },
);

/** The stats message (`v: 1`). */
export const StatsMessageSchema = Type.Object(
  {
    v: Type.Literal(1, { description: 'Message version.' }),
    instance: Type.String({ minLength: 1, description: 'Instance id, or `cluster` for the cluster-wide merge.' }),
    instances: Type.Integer({
      minimum: 0,
      description: 'Number of instance messages merged into this one (1 for an instance).',
    }),
    at: Type.String({ pattern: ISO_INSTANT, description: 'End of the window.' }),
    windowMs: Type.Number({ minimum: 0, description: 'Length of the window in ms.' }),
    flags: Type.Object(
      {
        saturday: Type.Boolean({ description: 'The window ends on a Saturday in `timeZone`.' }),
        season: Type.Boolean({ description: 'The window ends in wedding season (May-October) in `timeZone`.' }),
        timeZone: Type.String({ description: 'IANA zone the flags are computed in.' }),
      },
      { description: 'Calendar flags, so reports can split Saturday vs weekday and season vs off-season.' },
    ),
    totals: CountsSchema,
    latency: LatencyPair,
    weddingDay: Group,
    byTier: ByTier(Group, 'By priority tier.'),
    byVendor: Type.Record(Type.String(), Group, {
      description: 'By vendor type; at most 50 named, the rest under `_other`.',
    }),
    byJourney: Type.Record(Type.String(), JourneyStatsSchema, {
      description: 'By journey id; at most 200 named, the rest under `_other`.',
    }),
    byAction: Type.Optional(
      Type.Record(Type.String(), Ref(ActionStatsSchema), {
        description: 'By action; at most 100 named, the rest under `_other` (absent in messages from before R13).',
      }),
    ),
    circuits: Type.Optional(
      Type.Record(Type.String(), CircuitSchema, {
        description:
          'Circuit breaker per action that ever reported a change; an action not listed is closed. At most 100 named, ' +
          'the rest under `_other` (absent in messages from before R13).',
      }),
    ),
    queues: ByTier(QueueSchema, 'Work queue depth by tier.'),
    topErrors: Type.Array(
      Type.Object(
        {
          message: Type.String({
            description: 'Error message, normalised (long numbers and ids masked, 200 characters at most).',
          }),
          count: Type.Integer({ minimum: 1, description: 'Failed attempts with this message (retried or dead).' }),
        },
        { description: 'One error message.' },
      ),
      {
        maxItems: 20,
        description: 'Most frequent errors, by count (cluster-wide: merged from each instance top list).',
      },
    ),
    cumulative: CumulativeSchema,
  },
  {
    $id: `${ID}stats`,
    title: 'stats message',
    definitions: { histogram: HistogramSchema, latency: LatencySchema, group: GroupSchema, action: ActionStatsSchema },
  },
);
/** Sub-schemas the `$ref`s of {@link StatsMessageSchema} point to: `TypeCompiler.Compile(StatsMessageSchema, STATS_SCHEMA_REFERENCES)`. */
export const STATS_SCHEMA_REFERENCES: readonly TSchema[] = [HistogramSchema, LatencySchema, GroupSchema, ActionStatsSchema];
/** A stats message; see {@link StatsMessageSchema}. */
export type StatsMessage = Static<typeof StatsMessageSchema>;

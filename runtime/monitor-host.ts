/**
 * Hosts the monitor machine (R19–R21) in one runtime instance. Metric events from the executor fold into the current
 * window; every interval the window is flushed and published on `<p>.stats.instance.<id>`. One instance at a time holds
 * the aggregator lease (a KV entry with a TTL, created with compare-and-set): it merges the latest message of every live
 * instance into `<p>.stats.cluster` (stored for reports) and evaluates the alert thresholds on it, publishing raised and
 * cleared alerts on `<p>.alerts`. When the aggregator dies, its lease expires and another instance takes over.
 *
 * Instance stats arrive on a plain subject anyone allowed there can publish on, so each is checked (R30): size, JSON,
 * the stats schema, the sender's id matching its subject, and the cardinality bounds every real sender keeps. A bad one
 * is recorded on `<p>.rejects.stats` and ignored. Instances are forgotten three intervals after their last message, and
 * at most {@link MAX_INSTANCES} are kept, so made-up instance ids cannot grow memory without bound.
 */
import { createActor, type Actor } from 'xstate';
import type { Msg, Subscription } from '@nats-io/transport-node';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { alertStateProblem, emptyAlertState, evaluateAlerts, type AlertEvent, type AlertState, type Thresholds } from '../actors/alerts.ts';
import { MONITOR_LIMITS, flushedStats, mergeStats, monitorMachine, type MetricEvent } from '../actors/monitor.ts';
import { TIERS, type Tier } from '../actors/priority.ts';
import { STATS_SCHEMA_REFERENCES, StatsMessageSchema, type CircuitState, type StatsMessage } from '../schemas/stats.ts';
import type { Clock } from './clock.ts';
import { decodeText, encodeJson } from './codec.ts';
import { RejectedError } from './errors.ts';
import type { RuntimeParts } from './parts.ts';

export interface MonitorHostOptions {
  runtime: RuntimeParts;
  clock: Clock;
  instanceId: string;
  thresholds: Thresholds;
  /** @default 5000 */
  intervalMs?: number;
  /** Zone of the Saturday and season flags in stats. @default 'UTC' */
  timeZone?: string;
  onAlert?(e: AlertEvent): void;
  /** An instance's stats message was refused (recorded on `<p>.rejects.stats`), with its error code: for metrics. */
  onReject?(code: string): void;
  onError(err: unknown): void;
}

/** Instances whose latest stats are kept; past it, messages from instances not yet known are dropped until some expire. */
export const MAX_INSTANCES = 1_000;
const LEASE_KEY = 'stats-aggregator';
const BATCH = 256;
const ALERT_STATE_KEY = 'alerts.state';

export class MonitorHost {
  readonly #o: MonitorHostOptions;
  readonly #actor: Actor<typeof monitorMachine>;
  /** Latest stats message per instance, for the live-instance count and the cluster aggregate. */
  readonly #latest = new Map<string, { message: StatsMessage; receivedAt: number }>();
  #sub: Subscription | undefined;
  #cancel: (() => void) | undefined;
  #leaseRevision = 0;
  #alerts: AlertState | undefined;
  #last: StatsMessage | undefined;
  #busy = false;
  #stopped = false;
  #buffer: MetricEvent[] = [];
  /** `at` of each instance's message last merged into a cluster window: each window counts once. */
  readonly #merged = new Map<string, string>();
  /** Messages from unknown instances dropped since the last tick because {@link MAX_INSTANCES} were kept. */
  #overflow = 0;

  constructor(opts: MonitorHostOptions) {
    this.#o = opts;
    this.#actor = createActor(monitorMachine, { input: { now: opts.clock.now() } } as never);
  }

  /** True while this instance aggregates the cluster-wide stats. */
  get aggregating(): boolean {
    return this.#leaseRevision > 0;
  }

  /** The last stats this instance published about itself. */
  get last(): StatsMessage | undefined {
    return this.#last;
  }

  /** Buffers an event; they reach the machine in batches (one XState event per metric was ~5 % of the hot path's CPU). */
  observe(e: MetricEvent): void {
    if (this.#stopped) return;
    this.#buffer.push(e);
    if (this.#buffer.length >= BATCH) this.#drain();
  }

  #drain(): void {
    if (this.#buffer.length === 0) return;
    const events = this.#buffer;
    this.#buffer = [];
    this.#actor.send({ type: 'METRICS', events });
  }

  /** Instances whose stats arrived within the last three intervals (this one included). */
  instances(): number {
    const horizon = this.#o.clock.now() - 3 * this.#interval;
    let n = 0;
    for (const { receivedAt } of this.#latest.values()) if (receivedAt >= horizon) n++;
    return Math.max(1, n);
  }

  /** Instances whose latest stats are kept (live or not yet pruned), at most {@link MAX_INSTANCES}. */
  get tracked(): number {
    return this.#latest.size;
  }

  /** This instance's circuit state per action, as last reported (only actions whose breaker ever changed state). */
  circuits(): Map<string, CircuitState> {
    if (!this.#stopped) this.#drain();
    const out = new Map<string, CircuitState>();
    for (const [action, c] of Object.entries(this.#actor.getSnapshot().context.window.circuits)) out.set(action, c.state);
    return out;
  }

  /**
   * A tier's queue across the cluster: the consumer's pending as the instances' deliveries saw it (max) and the messages
   * every live instance holds unacknowledged (sum); this instance's reading is taken now, the others' from their stats.
   */
  queue(tier: Tier): { pending: number; ackPending: number } {
    let { pending, ackPending } = this.#o.runtime.dispatcher.queue(tier);
    const horizon = this.#o.clock.now() - 3 * this.#interval;
    for (const [id, { message, receivedAt }] of this.#latest) {
      if (id === this.#o.instanceId || receivedAt < horizon) continue;
      const q = message.queues[tier];
      pending = Math.max(pending, q.pending);
      ackPending += q.ackPending;
    }
    return { pending, ackPending };
  }

  p99(tier: Tier): number {
    return this.#last?.byTier[tier]?.latency.step.p99 ?? 0;
  }

  get #interval(): number {
    return this.#o.intervalMs ?? 5_000;
  }

  async start(): Promise<void> {
    this.#actor.start();
    const rt = this.#o.runtime;
    this.#sub = rt.nc.subscribe(`${rt.names.prefix}.stats.instance.*`, {
      callback: (err, msg) => {
        if (err) this.#o.onError(err);
        else this.#receive(msg);
      },
    });
    this.#arm();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#cancel?.();
    this.#sub?.unsubscribe();
    if (this.#leaseRevision > 0) {
      // Hand over at once instead of waiting for the lease to expire.
      await this.#o.runtime.topology.leases.delete(LEASE_KEY, { previousSeq: this.#leaseRevision }).catch(() => undefined);
      this.#leaseRevision = 0;
    }
    this.#actor.stop();
  }

  #receive(msg: Msg): void {
    let m: StatsMessage;
    try {
      m = parseInstanceStats(msg.subject.slice(`${this.#o.runtime.names.prefix}.stats.instance.`.length), msg.data);
    } catch (err) {
      if (err instanceof RejectedError) this.#reject(msg, err);
      else this.#o.onError(err);
      return;
    }
    const now = this.#o.clock.now();
    if (!this.#latest.has(m.instance) && this.#latest.size >= MAX_INSTANCES) {
      this.#prune(now);
      if (this.#latest.size >= MAX_INSTANCES) {
        this.#overflow++;
        return;
      }
    }
    this.#latest.set(m.instance, { message: m, receivedAt: now });
  }

  #reject(msg: Msg, err: RejectedError): void {
    this.#o.onReject?.(err.code);
    const rt = this.#o.runtime;
    const sample = new TextDecoder().decode(msg.data.subarray(0, 1024));
    const record = { code: err.code, reason: err.message, subject: msg.subject, bytes: msg.data.byteLength, sample, at: this.#o.clock.now() };
    rt.js.publish(rt.names.rejects('stats'), encodeJson(record)).catch((e: unknown) => this.#o.onError(e));
  }

  /** Forgets instances not heard from for three intervals (the horizon of {@link instances} and the aggregate). */
  #prune(now: number): void {
    const horizon = now - 3 * this.#interval;
    for (const [id, e] of this.#latest) {
      if (e.receivedAt >= horizon) continue;
      this.#latest.delete(id);
      this.#merged.delete(id);
    }
  }

  #arm(): void {
    if (this.#stopped) return;
    this.#cancel = this.#o.clock.setTimer(() => {
      void this.tick().finally(() => this.#arm());
    }, this.#interval);
  }

  /** Flushes and publishes this instance's stats; as the aggregator, also the cluster's and the alerts. */
  async tick(): Promise<void> {
    if (this.#busy || this.#stopped) return;
    this.#busy = true;
    try {
      const rt = this.#o.runtime;
      const now = this.#o.clock.now();
      this.#prune(now);
      if (this.#overflow > 0) {
        this.#o.onError(new Error(`stats of ${this.#overflow} messages from unknown instances dropped: ${MAX_INSTANCES} instances are tracked already`));
        this.#overflow = 0;
      }
      for (const tier of TIERS) this.observe({ type: 'queue', at: now, tier, ...rt.dispatcher.queue(tier) });
      this.#drain();
      this.#actor.send({ type: 'FLUSH', now });
      const last = this.#actor.getSnapshot().context.last;
      if (last) {
        const stats = flushedStats(last, { instance: this.#o.instanceId, timeZone: this.#o.timeZone ?? 'UTC' });
        this.#last = stats;
        this.#latest.set(this.#o.instanceId, { message: stats, receivedAt: now });
        rt.nc.publish(rt.names.statsInstance(this.#o.instanceId), boundedJson(stats));
      }
      if (await this.#holdLease()) await this.#aggregate(now);
    } catch (err) {
      this.#o.onError(err);
    } finally {
      this.#busy = false;
    }
  }

  /** Takes the aggregator lease when free, or refreshes it when held; false when another instance holds it. */
  async #holdLease(): Promise<boolean> {
    const kv = this.#o.runtime.topology.leases;
    try {
      this.#leaseRevision =
        this.#leaseRevision > 0
          ? await kv.update(LEASE_KEY, this.#o.instanceId, this.#leaseRevision)
          : await kv.create(LEASE_KEY, this.#o.instanceId);
      return true;
    } catch {
      this.#leaseRevision = 0; // someone else holds it (or took it over after our lease expired)
      return false;
    }
  }

  async #aggregate(now: number): Promise<void> {
    const rt = this.#o.runtime;
    const horizon = now - 3 * this.#interval;
    const live = [...this.#latest.values()].filter((e) => e.receivedAt >= horizon).map((e) => e.message);
    if (live.length === 0) return;
    // Pending is the consumer's (alike on every instance: max), ack pending each instance's own share (sum).
    const options = { timeZone: this.#o.timeZone ?? 'UTC', queues: 'deliveries' as const };
    const all = mergeStats(live, now, options);
    // Instance ticks are not aligned with ours: a window not yet merged counts now, one merged before not again. Gauges
    // (queues, circuits) come from every live instance's latest reading, merged or not.
    const fresh = live.filter((m) => this.#merged.get(m.instance) !== m.at);
    for (const m of fresh) this.#merged.set(m.instance, m.at);
    const cluster = {
      ...mergeStats(fresh, now, options),
      instances: all.instances,
      queues: all.queues,
      circuits: all.circuits ?? {},
      cumulative: all.cumulative,
    };
    await rt.js.publish(rt.names.statsCluster, boundedJson(cluster));
    this.#alerts ??= await this.#loadAlertState();
    const { state, events } = evaluateAlerts(this.#alerts, cluster, this.#o.thresholds, now);
    this.#alerts = state;
    for (const e of events) {
      await rt.js.publish(rt.names.alerts, encodeJson(e));
      this.#o.onAlert?.(e);
    }
    if (events.length > 0) await rt.topology.runtime.put(ALERT_STATE_KEY, JSON.stringify(state));
  }

  /**
   * A new aggregator continues the previous one's alert state, so an open alert is not raised twice. A stored state
   * that does not parse or validate is reported and replaced by an empty one, never evaluated on.
   */
  async #loadAlertState(): Promise<AlertState> {
    const e = await this.#o.runtime.topology.runtime.get(ALERT_STATE_KEY).catch(() => null);
    if (!e || e.value.length === 0) return emptyAlertState();
    try {
      const state = JSON.parse(decodeText(e.value)) as unknown;
      const problem = alertStateProblem(state);
      if (problem) throw new Error(problem);
      return state as AlertState;
    } catch (err) {
      this.#o.onError(new Error(`alert state in KV is unusable, starting with none: ${err instanceof Error ? err.message : String(err)}`));
      return emptyAlertState();
    }
  }
}

/** Under NATS's default payload limit (1 MiB), dropping the per-journey detail first when thousands of steps make it large. */
const MAX_STATS_BYTES = 900 * 1024;
/** Largest instance stats message read: what this host publishes at most, and a margin (NATS's default limit). */
export const MAX_INSTANCE_STATS_BYTES = 1024 * 1024;

const statsCheck = TypeCompiler.Compile(StatsMessageSchema, [...STATS_SCHEMA_REFERENCES]);
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Parses and checks an instance's stats message published on `<p>.stats.instance.<token>` (R30): within
 * {@link MAX_INSTANCE_STATS_BYTES}, UTF-8 JSON, the stats schema, sent by the instance its subject names (one instance,
 * never `cluster`), and keyed groups within the cardinality bounds every instance applies (plus the `_other` group).
 * Throws `RejectedError`: PAYLOAD_TOO_LARGE, BAD_JSON, BAD_COMMAND.
 */
export function parseInstanceStats(token: string, data: Uint8Array): StatsMessage {
  if (data.byteLength > MAX_INSTANCE_STATS_BYTES) {
    throw new RejectedError('PAYLOAD_TOO_LARGE', `payload of ${data.byteLength} bytes exceeds the limit of ${MAX_INSTANCE_STATS_BYTES}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(utf8.decode(data));
  } catch {
    throw new RejectedError('BAD_JSON', 'payload is not valid UTF-8 JSON');
  }
  if (!statsCheck.Check(json)) {
    const first = typeof json === 'object' && json !== null ? statsCheck.Errors(json).First() : undefined;
    const path = first ? '$' + first.path.replace(/\//g, '.') : '$';
    throw new RejectedError('BAD_COMMAND', `${path}: ${first?.message ?? 'not a stats message'}`);
  }
  const m = json;
  if (m.instance === 'cluster' || m.instance !== token) throw new RejectedError('BAD_COMMAND', '$.instance: not the instance its subject names');
  if (m.instances !== 1) throw new RejectedError('BAD_COMMAND', '$.instances: an instance reports for itself alone (1)');
  const over = (what: string, n: number, limit: number): void => {
    if (n > limit + 1) throw new RejectedError('BAD_COMMAND', `${what}: ${n} groups, more than the ${limit} named and "_other"`);
  };
  over('$.byVendor', Object.keys(m.byVendor).length, MONITOR_LIMITS.vendors);
  over('$.cumulative.byVendor', Object.keys(m.cumulative.byVendor).length, MONITOR_LIMITS.vendors);
  over('$.byJourney', Object.keys(m.byJourney).length, MONITOR_LIMITS.journeys);
  for (const [id, j] of Object.entries(m.byJourney)) over(`$.byJourney[${JSON.stringify(id.slice(0, 64))}].steps`, Object.keys(j.steps).length, MONITOR_LIMITS.stepsPerJourney);
  over('$.byAction', Object.keys(m.byAction ?? {}).length, MONITOR_LIMITS.actions);
  over('$.cumulative.byAction', Object.keys(m.cumulative.byAction ?? {}).length, MONITOR_LIMITS.actions);
  over('$.circuits', Object.keys(m.circuits ?? {}).length, MONITOR_LIMITS.actions);
  return m;
}
function boundedJson(stats: StatsMessage): Uint8Array {
  const full = encodeJson(stats);
  return full.byteLength <= MAX_STATS_BYTES ? full : encodeJson({ ...stats, byJourney: {} });
}

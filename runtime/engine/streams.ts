/**
 * Creates (or updates) every stream, consumer and KV bucket the runtime uses. Idempotent: every instance calls it at start.
 */
import {
  AckPolicy,
  DeliverPolicy,
  RetentionPolicy,
  StorageType,
  type JetStreamManager,
  type StreamConfig,
  type ConsumerConfig,
} from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { TIERS } from '../../actors/priority.ts';
import { RuntimeError } from '../errors.ts';
import { RATE_LIMIT_TTL_MS } from './rate-limit.ts';
import type { Names } from '../subjects.ts';

const MINUTE_NS = 60 * 1_000_000_000;
const DAY_NS = 24 * 60 * MINUTE_NS;
/** How long a lease outlives its holder's last refresh. */
export const LEASE_TTL_MS = 15_000;

export interface Topology {
  executions: KV;
  definitions: KV;
  runtime: KV;
  ratelimit: KV;
  calendar: KV;
  leases: KV;
}

export interface TopologyOptions {
  replicas: number;
  /** Work consumers: messages a tier may have in flight across all instances. */
  maxAckPending: number;
  ackWaitMs: number;
}

/** First server version where compare-and-set is serialisable on replicated streams (FINDINGS 7). */
const SAFE_CAS_VERSION = [2, 9, 21] as const;

export function parseVersion(v: string): [number, number, number] {
  const [a = 0, b = 0, c = 0] = v.replace(/^v/, '').split(/[.-]/).map((x) => Number.parseInt(x, 10) || 0);
  return [a, b, c];
}

export function versionAtLeast(v: string, min: readonly [number, number, number]): boolean {
  const p = parseVersion(v);
  for (let i = 0; i < 3; i++) if (p[i]! !== min[i]!) return p[i]! > min[i]!;
  return true;
}

/** Refuses replicated execution buckets on servers where compare-and-set on them is not safe. */
export function assertSafeCas(serverVersion: string, replicas: number): void {
  if (replicas > 1 && !versionAtLeast(serverVersion, SAFE_CAS_VERSION)) {
    throw new RuntimeError(
      'UNSAFE_CAS',
      `nats-server ${serverVersion} does not serialise compare-and-set on replicated streams (fixed in 2.9.21); ` +
        `use replicas 1 or upgrade the server`,
    );
  }
}

export async function ensureTopology(
  nc: NatsConnection,
  jsm: JetStreamManager,
  n: Names,
  opts: TopologyOptions,
): Promise<Topology> {
  assertSafeCas(nc.info?.version ?? '0.0.0', opts.replicas);
  const storage = StorageType.File;
  const base = { num_replicas: opts.replicas, storage };
  await ensureStream(jsm, { ...base, name: n.streams.cmd, subjects: [`${n.prefix}.cmd.>`], retention: RetentionPolicy.Workqueue, duplicate_window: 2 * MINUTE_NS });
  await ensureStream(jsm, { ...base, name: n.streams.work, subjects: [`${n.prefix}.work.>`], retention: RetentionPolicy.Workqueue, duplicate_window: 2 * MINUTE_NS });
  await ensureStream(jsm, { ...base, name: n.streams.timers, subjects: [`${n.prefix}.timer.>`], retention: RetentionPolicy.Limits, duplicate_window: 2 * MINUTE_NS });
  // Outbound commands: the dedup window must outlast any redelivery of the step that sent them.
  await ensureStream(jsm, { ...base, name: n.streams.actions, subjects: [`${n.prefix}.actions.>`], retention: RetentionPolicy.Limits, duplicate_window: 30 * MINUTE_NS, max_age: 7 * DAY_NS });
  // Results of outbound actions: kept until the runtime has applied them (a restart loses none); a result published
  // twice with the same `Nats-Msg-Id` (`<key>:<attempt>`) within the window is stored once.
  await ensureStream(jsm, { ...base, name: n.streams.results, subjects: [`${n.prefix}.results.>`], retention: RetentionPolicy.Workqueue, duplicate_window: 30 * MINUTE_NS });
  await ensureStream(jsm, { ...base, name: n.streams.rejects, subjects: [`${n.prefix}.rejects.>`], retention: RetentionPolicy.Limits, max_age: 30 * DAY_NS });
  // Audit (R34): scaling decisions and admin actions, with who did them.
  await ensureStream(jsm, { ...base, name: n.streams.audit, subjects: [`${n.prefix}.audit.>`], retention: RetentionPolicy.Limits, duplicate_window: 2 * MINUTE_NS, max_age: 365 * DAY_NS });
  // History for reports and the dashboard: the cluster-wide stats and the alerts.
  await ensureStream(jsm, { ...base, name: n.streams.stats, subjects: [n.statsCluster, n.alerts], retention: RetentionPolicy.Limits, max_age: 30 * DAY_NS });
  await ensureStream(jsm, { ...base, name: n.streams.dlq, subjects: [`${n.prefix}.dlq.>`], retention: RetentionPolicy.Limits, duplicate_window: 30 * MINUTE_NS });

  const workConsumer = (name: string, filter: string): Partial<ConsumerConfig> => ({
    durable_name: name,
    filter_subject: filter,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: opts.ackWaitMs * 1_000_000,
    max_deliver: 20,
    max_ack_pending: opts.maxAckPending,
  });
  for (const tier of TIERS) {
    await ensureConsumer(jsm, n.streams.work, workConsumer(n.workConsumer(tier), `${n.prefix}.work.${tier}.>`));
  }
  await ensureConsumer(jsm, n.streams.cmd, workConsumer(n.routerConsumer, `${n.prefix}.cmd.>`));
  await ensureConsumer(jsm, n.streams.results, workConsumer(n.resultsConsumer, `${n.prefix}.results.>`));

  const kvm = new Kvm(nc);
  const kvOpts = { replicas: opts.replicas, history: 1, storage };
  return {
    executions: await kvm.create(n.buckets.executions, kvOpts),
    definitions: await kvm.create(n.buckets.definitions, { ...kvOpts, history: 5 }),
    runtime: await kvm.create(n.buckets.runtime, kvOpts),
    // Windows are reserved ahead for a backlog, within a horizon shorter than this expiry: no live count is lost.
    ratelimit: await kvm.create(n.buckets.ratelimit, { ...kvOpts, ttl: RATE_LIMIT_TTL_MS }),
    calendar: await kvm.create(n.buckets.calendar, kvOpts),
    // Leases (the cluster-wide stats aggregator): an entry not refreshed within the TTL lets another instance take over.
    leases: await kvm.create(n.buckets.leases, { ...kvOpts, ttl: LEASE_TTL_MS }),
  };
}

async function ensureStream(jsm: JetStreamManager, cfg: Partial<StreamConfig> & { name: string }): Promise<void> {
  try {
    await jsm.streams.info(cfg.name);
    await jsm.streams.update(cfg.name, cfg);
  } catch (err) {
    if (!isNotFound(err)) throw err;
    await jsm.streams.add(cfg);
  }
}

async function ensureConsumer(jsm: JetStreamManager, stream: string, cfg: Partial<ConsumerConfig>): Promise<void> {
  try {
    await jsm.consumers.info(stream, cfg.durable_name!);
    await jsm.consumers.update(stream, cfg.durable_name!, {
      ack_wait: cfg.ack_wait!,
      max_deliver: cfg.max_deliver!,
      max_ack_pending: cfg.max_ack_pending!,
    });
  } catch (err) {
    if (!isNotFound(err)) throw err;
    await jsm.consumers.add(stream, cfg);
  }
}

function isNotFound(err: unknown): boolean {
  return err instanceof Error && /not found/i.test(err.message);
}

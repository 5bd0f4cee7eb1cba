/**
 * The subject, stream and bucket map: the one place that names them (README "Subjects" documents the same map).
 * One prefix, one branch per audience, so each role's permissions are a few wildcards.
 */
import type { Tier } from '../actors/priority.ts';

export const COMMAND_VERBS = ['start', 'event', 'cancel', 'pause', 'resume'] as const;
export type CommandVerb = (typeof COMMAND_VERBS)[number];

export interface Names {
  prefix: string;
  /** Commands from services (JetStream-captured, fire and forget): `<p>.cmd.<verb>`. */
  cmd(verb: CommandVerb): string;
  /** Commands as requests with a reply (validated, then queued): `<p>.api.<verb>`. */
  api(verb: CommandVerb): string;
  /** Internal work, by tier, supplier and execution (`'*'` tokens make the wildcard, for permissions). */
  work(tier: Tier | '*', supplierId: string, executionId: string): string;
  /**
   * The start intake: a service's start (the JSON of `cmd.start`) straight into its tier's work, with no router hop
   * (`JourneyClient.publishStart`). Untrusted: validated and re-tiered when read (runtime/engine/intake.ts).
   */
  intake(tier: Tier | '*', supplierId: string, executionId: string): string;
  /** Durable timers, one subject per time slot. */
  timer(slot: number): string;
  /** Outbound action commands for integration services. */
  action(name: string): string;
  /** Results of outbound actions, published by the services. */
  result(name: string): string;
  rejects(kind: string): string;
  dlq(supplierId: string, executionId: string): string;
  /** Per-instance stats (`<p>.stats.instance.<id>`), the cluster-wide aggregate, alerts, supervisor decisions. */
  statsInstance(instanceId: string): string;
  statsCluster: string;
  alerts: string;
  decisions: string;
  streams: { cmd: string; work: string; timers: string; actions: string; results: string; rejects: string; dlq: string; audit: string; stats: string };
  buckets: { executions: string; definitions: string; runtime: string; ratelimit: string; calendar: string; leases: string };
  workConsumer(tier: Tier): string;
  routerConsumer: string;
  resultsConsumer: string;
}

const PREFIX = /^[a-z][a-z0-9_]{0,31}$/;

export function names(prefix = 'jrn'): Names {
  if (!PREFIX.test(prefix)) throw new Error(`subject prefix "${prefix}" must match ${PREFIX}`);
  const up = prefix.toUpperCase();
  return {
    prefix,
    cmd: (verb) => `${prefix}.cmd.${verb}`,
    api: (verb) => `${prefix}.api.${verb}`,
    work: (tier, sup, ex) => `${prefix}.work.${tier}.${sup}.${ex}`,
    intake: (tier, sup, ex) => `${prefix}.work.${tier}.${sup}.${ex}.start`,
    timer: (slot) => `${prefix}.timer.${slot}`,
    action: (name) => `${prefix}.actions.${name}`,
    result: (name) => `${prefix}.results.${name}`,
    rejects: (kind) => `${prefix}.rejects.${kind}`,
    dlq: (sup, ex) => `${prefix}.dlq.${sup}.${ex}`,
    statsInstance: (id) => `${prefix}.stats.instance.${id}`,
    statsCluster: `${prefix}.stats.cluster`,
    alerts: `${prefix}.alerts`,
    decisions: `${prefix}.supervisor.decisions`,
    streams: {
      cmd: `${up}_CMD`,
      work: `${up}_WORK`,
      timers: `${up}_TIMERS`,
      actions: `${up}_ACTIONS`,
      results: `${up}_RESULTS`,
      rejects: `${up}_REJECTS`,
      dlq: `${up}_DLQ`,
      audit: `${up}_AUDIT`,
      stats: `${up}_STATS`,
    },
    buckets: {
      executions: `${prefix}_executions`,
      definitions: `${prefix}_definitions`,
      runtime: `${prefix}_runtime`,
      ratelimit: `${prefix}_ratelimit`,
      calendar: `${prefix}_calendar`,
      leases: `${prefix}_leases`,
    },
    workConsumer: (tier) => `work-${tier}`,
    routerConsumer: 'router',
    resultsConsumer: 'results',
  };
}

/**
 * Prometheus metrics of one runtime instance (R20), with conventional names and units and bounded label cardinality:
 * tier (4 values), vendor type (6), outcome (a few), action (the first {@link MONITOR_LIMITS}.actions seen, the rest
 * under `_other`, as in stats). Journey and step ids go to the stats subject, not to labels.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { TIERS } from '../actors/priority.ts';
import { MONITOR_LIMITS, OTHER, type MetricEvent } from '../actors/monitor.ts';
import type { CircuitState } from '../schemas/stats.ts';
import type { MetricsSource } from './parts.ts';

const VENDORS = new Set(['photographer', 'venue', 'caterer', 'florist', 'planner', 'other']);
const vendor = (v: string): string => (VENDORS.has(v) ? v : 'other');
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 20, 25, 30, 60];
/** `journeys_action_circuit_state` values. */
export const CIRCUIT_GAUGE: Readonly<Record<CircuitState, number>> = Object.freeze({ closed: 0, 'half-open': 1, open: 2 });
const ATTEMPT_OUTCOME = { done: 'ok', retry: 'failed', dead: 'failed', held: 'held' } as const;

/** Action label: the first `max` names seen keep their own (cut to the stats key length), later ones are `_other`. */
function boundedLabels(max: number): (raw: string) => string {
  const seen = new Set<string>();
  return (raw) => {
    const name = raw === '' ? '(none)' : raw.slice(0, MONITOR_LIMITS.keyLength);
    if (seen.has(name)) return name;
    if (seen.size >= max) return OTHER;
    seen.add(name);
    return name;
  };
}

export interface RuntimeMetrics {
  registry: Registry;
  observe(e: MetricEvent): void;
  rejected(code: string): void;
  delayed(): void;
  deadLettered(tier: string): void;
  /** The supervisor's decision in force: concurrency per tier and desired replicas. */
  decided(concurrency: Record<string, number>, replicas: number): void;
  /** The supervisor's day factors at its latest evaluation (R16–R18): season, Saturday, calendar, latency. */
  factors(f: { season: number; saturday: number; calendar: number; latency: number }): void;
}

export function createMetrics(runtime: () => MetricsSource | undefined): RuntimeMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'journeys_process_' });
  const started = new Counter({ name: 'journeys_executions_started_total', help: 'Executions started.', labelNames: ['tier', 'vendor_type'], registers: [registry] });
  const finished = new Counter({ name: 'journeys_executions_finished_total', help: 'Executions finished, by outcome.', labelNames: ['tier', 'vendor_type', 'outcome'], registers: [registry] });
  const steps = new Counter({ name: 'journeys_steps_total', help: 'Action steps run, by outcome (done, retry, dead).', labelNames: ['tier', 'vendor_type', 'outcome'], registers: [registry] });
  const stepSeconds = new Histogram({ name: 'journeys_step_duration_seconds', help: 'Action step duration.', labelNames: ['tier', 'vendor_type'], buckets: LATENCY_BUCKETS, registers: [registry] });
  const executionSeconds = new Histogram({ name: 'journeys_execution_duration_seconds', help: 'Execution duration, start to finish.', labelNames: ['tier', 'vendor_type'], buckets: [1, 60, 3600, 86_400, 7 * 86_400, 30 * 86_400, 365 * 86_400], registers: [registry] });
  const dead = new Counter({ name: 'journeys_dead_letters_total', help: 'Steps sent to the dead-letter queue.', labelNames: ['tier'], registers: [registry] });
  const rejects = new Counter({ name: 'journeys_commands_rejected_total', help: 'Inbound commands refused, by reason code.', labelNames: ['code'], registers: [registry] });
  const delayedStarts = new Counter({ name: 'journeys_starts_rate_limited_total', help: 'Starts delayed by the per-supplier rate limit.', registers: [registry] });
  const action = boundedLabels(MONITOR_LIMITS.actions);
  const attempts = new Counter({ name: 'journeys_action_attempts_total', help: 'Action attempts by outcome: ok, failed (retried or dead), held (not made: the circuit was open).', labelNames: ['action', 'outcome'], registers: [registry] });
  const attemptSeconds = new Histogram({ name: 'journeys_action_duration_seconds', help: 'Action attempt duration (ok and failed attempts).', labelNames: ['action'], buckets: LATENCY_BUCKETS, registers: [registry] });
  /** Circuit states reported to `observe`; the monitor's, when it runs, are read at scrape time and win. */
  const circuits = new Map<string, CircuitState>();
  new Gauge({
    name: 'journeys_action_circuit_state',
    help: "State of an action's circuit breaker in this process: 0 closed, 1 half-open (one probe), 2 open (attempts held).",
    labelNames: ['action'],
    registers: [registry],
    collect() {
      const states = new Map(circuits);
      for (const [name, state] of runtime()?.monitor?.circuits() ?? []) states.set(name === OTHER ? OTHER : action(name), state);
      for (const [name, state] of states) this.set({ action: name }, CIRCUIT_GAUGE[state]);
    },
  });
  new Gauge({
    name: 'journeys_queue_messages',
    help:
      'Work messages per tier: pending (not delivered; the whole consumer, as the last delivery here saw it: take the max ' +
      'across instances) and ack_pending (delivered to this instance, not acked: sum across instances).',
    labelNames: ['tier', 'state'],
    registers: [registry],
    collect() {
      const rt = runtime();
      if (!rt) return;
      for (const tier of TIERS) {
        const q = rt.dispatcher.queue(tier);
        this.set({ tier, state: 'pending' }, q.pending);
        this.set({ tier, state: 'ack_pending' }, q.ackPending);
      }
    },
  });
  new Gauge({
    name: 'journeys_timers_behind_seconds',
    help: 'How late the oldest due, unfired timer is (0 when none).',
    registers: [registry],
    collect() {
      const rt = runtime();
      if (rt) this.set(rt.timers.health().behindMs / 1000);
    },
  });
  new Gauge({
    name: 'journeys_timers_held',
    help: 'Timers read into memory (their slot is due soon) and not fired yet.',
    registers: [registry],
    collect() {
      const rt = runtime();
      if (rt) this.set(rt.timers.held);
    },
  });
  const concurrency = new Gauge({ name: 'journeys_concurrency', help: 'Work handlers per tier in this process (supervisor decision).', labelNames: ['tier'], registers: [registry] });
  const replicas = new Gauge({ name: 'journeys_desired_replicas', help: 'Runtime replicas the supervisor wants for the cluster.', registers: [registry] });
  const factors = new Gauge({
    name: 'journeys_scaling_factor',
    help: "The supervisor's multipliers at its latest evaluation: season, saturday, calendar (weddings known for the day), latency.",
    labelNames: ['factor'],
    registers: [registry],
  });
  return {
    registry,
    factors(f) {
      factors.set({ factor: 'season' }, f.season);
      factors.set({ factor: 'saturday' }, f.saturday);
      factors.set({ factor: 'calendar' }, f.calendar);
      factors.set({ factor: 'latency' }, f.latency);
    },
    decided(c, r) {
      for (const [tier, n] of Object.entries(c)) concurrency.set({ tier }, n);
      replicas.set(r);
    },
    observe(e) {
      if (e.type === 'queue') return;
      if (e.type === 'breaker') {
        circuits.set(action(e.action), e.state);
        return;
      }
      if (e.type === 'step.finished') {
        const name = action(e.action);
        attempts.inc({ action: name, outcome: ATTEMPT_OUTCOME[e.outcome] });
        // A held step made no attempt: it is counted above and nowhere else.
        if (e.outcome === 'held') return;
        attemptSeconds.observe({ action: name }, e.ms / 1000);
      }
      const labels = { tier: e.tier, vendor_type: vendor(e.vendorType) };
      if (e.type === 'execution.started') started.inc(labels);
      else if (e.type === 'execution.finished') {
        finished.inc({ ...labels, outcome: e.outcome });
        executionSeconds.observe(labels, e.ms / 1000);
      } else {
        steps.inc({ ...labels, outcome: e.outcome });
        stepSeconds.observe(labels, e.ms / 1000);
      }
    },
    rejected: (code) => rejects.inc({ code }),
    delayed: () => delayedStarts.inc(),
    deadLettered: (tier) => dead.inc({ tier }),
  };
}

/**
 * What the hosts around the engine (monitor, supervisor, admin API, metrics) use of a running instance: passed to them
 * as parameters, so none of them imports runtime.ts, which builds them.
 */
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { CircuitState } from '../schemas/stats.ts';
import type { Dispatcher } from './engine/dispatcher.ts';
import type { Topology } from './engine/streams.ts';
import type { Names } from './subjects.ts';
import type { TimerService } from './engine/timers.ts';

/** The connection, the topology and the dispatcher: what the monitor, supervisor and admin hosts use. */
export interface RuntimeParts {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly names: Names;
  readonly topology: Topology;
  readonly dispatcher: Dispatcher;
}

/** What the Prometheus collectors read at scrape time. */
export interface MetricsSource {
  readonly timers: Pick<TimerService, 'health' | 'held'>;
  readonly monitor: { circuits(): Iterable<[string, CircuitState]> } | undefined;
  readonly dispatcher: Pick<Dispatcher, 'queue'>;
}

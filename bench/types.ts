/** Shapes shared by the orchestrator, the scenarios and the report. */
import type { Config } from './config.ts';
import type { Noise } from './noise.ts';
import type { NatsService, RedisService } from './services.ts';
import type { Spread } from './stats.ts';

export interface Env {
  nats: NatsService;
  redis: RedisService;
  cfg: Config;
  log(msg: string): void;
  /** Figures earlier scenarios measured that later ones size themselves by (e.g. ours' single-step rate). */
  shared: {
    oursRate?: number;
    peerRate?: number;
    oursConcurrency?: number;
    peerConcurrency?: number;
    ceilingRate?: number;
    /** Ours' single-step executions/s (scenario 1) and five-step steps/s (scenario 2), for the ceiling fractions. */
    oursSingle?: Spread;
    oursFive?: Spread;
  };
}

export type Side = 'ours' | 'peer';

export interface Metric {
  key: string;
  label: string;
  unit: string;
  better: 'higher' | 'lower';
  ours?: Spread;
  peer?: Spread;
  /** Who the peer column is: 'BullMQ', 'raw JetStream', or 'in-process' (scenario 7). */
  peerName?: string;
  /** Who the ours column is when it is not simply the runtime as configured (scenario 7: 'outbound', 'responder'). */
  oursName?: string;
  /** A goal for ours (from the issue), on its median value or on its ratio to the peer's median. */
  target?: { op: '<' | '<=' | '>='; value: number; text: string; on?: 'value' | 'ratio' };
}

export interface ScenarioResult {
  id: number;
  key: string;
  title: string;
  params: Record<string, unknown>;
  metrics: Metric[];
  notes: string[];
  /** Per-run raw figures, for the JSON file. */
  runs: Record<string, unknown>[];
  seconds: number;
  /** CPU used by other processes on the machine meanwhile. */
  noise?: Noise;
  error?: string;
}

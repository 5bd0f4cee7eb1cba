/**
 * Test kit for journey authors (R29): runs a definition end to end against a real NATS server under a simulated clock.
 * `advance('P42D')` moves the clock, fires the timers that fall due and waits until the runtime is idle, so a journey of
 * months runs in milliseconds.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { addDuration, parseDuration } from '../actors/duration.ts';
import type { StartCommand } from '../schemas/commands.ts';
import type { ActionHandler } from './engine/actions.ts';
import { SimulatedClock } from './clock.ts';
import { JourneyClient, type ExecutionStatus } from './client.ts';
import { startRuntime, type Runtime, type RuntimeOptions } from './runtime.ts';
import { pino } from 'pino';

export interface TestKitOptions extends Omit<RuntimeOptions, 'nc' | 'clock'> {
  nc: NatsConnection;
  /** Simulated start time. */
  now: Date | number;
}

export interface TestKit {
  runtime: Runtime;
  client: JourneyClient;
  clock: SimulatedClock;
  deploy(def: unknown): Promise<void>;
  start(cmd: StartCommand): Promise<string>;
  /** Moves the simulated clock by an ISO-8601 duration or milliseconds, and settles. */
  advance(by: string | number): Promise<void>;
  /** Waits until no work is queued or running and no timer is due. */
  settle(timeoutMs?: number): Promise<void>;
  status(executionId: string): Promise<ExecutionStatus>;
  register(action: string, handler: ActionHandler): void;
  stop(): Promise<void>;
}

export async function createTestKit(opts: TestKitOptions): Promise<TestKit> {
  const clock = new SimulatedClock(typeof opts.now === 'number' ? opts.now : opts.now.getTime());
  const runtime = await startRuntime({ logger: pino({ level: 'silent' }), ...opts, clock });
  const client = new JourneyClient(opts.nc, runtime.names.prefix);
  const settle = async (timeoutMs = 20_000): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    let quiet = 0;
    while (quiet < 2) {
      await runtime.timers.tick();
      quiet = (await runtime.idle()) ? quiet + 1 : 0;
      if (Date.now() > deadline) throw new Error(`runtime not idle after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  return {
    runtime,
    client,
    clock,
    deploy: async (def) => {
      await runtime.definitions.deploy(def);
    },
    start: async (cmd) => {
      const id = await client.start(cmd);
      await settle();
      return id;
    },
    advance: async (by) => {
      const target = typeof by === 'number' ? clock.now() + by : addDuration(clock.now(), parseDuration(by)!, 'UTC');
      clock.set(target);
      await settle();
    },
    settle,
    status: (id) => client.status(id),
    register: (action, handler) => runtime.actions.register(action, handler),
    stop: () => runtime.stop(),
  };
}

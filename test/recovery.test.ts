/**
 * Recovery after a crash with the runtime's default ack wait (what `journeys run` uses): a live instance keeps the
 * server informed of long actions (in-progress signals), so nothing is redelivered while it lives; when it is SIGKILLed,
 * the steps it held come back to the replacement within seconds.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { JourneyClient } from '../runtime/client.ts';
import { DEFAULT_ACK_WAIT_MS } from '../runtime/runtime.ts';
import { names } from '../runtime/subjects.ts';
import { TIERS } from '../actors/priority.ts';
import { useNats, uniqueName, waitFor, type TestServer } from './harness/nats.ts';
import { spawnRuntime, type RuntimeProcess } from './harness/processes.ts';
import { createObservationStream, readAll } from './harness/streams.ts';
import { oneStep, weddingInDays } from './fixtures.ts';

let server: TestServer;
let nc: NatsConnection;
useNats((s, c) => ([server, nc] = [s, c]));
const procs: RuntimeProcess[] = [];
afterAll(async () => {
  await Promise.all(procs.map((p) => p.kill('SIGKILL')));
});

/** Fewer than the instance's 64 handlers: the replacement has room for every interrupted step at once. */
const N = 40;
/** Actions take up to twice the ack wait (random), so many outlast it. */
const ACTION_MS = 2 * DEFAULT_ACK_WAIT_MS;
/** The promise: every step the dead instance held runs again within this of the kill. */
const RESUMED_WITHIN_MS = 10_000;

describe('recovery', () => {
  it('recovery - long actions are not redelivered while the instance lives; after a SIGKILL they resume within 10 s', async () => {
    const prefix = uniqueName('rc');
    const obs = `${prefix.toUpperCase()}OBS`;
    await createObservationStream(nc, obs, [`${prefix}obs.>`]);
    const env = { NATS_URL: server.url, JRN_PREFIX: prefix, ACTION_DELAY_MS: String(ACTION_MS) }; // default ack wait
    const first = await spawnRuntime(env);
    procs.push(first);
    const client = new JourneyClient(nc, prefix);
    await (await client.definitions()).deploy(oneStep);
    const js = jetstream(nc);
    const weddingDate = weddingInDays(200);
    const startedAt = Date.now();
    await Promise.all(
      Array.from({ length: N }, (_, i) =>
        js.publish(`${prefix}.cmd.start`, JSON.stringify({ supplierId: 'r', clientId: `c${i}`, journeyId: 'one-step', weddingDate, timeZone: 'UTC' })),
      ),
    );

    // Past one and a half ack waits, with actions still running: without in-progress signals some would be back by now.
    await waitFor('1.5 ack waits with actions in flight', () => Date.now() - startedAt > 1.5 * DEFAULT_ACK_WAIT_MS, 20_000, 100);
    const n = names(prefix);
    const jsm = await jetstreamManager(nc);
    const redelivered = async (): Promise<number> => {
      let total = 0;
      for (const tier of TIERS) total += (await jsm.consumers.info(n.streams.work, n.workConsumer(tier))).num_redelivered;
      return total;
    };
    expect(await redelivered()).toBe(0);
    const beforeKill = await readAll<{ key: string; pid: number; at: number }>(nc, obs);
    expect(beforeKill.length).toBeGreaterThan(0);
    await first.kill('SIGKILL');
    const killedAt = Date.now();
    const second = await spawnRuntime(env);
    procs.push(second);

    await waitFor(`all ${N} executions done`, async () => (await client.list({ status: 'done' }, 10_000)).length === N, 50_000, 250);
    const calls = await readAll<{ key: string; pid: number; at: number }>(nc, obs);
    // Interrupted: invoked by the killed instance and again by the replacement (same key).
    const byFirst = new Set(calls.filter((c) => c.data.pid === first.pid).map((c) => c.data.key));
    const resumed = new Map<string, number>();
    for (const c of calls) {
      if (c.data.pid !== second.pid || !byFirst.has(c.data.key)) continue;
      resumed.set(c.data.key, Math.min(resumed.get(c.data.key) ?? Infinity, c.data.at));
    }
    const after = [...resumed.values()].map((at) => at - killedAt);
    console.log(`recovery: ${resumed.size} interrupted steps resumed ${Math.min(...after)}–${Math.max(...after)} ms after the kill (ack wait ${DEFAULT_ACK_WAIT_MS} ms)`);
    expect(resumed.size).toBeGreaterThan(0);
    for (const ms of after) expect(ms).toBeLessThanOrEqual(RESUMED_WITHIN_MS);
    // Each effect once: the outbound commands carry the key as Nats-Msg-Id.
    const effects = await readAll<{ key: string }>(nc, n.streams.actions);
    expect(effects).toHaveLength(N);
    expect(new Set(effects.map((e) => e.msgId)).size).toBe(N);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { pino } from 'pino';
import { startRuntime } from '../runtime/runtime.ts';
import { RuntimeError } from '../runtime/errors.ts';
import { versionAtLeast } from '../runtime/engine/streams.ts';
import { JourneyClient } from '../runtime/client.ts';
import { startCluster, uniqueName, waitFor } from './harness/nats.ts';
import { oneStep, weddingInDays } from './fixtures.ts';

let cluster: Awaited<ReturnType<typeof startCluster>>;
let nc: NatsConnection;
beforeAll(async () => {
  cluster = await startCluster(3);
  nc = await connect({ servers: cluster.urls });
  // JetStream answers only once the cluster has a meta leader; until then a request times out or returns an error.
  await waitFor('a JetStream meta leader', async () => {
    const reply = await nc.request('$JS.API.INFO', undefined, { timeout: 1_000 });
    return reply.json<{ error?: unknown }>().error === undefined;
  }, 20_000, 100);
});
afterAll(async () => {
  await nc?.close();
  await cluster?.stop();
});

describe('3-node cluster', () => {
  it('cluster - replicated buckets are refused on servers without safe compare-and-set, with a clear reason', async () => {
    const version = nc.info!.version;
    const attempt = startRuntime({ nc, prefix: uniqueName('k'), replicas: 3, logger: pino({ level: 'silent' }) });
    if (versionAtLeast(version, [2, 9, 21])) {
      const rt = await attempt;
      await rt.stop();
    } else {
      await expect(attempt).rejects.toThrow(RuntimeError);
      await expect(attempt).rejects.toThrow(/does not serialise compare-and-set on replicated streams/);
    }
  });

  it('cluster - executions started through one node run to completion on a runtime connected to another', async () => {
    // R3 where compare-and-set on replicated streams is safe; R1 (which the runtime requires) on older servers (FINDINGS 7).
    const replicas = versionAtLeast(nc.info!.version, [2, 9, 21]) ? 3 : 1;
    const [runtimeUrl, clientUrl] = [cluster.urls[0]!, cluster.urls[1]!];
    const runtimeNc = await connect({ servers: runtimeUrl, noAsyncTraces: true });
    const clientNc = await connect({ servers: clientUrl, noAsyncTraces: true });
    const effects: string[] = [];
    const prefix = uniqueName('k');
    const rt = await startRuntime({
      nc: runtimeNc,
      prefix,
      replicas,
      logger: pino({ level: 'silent' }),
      handlers: { 'email.send': async (inv) => void effects.push(inv.key) },
    });
    try {
      expect((await rt.jsm.streams.info(rt.names.streams.work)).config.num_replicas).toBe(replicas);
      await rt.definitions.deploy(oneStep);
      const N = 200;
      const js = jetstream(clientNc);
      await Promise.all(
        Array.from({ length: N }, (_, i) =>
          js.publish(`${prefix}.cmd.start`, JSON.stringify({ supplierId: 'c', clientId: `c${i}`, journeyId: 'one-step', weddingDate: weddingInDays(90), timeZone: 'UTC' })),
        ),
      );
      const client = new JourneyClient(clientNc, prefix);
      await waitFor(`all ${N} executions done`, async () => (await client.list({ status: 'done' }, 10_000)).length === N, 30_000, 200);
      expect(effects).toHaveLength(N);
      expect(new Set(effects).size).toBe(N);
    } finally {
      await rt.stop();
      await runtimeNc.close();
      await clientNc.close();
    }
  });
});

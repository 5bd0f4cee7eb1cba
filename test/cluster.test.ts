import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { startRuntime } from '../runtime/runtime.ts';
import { RuntimeError } from '../runtime/errors.ts';
import { versionAtLeast } from '../runtime/streams.ts';
import { startCluster, uniqueName } from './harness/nats.ts';

let cluster: Awaited<ReturnType<typeof startCluster>>;
let nc: NatsConnection;
beforeAll(async () => {
  cluster = await startCluster(3);
  nc = await connect({ servers: cluster.urls });
  // JetStream needs a meta leader before it answers.
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      await nc.request('$JS.API.INFO', undefined, { timeout: 1_000 });
      break;
    } catch (err) {
      if (Date.now() > deadline) throw err;
    }
  }
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

  it('cluster - a runtime with R1 streams and buckets runs on the cluster', async () => {
    const rt = await startRuntime({ nc, prefix: uniqueName('k'), replicas: 1, logger: pino({ level: 'silent' }) });
    expect((await rt.jsm.streams.info(rt.names.streams.work)).cluster?.leader).toBeTruthy();
    await rt.stop();
  });
});

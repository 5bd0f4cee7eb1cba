import { afterAll, describe, expect, it } from 'vitest';
import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { startRuntime, type Runtime } from '../runtime/runtime.ts';
import type { Tier } from '../actors/priority.ts';
import { useNats, uniqueName, waitFor } from './harness/nats.ts';
import { oneStep } from './fixtures.ts';

let nc: NatsConnection;
useNats((_server, c) => (nc = c));
let runtime: Runtime | undefined;

afterAll(async () => {
  await runtime?.stop();
});

describe('priority dispatch', () => {
  it('priority - critical executions started behind a large low-tier backlog run before the backlog drains', async () => {
    const prefix = uniqueName('p');
    const handled: Tier[] = [];
    runtime = await startRuntime({
      nc,
      prefix,
      logger: pino({ level: 'silent' }),
      concurrency: 32,
      handlers: { 'email.send': async (inv) => void handled.push(inv.tier) },
    });
    await runtime.definitions.deploy(oneStep);
    const js = jetstream(nc);
    const LOW = 20_000;
    for (let i = 0; i < LOW; i += 2_000) {
      await Promise.all(
        Array.from({ length: 2_000 }, (_, j) =>
          js.publish(`${prefix}.cmd.start`, JSON.stringify({ supplierId: 'bulk', clientId: `c${i + j}`, journeyId: 'one-step', weddingDate: '2031-09-06', timeZone: 'Europe/London' })),
        ),
      );
    }
    const lowConsumer = () => runtime!.jsm.consumers.info(runtime!.names.streams.work, runtime!.names.workConsumer('low'));
    await waitFor('a low-tier backlog', async () => (await lowConsumer()).num_pending > 5_000);

    const today = new Date().toISOString().slice(0, 10);
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        js.publish(`${prefix}.cmd.start`, JSON.stringify({ supplierId: 'wedding-day', clientId: `w${i}`, journeyId: 'one-step', weddingDate: today, timeZone: 'UTC' })),
      ),
    );
    await waitFor('all critical executions handled', () => handled.filter((t) => t === 'critical').length === 20, 60_000, 5);
    const lowDone = handled.filter((t) => t === 'low').length;
    const backlog = (await lowConsumer()).num_pending;
    console.log(`priority: critical done with ${lowDone} low handled and ${backlog} still queued`);
    expect(backlog).toBeGreaterThan(0);
    expect(lowDone).toBeLessThan(LOW);
    // The minimum share keeps the backlog moving meanwhile.
    await waitFor('backlog drains', () => handled.length === LOW + 20, 120_000, 100);
  });
});

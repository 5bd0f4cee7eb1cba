import { afterAll, describe, expect, it } from 'vitest';
import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { startRuntime, type Runtime } from '../runtime/runtime.ts';
import type { Tier } from '../actors/priority.ts';
import { useNats, uniqueName, waitFor } from './harness/nats.ts';
import { oneStep, weddingInDays } from './fixtures.ts';

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
    const lowHandled = (): number => handled.filter((t) => t === 'low').length;
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
    const CRITICAL = 20;
    const nextYear = weddingInDays(365, 'Europe/London'); // low tier
    for (let i = 0; i < LOW; i += 2_000) {
      await Promise.all(
        Array.from({ length: 2_000 }, (_, j) =>
          js.publish(`${prefix}.cmd.start`, JSON.stringify({ supplierId: 'bulk', clientId: `c${i + j}`, journeyId: 'one-step', weddingDate: nextYear, timeZone: 'Europe/London' })),
        ),
      );
    }
    // Every start routed (the command stream is one FIFO for all tiers): the backlog now waits in the low tier's consumer.
    const commands = () => runtime!.jsm.streams.info(runtime!.names.streams.cmd);
    await waitFor('every low start routed', async () => (await commands()).state.messages === 0, 60_000);

    // The queue as the runtime reads it from its deliveries (no consumer info): what is not yet handled, give or take
    // what is in flight or was delivered since the last reading.
    const remaining = LOW - lowHandled();
    const low = runtime.dispatcher.queue('low');
    expect(low.pending + low.ackPending).toBeGreaterThan(remaining - 100);
    expect(low.pending + low.ackPending).toBeLessThan(remaining + 300);

    const publishedAt = Date.now();
    const queuedAtPublish = LOW - lowHandled();
    expect(queuedAtPublish, 'a low-tier backlog when the critical work arrives').toBeGreaterThan(5_000);
    const today = weddingInDays(0); // read now, in UTC: critical
    await Promise.all(
      Array.from({ length: CRITICAL }, (_, i) =>
        js.publish(`${prefix}.cmd.start`, JSON.stringify({ supplierId: 'wedding-day', clientId: `w${i}`, journeyId: 'one-step', weddingDate: today, timeZone: 'UTC' })),
      ),
    );
    await waitFor('all critical executions handled', () => handled.filter((t) => t === 'critical').length === CRITICAL, 20_000, 5);
    const criticalMs = Date.now() - publishedAt;
    await waitFor('the critical pull to end short', () => runtime!.dispatcher.queue('critical').pending === 0, 5_000, 20);
    const stillQueued = LOW - lowHandled();
    await waitFor('backlog drains', () => handled.length === LOW + CRITICAL, 60_000, 100);
    const drainMs = Date.now() - publishedAt;
    console.log(
      `priority: critical done in ${criticalMs} ms with ${stillQueued} of the ${queuedAtPublish} low executions queued at its start still waiting; the backlog drained in ${drainMs} ms`,
    );
    // Served ahead of the backlog: FIFO would have handled all of it first; the minimum share (every 10th pick) lets only a
    // little of it through meanwhile.
    expect(stillQueued).toBeGreaterThanOrEqual(queuedAtPublish / 2);
    expect(criticalMs).toBeLessThan(drainMs / 4);
  }, 170_000); // the waits above add up to less: each shows its own message
});

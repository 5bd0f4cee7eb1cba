import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { startRuntime, type Runtime } from '../runtime/runtime.ts';
import { JourneyClient } from '../runtime/client.ts';
import { ActionError } from '../runtime/errors.ts';
import type { ActionInvocation } from '../runtime/actions.ts';
import { useNats, uniqueName, waitFor } from './harness/nats.ts';
import { oneStep } from './fixtures.ts';

let nc: NatsConnection;
useNats((_server, c) => (nc = c));
let runtime: Runtime;
let client: JourneyClient;
const attempts: { key: string; attempt: number; at: number }[] = [];
let broken = true;

beforeAll(async () => {
  const prefix = uniqueName('d');
  runtime = await startRuntime({
    nc,
    prefix,
    logger: pino({ level: 'silent' }),
    // The tier defaults scaled down (×0.1) so the test runs in seconds; the shape is the default one.
    retry: {
      critical: { attempts: 3, baseMs: 100, factor: 2, jitter: 0.2 },
      default: { attempts: 3, baseMs: 500, factor: 5, jitter: 0.2 },
    },
    timerSlotMs: 1_000,
    handlers: {
      'email.send': async (inv: ActionInvocation) => {
        attempts.push({ key: inv.key, attempt: inv.attempt, at: Date.now() });
        if (broken) throw new Error('SMTP 451 temporary failure');
      },
    },
  });
  client = new JourneyClient(nc, prefix);
  await runtime.definitions.deploy(oneStep);
});
afterAll(async () => {
  await runtime?.stop();
});

describe('retries and dead-letter queue', () => {
  it('dlq - an always-failing action is tried 3 times with backoff, dead-lettered, and replay completes it once fixed', async () => {
    const id = await client.start({ supplierId: 'acme', clientId: 'c1', journeyId: 'one-step', weddingDate: '2030-06-01', timeZone: 'Europe/London' });
    const dlq = await client.dlq();
    const entries = await waitFor('a dead-letter entry', async () => {
      const list = await dlq.list({ journeyId: 'one-step' });
      return list.length > 0 ? list : undefined;
    });
    expect(entries).toHaveLength(1);
    const entry = entries[0]!;
    expect(entry).toMatchObject({ executionId: id, stepId: 'send', attempts: 3, action: 'email.send', tier: 'low' });
    expect(entry.error).toContain('SMTP 451');

    const mine = attempts.filter((a) => a.key === entry.key);
    expect(mine.map((a) => a.attempt)).toEqual([1, 2, 3]);
    // Low tier: 500 ms then 2500 ms, each within ±20 % jitter.
    const gaps = [mine[1]!.at - mine[0]!.at, mine[2]!.at - mine[1]!.at];
    expect(gaps[0]).toBeGreaterThanOrEqual(400);
    expect(gaps[1]).toBeGreaterThanOrEqual(2_000);
    expect(gaps[1]).toBeGreaterThan(gaps[0]!);

    const failed = await client.status(id);
    expect(failed.status).toBe('failed');
    expect(failed.failure?.stepId).toBe('send');

    broken = false;
    await dlq.replay(entry.seq);
    await waitFor('replayed execution completes', async () => (await client.status(id)).status === 'done');
    expect(await dlq.list({ journeyId: 'one-step' })).toHaveLength(0);
    expect(attempts.filter((a) => a.key === entry.key).map((a) => a.attempt)).toEqual([1, 2, 3, 1]);
  });

  it('dlq - critical executions retry faster, and a non-retryable failure goes straight to the DLQ', async () => {
    broken = true;
    const today = new Date().toISOString().slice(0, 10);
    const id = await client.start({ supplierId: 'acme', clientId: 'c2', journeyId: 'one-step', weddingDate: today, timeZone: 'UTC' });
    const dlq = await client.dlq();
    const entry = await waitFor('critical entry', async () => (await dlq.list({ supplierId: 'acme' })).find((e) => e.executionId === id));
    expect(entry.tier).toBe('critical');
    const mine = attempts.filter((a) => a.key === entry.key);
    expect(mine).toHaveLength(3);
    expect(mine[2]!.at - mine[0]!.at).toBeLessThan(1_500); // 100 ms + 200 ms (±20 %) vs 3 s for other tiers
    await dlq.discard(entry.seq);
    expect((await dlq.list({ supplierId: 'acme' })).find((e) => e.executionId === id)).toBeUndefined();

    runtime.actions.register('email.send', async () => {
      throw new ActionError('mailbox does not exist', { retryable: false });
    });
    const id2 = await client.start({ supplierId: 'acme', clientId: 'c3', journeyId: 'one-step', weddingDate: '2030-06-01', timeZone: 'UTC' });
    const e2 = await waitFor('non-retryable entry', async () => (await dlq.list({ error: 'mailbox' })).find((e) => e.executionId === id2));
    expect(e2.attempts).toBe(1);
  });
});

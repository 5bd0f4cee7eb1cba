import { afterAll, describe, expect, it } from 'vitest';
import type { NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { startRuntime, type Runtime } from '../runtime/runtime.ts';
import { JourneyClient } from '../runtime/client.ts';
import { ActionError } from '../runtime/errors.ts';
import type { ActionInvocation } from '../runtime/engine/actions.ts';
import { useNats, uniqueName, waitFor } from './harness/nats.ts';
import { oneStep, weddingInDays } from './fixtures.ts';

let nc: NatsConnection;
useNats((_server, c) => (nc = c));
const runtimes: Runtime[] = [];
afterAll(async () => {
  await Promise.all(runtimes.map((r) => r.stop()));
});

/** The tier defaults scaled down (×0.1) so the tests run in seconds; the shape is the default one. */
const RETRY = {
  critical: { attempts: 3, baseMs: 100, factor: 2, jitter: 0.2 },
  default: { attempts: 3, baseMs: 500, factor: 5, jitter: 0.2 },
};
type Policy = (typeof RETRY)['default'];

/** The soonest retry `n` (1 = the first retry) may come after the attempt before it: its backoff with all jitter taken off. */
const earliest = (p: Policy, n: number): number => p.baseMs * p.factor ** (n - 1) * (1 - p.jitter);

/** A runtime of its own (unique prefix, `one-step` deployed) whose `email.send` fails while `broken`, recording each call. */
async function failingRuntime(): Promise<{ runtime: Runtime; client: JourneyClient; calls(key: string): { attempt: number; at: number }[]; mend(): void }> {
  const prefix = uniqueName('d');
  const attempts: { key: string; attempt: number; at: number }[] = [];
  let broken = true;
  const runtime = await startRuntime({
    nc,
    prefix,
    logger: pino({ level: 'silent' }),
    retry: RETRY,
    timerSlotMs: 1_000,
    handlers: {
      'email.send': async (inv: ActionInvocation) => {
        attempts.push({ key: inv.key, attempt: inv.attempt, at: Date.now() });
        if (broken) throw new Error('SMTP 451 temporary failure');
      },
    },
  });
  runtimes.push(runtime);
  await runtime.definitions.deploy(oneStep);
  return {
    runtime,
    client: new JourneyClient(nc, prefix),
    calls: (key) => attempts.filter((a) => a.key === key),
    mend: () => (broken = false),
  };
}

describe('retries and dead-letter queue', () => {
  it('dlq - an always-failing action is tried 3 times with backoff, dead-lettered, and replay completes it once fixed', async () => {
    const { client, calls, mend } = await failingRuntime();
    const id = await client.start({ supplierId: 'acme', clientId: 'c1', journeyId: 'one-step', weddingDate: weddingInDays(365, 'Europe/London'), timeZone: 'Europe/London' });
    const dlq = await client.dlq();
    const entries = await waitFor('a dead-letter entry', async () => {
      const list = await dlq.list({ journeyId: 'one-step' });
      return list.length > 0 ? list : undefined;
    });
    expect(entries).toHaveLength(1);
    const entry = entries[0]!;
    expect(entry).toMatchObject({ executionId: id, stepId: 'send', attempts: 3, action: 'email.send', tier: 'low' });
    expect(entry.error).toContain('SMTP 451');

    const mine = calls(entry.key);
    expect(mine.map((a) => a.attempt)).toEqual([1, 2, 3]);
    // Low tier: 500 ms then 2500 ms, each within ±20 % jitter. No retry before its backoff; the second waits 5× longer,
    // beyond anything the first retry's jitter allows (600 ms).
    expect(mine[1]!.at - mine[0]!.at, 'first retry before its backoff').toBeGreaterThanOrEqual(earliest(RETRY.default, 1));
    expect(mine[2]!.at - mine[1]!.at, 'second retry before its backoff').toBeGreaterThanOrEqual(earliest(RETRY.default, 2));

    const failed = await client.status(id);
    expect(failed.status).toBe('failed');
    expect(failed.failure?.stepId).toBe('send');

    mend();
    await dlq.replay(entry.seq);
    await waitFor('replayed execution completes', async () => (await client.status(id)).status === 'done');
    expect(await dlq.list({ journeyId: 'one-step' })).toHaveLength(0);
    // Attempt numbers go on after a replay (a late answer to an old attempt can never pass for the replay's).
    expect(calls(entry.key).map((a) => a.attempt)).toEqual([1, 2, 3, 4]);
  });

  it('dlq - critical executions retry faster, and a non-retryable failure goes straight to the DLQ', async () => {
    const { runtime, client, calls } = await failingRuntime();
    // Started together: a wedding tomorrow (critical, and still critical if midnight passes meanwhile) and one a year out.
    const [critical, low] = await Promise.all([
      client.start({ supplierId: 'acme', clientId: 'c2', journeyId: 'one-step', weddingDate: weddingInDays(1), timeZone: 'UTC' }),
      client.start({ supplierId: 'acme', clientId: 'c3', journeyId: 'one-step', weddingDate: weddingInDays(365), timeZone: 'UTC' }),
    ]);
    const dlq = await client.dlq();
    const entries = await waitFor('both dead-lettered', async () => {
      const list = await dlq.list({ supplierId: 'acme' });
      return list.length === 2 ? list : undefined;
    });
    const entry = entries.find((e) => e.executionId === critical)!;
    expect(entry.tier).toBe('critical');
    expect(entries.find((e) => e.executionId === low)?.tier).toBe('low');
    const mine = calls(entry.key);
    const other = calls(entries.find((e) => e.executionId === low)!.key);
    expect(mine.map((a) => a.attempt)).toEqual([1, 2, 3]);
    expect(other.map((a) => a.attempt)).toEqual([1, 2, 3]);
    // Each tier's retries keep to its own backoff: critical 100 ms then 200 ms (±20 %).
    expect(mine[1]!.at - mine[0]!.at, 'first critical retry before its backoff').toBeGreaterThanOrEqual(earliest(RETRY.critical, 1));
    expect(mine[2]!.at - mine[1]!.at, 'second critical retry before its backoff').toBeGreaterThanOrEqual(earliest(RETRY.critical, 2));
    // Faster: the critical one used all three attempts (about 300 ms) before the low one's third came (2.4 s or more
    // after its first), under whatever load both ran.
    expect(mine[2]!.at).toBeLessThan(other[2]!.at);
    await dlq.discard(entry.seq);
    expect((await dlq.list({ supplierId: 'acme' })).find((e) => e.executionId === critical)).toBeUndefined();

    runtime.actions.register('email.send', async () => {
      throw new ActionError('mailbox does not exist', { retryable: false });
    });
    const id = await client.start({ supplierId: 'acme', clientId: 'c4', journeyId: 'one-step', weddingDate: weddingInDays(365), timeZone: 'UTC' });
    const e = await waitFor('non-retryable entry', async () => (await dlq.list({ error: 'mailbox' })).find((x) => x.executionId === id));
    expect(e.attempts).toBe(1);
  });
});

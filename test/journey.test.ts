import { describe, expect, it } from 'vitest';
import type { NatsConnection } from '@nats-io/transport-node';
import { createTestKit, type TestKit } from '../runtime/testkit.ts';
import type { ActionInvocation } from '../runtime/engine/actions.ts';
import { executionIdOf } from '../runtime/engine/execution-record.ts';
import { pickVariant } from '../actors/execution-state.ts';
import { useNats, uniqueName } from './harness/nats.ts';
import { everyStepKind } from './fixtures.ts';

let nc: NatsConnection;
useNats((_server, c) => (nc = c));


async function kitAt(iso: string): Promise<{ kit: TestKit; calls: ActionInvocation[] }> {
  const calls: ActionInvocation[] = [];
  const record = async (inv: ActionInvocation): Promise<void> => {
    calls.push(inv);
  };
  const kit = await createTestKit({ nc, prefix: uniqueName('j'), now: new Date(iso), handlers: { 'email.send': record, 'task.create': record } });
  await kit.deploy(everyStepKind);
  return { kit, calls };
}

const templates = (calls: ActionInvocation[]): unknown[] => calls.map((c) => c.params['template'] ?? c.action);

describe('journey - every step kind', () => {
  it('journey - completes along the right branch, with a moved wedding re-timing its wait and tier', async () => {
    const { kit, calls } = await kitAt('2027-01-10T12:00:00Z');
    const id = await kit.start({ supplierId: 'sup1', clientId: 'c1', journeyId: 'every-step', weddingDate: '2027-06-12', timeZone: 'Europe/London' });
    expect(templates(calls)).toEqual(['welcome']);
    let s = await kit.status(id);
    expect(s.state).toBe('sixWeeks');
    // 42 days before 12 June at 09:00 London (BST, UTC+1) = 1 May 08:00Z
    expect(s.dueAt).toBe('2027-05-01T08:00:00.000Z');

    await kit.advance(new Date('2027-05-01T07:59:00Z').getTime() - kit.clock.now());
    expect(templates(calls)).toEqual(['welcome']);
    await kit.advance(60_000);
    expect(templates(calls)).toEqual(['welcome', 'questionnaire']);

    await kit.client.event({ executionId: id, name: 'form.submitted', data: { guestCount: 150 } });
    await kit.settle();
    expect(templates(calls)).toEqual(['welcome', 'questionnaire', 'task.create']);
    s = await kit.status(id);
    expect(s.state).toBe('dayAfter');
    expect(s.dueAt).toBe('2027-06-13T09:00:00.000Z');

    // The couple move the wedding one week later: the wait anchored to the wedding moves with it.
    await kit.client.event({ executionId: id, name: 'wedding.rescheduled', data: { weddingDate: '2027-06-19' } });
    await kit.settle();
    s = await kit.status(id);
    expect(s.weddingDate).toBe('2027-06-19');
    expect(s.dueAt).toBe('2027-06-20T09:00:00.000Z');

    await kit.advance(new Date('2027-06-14T00:00:00Z').getTime() - kit.clock.now());
    expect(templates(calls)).toHaveLength(3); // the old due time passed: nothing fired
    await kit.advance(new Date('2027-06-20T09:00:00Z').getTime() - kit.clock.now());
    expect(templates(calls).at(-1)).toBe('thanks');
    expect(calls.at(-1)!.tier).toBe('low'); // the day after the wedding: passed, low tier
    await kit.advance('P14D');
    expect(templates(calls)).toEqual(['welcome', 'questionnaire', 'task.create', 'thanks', 'review']);
    s = await kit.status(id);
    expect(s.status).toBe('done');
    expect(s.state).toBe('completed');
    await kit.stop();
  });

  it('journey - a late booking skips the waitUntil per ifPast, and an unanswered form sends a reminder', async () => {
    const { kit, calls } = await kitAt('2027-05-20T12:00:00Z');
    const id = await kit.start({ supplierId: 'sup1', clientId: 'late', journeyId: 'every-step', weddingDate: '2027-06-12', timeZone: 'Europe/London' });
    const s = await kit.status(id);
    expect(s.state).toBe('dayAfter');
    expect(templates(calls)).toEqual(['welcome']);
    await kit.stop();

    const other = await kitAt('2027-01-10T12:00:00Z');
    const id2 = await other.kit.start({ supplierId: 'sup1', clientId: 'slow', journeyId: 'every-step', weddingDate: '2027-06-12', timeZone: 'Europe/London', data: { guestCount: 40 } });
    await other.kit.advance('P120D');
    await other.kit.advance('P7D');
    expect(templates(other.calls)).toEqual(['welcome', 'questionnaire', 'reminder']);
    expect((await other.kit.status(id2)).state).toBe('dayAfter'); // 40 guests: default branch
    await other.kit.stop();
  });

  it('journey - a moved wedding raises the tier of the next step', async () => {
    const { kit, calls } = await kitAt('2027-01-10T12:00:00Z');
    const id = await kit.start({ supplierId: 'sup1', clientId: 'move', journeyId: 'every-step', weddingDate: '2027-06-12', timeZone: 'America/New_York' });
    await kit.advance('P120D');
    expect(calls.map((c) => [c.params['template'], c.tier])).toEqual([['welcome', 'low'], ['questionnaire', 'low']]);
    // The wedding moves to the day after tomorrow (local): the next step runs in the high tier.
    await kit.client.event({ executionId: id, name: 'wedding.rescheduled', data: { weddingDate: '2027-05-12' } });
    await kit.client.event({ executionId: id, name: 'form.submitted', data: { guestCount: 150 } });
    await kit.settle();
    expect(calls.at(-1)!.action).toBe('task.create');
    expect(calls.at(-1)!.tier).toBe('high');
    expect((await kit.status(id)).dueAt).toBe('2027-05-13T14:00:00.000Z'); // day after, 10:00 New York (EDT)
    await kit.stop();
  });

  it('journey - exit events end it', async () => {
    const { kit } = await kitAt('2027-01-10T12:00:00Z');
    const id = await kit.start({ supplierId: 'sup1', clientId: 'exit', journeyId: 'every-step', weddingDate: '2027-06-12', timeZone: 'Europe/London' });
    await kit.client.event({ executionId: id, name: 'booking.cancelled' });
    await kit.settle();
    const s = await kit.status(id);
    expect(s.status).toBe('done');
    expect(s.state).toBe('exited');
    await kit.stop();
  });

  it('journey - a split is deterministic per execution: the same cohort on every run', async () => {
    // The same twenty executions on two runtimes with their own streams and buckets. Twenty, so that agreement by chance
    // (2^-20 for a coin toss) cannot pass for determinism; the ids are fixed, so which cohorts appear is fixed too.
    const cohorts = async (): Promise<Map<string, string | undefined>> => {
      const { kit } = await kitAt('2027-01-10T12:00:00Z');
      try {
        const out = new Map<string, string | undefined>();
        for (let i = 0; i < 20; i++) {
          const id = await kit.start({ supplierId: 'sup1', clientId: `split${i}`, journeyId: 'every-step', weddingDate: '2027-06-12', timeZone: 'Europe/London' });
          out.set(id, (await kit.client.record(id))!.snap.context.cohorts['cohort']);
        }
        return out;
      } finally {
        await kit.stop();
      }
    };
    const first = await cohorts();
    expect(await cohorts()).toEqual(first);
    expect(new Set(first.values())).toEqual(new Set(['A', 'B']));
    // ...and it is the pure split, whose spread over the weights is tested below.
    for (const [id, cohort] of first) expect(cohort).toBe(pickVariant(id, 'cohort', everyStepKind.steps.cohort.variants).name);
  });

  it('journey - a split divides ten thousand executions near its weights', () => {
    const variants = [
      { name: 'A', weight: 70 },
      { name: 'B', weight: 20 },
      { name: 'C', weight: 10 },
    ];
    const n = 10_000;
    const counts = new Map<string, number>();
    for (let i = 0; i < n; i++) {
      const { name } = pickVariant(executionIdOf({ supplierId: 'sup1', clientId: `c${i}`, journeyId: 'every-step' }), 'cohort', variants);
      counts.set(name, (counts.get(name) ?? 0) + 1);
    }
    // A fair split of 10,000 has a standard deviation of at most 0.5 points per share: ±3 points is six of them.
    for (const v of variants) expect(Math.abs((counts.get(v.name) ?? 0) / n - v.weight / 100), v.name).toBeLessThan(0.03);
  });

  it('journey - pause and resume a whole supplier, cancel one execution', async () => {
    const { kit, calls } = await kitAt('2027-01-10T12:00:00Z');
    const ids: string[] = [];
    for (const c of ['p1', 'p2', 'p3']) {
      ids.push(await kit.start({ supplierId: 'paused-sup', clientId: c, journeyId: 'every-step', weddingDate: '2027-06-12', timeZone: 'Europe/London' }));
    }
    const other = await kit.start({ supplierId: 'busy-sup', clientId: 'o1', journeyId: 'every-step', weddingDate: '2027-06-12', timeZone: 'Europe/London' });
    expect(await kit.client.control('pause', { supplierId: 'paused-sup' })).toHaveLength(3);
    await kit.settle();
    expect((await kit.status(ids[0]!)).status).toBe('paused');
    await kit.advance('P120D');
    const questionnaires = () => calls.filter((c) => c.params['template'] === 'questionnaire').map((c) => c.executionId);
    expect(questionnaires()).toEqual([other]);

    await kit.client.control('cancel', { executionId: ids[2]! });
    await kit.client.control('resume', { supplierId: 'paused-sup' });
    await kit.settle();
    expect(questionnaires().sort()).toEqual([other, ids[0]!, ids[1]!].sort());
    expect((await kit.status(ids[2]!)).state).toBe('cancelled');
    await kit.stop();
  });

  it('journey - a three-year wait is one stored timer and fires on the day', async () => {
    const calls: ActionInvocation[] = [];
    const kit = await createTestKit({ nc, prefix: uniqueName('j'), now: new Date('2027-01-10T12:00:00Z'), handlers: { 'email.send': async (i) => void calls.push(i) } });
    await kit.deploy({
      id: 'anniversary',
      version: 1,
      name: 'Third anniversary',
      vendorType: 'photographer',
      trigger: { event: 'booking.created' },
      start: 'wait',
      steps: {
        wait: { type: 'wait', duration: 'P3Y', next: 'card' },
        card: { type: 'action', action: 'email.send', params: { template: 'anniversary' }, next: 'done' },
        done: { type: 'end' },
      },
    });
    const id = await kit.start({ supplierId: 's', clientId: 'c', journeyId: 'anniversary', timeZone: 'Pacific/Auckland' });
    const timers = await kit.runtime.jsm.streams.info(kit.runtime.names.streams.timers);
    expect(timers.state.messages).toBe(1);
    expect((await kit.status(id)).dueAt).toBe('2030-01-10T12:00:00.000Z');
    await kit.advance(new Date('2030-01-10T11:59:00Z').getTime() - kit.clock.now());
    expect(calls).toHaveLength(0);
    await kit.advance(60_000);
    expect(calls.map((c) => c.params['template'])).toEqual(['anniversary']);
    await kit.stop();
  });
});

import { afterEach, describe, expect, it } from 'vitest';
import type { NatsConnection } from '@nats-io/transport-node';
import { createTestKit } from '../runtime/testkit.ts';
import { useNats, uniqueName, waitFor } from './harness/nats.ts';
import { readAll } from './harness/streams.ts';

let nc: NatsConnection;
useNats((_server, c) => (nc = c));
/** Undone after each test, last first, even when an assertion failed: no runtime or subscription outlives its test. */
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const undo of cleanups.splice(0).reverse()) await undo();
});

const remote = {
  id: 'remote',
  version: 1,
  name: 'Remote actions',
  vendorType: 'planner',
  trigger: { event: 'booking.created' },
  start: 'charge',
  steps: {
    charge: { type: 'action', action: 'payment.capture', params: { amount: 500 }, next: 'notify' },
    notify: { type: 'action', action: 'sms.send', params: { text: 'paid' }, next: 'done' },
    done: { type: 'end' },
  },
};

describe('action handlers', () => {
  it('actions - request/reply handlers answer with a result; other actions go out as commands keyed for dedup', async () => {
    const prefix = uniqueName('a');
    const requests: { key: string | undefined; body: { params: { amount: number } } }[] = [];
    const sub = nc.subscribe('payments.capture', {
      callback: (_err, msg) => {
        requests.push({ key: msg.headers?.get('Jrn-Idempotency-Key'), body: msg.json() });
        msg.respond(JSON.stringify({ ok: true, data: { receipt: 'r-1' } }));
      },
    });
    cleanups.push(() => sub.unsubscribe());
    const actionConfig = { actions: { 'payment.capture': { mode: 'request', subject: 'payments.capture' }, 'sms.send': { mode: 'fire-and-forget' } } } as const;
    const kit = await createTestKit({ nc, prefix, now: Date.now(), actionConfig });
    cleanups.push(() => kit.stop());
    await kit.deploy(remote);
    const id = await kit.start({ supplierId: 'p', clientId: 'c', journeyId: 'remote', client: { name: 'Alex', phone: '+44 7700 900000' } });
    await waitFor('done', async () => (await kit.status(id)).status === 'done');
    expect(requests).toEqual([{ key: `${id}.charge.1`, body: expect.objectContaining({ params: { amount: 500 } }) }]);
    const rec = await kit.client.record(id);
    expect(rec!.snap.context.data['charge']).toEqual({ receipt: 'r-1' });

    const out = await readAll<{ action: string; key: string; client: { phone: string } }>(nc, kit.runtime.names.streams.actions);
    expect(out).toHaveLength(1);
    expect(out[0]!.subject).toBe(`${prefix}.actions.sms.send`);
    expect(out[0]!.msgId).toBe(`${id}.notify.1`);
    expect(out[0]!.data.client.phone).toBe('+44 7700 900000');
  });

  it('actions - a remote failure marked not retryable dead-letters at once', async () => {
    const sub = nc.subscribe('payments.decline', { callback: (_e, msg) => void msg.respond(JSON.stringify({ ok: false, error: { code: 'CARD_DECLINED', message: 'card declined' }, retryable: false })) });
    cleanups.push(() => sub.unsubscribe());
    const actionConfig = { actions: { 'payment.capture': { mode: 'request', subject: 'payments.decline' } } } as const;
    const kit = await createTestKit({ nc, prefix: uniqueName('a'), now: Date.now(), actionConfig });
    cleanups.push(() => kit.stop());
    await kit.deploy(remote);
    const id = await kit.start({ supplierId: 'p', clientId: 'd', journeyId: 'remote' });
    const s = await kit.status(id);
    expect(s.status).toBe('failed');
    expect(s.failure).toMatchObject({ stepId: 'charge', attempts: 1 });
    expect((await (await kit.client.dlq()).list())[0]!.error).toBe('action payment.capture failed: CARD_DECLINED: card declined');
  });
});

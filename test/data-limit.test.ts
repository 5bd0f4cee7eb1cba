/**
 * Event data merged into an execution is bounded (R30): an event that would grow the execution's data past
 * MAX_DATA_BYTES is refused with DATA_TOO_LARGE — answered on `api.event`, recorded on `<p>.rejects.event` on every path —
 * and the execution stays as it was and writable. Before, twenty 60 KB events made a record no write could store.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { startRuntime } from '../runtime/runtime.ts';
import { JourneyClient } from '../runtime/client.ts';
import { encode } from '../runtime/codec.ts';
import { MAX_DATA_BYTES } from '../runtime/engine/execution-record.ts';
import { useNats, uniqueName, waitFor } from './harness/nats.ts';
import { readAll } from './harness/streams.ts';

let nc: NatsConnection;
useNats((_, c) => (nc = c));
const cleanup: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const f of cleanup.reverse()) await f().catch(() => undefined);
});

const waits = {
  id: 'data-limit',
  version: 1,
  name: 'Waits a month',
  vendorType: 'planner',
  trigger: { event: 'booking.created' },
  start: 'hold',
  steps: { hold: { type: 'wait', duration: 'P30D', next: 'done' }, done: { type: 'end' } },
};

/** About 60 KB of data under one key: within a command's 64 KiB. */
const chunk = (key: string): Record<string, unknown> => ({ [key]: 'x'.repeat(60_000) });

describe('event data bound', () => {
  it('data - events fill the data up to the bound; the next is refused on every path and the execution stays writable', async () => {
    const prefix = uniqueName('dl');
    const rt = await startRuntime({ nc, prefix, logger: pino({ level: 'silent' }), monitor: false, supervisor: false });
    cleanup.push(() => rt.stop());
    await rt.definitions.deploy(waits);
    const client = new JourneyClient(nc, prefix);
    const executionId = await client.start({ supplierId: 'studio-9', clientId: 'c1', journeyId: waits.id });
    await waitFor('the execution stored', async () => (await client.record(executionId))?.snap.value === 'hold', 10_000, 50);

    // Four chunks fit (about 240 KB of the 256 KiB); the fifth would not.
    const fits = Math.floor(MAX_DATA_BYTES / 60_010);
    expect(fits).toBe(4);
    for (let i = 0; i < fits; i++) await client.event({ executionId, name: 'notes.added', data: chunk(`k${i}`) });
    await waitFor('the four chunks merged', async () => Object.keys((await client.record(executionId))?.snap.context.data ?? {}).length === fits, 10_000, 50);

    // Request path: answered.
    await expect(client.event({ executionId, name: 'notes.added', data: chunk('k4') })).rejects.toMatchObject({ code: 'DATA_TOO_LARGE' });
    // Stream path: refused by the router, recorded.
    await jetstream(nc).publish(rt.names.cmd('event'), JSON.stringify({ executionId, name: 'notes.added', data: chunk('k5') }));
    // Work path (what two events admitted side by side would meet): refused by the executor, recorded.
    await jetstream(nc).publish(rt.names.work('low', 'studio-9', executionId), encode({ k: 'event', name: 'notes.added', data: chunk('k6') }));

    const rejects = await waitFor(
      'three refusals recorded',
      async () => {
        const all = await readAll<{ code: string; subject: string }>(nc, rt.names.streams.rejects);
        return all.length >= 3 && all;
      },
      15_000,
      100,
    );
    expect(rejects.map((r) => [r.subject, r.data.code]).sort()).toEqual(
      [
        [rt.names.rejects('event'), 'DATA_TOO_LARGE'],
        [rt.names.rejects('event'), 'DATA_TOO_LARGE'],
        [rt.names.rejects('event'), 'DATA_TOO_LARGE'],
      ],
    );
    expect(rejects.map((r) => r.data.subject).sort()).toEqual([rt.names.api('event'), rt.names.cmd('event'), rt.names.work('low', 'studio-9', executionId)].sort());

    // Nothing of the refused events is in the execution, and it still takes events (a key replaced does not grow it).
    await client.event({ executionId, name: 'notes.added', data: { k0: 'short now' } });
    await waitFor('the small event applied', async () => (await client.record(executionId))?.snap.context.data['k0'] === 'short now', 10_000, 50);
    const data = (await client.record(executionId))!.snap.context.data;
    expect(Object.keys(data).sort()).toEqual(['k0', 'k1', 'k2', 'k3']);
    expect((await client.status(executionId)).status).toBe('active');
  });
});

/**
 * Execution records read back from KV are checked before use: a corrupt one fails with RECORD_CORRUPT and the path at
 * fault, so the executor retries it and then dead-letters it with that reason, instead of failing with a TypeError deep
 * inside (and the router answers an event for it with the code, not INTERNAL).
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { encode } from '../runtime/codec.ts';
import { CorruptRecordError, decodeRecord, type ExecutionRecord } from '../runtime/engine/execution-record.ts';
import { startRuntime, type Runtime } from '../runtime/runtime.ts';
import type { Work } from '../runtime/engine/work.ts';
import { useNats, uniqueName, waitFor } from './harness/nats.ts';
import { readAll } from './harness/streams.ts';

let nc: NatsConnection;
useNats((_server, c) => (nc = c));
const runtimes: Runtime[] = [];
afterAll(async () => {
  await Promise.all(runtimes.map((r) => r.stop()));
});

/** Waits for a form, for a long time: the execution sits in KV with a pending event and its timer. */
const awaitsForm = {
  id: 'awaits-form',
  version: 1,
  name: 'Awaits a form',
  vendorType: 'planner',
  trigger: { event: 'booking.created' },
  start: 'form',
  steps: {
    form: { type: 'waitForEvent', event: 'form.submitted', timeout: 'P30D', onEvent: 'done', onTimeout: 'done' },
    done: { type: 'end' },
  },
} as const;

async function runtimeWithExecution(): Promise<{ rt: Runtime; id: string; stored: ExecutionRecord }> {
  const rt = await startRuntime({
    nc,
    prefix: uniqueName('rec'),
    logger: pino({ level: 'silent' }),
    monitor: false,
    supervisor: false,
  });
  runtimes.push(rt);
  await rt.definitions.deploy(awaitsForm);
  const reply = (
    await nc.request(
      rt.names.api('start'),
      JSON.stringify({ supplierId: 's', clientId: 'c', journeyId: 'awaits-form', client: { name: 'A & B' } }),
      { timeout: 5_000 },
    )
  ).json<{ executionIds: string[] }>();
  const id = reply.executionIds[0]!;
  const stored = await waitFor('the execution waiting for its form', async () => {
    const e = await rt.topology.executions.get(id);
    const r = e && e.value.length > 0 ? decodeRecord(e.value) : undefined;
    return r?.snap.context.pending?.kind === 'event' ? r : undefined;
  });
  return { rt, id, stored };
}

const corruptions: [string, (r: ExecutionRecord) => unknown, RegExp][] = [
  ['no context', (r) => ({ ...r, snap: { value: r.snap.value } }), /\$\.snap\.context/],
  [
    'a number for the supplier',
    (r) => ({ ...r, snap: { ...r.snap, context: { ...r.snap.context, supplierId: 42 } } }),
    /\$\.snap\.context\.supplierId/,
  ],
  [
    'history not a list',
    (r) => ({ ...r, snap: { ...r.snap, context: { ...r.snap.context, history: 'lost' } } }),
    /\$\.snap\.context\.history/,
  ],
  ['an unknown status', (r) => ({ ...r, status: 'zombie' }), /\$\.status/],
  ['a definition without version', (r) => ({ ...r, def: { id: r.def.id } }), /\$\.def\.version/],
  ['another format version', (r) => ({ ...r, v: 2 }), /\$\.v/],
  ['null', () => null, /\$: null, not a record/],
];

describe('execution records', () => {
  it('execution record - what the executor writes decodes; corrupt values fail with RECORD_CORRUPT and the path at fault', async () => {
    const { stored } = await runtimeWithExecution();
    expect(stored).toMatchObject({
      v: 1,
      status: 'active',
      def: { id: 'awaits-form', version: 1 },
      pii: { kid: 'plain' },
    });
    // A wait anchored to a missing date is due at -Infinity: a valid record, not a corrupt one.
    const pending = stored.snap.context.pending as Extract<
      NonNullable<ExecutionRecord['snap']['context']['pending']>,
      { kind: 'event' }
    >;
    const minusInfinity = {
      ...stored,
      snap: {
        ...stored.snap,
        context: { ...stored.snap.context, pending: { ...pending, timer: { ...pending.timer, dueAt: -Infinity } } },
      },
    };
    expect(decodeRecord(encode(minusInfinity)).snap.context.pending).toMatchObject({ timer: { dueAt: -Infinity } });

    for (const [what, corrupt, path] of corruptions) {
      const attempt = () => decodeRecord(encode(corrupt(stored)));
      expect(attempt, what).toThrow(CorruptRecordError);
      expect(attempt, what).toThrow(path);
      expect(attempt, what).toThrow(expect.objectContaining({ code: 'RECORD_CORRUPT', retryable: false }));
    }
    for (const bytes of [
      new Uint8Array([0xff, 0xfe]),
      new Uint8Array([0x92, 1]),
      new TextEncoder().encode('{"v":1}'),
    ]) {
      expect(() => decodeRecord(bytes)).toThrow(expect.objectContaining({ code: 'RECORD_CORRUPT' }));
    }
  });

  it('execution record - a corrupt record in KV is answered RECORD_CORRUPT on api.event and dead-lettered with its reason after five tries', async () => {
    const { rt, id, stored } = await runtimeWithExecution();
    await rt.topology.executions.put(id, encode({ ...stored, snap: { value: stored.snap.value } }));

    const reply = (
      await nc.request(rt.names.api('event'), JSON.stringify({ executionId: id, name: 'form.submitted' }), {
        timeout: 5_000,
      })
    ).json<{ ok: boolean; error?: { code: string; message: string } }>();
    expect(reply).toMatchObject({ ok: false, error: { code: 'RECORD_CORRUPT' } });
    expect(reply.error!.message).toMatch(/stored execution record is corrupt: \$\.snap\.context/);

    // On the command stream it is recorded and acknowledged at once: no redelivery can mend a corrupt record.
    await rt.js.publish(rt.names.cmd('event'), JSON.stringify({ executionId: id, name: 'form.submitted' }));
    const recorded = await waitFor('the stream command recorded', async () => {
      const all = await readAll<{ code: string; reason: string }>(nc, rt.names.streams.rejects);
      return all.find((r) => r.subject === rt.names.rejects('event'));
    });
    expect(recorded.data).toMatchObject({
      code: 'RECORD_CORRUPT',
      reason: expect.stringMatching(/corrupt: \$\.snap\.context/),
    });
    const router = await waitFor('the command acknowledged', async () => {
      const ci = await rt.jsm.consumers.info(rt.names.streams.cmd, rt.names.routerConsumer);
      return ci.num_pending + ci.num_ack_pending === 0 ? ci : undefined;
    });
    expect(router.num_redelivered).toBe(0);

    // The router cannot route it, so the event goes straight to the execution's work subject, as a timer would.
    const work: Work = { k: 'event', name: 'form.submitted' };
    await rt.js.publish(rt.names.work('low', 's', id), encode(work));
    const entry = await waitFor(
      'the dead letter',
      async () => (await rt.dlq.list()).find((e) => e.executionId === id),
      20_000,
      200,
    );
    // At the first attempt: no retry can mend a corrupt record.
    expect(entry.error).toMatch(/^cannot be processed: stored execution record is corrupt: \$\.snap\.context/);
    expect(entry.attempts).toBe(1);
  });
});

/**
 * The start intake (runtime/engine/intake.ts): starts filed by the client straight into their tier's work stream, with no
 * router hop. They run once each, a misfiled one is moved to its own tier, and whatever a rogue publishes there is
 * refused, recorded and acknowledged while good starts go on.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { startRuntime, type Runtime } from '../runtime/runtime.ts';
import { JourneyClient } from '../runtime/client.ts';
import { RejectedError } from '../runtime/errors.ts';
import { executionIdOf } from '../runtime/engine/execution-record.ts';
import type { ActionInvocation } from '../runtime/engine/actions.ts';
import type { StartCommand } from '../schemas/commands.ts';
import { useNats, uniqueName, waitFor } from './harness/nats.ts';
import { readAll, streamCount } from './harness/streams.ts';

let nc: NatsConnection;
useNats((_, c) => (nc = c));
const cleanup: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const f of cleanup.reverse()) await f().catch(() => undefined);
});

const oneStep = {
  id: 'intake-one',
  version: 1,
  name: 'One email',
  vendorType: 'photographer',
  trigger: { event: 'booking.created' },
  start: 'send',
  steps: { send: { type: 'action', action: 'email.send', next: 'done' }, done: { type: 'end' } },
};

/** A runtime on a fresh prefix counting the email attempts per execution. */
async function runtimeWithCounts(): Promise<{ rt: Runtime; client: JourneyClient; sent: Map<string, number>; tiers: Map<string, string> }> {
  const prefix = uniqueName('in');
  const sent = new Map<string, number>();
  const tiers = new Map<string, string>();
  const rt = await startRuntime({
    nc,
    prefix,
    logger: pino({ level: 'silent' }),
    monitor: false,
    supervisor: false,
    handlers: {
      'email.send': async (inv: ActionInvocation) => {
        sent.set(inv.executionId, (sent.get(inv.executionId) ?? 0) + 1);
        tiers.set(inv.executionId, inv.tier);
      },
    },
  });
  cleanup.push(() => rt.stop());
  await rt.definitions.deploy(oneStep);
  return { rt, client: new JourneyClient(nc, prefix), sent, tiers };
}

/** A local date `days` from now (UTC), so the tier it gives cannot depend on when the test runs. */
function dateIn(days: number): string {
  return new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 10);
}

const start = (clientId: string, extra: Partial<StartCommand> = {}): StartCommand => ({
  supplierId: 'studio-9',
  clientId,
  journeyId: oneStep.id,
  ...extra,
});

interface RejectRecord {
  code: string;
  reason: string;
  subject: string;
}

describe('start intake', () => {
  it('intake - 300 starts filed in one batch, and one twice, each run exactly once; nothing passes through the command stream', async () => {
    const { rt, client, sent } = await runtimeWithCounts();
    const cmds = Array.from({ length: 300 }, (_, i) => start(`c${i}`, i % 3 === 0 ? { weddingDate: dateIn(i % 60) } : {}));
    const ids = await client.publishStarts(cmds);
    expect(ids).toEqual(cmds.map((c) => executionIdOf(c)));
    expect(await client.publishStart(cmds[7]!)).toBe(ids[7]);

    await waitFor('every execution to finish', async () => (await Promise.all(ids.map((id) => client.record(id)))).every((r) => r?.status === 'done'), 25_000, 100);
    await waitFor('the runtime idle', () => rt.idle(), 10_000, 100);
    expect(sent.size).toBe(300);
    expect([...sent.values()].every((n) => n === 1)).toBe(true);
    expect(await streamCount(nc, rt.names.streams.cmd)).toBe(0);
  });

  it('intake - a start filed under another tier is moved to its own and runs there', async () => {
    const { rt, client, tiers } = await runtimeWithCounts();
    // A wedding two years away is low priority whenever the test runs; it is filed as critical.
    const cmd = start('far', { weddingDate: dateIn(730) });
    const id = executionIdOf(cmd);
    await jetstream(nc).publish(rt.names.intake('critical', cmd.supplierId, id), JSON.stringify(cmd), { msgID: `start:${id}` });

    await waitFor('the moved start to finish', async () => (await client.record(id))?.status === 'done', 15_000, 100);
    expect(tiers.get(id)).toBe('low');
    // Delivered once on the critical consumer (where it was filed), and run from the low one.
    expect(rt.dispatcher.handled.critical).toBe(1);
    expect(rt.dispatcher.handled.low).toBe(1);
  });

  it('intake - bad starts are refused by the client before sending, and refused, recorded and acknowledged by the runtime', async () => {
    const { rt, client, sent } = await runtimeWithCounts();
    await expect(client.publishStart({ supplierId: 'studio-9' } as StartCommand)).rejects.toBeInstanceOf(RejectedError);
    await expect(client.publishStarts([start('ok'), start('bad', { timeZone: 'Mars/Olympus' })])).rejects.toThrow(/timeZone/);
    expect(await streamCount(nc, rt.names.streams.work)).toBe(0); // nothing of a batch with a bad start was sent

    const js = jetstream(nc);
    const good = start('good');
    const goodId = executionIdOf(good);
    const other = start('other');
    const unknown = { ...start('unknown'), journeyId: 'not-deployed' };
    const rogue: [string, string | Uint8Array, string][] = [
      [rt.names.intake('low', 'studio-9', executionIdOf(start('x'))), '{}', 'BAD_COMMAND'],
      [rt.names.intake('low', 'studio-9', executionIdOf(start('y'))), new Uint8Array([0xff, 0x00, 0x7b]), 'BAD_JSON'],
      // The subject names one execution, the start is another's.
      [rt.names.intake('low', 'studio-9', goodId), JSON.stringify(other), 'BAD_COMMAND'],
      [rt.names.intake('low', 'studio-9', executionIdOf(unknown)), JSON.stringify(unknown), 'UNKNOWN_JOURNEY'],
      // Flags the runtime sets on its own work (a rate-limit slot already taken) are not part of a start.
      [rt.names.intake('low', 'studio-9', executionIdOf(start('z'))), JSON.stringify({ ...start('z'), reserved: true }), 'BAD_COMMAND'],
      [`${rt.names.prefix}.work.low.studio-9.not-an-id.start`, JSON.stringify(start('w')), 'BAD_COMMAND'],
      [rt.names.intake('low', 'studio-9', executionIdOf(start('big'))), JSON.stringify({ ...start('big'), data: { pad: 'x'.repeat(70_000) } }), 'PAYLOAD_TOO_LARGE'],
    ];
    for (const [subject, data] of rogue) await js.publish(subject, data);
    expect(await client.publishStart(good)).toBe(goodId);

    await waitFor('the good start to finish', async () => (await client.record(goodId))?.status === 'done', 15_000, 100);
    await waitFor('every bad start recorded', async () => (await streamCount(nc, rt.names.streams.rejects)) >= rogue.length, 10_000, 100);
    await waitFor('the runtime idle', () => rt.idle(), 10_000, 100);
    // Handled concurrently, so recorded in any order: one record each, on the rejects subject for starts.
    const records = await readAll<RejectRecord>(nc, rt.names.streams.rejects);
    const seen = records.map((r) => `${r.subject} ${r.data.subject} ${r.data.code}`).sort();
    expect(seen).toEqual(rogue.map(([subject, , code]) => `${rt.names.rejects('start')} ${subject} ${code}`).sort());
    expect(records.find((r) => r.data.subject === rogue[2]![0])?.data.reason).toMatch(/names execution/);
    expect([...sent.keys()]).toEqual([goodId]);
    expect(await client.record(executionIdOf(other))).toBeUndefined();
  });
});

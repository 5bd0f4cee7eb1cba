import { afterAll, describe, expect, it } from 'vitest';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { JourneyClient } from '../runtime/client.ts';
import { RejectedError } from '../runtime/errors.ts';
import { executionIdOf } from '../runtime/engine/execution-record.ts';
import { useNats, uniqueName, waitFor, type TestServer } from './harness/nats.ts';
import { spawnRuntime, type RuntimeProcess } from './harness/processes.ts';
import { createObservationStream, readAll, streamCount } from './harness/streams.ts';
import { oneStep, weddingInDays } from './fixtures.ts';

let server: TestServer;
let nc: NatsConnection;
useNats((s, c) => ([server, nc] = [s, c]));
const procs: RuntimeProcess[] = [];

afterAll(async () => {
  await Promise.all(procs.map((p) => p.kill('SIGKILL')));
});

const valid = (i: number) => ({ supplierId: 'good', clientId: `c${i}`, journeyId: 'one-step', weddingDate: weddingInDays(500, 'Asia/Kolkata'), timeZone: 'Asia/Kolkata' });
/** The id the runtime must give `valid(i)`: a pure function of supplier, client, journey and `reentryKey ?? ''`. */
const idOf = (i: number): string => executionIdOf({ supplierId: 'good', clientId: `c${i}`, journeyId: 'one-step' });
/**
 * Prototype pollution aimed at `reentryKey`, which the runtime reads as `body.reentryKey ?? ''` for every start: had any
 * payload polluted the runtime process's `Object.prototype`, every later start would get an id other than `idOf`'s.
 * (A pollution check in this test process would prove nothing: the hostile JSON is parsed in the child.)
 */
const POLLUTING = '{"__proto__": {"reentryKey": "polluted"}, "constructor": {"prototype": {"reentryKey": "polluted"}}}';

/** A thousand bad messages of many kinds, each with the subject it is sent to. */
function hostile(prefix: string, i: number): { subject: string; data: Uint8Array | string } {
  const start = `${prefix}.cmd.start`;
  const kinds: (() => { subject: string; data: Uint8Array | string })[] = [
    () => ({ subject: start, data: '{not json' }),
    () => ({ subject: start, data: '' }),
    () => ({ subject: start, data: new Uint8Array([0xff, 0xfe, 0x00, 0x80, i % 256]) }),
    () => ({ subject: start, data: JSON.stringify({ ...valid(i), supplierId: 42 }) }),
    () => ({ subject: start, data: JSON.stringify({ ...valid(i), journeyId: 'no-such-journey' }) }),
    () => ({ subject: start, data: JSON.stringify({ ...valid(i), timeZone: 'Mars/Olympus_Mons' }) }),
    () => ({ subject: start, data: JSON.stringify({ ...valid(i), weddingDate: '2028-02-30' }) }),
    () => ({ subject: start, data: JSON.stringify({ ...valid(i), supplierId: 'a.b.>' }) }),
    () => ({ subject: start, data: JSON.stringify({ ...valid(i), data: { big: 'x'.repeat(70_000) } }) }),
    () => ({ subject: start, data: '{"__proto__": {"reentryKey": "polluted"}, "supplierId": "x"}' }),
    () => ({ subject: start, data: '{"constructor": {"prototype": {"reentryKey": "polluted"}}, "supplierId": "x"}' }),
    () => ({ subject: `${prefix}.cmd.event`, data: `{"executionId": "ex_aaaaaaaaaaaaaaaaaaaaaaaaaa", "name": "form.submitted", "data": ${POLLUTING}}` }),
    () => ({ subject: start, data: '['.repeat(5_000) + ']'.repeat(5_000) }),
    () => ({ subject: start, data: JSON.stringify([valid(i)]) }),
    () => ({ subject: start, data: 'null' }),
    () => ({ subject: `${prefix}.cmd.event`, data: JSON.stringify({ executionId: 'ex_aaaaaaaaaaaaaaaaaaaaaaaaaa', name: 'form.submitted' }) }),
    () => ({ subject: `${prefix}.cmd.event`, data: JSON.stringify({ executionId: '../../etc', name: 'x' }) }),
    () => ({ subject: `${prefix}.cmd.cancel`, data: JSON.stringify({}) }),
    () => ({ subject: `${prefix}.cmd.explode`, data: JSON.stringify(valid(i)) }),
  ];
  return kinds[i % kinds.length]!();
}

describe('inbound validation', () => {
  it('inbound - a thousand hostile messages among valid starts: every valid one completes, every bad one is rejected with a reason', async () => {
    const prefix = uniqueName('b');
    await createObservationStream(nc, `${prefix.toUpperCase()}OBS`, [`${prefix}obs.>`]);
    const proc = await spawnRuntime({ NATS_URL: server.url, JRN_PREFIX: prefix });
    procs.push(proc);
    const client = new JourneyClient(nc, prefix);
    await (await client.definitions()).deploy(oneStep);
    const js = jetstream(nc);
    const BAD = 1_000;
    const GOOD = 200;
    for (let i = 0; i < BAD; i++) {
      const bad = hostile(prefix, i);
      await js.publish(bad.subject, bad.data);
      // Every other valid start carries the polluting keys in its data, which the runtime copies, stores and reads back.
      if (i % 10 === 0) await js.publish(`${prefix}.cmd.start`, JSON.stringify({ ...valid(i / 5), data: JSON.parse(POLLUTING) as unknown }));
      else if (i % 5 === 0) await js.publish(`${prefix}.cmd.start`, JSON.stringify(valid(i / 5)));
    }
    const rejects = `${prefix.toUpperCase()}_REJECTS`;
    const done = () => client.list({ supplierId: 'good', status: 'done' }, 10_000);
    await waitFor('every valid start done', async () => (await done()).length === GOOD, 40_000, 200);
    await waitFor('every bad message recorded', async () => (await streamCount(nc, rejects)) === BAD, 30_000);
    const records = await readAll<{ code: string; reason: string }>(nc, rejects);
    expect(records.every((r) => r.data.reason.length > 0)).toBe(true);
    const codes = new Set(records.map((r) => r.data.code));
    expect([...codes].sort()).toEqual(['BAD_COMMAND', 'BAD_JSON', 'PAYLOAD_TOO_LARGE', 'UNKNOWN_EXECUTION', 'UNKNOWN_JOURNEY']);
    expect(proc.child.exitCode).toBeNull(); // still running
    // Not polluted: every valid start sent among the hostile payloads got the id of its own fields.
    expect((await done()).map((s) => s.executionId).sort()).toEqual(Array.from({ length: GOOD }, (_, i) => idOf(i)).sort());

    // Requests get the reason as a reply, and a valid one still works afterwards.
    await expect(client.start({ ...valid(9_999), timeZone: 'Nowhere/Land' })).rejects.toThrow(RejectedError);
    await expect(client.start({ ...valid(9_999), journeyId: 'nope' })).rejects.toThrow(/not deployed/);
    const id = await client.start(valid(10_000));
    expect(id).toBe(idOf(10_000));
    await waitFor('the last valid start done', async () => (await client.status(id)).status === 'done');
  });

  it('inbound - free JSON nested 10,000 levels deep or with too many keys is refused as INVALID_PAYLOAD on api and cmd, recorded, never retried', async () => {
    const prefix = uniqueName('deep');
    await createObservationStream(nc, `${prefix.toUpperCase()}OBS`, [`${prefix}obs.>`]); // the child's action handler records there
    const proc = await spawnRuntime({ NATS_URL: server.url, JRN_PREFIX: prefix });
    procs.push(proc);
    const client = new JourneyClient(nc, prefix);
    await (await client.definitions()).deploy(oneStep);
    const id = await client.start(valid(1));
    // 10,000 levels are 60 KB, under the 64 KiB limit: before the bound, every copy of it overflowed the stack.
    const deep = '{"a":'.repeat(10_000) + '1' + '}'.repeat(10_000);
    const start = (data: string) => `${JSON.stringify(valid(2)).slice(0, -1)},"data":${data}}`;
    const event = `{"executionId":"${id}","name":"form.submitted","data":${deep}}`;
    const manyKeys = JSON.stringify(Object.fromEntries(Array.from({ length: 1_001 }, (_, i) => [`k${i}`, i])));
    const ask = async (verb: string, body: string) =>
      (await nc.request(`${prefix}.api.${verb}`, body, { timeout: 10_000 })).json<{ ok: boolean; error?: { code: string; message: string } }>();

    const refused: [string, string, string, RegExp][] = [
      ['start', start(deep), 'INVALID_PAYLOAD', /^\$\.data\.a\.a.*nested deeper than 32 levels$/],
      ['start', start(`{"list":${'['.repeat(30_000)}${']'.repeat(30_000)}}`), 'INVALID_PAYLOAD', /deeper than 32/],
      ['start', start(manyKeys), 'INVALID_PAYLOAD', /^\$\.data: more than 1000 keys in total$/],
      ['start', JSON.stringify({ ...valid(2), version: 1e308 }), 'BAD_COMMAND', /\$\.version/],
      ['event', event, 'INVALID_PAYLOAD', /^\$\.data.*deeper than 32/],
    ];
    for (const [verb, body, code, message] of refused) {
      const reply = await ask(verb, body);
      expect(reply, `${verb} ${body.slice(0, 60)}`).toMatchObject({ ok: false, error: { code } });
      expect(reply.error!.message).toMatch(message);
    }
    const js = jetstream(nc);
    await js.publish(`${prefix}.cmd.start`, start(deep));
    await js.publish(`${prefix}.cmd.event`, event);

    const rejects = `${prefix.toUpperCase()}_REJECTS`;
    const records = await waitFor('every refusal recorded', async () => {
      const all = await readAll<{ code: string; subject: string }>(nc, rejects);
      return all.length >= refused.length + 2 ? all : undefined;
    }, 20_000);
    expect(records.map((r) => `${r.data.subject} ${r.data.code}`).sort()).toEqual(
      [...refused.map(([verb, , code]) => `${prefix}.api.${verb} ${code}`), `${prefix}.cmd.start INVALID_PAYLOAD`, `${prefix}.cmd.event INVALID_PAYLOAD`].sort(),
    );
    // Acknowledged, not left to be redelivered until the consumer gives up on it.
    const jsm = await jetstreamManager(nc);
    await waitFor('the command stream drained', async () => {
      const ci = await jsm.consumers.info(`${prefix.toUpperCase()}_CMD`, 'router');
      return ci.num_pending + ci.num_ack_pending === 0 && ci.num_redelivered === 0;
    }, 10_000);

    // At the limit (32 levels) a start is accepted, stored and run: the bound refuses nothing the runtime can hold.
    const atLimit = await ask('start', start('{"a":'.repeat(31) + '[1]' + '}'.repeat(31)));
    expect(atLimit).toMatchObject({ ok: true });
    await waitFor('the start at the limit done', async () => (await client.status(idOf(2))).status === 'done');
    expect(proc.child.exitCode).toBeNull();
  });
});

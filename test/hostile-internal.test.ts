/**
 * Bad input on the runtime's internal subjects (R30, "bad input never stalls"): a rogue client allowed on the work,
 * timer, stats and dead-letter subjects publishes a thousand malformed messages while real executions wait on timers.
 * The runtime must stay up, fire every real timer, dead-letter nothing, record each bad message once on
 * `<p>.rejects.<kind>` and stay healthy.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { startRuntime, type Runtime } from '../runtime/runtime.ts';
import { startHttp, type HttpServer } from '../runtime/http.ts';
import { dashboardRoutes } from '../runtime/dashboard/routes.ts';
import { JourneyClient } from '../runtime/client.ts';
import { encode, encodeJson } from '../runtime/codec.ts';
import { executionIdOf } from '../runtime/engine/execution-record.ts';
import { SimulatedClock, systemClock } from '../runtime/clock.ts';
import { ensureTopology } from '../runtime/engine/streams.ts';
import { names } from '../runtime/subjects.ts';
import { TimerService, type TimerEntry } from '../runtime/engine/timers.ts';
import { MAX_INSTANCES } from '../runtime/monitor-host.ts';
import { RejectedError } from '../runtime/errors.ts';
import type { ActionInvocation } from '../runtime/engine/actions.ts';
import type { Work } from '../runtime/engine/work.ts';
import { applyAll, emptyWindow, toStats } from '../actors/monitor.ts';
import { TIERS } from '../actors/priority.ts';
import { useNats, uniqueName, waitFor, type TestServer } from './harness/nats.ts';
import { readAll } from './harness/streams.ts';

let server: TestServer;
let nc: NatsConnection;
useNats((s, c) => ([server, nc] = [s, c]));
const cleanup: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const f of cleanup.reverse()) await f().catch(() => undefined);
});

/** Each execution waits until its own instant (`data.fireAt`), then sends one email. */
const atInstant = {
  id: 'at-instant',
  version: 1,
  name: 'Fires at data.fireAt',
  vendorType: 'planner',
  trigger: { event: 'booking.created' },
  start: 'until',
  steps: {
    until: { type: 'waitUntil', anchor: 'data.fireAt', next: 'send' },
    send: { type: 'action', action: 'email.send', next: 'done' },
    done: { type: 'end' },
  },
};

interface RejectRecord {
  code: string;
  reason: string;
  subject: string;
  bytes: number;
  sample: string;
  at: number;
}

/** A nest of `depth` arrays, built without recursion. */
function nested(depth: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

/** Picks from `options` in turn: the garbage of each kind cycles through its shapes. */
const cycle = <T>(options: readonly T[], i: number): T => options[i % options.length]!;

const SLOT_MS = 1_000;
const VALID = 20;

describe('hostile internal messages', () => {
  it('hostile - 1,000 malformed work, timer, stats and dead-letter messages: the runtime stays up, fires every timer, dead-letters nothing, records each one', async () => {
    const prefix = uniqueName('h');
    const fired: { executionId: string; at: number; fireAt: number }[] = [];
    const runtime: Runtime = await startRuntime({
      nc,
      prefix,
      logger: pino({ level: 'silent' }),
      timerSlotMs: SLOT_MS,
      monitor: { intervalMs: 500 },
      supervisor: false,
      handlers: {
        'email.send': async (inv: ActionInvocation) => {
          fired.push({ executionId: inv.executionId, at: Date.now(), fireAt: Date.parse(String(inv.data['fireAt'])) });
        },
      },
    });
    cleanup.push(() => runtime.stop());
    await runtime.definitions.deploy(atInstant);
    const dashboard = dashboardRoutes(runtime, { heartbeatMs: 500 });
    cleanup.push(async () => dashboard.close());
    const http: HttpServer = await startHttp({ runtime, registry: runtime.metrics.registry, port: 0, host: '127.0.0.1', routes: dashboard.routes });
    cleanup.push(() => http.close());
    const client = new JourneyClient(nc, prefix);

    const rogue = await server.connect();
    cleanup.push(() => rogue.close());
    const rjs = jetstream(rogue);
    const p = prefix;
    const published = { work: 0, timer: 0, stats: 0, dlq: 0 };

    // The real executions' timers fall due 4 to 7 s from now, spread over several 1 s slots.
    const base = Date.now() + 4_000;
    const fireAts = Array.from({ length: VALID }, (_, i) => base + i * 150);
    const slotOf = (ms: number) => Math.floor(ms / SLOT_MS);
    const slots: number[] = [];
    for (let s = slotOf(Date.now()); s <= slotOf(fireAts.at(-1)!) + 1; s++) slots.push(s);

    // Timer garbage, first half: into the current slot and every slot the real timers will be stored in, ahead of
    // them, so a bad entry comes first in the slot it shares with good ones.
    const fakeEx = executionIdOf({ supplierId: 'rogue', clientId: 'x', journeyId: 'at-instant' });
    const timerGarbage = (slot: number, i: number): Uint8Array => {
      const due = slot * SLOT_MS + 100;
      const entry: TimerEntry = { id: `rogue.${i}`, due, sup: 'rogue', ex: fakeEx, tz: 'UTC', work: { k: 'timer', id: 'x' } };
      return cycle<() => Uint8Array>(
        [
          () => new Uint8Array(),
          () => encode({}),
          () => randomBytes(1 + (i % 64)),
          () => encodeJson(entry),
          () => encode({ ...entry, due: 'soon' }),
          () => encode({ ...entry, due: Number.NaN }),
          () => encode({ ...entry, tz: 'Mars/Olympus' }),
          () => encode({ ...entry, sup: 'a.b' }),
          () => encode({ ...entry, due: (slot + 1) * SLOT_MS + 5 }), // due after its own slot
          () => encode({ ...entry, work: {} }),
          () => encode({ ...entry, work: { k: 'event', name: 'x.y', data: { deep: nested(40) } } }),
          () => encode([entry]),
          () => (i < 20 ? randomBytes(300 * 1024) : encode('x'.repeat(100 * 1024))), // huge: over and under the limit
        ],
        i,
      )();
    };
    const publishTimerGarbage = async (count: number, onto: number[]): Promise<void> => {
      await Promise.all(
        Array.from({ length: count }, (_, i) => {
          const slot = cycle(onto, i);
          published.timer++;
          return rjs.publish(`${p}.timer.${slot}`, timerGarbage(slot, published.timer));
        }),
      );
    };
    await publishTimerGarbage(150, slots);

    // The real executions start (request/reply on `api`), their timers stored behind the garbage.
    const ids = await Promise.all(
      fireAts.map((fireAt, i) =>
        client.start({ supplierId: 'real', clientId: `c${i}`, journeyId: 'at-instant', timeZone: 'UTC', data: { fireAt: new Date(fireAt).toISOString() } }),
      ),
    );
    expect(new Set(ids).size).toBe(VALID);

    // The rest of the garbage while they wait: work (some addressed to the real executions), timers into the current
    // and next slots, stats, dead letters. 1,000 messages in all.
    const workBodies: (() => Uint8Array)[] = [
      () => new Uint8Array(),
      () => encode({}),
      () => randomBytes(1 + Math.floor(Math.random() * 64)),
      () => encodeJson({ k: 'pause' }),
      () => encode({ k: 'timer' }),
      () => encode({ k: 'retry', key: 'x', attempt: -1 }),
      () => encode([1, 2, 3]),
      () => encode('pause'),
      () => encode({ k: 'explode' }),
      () => encode({ k: 'start', cmd: { supplierId: 'real', clientId: 'c0', journeyId: 'at-instant' } }), // no def
      () => encode({ k: 'event', name: 'form.submitted', data: { deep: nested(40) } }),
      () => encode({ k: 'timeout', key: 'k', attempt: 1, deadline: 'soon' }),
    ];
    const workGarbage: { subject: string; data: Uint8Array }[] = [];
    for (let i = 0; i < 400; i++) {
      const tier = cycle(TIERS, i);
      const ex = cycle(ids, i);
      if (i % 10 === 7) {
        // A valid body on a subject that names no execution.
        const subject = cycle([`${p}.work.${tier}.real`, `${p}.work.${tier}.real.${ex}.extra`, `${p}.work.${tier}.real.ex_nope`, `${p}.work.${tier}.re+al.${ex}`], i);
        workGarbage.push({ subject, data: encode({ k: 'pause' } satisfies Work) });
      } else if (i % 10 === 9) {
        workGarbage.push({ subject: `${p}.work.${tier}.real.${ex}`, data: i < 100 ? randomBytes(300 * 1024) : encode({ blob: 'x'.repeat(100 * 1024) }) });
      } else {
        workGarbage.push({ subject: `${p}.work.${tier}.real.${ex}`, data: cycle(workBodies, i)() });
      }
    }
    const statsMessage = toStats(applyAll(emptyWindow(), []), { instance: 'forged', now: Date.now(), windowMs: 500 });
    const statsBodies: ((i: number) => Uint8Array)[] = [
      () => new Uint8Array(),
      () => encodeJson({}),
      (i) => randomBytes(1 + (i % 64)),
      () => encode(statsMessage),
      () => encodeJson([statsMessage]),
      () => encodeJson({ ...statsMessage, instance: 'someone-else' }),
      () => encodeJson({ ...statsMessage, instances: 99 }),
      () => encodeJson({ ...statsMessage, totals: { ...statsMessage.totals, started: -5 } }),
      (i) => (i < 10 ? encodeJson({ filler: 'x'.repeat(600 * 1024) }) : encodeJson('x')), // huge, under the server's limit
    ];
    const dlqEntry = { executionId: ids[0]!, supplierId: 'real', journeyId: 'at-instant', version: 1, stepId: 'send', visit: 1, key: `${ids[0]}.send.1`, action: 'email.send', error: 'boom', attempts: 3, tier: 'low', at: Date.now(), history: [] };
    const dlqBodies: ((i: number) => Uint8Array)[] = [
      () => new Uint8Array(),
      () => encodeJson({}),
      (i) => randomBytes(1 + (i % 64)),
      () => encode(dlqEntry),
      () => encodeJson({ ...dlqEntry, executionId: 1 }),
      () => encodeJson({ ...dlqEntry, tier: 'urgent' }),
      () => encodeJson({ ...dlqEntry, executionId: ids[1] }), // well-formed, but not the execution its subject names
      (i) => (i < 5 ? encodeJson({ filler: 'x'.repeat(300 * 1024) }) : encodeJson(null)),
    ];
    const now = slotOf(Date.now());
    await Promise.all([
      ...workGarbage.map((g) => {
        published.work++;
        return rjs.publish(g.subject, g.data);
      }),
      publishTimerGarbage(150, [now, now + 1]),
      ...Array.from({ length: 100 }, (_, i) => {
        published.dlq++;
        return rjs.publish(`${p}.dlq.real.${cycle(ids, i)}`, cycle(dlqBodies, i)(i));
      }),
      (async () => {
        for (let i = 0; i < 200; i++) {
          published.stats++;
          rogue.publish(`${p}.stats.instance.forged-${i}`, cycle(statsBodies, i)(i));
          if (i % 20 === 0) await rogue.flush(); // paced: the runtime's subscription is not a bottomless buffer
        }
        await rogue.flush();
      })(),
    ]);
    expect(published).toEqual({ work: 400, timer: 300, stats: 200, dlq: 100 });

    // The same instance still answers requests, and a start made now completes like the others.
    const late = await client.start({ supplierId: 'real', clientId: 'late', journeyId: 'at-instant', timeZone: 'UTC', data: { fireAt: new Date(Date.now() + 500).toISOString() } });

    // Every real timer fires, none early, and every execution completes.
    const all = [...ids, late];
    await waitFor(
      'every real execution done',
      async () => (await Promise.all(all.map((id) => client.status(id)))).every((s) => s.status === 'done'),
      30_000,
      200,
    );
    expect(new Set(fired.map((f) => f.executionId))).toEqual(new Set(all));
    for (const f of fired) expect(f.at, `${f.executionId} fired before its due time`).toBeGreaterThanOrEqual(f.fireAt);

    // Each bad message recorded once, by kind, with the code for what is wrong with it.
    const jsm = await jetstreamManager(nc);
    const ofKind = async (kind: string) => (await readAll<RejectRecord>(nc, runtime.names.streams.rejects)).filter((r) => r.subject === runtime.names.rejects(kind)).map((r) => r.data);
    const works = await waitFor('a record of every bad work message', async () => {
      const r = await ofKind('work');
      return r.length >= published.work ? r : undefined;
    });
    const timers = await waitFor('a record of every bad timer entry', async () => {
      const r = await ofKind('timer');
      return r.length >= published.timer ? r : undefined;
    });
    const stats = await waitFor('a record of every bad stats message', async () => {
      const r = await ofKind('stats');
      return r.length >= published.stats ? r : undefined;
    });
    expect(works).toHaveLength(published.work);
    expect(timers).toHaveLength(published.timer);
    expect(stats).toHaveLength(published.stats);
    const codes = (records: RejectRecord[]) => new Set(records.map((r) => r.code));
    expect(codes(works)).toEqual(new Set(['BAD_COMMAND', 'INVALID_PAYLOAD', 'PAYLOAD_TOO_LARGE']));
    expect(codes(timers)).toEqual(new Set(['BAD_COMMAND', 'INVALID_PAYLOAD', 'PAYLOAD_TOO_LARGE']));
    expect(codes(stats)).toEqual(new Set(['BAD_JSON', 'BAD_COMMAND']));
    expect(works.find((r) => r.reason.startsWith('subject:'))).toBeDefined();
    expect(timers.find((r) => /^\$\.due: after the end of its slot/.test(r.reason))).toBeDefined();
    // Binary messages are sampled as a hex prefix, never as text.
    for (const r of [...works, ...timers]) expect(r.sample).toMatch(/^[0-9a-f]{0,128}$/);
    for (const r of stats) expect(r.sample.length).toBeLessThanOrEqual(1024);

    // Nothing dead-lettered; the dead-letter garbage is listed apart as malformed and recorded once each.
    const dlq = await runtime.dlq.scan();
    expect(dlq.entries).toEqual([]);
    expect(dlq.malformed).toHaveLength(published.dlq);
    const dead = await waitFor('a record of every malformed dead letter', async () => {
      const r = await ofKind('dlq');
      return r.length >= published.dlq ? r : undefined;
    });
    expect(dead).toHaveLength(published.dlq);
    expect(codes(dead)).toEqual(new Set(['DLQ_ENTRY_MALFORMED']));
    const api = await (await fetch(`http://127.0.0.1:${http.port}/api/dlq`)).json();
    expect(api).toMatchObject({ ok: true, entries: [] });
    expect((api as { malformed: unknown[] }).malformed).toHaveLength(published.dlq);
    expect(await ofKind('dlq')).toHaveLength(published.dlq); // listed again, not recorded again

    // Showing or replaying a malformed entry is a clear refusal; discarding removes it.
    const seq = dlq.malformed[0]!.seq;
    await expect(runtime.dlq.get(seq)).rejects.toMatchObject({ code: 'DLQ_ENTRY_MALFORMED' });
    await expect(runtime.dlq.replay(seq)).rejects.toBeInstanceOf(RejectedError);
    const page = `http://127.0.0.1:${http.port}`; // the page's origin, as a browser names it on a POST
    const replay = await fetch(`${page}/api/dlq/replay`, { method: 'POST', headers: { 'content-type': 'application/json', origin: page }, body: JSON.stringify({ seq }) });
    expect(replay.status).toBe(422);
    expect(await replay.json()).toMatchObject({ ok: false, error: { code: 'DLQ_ENTRY_MALFORMED' } });
    const discarded = await runtime.dlq.discard(seq, 'test');
    expect(discarded).toMatchObject({ seq, supplierId: 'real', error: expect.stringMatching(/malformed/) });
    expect((await runtime.dlq.scan()).malformed).toHaveLength(published.dlq - 1);

    // The work consumers drained: every bad message was acknowledged, none left to redeliver; the forged stats
    // instances were never tracked; no timer is behind; healthy.
    await waitFor('the runtime idle', () => runtime.idle(), 20_000, 200);
    for (const tier of TIERS) {
      const ci = await jsm.consumers.info(runtime.names.streams.work, runtime.names.workConsumer(tier));
      expect(ci.num_pending + ci.num_ack_pending, tier).toBe(0);
    }
    expect(runtime.monitor!.tracked).toBe(1);
    expect(runtime.timers.health().behindMs).toBe(0);
    const health = await fetch(`http://127.0.0.1:${http.port}/healthz`);
    expect(health.status).toBe(200);
    expect(runtime.connected).toBe(true);
  });

  it('hostile - a slot holding bad entries fires all its good timers and is purged; a timer failing to fire counts as behind from its first due time', async () => {
    const n = names(uniqueName('hs'));
    const jsm = await jetstreamManager(nc);
    const js = jetstream(nc);
    const topology = await ensureTopology(nc, jsm, n, { replicas: 1, maxAckPending: 64, ackWaitMs: 5_000 });
    const fired: { entry: TimerEntry; at: number }[] = [];
    let failing = false;
    const timers = new TimerService({
      js,
      jsm,
      names: n,
      clock: systemClock,
      state: topology.runtime,
      slotMs: 500,
      graceMs: 500,
      lookaheadMs: 200,
      tickMs: 50,
      fire: async (entry) => {
        if (failing) throw new Error('publish refused');
        fired.push({ entry, at: Date.now() });
      },
      onError: () => undefined,
    });
    cleanup.push(() => timers.stop());

    // A slot 1.5 s ahead: bad entries first, then good ones, then more bad ones.
    const slot = Math.floor((Date.now() + 1_500) / 500);
    const ex = executionIdOf({ supplierId: 's', clientId: 'c', journeyId: 'j' });
    const good = Array.from({ length: 10 }, (_, i): TimerEntry => ({ id: `${ex}.good.${i}`, due: slot * 500 + i * 40, sup: 's', ex, tz: 'UTC', work: { k: 'timer', id: `good.${i}` } }));
    const bad = [new Uint8Array(), encode({}), Uint8Array.from([0xc1, 0xff]), encode({ ...good[0]!, id: 'late', due: (slot + 5) * 500 }), encode({ ...good[0]!, id: 'nan', due: Number.NaN })];
    const subject = n.timer(slot);
    for (const b of bad) await js.publish(subject, b);
    for (const g of good) await js.publish(subject, encode(g));
    for (const b of bad) await js.publish(subject, b);
    await timers.start();

    await waitFor('every good timer fired', () => fired.length >= good.length, 10_000);
    expect(fired.map((f) => f.entry.id).sort()).toEqual(good.map((g) => g.id).sort());
    for (const f of fired) expect(f.at).toBeGreaterThanOrEqual(f.entry.due);
    await waitFor(
      'the slot purged',
      async () => ((await jsm.streams.info(n.streams.timers, { subjects_filter: subject })).state.subjects?.[subject] ?? 0) === 0,
      10_000,
      100,
    );
    const rejects = await waitFor('the bad entries recorded', async () => {
      const r = (await readAll<RejectRecord>(nc, n.streams.rejects)).filter((x) => x.subject === n.rejects('timer'));
      return r.length >= 2 * bad.length ? r : undefined;
    });
    expect(rejects).toHaveLength(2 * bad.length);
    expect(timers.health().behindMs).toBe(0);

    // A timer whose firing keeps failing is retried a second later each time; it is behind from its first due time,
    // not from its latest retry.
    failing = true;
    const due = Date.now() + 300;
    await timers.schedule({ id: `${ex}.failing`, due, sup: 's', ex, tz: 'UTC', work: { k: 'timer', id: 'failing' } });
    await waitFor('the failing timer over 1.5 s behind', () => timers.health().behindMs >= 1_500, 10_000);
    failing = false;
    await waitFor('the failing timer fired at last', () => fired.some((f) => f.entry.id === `${ex}.failing`), 10_000);
    expect(timers.health().behindMs).toBe(0);
  });

  it('hostile - stats from made-up instances are capped and forgotten three intervals after their last message', async () => {
    // A clock that moves only when told: no instance expires while the burst is being read, however slow the machine.
    const clock = new SimulatedClock(Date.now());
    const intervalMs = 1_000;
    const runtime = await startRuntime({ nc, prefix: uniqueName('hm'), clock, logger: pino({ level: 'silent' }), monitor: { intervalMs }, supervisor: false });
    cleanup.push(() => runtime.stop());
    const monitor = runtime.monitor!;
    const rogue = await server.connect();
    cleanup.push(() => rogue.close());
    // Valid stats messages, each from another made-up instance: more than the cap. Then one bad message: once it is
    // recorded, every message before it has been read.
    const window = applyAll(emptyWindow(), []);
    for (let i = 0; i < MAX_INSTANCES + 200; i++) {
      const id = `made-up-${i}`;
      rogue.publish(runtime.names.statsInstance(id), encodeJson(toStats(window, { instance: id, now: clock.now(), windowMs: intervalMs })));
      if (i % 100 === 0) await rogue.flush();
    }
    rogue.publish(runtime.names.statsInstance('last'), encodeJson({}));
    await rogue.flush();
    await waitFor('the last message read', async () => (await readAll<RejectRecord>(nc, runtime.names.streams.rejects)).some((r) => r.subject === runtime.names.rejects('stats')), 20_000, 100);
    expect(monitor.tracked).toBe(MAX_INSTANCES);
    expect(monitor.instances()).toBe(MAX_INSTANCES);
    // Silent for three intervals: forgotten at the next tick, which leaves this instance alone.
    clock.advance(3 * intervalMs + 1);
    await waitFor('the made-up instances forgotten', () => monitor.tracked === 1, 10_000);
    expect(monitor.instances()).toBe(1);
  });
});

/**
 * Action services over NATS (docs/actions.md): the reference service (examples/action-service.ts) runs as its own
 * process and knows only the documented contract. The runtime sends commands, waits for results, retries, times out,
 * dead-letters, replays, holds attempts while a circuit is open, and survives both sides being SIGKILLed.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { executionStatusResult } from '../runtime/admin-api.ts';
import { JourneyClient } from '../runtime/client.ts';
import { startRuntime, type Runtime } from '../runtime/runtime.ts';
import type { ActionsFile } from '../schemas/actions.ts';
import type { AlertEvent } from '../actors/alerts.ts';
import { useNats, uniqueName, waitFor, type TestServer } from './harness/nats.ts';
import { spawnActionService, spawnRuntime, type RuntimeProcess } from './harness/processes.ts';
import { createObservationStream, readAll, streamCount } from './harness/streams.ts';

let server: TestServer;
let nc: NatsConnection;
useNats((s, c) => ([server, nc] = [s, c]));
/** Undone after each test, last first, even when an assertion failed. */
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const undo of cleanups.splice(0).reverse()) await undo();
});

/** Sends the email; a later branch reads the service's result. */
function emailJourney(step: Record<string, unknown> = {}) {
  return {
    id: 'welcome',
    version: 1,
    name: 'Welcome email, then a branch on its result',
    vendorType: 'photographer',
    trigger: { event: 'booking.created' },
    start: 'send',
    steps: {
      send: { type: 'action', action: 'email.send', params: { template: 'welcome' }, next: 'check', ...step },
      check: { type: 'branch', cases: [{ when: 'data.send.messageId != null', next: 'sent' }], default: 'unsent' },
      sent: { type: 'end' },
      unsent: { type: 'end' },
    },
  };
}

const outbound = (extra: Record<string, unknown> = {}): ActionsFile => ({
  actions: { 'email.send': { mode: 'outbound', retry: { attempts: 3, backoff: 'PT1S', factor: 1 }, ...extra } },
});

async function setup(actionConfig: ActionsFile, def = emailJourney(), service: Record<string, string> | false = {}) {
  const prefix = uniqueName('s');
  const runtime = await startRuntime({ nc, prefix, actionConfig, logger: pino({ level: process.env['TEST_LOG'] ?? 'silent' }), monitor: { intervalMs: 500 }, supervisor: false });
  cleanups.push(() => runtime.stop());
  const client = new JourneyClient(nc, prefix);
  await runtime.definitions.deploy(def);
  const serviceEnv = { NATS_URL: server.url, JRN_PREFIX: prefix, SERVICE_ACTIONS: 'email.send' };
  const svc = service === false ? undefined : await startService(serviceEnv, service);
  return { prefix, runtime, client, serviceEnv, svc };
}

async function startService(base: Record<string, string>, extra: Record<string, string>): Promise<RuntimeProcess> {
  const svc = await spawnActionService({ ...base, ...extra });
  cleanups.push(() => svc.kill('SIGKILL'));
  return svc;
}

/** The commands the runtime sent for one key, in order. */
async function commandsFor(runtime: Runtime, key: string) {
  const all = await readAll<{ key: string; attempt: number; deadline: number; resultSubject: string }>(nc, runtime.names.streams.actions);
  return all.filter((c) => c.data.key === key);
}

const effectsStream = (prefix: string) => `SVC_EFFECTS_${prefix.toUpperCase()}`;

describe('action services', () => {
  it('actions - a retryable failure twice, then success: attempts 1, 2, 3, the result reaches a later branch', async () => {
    const { runtime, client } = await setup(outbound(), emailJourney(), { SERVICE_BEHAVIOUR: 'fail-attempts:2' });
    const id = await client.start({ supplierId: 'p1', clientId: 'c1', journeyId: 'welcome' });
    await waitFor('execution done', async () => (await client.status(id)).status === 'done', 30_000, 100);

    const key = `${id}.send.1`;
    const commands = await commandsFor(runtime, key);
    expect(commands.map((c) => c.data.attempt)).toEqual([1, 2, 3]);
    expect(commands.map((c) => c.msgId)).toEqual([`${key}:1`, `${key}:2`, `${key}:3`]);
    expect(commands[0]!.data.resultSubject).toBe(runtime.names.result('email.send'));
    const record = await client.record(id);
    const effects = await readAll<{ key: string }>(nc, effectsStream(runtime.names.prefix));
    expect(record!.snap.context.data['send']).toEqual({ messageId: `${effectsStream(runtime.names.prefix)}-1` });
    expect(effects.map((e) => e.data.key)).toEqual([key]);
    expect((await client.status(id)).history.map((h) => h.step)).toEqual(['send', 'check', 'sent']);
  });

  it('actions - a non-retryable failure is dead-lettered with the service\'s error; a replay after the fix completes', async () => {
    const { runtime, client, serviceEnv, svc } = await setup(outbound(), emailJourney(), { SERVICE_BEHAVIOUR: 'reject' });
    const id = await client.start({ supplierId: 'p1', clientId: 'c2', journeyId: 'welcome' });
    const dlq = await client.dlq();
    const [entry] = await waitFor('a dead letter', async () => {
      const list = await dlq.list();
      return list.length > 0 && list;
    }, 30_000, 100);
    expect(entry).toMatchObject({ executionId: id, stepId: 'send', attempts: 1, error: 'action email.send failed: MAILBOX_UNKNOWN: no such mailbox' });
    expect((await client.status(id)).status).toBe('failed');

    await svc!.kill('SIGKILL');
    await startService(serviceEnv, { SERVICE_BEHAVIOUR: 'ok' });
    await dlq.replay(entry!.seq, 'test');
    await waitFor('replayed execution done', async () => (await client.status(id)).status === 'done', 30_000, 100);
    // Attempt numbers go on after a replay, so a late answer to attempt 1 can never pass for the replay's.
    expect((await commandsFor(runtime, `${id}.send.1`)).map((c) => c.data.attempt)).toEqual([1, 2]);
    expect(await streamCount(nc, effectsStream(runtime.names.prefix))).toBe(1);
  });

  it('actions - no result within the timeout: retried, then dead-lettered; a late result is ignored with a record', async () => {
    const config = outbound({ retry: { attempts: 2, backoff: 'PT1S', factor: 1 } });
    const { runtime, client } = await setup(config, emailJourney({ timeout: 'PT1S' }), { SERVICE_BEHAVIOUR: 'silent' });
    const id = await client.start({ supplierId: 'p1', clientId: 'c3', journeyId: 'welcome' });
    const dlq = await client.dlq();
    const [entry] = await waitFor('a dead letter', async () => {
      const list = await dlq.list();
      return list.length > 0 && list;
    }, 30_000, 100);
    expect(entry).toMatchObject({ executionId: id, attempts: 2, error: 'action email.send: no result within 1000 ms (attempt 2)' });
    const key = `${id}.send.1`;
    expect((await commandsFor(runtime, key)).map((c) => c.data.attempt)).toEqual([1, 2]);

    // The service wakes up and answers attempt 1: too late, the execution has failed.
    const rejects = `${runtime.names.prefix.toUpperCase()}_REJECTS`;
    await jetstream(nc).publish(runtime.names.result('email.send'), JSON.stringify({ key, attempt: 1, ok: true, data: { messageId: 'late' } }));
    const [record] = await waitFor('a record of the ignored result', async () => {
      const all = await readAll<{ code: string; reason: string; subject: string }>(nc, rejects);
      return all.length > 0 && all;
    }, 15_000, 100);
    expect(record!.subject).toBe(`${runtime.names.prefix}.rejects.result`);
    expect(record!.data.code).toBe('RESULT_NOT_AWAITED');
    expect((await client.status(id)).status).toBe('failed');
    expect((await client.record(id))!.snap.context.data['send']).toBeUndefined();
  });

  it('actions - progress moves the deadline; results that match no awaiting attempt, or are malformed, are recorded and never applied', async () => {
    const config = outbound({ timeout: 'PT2S', retry: { attempts: 3, backoff: 'PT1S', factor: 1 } });
    const { runtime, client } = await setup(config, emailJourney(), { SERVICE_BEHAVIOUR: 'silent' });
    const id = await client.start({ supplierId: 'p1', clientId: 'c4', journeyId: 'welcome' });
    const key = `${id}.send.1`;
    await waitFor('attempt 2 awaited', async () => (await client.record(id))?.awaiting?.attempt === 2, 30_000, 50);
    const js = jetstream(nc);
    const subject = runtime.names.result('email.send');
    // Progress: attempt 2's deadline moves a minute ahead (which also keeps it awaited for the rest of this test).
    const before = (await client.record(id))!.awaiting!.deadline;
    await js.publish(subject, JSON.stringify({ key, attempt: 2, working: true, extendMs: 60_000 }));
    await waitFor('the deadline moved', async () => (await client.record(id))!.awaiting!.deadline >= before + 55_000, 10_000, 50);
    await js.publish(subject, JSON.stringify({ key, attempt: 1, ok: true }));
    await js.publish(subject, JSON.stringify({ key: 'ex_aaaaaaaaaaaaaaaaaaaaaaaaaa.send.1', attempt: 1, ok: true }));
    await js.publish(subject, '{"key": ');
    await js.publish(subject, JSON.stringify({ key, attempt: 2, ok: 'yes' }));
    const rejects = `${runtime.names.prefix.toUpperCase()}_REJECTS`;
    const records = await waitFor('four records', async () => {
      const all = await readAll<{ code: string; reason: string }>(nc, rejects);
      return all.length === 4 && all;
    }, 15_000, 100);
    expect(records.map((r) => r.data.code).sort()).toEqual(['BAD_COMMAND', 'BAD_JSON', 'RESULT_STALE_ATTEMPT', 'RESULT_UNKNOWN_KEY']);
    // None of the four moved the execution on.
    const record = await client.record(id);
    expect(record!.awaiting).toMatchObject({ key, attempt: 2 });
    expect(record!.snap.context.data['send']).toBeUndefined();
    // What `journeys status` and the admin status reply say it waits for.
    expect(executionStatusResult(id, record!, Date.now()).waiting).toEqual({
      kind: 'result',
      stepId: 'send',
      action: 'email.send',
      attempt: 2,
      dueAt: new Date(record!.awaiting!.deadline).toISOString(),
    });
  });

  it('actions - the service is SIGKILLed mid-action and restarted: every execution completes, each key performed once', async () => {
    const prefixObs = uniqueName('o');
    await createObservationStream(nc, prefixObs.toUpperCase(), [`${prefixObs}.>`]);
    // The service answers slowly after performing, so the kill finds commands performed but not yet answered.
    const behaviour = { SERVICE_BEHAVIOUR: 'ok', SERVICE_ANSWER_DELAY_MS: '400', SERVICE_OBSERVE: `${prefixObs}.performed` };
    const { runtime, client, serviceEnv, svc } = await setup(outbound(), emailJourney(), behaviour);
    const ids = await Promise.all(Array.from({ length: 60 }, (_, i) => client.start({ supplierId: 'p2', clientId: `c${i}`, journeyId: 'welcome' })));
    const effects = effectsStream(runtime.names.prefix);
    await waitFor('some effects stored and commands in flight', async () => {
      const ci = await (await jetstreamManager(nc)).consumers.info(runtime.names.streams.actions, 'svc-email_send');
      return (await streamCount(nc, effects)) >= 5 && ci.num_ack_pending >= 5;
    }, 30_000, 20);
    await svc!.kill('SIGKILL');
    await startService(serviceEnv, behaviour);
    await waitFor('all 60 executions done', async () => (await client.list({ status: 'done' }, 1_000)).length === 60, 60_000, 200);

    const stored = await readAll<{ key: string }>(nc, effects);
    expect(stored).toHaveLength(60);
    expect(new Set(stored.map((e) => e.data.key))).toEqual(new Set(ids.map((id) => `${id}.send.1`)));
    // The kill interrupted commands already performed: they were performed again, and the key kept the effect single.
    const performed = await readAll<{ key: string }>(nc, prefixObs.toUpperCase());
    console.log(`actions: ${performed.length} performs for 60 effects across a service SIGKILL`);
    expect(performed.length).toBeGreaterThan(60);
    expect((await (await client.dlq()).list())).toEqual([]);
  });

  it('actions - a service failing everything for 30 s: the circuit opens, nothing is dead-lettered, all complete, one alert raised and cleared', async () => {
    const until = Date.now() + 30_000;
    const config = outbound({ breaker: { window: 20, minCalls: 10, failureRate: 0.5, within: 'PT1M', coolOff: 'PT2S' } });
    const { runtime, client } = await setup(config, emailJourney(), { SERVICE_BEHAVIOUR: `fail-until:${until}` });
    await Promise.all(Array.from({ length: 40 }, (_, i) => client.start({ supplierId: 'p3', clientId: `c${i}`, journeyId: 'welcome' })));
    await waitFor('all 40 executions done', async () => (await client.list({ status: 'done' }, 1_000)).length === 40, 90_000, 250);
    expect(Date.now()).toBeGreaterThanOrEqual(until);
    expect(await (await client.dlq()).list()).toEqual([]);

    const alerts = (await readAll<AlertEvent>(nc, runtime.names.streams.stats))
      .filter((m) => m.subject === runtime.names.alerts && m.data.id === 'action-circuit:email.send')
      .map((m) => m.data.type);
    expect(alerts).toEqual(['raised', 'cleared']);
  }, 120_000);

  it('actions - 2,000 executions, the runtime SIGKILLed 10 times and the service 5 times: 0 lost, 0 effects twice', async () => {
    const prefix = uniqueName('k');
    const env = { NATS_URL: server.url, JRN_PREFIX: prefix, ACTIONS_CONFIG: JSON.stringify(outbound({ timeout: 'PT20S' })) };
    const procs: RuntimeProcess[] = [];
    cleanups.push(() => Promise.all(procs.map((p) => p.kill('SIGKILL'))));
    procs.push(await spawnRuntime(env));
    const client = new JourneyClient(nc, prefix);
    await (await client.definitions()).deploy(emailJourney());
    const serviceEnv = { NATS_URL: server.url, JRN_PREFIX: prefix, SERVICE_ACTIONS: 'email.send' };
    let svc = await startService(serviceEnv, {});
    const js = jetstream(nc);
    await Promise.all(
      Array.from({ length: 2_000 }, (_, i) =>
        js.publish(`${prefix}.cmd.start`, JSON.stringify({ supplierId: `s${i % 50}`, clientId: `c${i}`, journeyId: 'welcome' })),
      ),
    );
    const effects = effectsStream(prefix);
    const done = async () => (await client.list({ status: 'done' }, 10_000)).length;
    for (let kill = 1; kill <= 10; kill++) {
      // Each kill lands while work is in flight: some more effects since the last one, not all of them.
      const before = await streamCount(nc, effects);
      await waitFor(`progress before kill ${kill}`, async () => (await streamCount(nc, effects)) >= Math.min(before + 50, 1_990), 60_000, 20);
      await procs.at(-1)!.kill('SIGKILL');
      if (kill % 2 === 0) {
        await svc.kill('SIGKILL');
        svc = await startService(serviceEnv, {});
      }
      procs.push(await spawnRuntime(env));
    }
    console.log(`actions: 10 runtime and 5 service kills at ${await streamCount(nc, effects)} effects, ${await done()} done`);
    await waitFor('all 2,000 executions done', async () => (await done()) === 2_000, 180_000, 500);

    const stored = await readAll<{ key: string }>(nc, effects);
    expect(stored).toHaveLength(2_000);
    expect(new Set(stored.map((e) => e.data.key)).size).toBe(2_000);
    expect(await (await client.dlq()).list()).toEqual([]);
  }, 300_000);
});

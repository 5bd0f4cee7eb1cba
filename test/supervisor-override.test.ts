/**
 * Overrides on `<p>.supervisor.override` are validated like commands, and a persisted supervisor snapshot that would
 * not run is replaced at start (found by a hostile-input run: `until: 1e308` crashed the process after answering ok, and
 * twice left a snapshot in KV that crashed every restart).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { createActor } from 'xstate';
import { startRuntime, type Runtime } from '../runtime/runtime.ts';
import { overrideProblem, supervisorMachine, supervisorSnapshotProblem } from '../actors/supervisor.ts';
import { useNats, uniqueName, waitFor } from './harness/nats.ts';
import { readAll } from './harness/streams.ts';

let nc: NatsConnection;
useNats((_server, c) => (nc = c));
const runtimes: Runtime[] = [];
afterEach(async () => {
  await Promise.all(runtimes.splice(0).map((r) => r.stop()));
});

async function runtimeAt(prefix: string): Promise<Runtime> {
  const rt = await startRuntime({
    nc,
    prefix,
    logger: pino({ level: 'silent' }),
    monitor: false,
    supervisor: { tickMs: 200 },
  });
  runtimes.push(rt);
  return rt;
}
const ask = async (rt: Runtime, body: string | Uint8Array) =>
  (await nc.request(`${rt.names.prefix}.supervisor.override`, body, { timeout: 5_000 })).json<{ ok: boolean; error?: { code: string; message: string }; concurrency?: Record<string, number> }>();

describe('supervisor overrides', () => {
  it('override - bad requests are refused with a stable code and recorded; the runtime lives on and takes a good one', async () => {
    const rt = await runtimeAt(uniqueName('ov'));
    const now = Date.now();
    const bad: [string, string | Uint8Array, RegExp][] = [
      ['BAD_COMMAND', JSON.stringify({ by: 'x', until: 1e308, concurrency: { critical: 40 } }), /until/],
      ['BAD_COMMAND', JSON.stringify({ by: 'x', until: now + 31 * 86_400_000, concurrency: { critical: 40 } }), /at most 30 days/],
      ['BAD_COMMAND', JSON.stringify({ by: 'x', until: now - 1, concurrency: { critical: 40 } }), /later than now/],
      ['BAD_COMMAND', JSON.stringify({ by: 'x', for: 'PT2H', until: now + 60_000, concurrency: { critical: 40 } }), /one of them/],
      ['BAD_COMMAND', JSON.stringify({ by: 'x', for: 'soon', concurrency: { critical: 40 } }), /ISO-8601/],
      ['BAD_COMMAND', JSON.stringify({ by: 'x', for: 'PT1H', concurrency: { critical: 1e9 } }), /critical/],
      ['BAD_COMMAND', JSON.stringify({ by: 'x', for: 'PT1H', concurrency: { urgent: 4 } }), /./],
      ['BAD_COMMAND', JSON.stringify({ by: 'x', for: 'PT1H', concurrency: { critical: 4 }, sudo: true }), /./],
      ['BAD_COMMAND', JSON.stringify({ for: 'PT1H', concurrency: { critical: 4 } }), /by/],
      ['BAD_COMMAND', JSON.stringify({ by: 'x', for: 'PT1H' }), /concurrency.*replicas/],
      ['BAD_COMMAND', 'null', /./],
      ['BAD_JSON', '{"by":', /JSON/],
      ['PAYLOAD_TOO_LARGE', JSON.stringify({ by: 'x'.repeat(900 * 1024), for: 'PT1H', concurrency: { critical: 4 } }), /exceeds/],
    ];
    for (const [code, body, message] of bad) {
      const reply = await ask(rt, body);
      expect(reply, String(body).slice(0, 80)).toMatchObject({ ok: false, error: { code } });
      expect(reply.error!.message).toMatch(message);
      expect(reply.error!.message).not.toMatch(/Cannot read|undefined|TypeError/); // no internal error leaks
    }
    const rejects = await waitFor('every refusal recorded', async () => {
      const all = await readAll<{ code: string; subject: string }>(nc, rt.names.streams.rejects);
      return all.length === bad.length ? all : undefined;
    }, 20_000);
    expect(rejects.map((r) => r.data.code)).toEqual(bad.map(([code]) => code));
    expect(new Set(rejects.map((r) => r.subject))).toEqual(new Set([`${rt.names.prefix}.rejects.override`]));

    // Still deciding, and a good override applies.
    const good = await ask(rt, JSON.stringify({ by: 'alice', for: 'PT10M', concurrency: { critical: 40 } }));
    expect(good).toMatchObject({ ok: true, concurrency: { critical: 40 } });
    expect(rt.dispatcher.concurrency.critical).toBe(40);
    expect(rt.supervisor!.snapshot!.status).toBe('active');
  });

  it('override - a supervisor snapshot in KV that would not run is reported and replaced at start, not resumed into a crash', async () => {
    const prefix = uniqueName('ov');
    const first = await runtimeAt(prefix);
    const kv = first.topology.runtime;
    await first.stop();
    runtimes.length = 0;
    // What the hostile run left behind: the machine in error, and an override no date can print.
    const valid = createActor(supervisorMachine, { input: {} }).start().getPersistedSnapshot() as unknown as Record<string, unknown>;
    const broken = [
      { ...valid, status: 'error', error: {} },
      { ...valid, context: { ...(valid['context'] as object), override: { by: 'x', until: 1e308, at: 1, concurrency: { critical: 40 } } } },
      { ...valid, context: { ...(valid['context'] as object), config: { seasonMonths: [0] } } },
    ];
    for (const snapshot of [...broken.map((b) => JSON.stringify(b)), 'not json', '']) {
      await kv.put('supervisor.snapshot', snapshot);
      const rt = await runtimeAt(prefix);
      // Running on the configuration: it ticks, and the first decision stores a snapshot that is fit to resume.
      await waitFor('a fit snapshot stored again', async () => {
        const e = await kv.get('supervisor.snapshot');
        return e !== null && e.value.length > 0 && supervisorSnapshotProblem(JSON.parse(e.string())) === undefined;
      }, 10_000);
      expect(rt.supervisor!.snapshot!.status).toBe('active');
      await rt.stop();
      runtimes.length = 0;
    }
  });

  it('override - the machine itself ignores an override whose expiry no date can hold', () => {
    expect(overrideProblem({ now: 1, until: 1e308, by: 'x', concurrency: { critical: 4 } })).toMatch(/last instant/);
    const actor = createActor(supervisorMachine, { input: {} }).start();
    actor.send({ type: 'OVERRIDE', now: 1, until: 1e308, by: 'x', concurrency: { critical: 40 } });
    expect(actor.getSnapshot().status).toBe('active');
    expect(actor.getSnapshot().context.override).toBeNull();
    expect(supervisorSnapshotProblem(actor.getPersistedSnapshot())).toBeUndefined();
  });
});

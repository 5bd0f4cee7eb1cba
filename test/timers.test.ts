import { afterAll, describe, expect, it } from 'vitest';
import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { JourneyClient } from '../runtime/client.ts';
import { useNats, uniqueName, waitFor, type TestServer } from './harness/nats.ts';
import { spawnRuntime, type RuntimeProcess } from './harness/processes.ts';
import { createObservationStream } from './harness/streams.ts';

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

const COUNT = 2_000;
/** 15× the 1 s target, over 3× the worst seen here with two cores at load 6 (4.4 s), a quarter of the 60 s timer slot. */
const GENEROUS_LATE_MS = 15_000;

interface Fired {
  key: string;
  at: number;
  due: string;
  pid: number;
}
let server: TestServer;
let nc: NatsConnection;
useNats((s, c) => ([server, nc] = [s, c]));
const procs: RuntimeProcess[] = [];

afterAll(async () => {
  await Promise.all(procs.map((p) => p.kill('SIGKILL')));
});

describe('durable timers', () => {
  it('timers - thousands with spread due times all fire, never early, and promptly across a SIGKILL and restart', async () => {
    const prefix = uniqueName('t');
    const obs = `${prefix.toUpperCase()}OBS`;
    await createObservationStream(nc, obs, [`${prefix}obs.>`]); // the runtime's handler publishes there with JetStream
    // Every invocation, repeats included (work held by the killed runtime is redelivered); a key is one timer.
    const fired: Fired[] = [];
    const keys = new Set<string>();
    const sub = nc.subscribe(`${prefix}obs.>`, {
      callback: (_e, m) => {
        const f = m.json<Fired>();
        fired.push(f);
        keys.add(f.key);
      },
    });
    const env = { NATS_URL: server.url, JRN_PREFIX: prefix, ACK_WAIT_MS: '1000' };
    const first = await spawnRuntime(env);
    procs.push(first);
    const client = new JourneyClient(nc, prefix);
    await (await client.definitions()).deploy(atInstant);

    const js = jetstream(nc);
    const base = Date.now() + 4_000;
    const dues = Array.from({ length: COUNT }, (_, i) => base + Math.floor((i / COUNT) * 20_000));
    await Promise.all(
      dues.map((due, i) =>
        js.publish(`${prefix}.cmd.start`, JSON.stringify({ supplierId: 'tim', clientId: `c${i}`, journeyId: 'at-instant', timeZone: 'UTC', data: { fireAt: new Date(due).toISOString() } })),
      ),
    );

    // Kill the only runtime a third of the way through (due ~11 s from now), and start a replacement. The two limits
    // and the spawns stay under the test's 60 s.
    await waitFor('a third of the timers fired', () => keys.size >= COUNT / 3, 20_000);
    await first.kill('SIGKILL');
    const killedAt = Date.now();
    const second = await spawnRuntime(env);
    procs.push(second);
    const readyAt = Date.now();

    await waitFor(`every timer fired (${COUNT} distinct keys)`, () => keys.size >= COUNT, 30_000, 200);
    sub.unsubscribe();
    expect(keys.size).toBe(COUNT);

    for (const f of fired) expect(f.at, `${f.key} ran before its due time`).toBeGreaterThanOrEqual(Date.parse(f.due));
    // Lateness is the first call per key: a repeat is redelivered work, not a late timer.
    const firsts = new Map<string, Fired>();
    for (const f of fired) {
      const seen = firsts.get(f.key);
      if (!seen || f.at < seen.at) firsts.set(f.key, f);
    }
    let maxLateUp = 0;
    let maxLateDown = 0;
    let dueInGap = 0;
    for (const f of firsts.values()) {
      const due = Date.parse(f.due);
      // Due while no runtime was up (or held unacked by the killed one): counted from the replacement being ready.
      if (due >= killedAt - 1_500 && due <= readyAt) maxLateDown = Math.max(maxLateDown, f.at - readyAt);
      else maxLateUp = Math.max(maxLateUp, f.at - due);
      if (due >= killedAt && due <= readyAt) {
        dueInGap++;
        expect(f.pid, `${f.key} was due after the kill`).toBe(second.pid);
      }
    }
    expect(dueInGap).toBeGreaterThan(0); // the restart really had timers to catch up on
    const lates = [...firsts.values()].map((f) => f.at - Date.parse(f.due)).sort((a, b) => a - b);
    console.log(`timers: lateness p50 ${lates[Math.floor(lates.length / 2)]} ms, p99 ${lates[Math.floor(lates.length * 0.99)]} ms; max ${maxLateUp} ms while up; ${maxLateDown} ms after the restart for those due in the ${readyAt - killedAt} ms gap (${dueInGap}); ${fired.length - COUNT} repeats`);
    // The 1 s target is the benchmark's to measure (bench/, lateness): a busy two-core machine can hold a test up for
    // seconds. The bound here is generous, and still catches a timer missed and only fired by a later pass or slot.
    expect(maxLateUp).toBeLessThan(GENEROUS_LATE_MS);
    expect(maxLateDown).toBeLessThan(GENEROUS_LATE_MS);
  });
});

import { afterAll, describe, expect, it } from 'vitest';
import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { JourneyClient } from '../runtime/client.ts';
import { useNats, uniqueName, waitFor, type TestServer } from './harness/nats.ts';
import { spawnRuntime, type RuntimeProcess } from './harness/processes.ts';
import { createObservationStream, readAll, streamCount } from './harness/streams.ts';

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
let server: TestServer;
let nc: NatsConnection;
useNats((s, c) => ([server, nc] = [s, c]));
const procs: RuntimeProcess[] = [];

afterAll(async () => {
  await Promise.all(procs.map((p) => p.kill('SIGKILL')));
});

describe('durable timers', () => {
  it('timers - thousands with spread due times fire within 1 s of due, across a SIGKILL and restart', async () => {
    const prefix = uniqueName('t');
    const obs = `${prefix.toUpperCase()}OBS`;
    await createObservationStream(nc, obs, [`${prefix}obs.>`]);
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

    // Kill the only runtime a third of the way through, and start a replacement.
    await waitFor('a third fired', async () => (await streamCount(nc, obs)) >= COUNT / 3, 60_000);
    await first.kill('SIGKILL');
    const killedAt = Date.now();
    const second = await spawnRuntime(env);
    procs.push(second);
    const readyAt = Date.now();

    await waitFor('every timer fired', async () => (await streamCount(nc, obs)) >= COUNT, 90_000, 200);
    const fired = await readAll<{ key: string; at: number; due: string; pid: number }>(nc, obs);
    expect(new Set(fired.map((f) => f.data.key)).size).toBe(COUNT);

    let maxLateUp = 0;
    let maxLateDown = 0;
    for (const { data } of fired) {
      const due = Date.parse(data.due);
      const late = data.at - due;
      expect(late).toBeGreaterThanOrEqual(0); // never early
      // Due while no runtime was up (or held by the killed one): fired within 1 s of the replacement being ready.
      if (due >= killedAt - 1_500 && due <= readyAt) maxLateDown = Math.max(maxLateDown, data.at - readyAt);
      else maxLateUp = Math.max(maxLateUp, late);
    }
    const lates = fired.map((f) => f.data.at - Date.parse(f.data.due)).sort((a, b) => a - b);
    console.log(`timers: lateness p50 ${lates[Math.floor(lates.length / 2)]} ms, p99 ${lates[Math.floor(lates.length * 0.99)]} ms; max ${maxLateUp} ms while up; ${maxLateDown} ms after restart for those due in the ${readyAt - killedAt} ms gap`);
    expect(maxLateUp).toBeLessThan(1_000);
    expect(maxLateDown).toBeLessThan(1_000);
  });
});

/**
 * The NATS server dies under load: `journeys run` (a real child process with its default settings, except that actions
 * are fire-and-forget commands on `<p>.actions.*`: no service answers here) runs executions while the only nats-server
 * is SIGKILLed and restarted on the same port and store: five short outages during 2,000 executions, and one of 60 s
 * during 1,000. The runtime never exits, says 503 on /readyz while the server is down and 200 after, and every
 * execution completes with each action command stored once (the stream dedups on the idempotency key).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { JourneyClient } from '../runtime/client.ts';
import { freePort, startNatsServer, type NatsServerProcess } from '../runtime/nats-server-process.ts';
import { names } from '../runtime/subjects.ts';
import { uniqueName, waitFor } from './harness/nats.ts';
import { readAll } from './harness/streams.ts';
import { weddingInDays } from './fixtures.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** An action, a short wait that falls due during the outages, another action. */
const journey = {
  id: 'through-outages',
  version: 1,
  name: 'Two sends around a wait',
  vendorType: 'venue',
  trigger: { event: 'booking.created' },
  start: 'hello',
  steps: {
    hello: { type: 'action', action: 'email.send', params: { template: 'hello' }, next: 'pause' },
    pause: { type: 'wait', duration: 'PT3S', next: 'bye' },
    bye: { type: 'action', action: 'email.send', params: { template: 'bye' }, next: 'done' },
    done: { type: 'end' },
  },
};

let dir = '';
let server: NatsServerProcess | undefined;
let runtime: ChildProcess | undefined;
let nc: NatsConnection | undefined;

const probe = async (port: number, path: '/readyz' | '/healthz'): Promise<number> => {
  try {
    return (await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(2_000) })).status;
  } catch {
    return -1; // not answering at all
  }
};
const readyz = (port: number): Promise<number> => probe(port, '/readyz');

/**
 * Runs `journeys run` against one nats-server, files `n` executions of {@link journey} and takes the server down `outages`
 * times for `downMs` each while they run, then checks that the runtime never exited, said 503 on /readyz throughout each
 * outage and 200 after, and that every execution completed with each action command stored once.
 */
async function throughOutages(label: string, opts: { n: number; outages: number; downMs: number }): Promise<void> {
  const { n: N, outages: KILLS, downMs } = opts;
  dir = await mkdtemp(join(tmpdir(), 'jrn-nats-crash-'));
  const port = await freePort();
  const start = () => startNatsServer({ dir, port });
  server = await start();
  const prefix = uniqueName('nc');
  const n = names(prefix);
  const httpPort = await freePort();
  let stderr = '';
  const actionsFile = join(dir, 'actions.yaml');
  await writeFile(actionsFile, 'defaults:\n  mode: fire-and-forget\n');
  // `node --import tsx`: one process, so the SIGKILL at the end leaves nothing behind (the tsx CLI forks a child that
  // outlives its parent and reconnected forever to the stopped server, run after run).
  runtime = spawn(process.execPath, ['--import', 'tsx', 'runtime/cli/main.ts', 'run', '--no-sample', '--prefix', prefix, '--actions', actionsFile], {
    cwd: ROOT,
    env: { ...process.env, NATS_URL: server.url, HTTP_PORT: String(httpPort), LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  runtime.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4_000)));
  let exited: number | null | undefined;
  runtime.once('exit', (code) => (exited = code));
  await waitFor('the runtime ready', async () => (await readyz(httpPort)) === 200, 30_000, 200);

  // The test's own connection outlives the outages too.
  nc = await connect({ servers: server.url, maxReconnectAttempts: -1, reconnectTimeWait: 200, noAsyncTraces: true });
  const client = new JourneyClient(nc, prefix);
  await (await client.definitions()).deploy(journey);
  const js = jetstream(nc);
  const weddingDate = weddingInDays(200);
  // Fifty suppliers of at most 40 starts: under `journeys run`'s 100 starts per supplier per minute. In chunks, so a busy
  // machine does not leave the last PubAcks waiting past their timeout.
  for (let from = 0; from < N; from += 500) {
    await Promise.all(
      Array.from({ length: Math.min(500, N - from) }, (_, j) =>
        js.publish(`${prefix}.cmd.start`, JSON.stringify({ supplierId: `s${(from + j) % 50}`, clientId: `c${from + j}`, journeyId: journey.id, weddingDate, timeZone: 'UTC' })),
      ),
    );
  }
  // The test's own connection may still be reconnecting right after a restart: a count is retried until it answers.
  const count = async (filter: { status?: 'done' }): Promise<number> =>
    (await waitFor('a count of the executions', async () => ({ n: (await client.list(filter, 10_000)).length }), 20_000, 200)).n;

  const t0 = Date.now();
  const outages: { readyWhileDown: number[]; liveWhileDown: number[]; startedBefore: number; doneBefore: number }[] = [];
  let started = 0;
  for (let k = 0; k < KILLS; k++) {
    // Each outage comes once the runtime has moved on since the last one (50 more executions started), so every one
    // hits work under way rather than a runtime still reconnecting.
    const since = started;
    started = await waitFor('50 more executions started', async () => {
      const c = await count({});
      return c >= since + 50 ? c : 0;
    }, 60_000, 100);
    const startedBefore = started;
    const doneBefore = await count({ status: 'done' });
    await server.kill();
    // While it is down: not ready, but alive; asked every few seconds of the outage (at least once).
    const readyWhileDown = [await waitFor('/readyz 503 while NATS is down', async () => ((await readyz(httpPort)) === 503 ? 503 : 0), 10_000, 100)];
    const liveWhileDown = [await probe(httpPort, '/healthz')];
    const downUntil = Date.now() + downMs;
    while (Date.now() + 5_000 < downUntil) {
      await new Promise((r) => setTimeout(r, 5_000)); // the outage itself: the one wait here that is meant to pass time
      readyWhileDown.push(exited === undefined ? await readyz(httpPort) : -2);
      liveWhileDown.push(exited === undefined ? await probe(httpPort, '/healthz') : -2);
    }
    await new Promise((r) => setTimeout(r, Math.max(0, downUntil - Date.now()))); // timers fall due meanwhile
    outages.push({ readyWhileDown, liveWhileDown, startedBefore, doneBefore });
    server = await start();
    await waitFor('/readyz 200 once NATS is back', async () => (await readyz(httpPort)) === 200, 30_000, 100);
  }
  const progress: string[] = [];
  try {
    await waitFor(`all ${N} executions done`, async () => {
      const all = await client.list({}, 10_000);
      const by = new Map<string, number>();
      for (const e of all) by.set(`${e.status}/${e.state}`, (by.get(`${e.status}/${e.state}`) ?? 0) + 1);
      progress.push(`${Math.round((Date.now() - t0) / 1000)}s ${all.length} ${JSON.stringify([...by])}`);
      return (by.get('done/completed') ?? 0) === N;
    }, 55_000, 1_000);
  } catch (err) {
    console.log(`${label}: progress (seconds, records, status/state counts)\n${progress.join('\n')}`);
    throw err;
  }
  console.log(`${label}: started/done before each outage ${outages.map((o) => `${o.startedBefore}/${o.doneBefore}`).join(', ')} of ${N}; /readyz while down ${outages.map((o) => o.readyWhileDown.join('/')).join(', ')}; /healthz ${outages.map((o) => o.liveWhileDown.join('/')).join(', ')}`);

  expect(exited, `the runtime exited: ${stderr}`).toBeUndefined();
  // The outages came while work was going on (executions started, not all done): each comes only after more had
  // started, but a slow restart can let the rest finish before the last ones, so most of them, and the first, at least.
  const underWay = outages.filter((o) => o.startedBefore > 0 && o.doneBefore < N);
  expect(underWay.length).toBeGreaterThanOrEqual(Math.ceil(KILLS / 2));
  expect(underWay[0]).toBe(outages[0]);
  expect(outages.every((o) => o.readyWhileDown.every((r) => r === 503))).toBe(true);
  // Alive all along: an orchestrator would not restart it for an outage a restart cannot mend (timers fell due meanwhile).
  expect(outages.every((o) => o.liveWhileDown.every((r) => r === 200))).toBe(true);
  // Each action command stored once per idempotency key: two per execution.
  const effects = await readAll<{ key: string }>(nc, n.streams.actions);
  expect(effects).toHaveLength(2 * N);
  expect(new Set(effects.map((e) => e.msgId)).size).toBe(2 * N);
}

const cleanUp = async (): Promise<void> => {
  runtime?.kill('SIGKILL');
  runtime = undefined;
  await nc?.close().catch(() => undefined);
  nc = undefined;
  await server?.stop();
  server = undefined;
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = '';
};

afterEach(cleanUp);

describe('NATS server crashes', () => {
  it('nats - five SIGKILLs of the only server under load: nothing lost, no effect twice, the runtime never exits', async () => {
    await throughOutages('nats-crash', { n: 2_000, outages: 5, downMs: 1_500 });
  }, 150_000);

  it('nats - the only server down for 60 s under load: the runtime stays up, not ready throughout, nothing lost after', async () => {
    await throughOutages('nats-outage', { n: 1_000, outages: 1, downMs: 60_000 });
  }, 180_000);
});

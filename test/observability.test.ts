import { afterAll, describe, expect, it } from 'vitest';
import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import parsePrometheus from 'parse-prometheus-text-format';
import { pino } from 'pino';
import { startRuntime, type Runtime } from '../runtime/runtime.ts';
import { startHttp } from '../runtime/http.ts';
import { JourneyClient } from '../runtime/client.ts';
import { ActionError } from '../runtime/errors.ts';
import type { AlertEvent } from '../actors/alerts.ts';
import type { StatsMessage } from '../schemas/stats.ts';
import { useNats, uniqueName, waitFor, type TestServer } from './harness/nats.ts';
import { spawnRuntime, type RuntimeProcess } from './harness/processes.ts';
import { createObservationStream } from './harness/streams.ts';
import { oneStep, weddingInDays } from './fixtures.ts';

let server: TestServer;
let nc: NatsConnection;
useNats((s, c) => ([server, nc] = [s, c]));
const procs: RuntimeProcess[] = [];
const runtimes: Runtime[] = [];
afterAll(async () => {
  await Promise.all(runtimes.map((r) => r.stop()));
  await Promise.all(procs.map((p) => p.kill('SIGKILL')));
});

/** Two actions in a row: a text that goes through, then a charge whose handler refuses every time. */
const textThenCharge = {
  id: 'text-then-charge',
  version: 1,
  name: 'Text, then charge',
  vendorType: 'venue',
  trigger: { event: 'booking.created' },
  start: 'text',
  steps: {
    text: { type: 'action', action: 'sms.send', params: { template: 'hello' }, next: 'charge' },
    charge: { type: 'action', action: 'payment.capture', params: { amount: 100 }, next: 'done' },
    done: { type: 'end' },
  },
} as const;

/** The newest message on a subject, collected from a live subscription. */
function latest<T>(subject: string): { get(): T | undefined; all: T[]; stop(): void } {
  const all: T[] = [];
  const sub = nc.subscribe(subject, { callback: (_e, m) => void all.push(m.json<T>()) });
  return { get: () => all.at(-1), all, stop: () => sub.unsubscribe() };
}

describe('stats, alerts and metrics', () => {
  it('stats - cluster-wide counts equal what ran on two instances; when the aggregator dies another takes over', async () => {
    const prefix = uniqueName('o');
    await createObservationStream(nc, `${prefix.toUpperCase()}OBS`, [`${prefix}obs.>`]);
    const env = { NATS_URL: server.url, JRN_PREFIX: prefix, STATS_INTERVAL_MS: '500' };
    const a = await spawnRuntime(env);
    const b = await spawnRuntime(env);
    procs.push(a, b);
    const client = new JourneyClient(nc, prefix);
    await (await client.definitions()).deploy(oneStep);
    const cluster = latest<StatsMessage>(`${prefix}.stats.cluster`);
    const js = jetstream(nc);
    const N = 300;
    await Promise.all(
      Array.from({ length: N }, (_, i) => js.publish(`${prefix}.cmd.start`, JSON.stringify({ supplierId: 's', clientId: `c${i}`, journeyId: 'one-step', weddingDate: '2031-01-01' }))),
    );
    const stats = await waitFor('cluster stats counting every execution', () => {
      const s = cluster.get();
      return s && s.instances === 2 && s.cumulative.totals.completed === N ? s : undefined;
    });
    expect(stats.cumulative.totals.started).toBe(N);
    expect(stats.cumulative.totals.stepsDone).toBe(N);
    expect(stats.cumulative.byVendor['venue']?.completed).toBe(N);

    // Kill whichever instance holds the aggregator lease; the other takes over within the lease TTL.
    const rt = await startRuntime({ nc, prefix, logger: pino({ level: 'silent' }), monitor: false, supervisor: false });
    runtimes.push(rt);
    const holder = async (): Promise<string> => new TextDecoder().decode((await rt.topology.leases.get('stats-aggregator'))!.value);
    const before = await holder();
    const victim = [a, b].find((p) => before.endsWith(`-${p.pid}`))!;
    const survivor = victim === a ? b : a;
    await victim.kill('SIGKILL');
    const seen = cluster.all.length;
    await waitFor('the survivor aggregates', async () => (await holder().catch(() => '')).endsWith(`-${survivor.pid}`), 30_000, 200);
    await waitFor('cluster stats flow again', () => cluster.all.length > seen + 2 && cluster.get()!.instances === 1, 30_000);
    cluster.stop();
  });

  it('alerts - a failure rate on wedding-day executions raises exactly one alert, cleared when the rate recovers', async () => {
    let failing = true;
    const rt = await startRuntime({
      nc,
      prefix: uniqueName('al'),
      logger: pino({ level: 'silent' }),
      monitor: { intervalMs: 250, thresholds: { rateWindowMs: 2_000, minSamples: 20 } },
      handlers: {
        'email.send': async () => {
          if (failing) throw new ActionError('provider down', { retryable: false });
        },
      },
    });
    runtimes.push(rt);
    await rt.definitions.deploy(oneStep);
    const client = new JourneyClient(nc, rt.names.prefix);
    const alerts = latest<AlertEvent>(rt.names.alerts);
    // One per evaluation: the aggregator publishes the cluster stats, then evaluates the alerts on them.
    const evaluations = latest<StatsMessage>(rt.names.statsCluster);
    let n = 0;
    const burst = async (count: number): Promise<void> => {
      // Wedding-day steps are the critical tier: a wedding tomorrow is, and stays so if midnight passes meanwhile.
      const weddingDate = weddingInDays(1);
      await Promise.all(Array.from({ length: count }, () => client.start({ supplierId: 'w', clientId: `c${n++}`, journeyId: 'one-step', weddingDate, timeZone: 'UTC' })));
    };
    // About one in ten wedding-day sends fail, for a while.
    const weddingDay = (type: AlertEvent['type']) => alerts.all.filter((a) => a.type === type && a.rule === 'wedding-day-success');
    while (weddingDay('raised').length === 0) {
      await burst(50);
      failing = false;
      await burst(5);
      failing = true;
      await new Promise((r) => setTimeout(r, 100));
      if (n > 5_000) throw new Error('no alert raised');
    }
    // Failures go on for a dozen more evaluations: still the one alert (de-duplicated). An evaluation's alerts are
    // published before the next cluster stats, so the 13th stats message after the raise closes the 12th evaluation.
    const raisedAt = evaluations.all.length;
    await waitFor('a dozen evaluations after the raise', async () => {
      await burst(20);
      return evaluations.all.length >= raisedAt + 13;
    }, 20_000, 100);
    expect(weddingDay('raised')).toHaveLength(1);
    failing = false;
    await waitFor('the alert clears', async () => {
      await burst(50);
      return weddingDay('cleared').length > 0;
    }, 30_000, 100);
    const raised = weddingDay('raised');
    expect(raised).toHaveLength(1);
    expect(raised[0]!.severity).toBe('critical');
    expect(weddingDay('cleared')).toHaveLength(1);
    alerts.stop();
    evaluations.stop();
  });

  it("metrics - the supervisor's factors after each evaluation: season, saturday, calendar, latency", async () => {
    const rt = await startRuntime({ nc, prefix: uniqueName('mf'), logger: pino({ level: 'silent' }), supervisor: { tickMs: 200 } });
    runtimes.push(rt);
    const http = await startHttp({ runtime: rt, registry: rt.metrics.registry, port: 0, host: '127.0.0.1' });
    try {
      const factors = async () => {
        const families = parsePrometheus(await (await fetch(`http://127.0.0.1:${http.port}/metrics`)).text());
        const f = families.find((x) => x.name === 'journeys_scaling_factor');
        return (f?.metrics ?? []).map((m) => [m.labels?.['factor'], Number(m.value)] as const).sort();
      };
      const seen = await waitFor('the first evaluation', async () => ((await factors()).length > 0 ? await factors() : undefined), 10_000, 100);
      expect(seen.map(([name]) => name)).toEqual(['calendar', 'latency', 'saturday', 'season']);
      // Multipliers, whatever the day: none below 1 (the day's values themselves are the pure policy's tests).
      for (const [name, v] of seen) expect(v, name).toBeGreaterThanOrEqual(1);
    } finally {
      await http.close();
    }
  });

  it('metrics - /metrics parses as Prometheus text and carries the named series; /healthz and /readyz answer', async () => {
    const rt = await startRuntime({ nc, prefix: uniqueName('m'), logger: pino({ level: 'silent' }), handlers: { 'email.send': async () => undefined } });
    runtimes.push(rt);
    await rt.definitions.deploy(oneStep);
    const client = new JourneyClient(nc, rt.names.prefix);
    const id = await client.start({ supplierId: 'm', clientId: 'c', journeyId: 'one-step', weddingDate: '2031-01-01' });
    await waitFor('done', async () => (await client.status(id)).status === 'done');
    const http = await startHttp({ runtime: rt, registry: rt.metrics.registry, port: 0, host: '127.0.0.1' });
    try {
      const res = await fetch(`http://127.0.0.1:${http.port}/metrics`);
      expect(res.headers.get('content-type')).toContain('text/plain');
      const families = parsePrometheus(await res.text());
      const byName = new Map(families.map((f) => [f.name, f]));
      for (const name of [
        'journeys_executions_started_total',
        'journeys_executions_finished_total',
        'journeys_steps_total',
        'journeys_step_duration_seconds',
        'journeys_queue_messages',
        'journeys_concurrency',
        'journeys_desired_replicas',
        'journeys_timers_behind_seconds',
      ]) {
        expect(byName.has(name), name).toBe(true);
      }
      const started = byName.get('journeys_executions_started_total')!.metrics.find((m) => m.labels?.['tier'] === 'low');
      expect(started?.value).toBe('1');
      expect(byName.get('journeys_step_duration_seconds')!.type).toBe('HISTOGRAM');
      expect(byName.get('journeys_queue_messages')!.metrics.map((m) => m.labels?.['tier'])).toContain('critical');
      // Healthy: connected, no due timer held back (one-step has none), work not stalled (it may still be acking).
      const health = await fetch(`http://127.0.0.1:${http.port}/healthz`);
      expect(health.status).toBe(200);
      expect(await health.json()).toEqual({
        ok: true,
        checks: {
          nats: { ok: true, detail: 'connected' },
          timers: { ok: true, detail: 'oldest due timer 0 ms behind' },
          consumers: { ok: true, detail: expect.stringMatching(/^\d+ queued or running; no progress for \d+ ms$/) },
        },
      });
      const ready = await fetch(`http://127.0.0.1:${http.port}/readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toEqual({ ok: true, checks: { nats: { ok: true, detail: 'connected' }, streams: { ok: true, detail: 'present' } } });
    } finally {
      await http.close();
    }
  });

  it('metrics - attempts per action and outcome; a circuit change shows in the gauge and raises one alert, cleared once', async () => {
    const rt = await startRuntime({
      nc,
      prefix: uniqueName('ma'),
      logger: pino({ level: 'silent' }),
      monitor: { intervalMs: 250 },
      supervisor: false,
      handlers: {
        'sms.send': async () => undefined,
        'payment.capture': async () => {
          throw new ActionError('card declined', { retryable: false });
        },
      },
    });
    runtimes.push(rt);
    await rt.definitions.deploy(textThenCharge);
    const alerts = latest<AlertEvent>(rt.names.alerts);
    const evaluations = latest<StatsMessage>(rt.names.statsCluster);
    const http = await startHttp({ runtime: rt, registry: rt.metrics.registry, port: 0, host: '127.0.0.1' });
    try {
      const scrape = async (): Promise<{ text: string; series: (name: string) => { labels: Record<string, string>; value: string }[] }> => {
        const text = await (await fetch(`http://127.0.0.1:${http.port}/metrics`)).text();
        const families = parsePrometheus(text);
        const series = (name: string) =>
          (families.find((f) => f.name === name)?.metrics ?? []).map((m) => ({ labels: m.labels ?? {}, value: m.value ?? '' }));
        return { text, series };
      };
      const attempts = async () =>
        (await scrape())
          .series('journeys_action_attempts_total')
          .map((m) => [m.labels['action'], m.labels['outcome'], m.value])
          .sort();

      const client = new JourneyClient(nc, rt.names.prefix);
      const N = 4;
      const ids = await Promise.all(
        Array.from({ length: N }, (_, i) => client.start({ supplierId: 'ma', clientId: `c${i}`, journeyId: textThenCharge.id, weddingDate: '2031-01-01' })),
      );
      await waitFor('every execution failed at the charge', async () => (await Promise.all(ids.map(async (id) => (await client.status(id)).status))).every((s) => s === 'failed'));
      // Reported once each execution's new state is stored: wait for the counts, then they must be exactly these.
      await waitFor('the attempts counted', async () => (await attempts()).length === 2 && (await attempts()).every(([, , v]) => v === String(N)));
      expect(await attempts()).toEqual([
        ['payment.capture', 'failed', String(N)],
        ['sms.send', 'ok', String(N)],
      ]);
      const { text } = await scrape();
      expect(text).toContain(`journeys_action_duration_seconds_count{action="sms.send"} ${N}\n`);
      expect(text).toContain(`journeys_action_duration_seconds_count{action="payment.capture"} ${N}\n`);

      // A breaker report, as the runtime sends one when an action's circuit changes.
      const gauge = async () => (await scrape()).series('journeys_action_circuit_state').map((m) => [m.labels['action'], m.value]);
      const id = 'action-circuit:payment.capture';
      const of = (type: AlertEvent['type']) => alerts.all.filter((a) => a.id === id && a.type === type);
      rt.monitor!.observe({ type: 'breaker', at: Date.now(), action: 'payment.capture', state: 'open', failureRate: 1 });
      expect(await gauge()).toEqual([['payment.capture', '2']]);
      const raised = await waitFor('the circuit alert', () => of('raised')[0], 10_000);
      expect(raised).toMatchObject({ rule: 'action-circuit', severity: 'warning', key: 'payment.capture', value: 2, threshold: 2 });
      expect(raised.message).toBe('circuit of payment.capture is open: attempts are held (failure rate 100 %)');

      rt.monitor!.observe({ type: 'breaker', at: Date.now(), action: 'payment.capture', state: 'half-open', failureRate: 1 });
      expect(await gauge()).toEqual([['payment.capture', '1']]);
      rt.monitor!.observe({ type: 'breaker', at: Date.now(), action: 'payment.capture', state: 'closed', failureRate: 0 });
      expect(await gauge()).toEqual([['payment.capture', '0']]);
      await waitFor('the circuit alert cleared', () => of('cleared').length > 0, 10_000);
      // Three more evaluations (each publishes its alerts before the next cluster stats): still one raise and one clear.
      const seen = evaluations.all.length;
      await waitFor('three more evaluations', () => evaluations.all.length >= seen + 4, 10_000);
      expect([of('raised').length, of('cleared').length]).toEqual([1, 1]);
      expect(evaluations.get()?.circuits?.['payment.capture']).toMatchObject({ state: 'closed', worst: 'closed' });
      expect(evaluations.get()?.cumulative.byAction?.['payment.capture']).toMatchObject({ ok: 0, failed: N, held: 0, attempts: N, successRate: 0 });
    } finally {
      alerts.stop();
      evaluations.stop();
      await http.close();
    }
  });
});

/**
 * Scenario 3: priority isolation. A backlog of B low-tier single-step starts is enqueued as fast as possible; right after
 * the last one is accepted, critical-tier starts arrive at a steady rate (100/s) for S seconds while the backlog drains.
 * Start latency of a critical item = its enqueue → the action handler being called.
 *
 * - BullMQ: `addBulk` of the backlog with priority 4, then `add` with priority 1.
 * - Ours, phase A (same moment as BullMQ): the backlog is filed with `JourneyClient.publishStarts` (straight into the
 *   low tier's work, bulks of 100 as BullMQ's `addBulk`); the critical starts alternate between `publishStart` (the
 *   start intake of the critical tier) and a `<p>.api.start` request (validated and routed at once).
 * - Ours, phase B: another S seconds of critical starts on `<p>.cmd.start`, the compatibility path through the command
 *   router (its stream holds nothing else, so nothing queues in front of them there).
 * Only critical items enqueued while low-tier work was still waiting count; the low items left at the end of each phase
 * are reported (the backlog must outlast the phase for the figure to mean anything).
 */
import type { ActionInvocation } from '../../runtime/engine/actions.ts';
import { oneStep, startBody, weddingDateFor, BULL_PRIORITY } from '../journeys.ts';
import { consumerLag, encoder, fileStarts, startOurs } from '../ours.ts';
import type { StartCommand } from '../../schemas/commands.ts';
import { startPeer } from '../peer.ts';
import { Histogram, now, paced, pool, sleep, spread, until, type LatencySummary } from '../stats.ts';
import type { Env, Metric, ScenarioResult } from '../types.ts';

interface RunOut {
  /** Phase A: from the moment the backlog is enqueued (ours: the start intake). */
  critical: LatencySummary;
  /** Ours, phase A: the `api.start` request path. */
  criticalApi?: LatencySummary;
  /** Ours, phase B: the `cmd.start` path. */
  criticalRouted?: LatencySummary;
  routingSeconds?: number;
  backlogLeft: number;
  backlogLeftB?: number;
  backlogEnqueueSeconds: number;
  lowPerSec: number;
}

/** Per-phase latency bookkeeping for the critical arrivals (index → enqueue time and path). */
function criticalTracker(size: number) {
  const t0 = new Float64Array(size);
  const path = new Uint8Array(size); // 0 = intake (phase A), 1 = api (phase A), 2 = cmd (phase B)
  const hist = [new Histogram(), new Histogram(), new Histogram()] as const;
  let handled = 0;
  return {
    t0,
    path,
    hist,
    get handled() {
      return handled;
    },
    sent: (): number => t0.reduce((n, v) => n + (v > 0 ? 1 : 0), 0),
    done(i: number): void {
      if (i < 0 || i >= size || !t0[i]) return;
      hist[path[i] as 0 | 1 | 2].record(now() - t0[i]!);
      t0[i] = -1; // counted once
      handled++;
    },
  };
}

async function oursPriority(env: Env, backlog: number, rate: number, seconds: number): Promise<RunOut> {
  const count = Math.round(rate * seconds);
  const crit = criticalTracker(2 * count);
  let lowDone = 0;
  let lowEnd = 0;
  const tag = `p${Date.now().toString(36)}`;
  const handler = async (inv: ActionInvocation): Promise<undefined> => {
    if (inv.clientId.startsWith('w')) {
      if (inv.attempt === 1) crit.done(Number(inv.clientId.slice(1)));
    } else if (++lowDone === backlog) lowEnd = now();
    return undefined;
  };
  const run = await startOurs({
    url: env.nats.url,
    base: 'prio',
    concurrency: env.shared.oursConcurrency ?? 64,
    handlers: { 'email.send': handler },
    definitions: [oneStep],
  });
  const cmd = `${run.prefix}.cmd.start`;
  const api = `${run.prefix}.api.start`;
  const critical = weddingDateFor('critical');
  const criticalStart = (i: number): StartCommand => ({
    supplierId: 'wedding-day',
    clientId: `w${i}`,
    journeyId: oneStep.id,
    weddingDate: critical,
    timeZone: 'UTC',
  });
  const criticalBody = (i: number): Uint8Array => encoder.encode(JSON.stringify(criticalStart(i)));
  const routerLag = (): Promise<number> =>
    consumerLag(run.jsm, run.rt.names.streams.cmd, run.rt.names.routerConsumer).catch(() => 1);
  try {
    // Warm-up: 200 of each tier (all counted as 'low' by the handler: only clients `w…` are the measured critical ones).
    const warm = Array.from({ length: 400 }, (_, i) => startBody(oneStep.id, `${tag}x`, i, i % 2 ? 'low' : 'critical'));
    await fileStarts(run.client, warm, 0, warm.length, () => undefined);
    await until('warm-up done', () => lowDone >= 400, 60_000);
    lowDone = 0;
    const t = now();
    const low = Array.from({ length: backlog }, (_, i) => startBody(oneStep.id, `${tag}l`, i, 'low'));
    await fileStarts(run.client, low, 0, backlog, () => undefined);
    const enqueueSeconds = (now() - t) / 1000;
    // Phase A: critical starts from the moment the backlog is in, alternating the start intake and the request path.
    await paced(count, rate, (i) => {
      if (lowDone >= backlog) return;
      crit.t0[i] = now();
      crit.path[i] = i % 2;
      if (i % 2 === 0) void run.client.publishStart(criticalStart(i)).catch(() => undefined);
      else void run.producer.request(api, criticalBody(i), { timeout: 60_000 }).catch(() => undefined);
    });
    const leftA = backlog - lowDone;
    // Phase B: the compatibility path, once the command router has nothing queued (at once: the backlog never went there).
    let leftB: number | undefined;
    await until('the router to route the backlog', async () => (await routerLag()) === 0, 60_000 + backlog * 2, 50);
    const routingSeconds = (now() - t) / 1000;
    if (lowDone < backlog) {
      await paced(count, rate, (k) => {
        if (lowDone >= backlog) return;
        const i = count + k;
        crit.t0[i] = now();
        crit.path[i] = 2;
        void run.js.publish(cmd, criticalBody(i)).catch(() => undefined);
      });
      leftB = backlog - lowDone;
    }
    const sent = crit.sent();
    await until('critical starts handled', () => crit.handled >= sent, 60_000);
    // Drain rate until the backlog was gone, or until now if it is not.
    const lowPerSec = lowDone / (((lowEnd || now()) - t) / 1000);
    return {
      critical: crit.hist[0].summary(),
      criticalApi: crit.hist[1].summary(),
      criticalRouted: crit.hist[2].summary(),
      routingSeconds,
      backlogLeft: leftA,
      ...(leftB !== undefined ? { backlogLeftB: leftB } : {}),
      backlogEnqueueSeconds: enqueueSeconds,
      lowPerSec,
    };
  } finally {
    await run.close();
  }
}

interface PrioData {
  i: number;
  critical: boolean;
  supplierId: string;
  clientId: string;
  journeyId: string;
  weddingDate: string;
  timeZone: string;
}

async function peerPriority(env: Env, backlog: number, rate: number, seconds: number): Promise<RunOut> {
  const count = Math.round(rate * seconds);
  const crit = criticalTracker(count);
  let lowDone = 0;
  let lowEnd = 0;
  const run = await startPeer<PrioData>({
    redis: env.redis,
    base: 'prio',
    concurrency: env.shared.peerConcurrency ?? 100,
    processor: async (job) => {
      if (job.data.critical) crit.done(job.data.i);
      else if (++lowDone === backlog) lowEnd = now();
    },
  });
  const data = (i: number, critical: boolean): PrioData => ({
    ...startBody(oneStep.id, critical ? 'w' : 'l', i, critical ? 'critical' : 'low'),
    i,
    critical,
  });
  try {
    await run.queue.addBulk(
      Array.from({ length: 400 }, (_, i) => ({
        name: 'warm',
        data: data(-1, i % 2 === 0),
        opts: { priority: i % 2 ? BULL_PRIORITY.low : BULL_PRIORITY.critical },
      })),
    );
    await until('warm-up done', () => lowDone >= 200, 60_000);
    await sleep(200);
    lowDone = 0;
    const t = now();
    await pool(Math.ceil(backlog / 100), 10, async (c) => {
      const jobs = [];
      for (let i = c * 100; i < Math.min(backlog, c * 100 + 100); i++)
        jobs.push({ name: 'low', data: data(i, false), opts: { priority: BULL_PRIORITY.low } });
      await run.queue.addBulk(jobs);
    });
    const enqueueSeconds = (now() - t) / 1000;
    await paced(count, rate, (i) => {
      if (lowDone >= backlog) return;
      crit.t0[i] = now();
      void run.queue.add('critical', data(i, true), { priority: BULL_PRIORITY.critical }).catch(() => undefined);
    });
    const left = backlog - lowDone;
    const sent = crit.sent();
    await until('critical jobs handled', () => crit.handled >= sent, 60_000);
    return {
      critical: crit.hist[0].summary(),
      backlogLeft: left,
      backlogEnqueueSeconds: enqueueSeconds,
      lowPerSec: lowDone / (((lowEnd || now()) - t) / 1000),
    };
  } finally {
    await run.close();
  }
}

const ms = (s: LatencySummary | undefined): string =>
  s && s.count ? `${s.p50.toFixed(1)}/${s.p99.toFixed(1)}/${s.max.toFixed(1)} ms (${s.count})` : '–';

export async function priorityScenario(env: Env): Promise<Omit<ScenarioResult, 'id' | 'seconds'>> {
  const { backlog, rate, seconds } = env.cfg.priority;
  const ours: RunOut[] = [];
  const peer: RunOut[] = [];
  const runs: Record<string, unknown>[] = [];
  for (let r = 0; r < env.cfg.reps; r++) {
    for (const side of r % 2 === 0 ? (['ours', 'peer'] as const) : (['peer', 'ours'] as const)) {
      const out =
        side === 'ours'
          ? await oursPriority(env, backlog, rate, seconds)
          : await peerPriority(env, backlog, rate, seconds);
      (side === 'ours' ? ours : peer).push(out);
      runs.push({ rep: r + 1, side, ...out });
      env.log(
        `  rep ${r + 1} ${side}: critical p50/p99/max ${ms(out.critical)}, ${out.backlogLeft} low left` +
          (side === 'ours'
            ? `; api.start ${ms(out.criticalApi)}; routed after ${out.routingSeconds?.toFixed(1)} s, then ${ms(out.criticalRouted)}, ${out.backlogLeftB ?? 0} low left`
            : ''),
      );
    }
  }
  const notes: string[] = [];
  const short =
    [...ours, ...peer].filter((o) => o.backlogLeft <= 0).length + ours.filter((o) => (o.backlogLeftB ?? 0) <= 0).length;
  if (short > 0)
    notes.push(`in ${short} phase(s) the backlog drained before the phase ended: only arrivals before that count`);
  const p99 = (o: RunOut[], f: (x: RunOut) => LatencySummary | undefined) =>
    spread(o.map((x) => (f(x)?.count ? f(x)!.p99 : NaN)));
  const target = { op: '<=' as const, value: 10, text: '≤ 10 ms' };
  const metrics: Metric[] = [
    {
      key: 'criticalP99',
      label: 'critical p99, starts filed (publishStart) right after the backlog',
      unit: 'ms',
      better: 'lower',
      peerName: 'BullMQ',
      ours: p99(ours, (x) => x.critical),
      peer: p99(peer, (x) => x.critical),
      target,
    },
    {
      key: 'criticalP99Api',
      label: 'ours via api.start request (same phase)',
      unit: 'ms',
      better: 'lower',
      peerName: 'BullMQ',
      ours: p99(ours, (x) => x.criticalApi),
      peer: p99(peer, (x) => x.critical),
      target,
    },
    {
      key: 'criticalP99Routed',
      label: 'ours via cmd.start (router path), backlog in the low tier',
      unit: 'ms',
      better: 'lower',
      peerName: 'BullMQ',
      ours: p99(ours, (x) => x.criticalRouted),
      peer: p99(peer, (x) => x.critical),
      target,
    },
    {
      key: 'criticalP50',
      label: 'critical p50, starts filed (publishStart) right after the backlog',
      unit: 'ms',
      better: 'lower',
      peerName: 'BullMQ',
      ours: spread(ours.map((o) => o.critical.p50)),
      peer: spread(peer.map((o) => o.critical.p50)),
    },
    {
      key: 'lowPerSec',
      label: 'backlog drain rate meanwhile',
      unit: 'executions/s',
      better: 'higher',
      peerName: 'BullMQ',
      ours: spread(ours.map((o) => o.lowPerSec)),
      peer: spread(peer.map((o) => o.lowPerSec)),
    },
  ];
  return {
    key: 'priority',
    title: `Priority isolation: critical starts at ${rate}/s behind a ${backlog} low-tier backlog`,
    params: {
      backlog,
      rate,
      seconds,
      oursConcurrency: env.shared.oursConcurrency ?? 64,
      peerConcurrency: env.shared.peerConcurrency ?? 100,
    },
    metrics,
    notes: [
      "BullMQ's backlog is in its priority queue as soon as addBulk returns, so its one figure is compared with each of ours",
      ...notes,
    ],
    runs,
  };
}

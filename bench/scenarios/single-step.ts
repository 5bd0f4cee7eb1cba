/**
 * Scenario 1: single-step journeys, four tiers mixed. Enqueue = the client's start (ours: `JourneyClient.publishStarts`,
 * filed straight into the tier's work stream, PubAcks awaited; BullMQ: `addBulk` with the tier's priority), in bulks of
 * 100 with 10 bulks in flight on both sides; the paced phase adds one at a time (`publishStart`, `add`). Complete = the execution's final state is durably written
 * (ours: the executor's `onFinish` hook, after the `done` record is stored in KV; BullMQ: the worker's `completed`
 * event, after the job is moved to completed). The action handler is a no-op on both sides.
 * Per run: a warm-up, then a burst of N (throughput = N / (last completion − first enqueue); the burst's latencies include
 * queueing), then a paced phase at a fixed rate below both systems' capacity (latency without a backlog).
 */
import { executionIdOf } from '../../runtime/engine/execution-record.ts';
import { oneStep, startBody, mixedTier, BULL_PRIORITY, type StartBody } from '../journeys.ts';
import { fileStarts, startOurs } from '../ours.ts';
import { startPeer } from '../peer.ts';
import { Histogram, now, paced, pool, spread, until, type LatencySummary } from '../stats.ts';
import type { Env, Metric, ScenarioResult } from '../types.ts';

interface RunOut {
  n: number;
  concurrency: number;
  seconds: number;
  perSec: number;
  burst: LatencySummary;
  paced?: LatencySummary;
}

interface Plan {
  warm: number;
  n: number;
  concurrency: number;
  pacedRate: number;
  pacedCount: number;
}

/** Items of one run: warm-up, burst, paced, each with its own latency histogram. */
function tracker(plan: Plan) {
  const total = plan.warm + plan.n + plan.pacedCount;
  const t0 = new Float64Array(total);
  const done = new Uint8Array(total);
  const hist = { warm: new Histogram(), burst: new Histogram(), paced: new Histogram() };
  const count = { warm: 0, burst: 0, paced: 0 };
  let lastBurst = 0;
  const phaseOf = (i: number): keyof typeof hist =>
    i < plan.warm ? 'warm' : i < plan.warm + plan.n ? 'burst' : 'paced';
  return {
    total,
    t0,
    hist,
    count,
    get lastBurst() {
      return lastBurst;
    },
    finish(i: number): void {
      if (done[i]) return;
      done[i] = 1;
      const t = now();
      const phase = phaseOf(i);
      hist[phase].record(t - t0[i]!);
      count[phase]++;
      if (phase === 'burst') lastBurst = t;
    },
  };
}

const bodies = (tag: string, total: number): StartBody[] =>
  Array.from({ length: total }, (_, i) => startBody(oneStep.id, tag, i, mixedTier(i)));
const timeoutFor = (n: number): number => 60_000 + n * 2;

export async function oursSingle(env: Env, plan: Plan): Promise<RunOut> {
  const tr = tracker(plan);
  const tag = `c${Date.now().toString(36)}`;
  const items = bodies(tag, tr.total);
  const ids = new Map(items.map((b, i) => [executionIdOf(b), i]));
  const run = await startOurs({
    url: env.nats.url,
    base: 'one',
    concurrency: plan.concurrency,
    handlers: { 'email.send': async () => undefined },
    hooks: {
      onFinish: (e) => {
        const i = ids.get(e.executionId);
        if (i !== undefined) tr.finish(i);
      },
    },
    definitions: [oneStep],
  });
  const addRange = (from: number, count: number): Promise<void> => fileStarts(run.client, items, from, count, (i) => (tr.t0[i] = now()));
  try {
    await addRange(0, plan.warm);
    await until('warm-up done', () => tr.count.warm === plan.warm, timeoutFor(plan.warm));
    const start = now();
    await addRange(plan.warm, plan.n);
    await until('burst done', () => tr.count.burst === plan.n, timeoutFor(plan.n));
    const seconds = (tr.lastBurst - start) / 1000;
    if (plan.pacedCount > 0) {
      const base = plan.warm + plan.n;
      await paced(plan.pacedCount, plan.pacedRate, (k) => {
        const i = base + k;
        tr.t0[i] = now();
        void run.client.publishStart(items[i]!).catch(() => undefined);
      });
      await until('paced phase done', () => tr.count.paced === plan.pacedCount, timeoutFor(plan.pacedCount));
    }
    return {
      n: plan.n,
      concurrency: plan.concurrency,
      seconds,
      perSec: plan.n / seconds,
      burst: tr.hist.burst.summary(),
      ...(plan.pacedCount > 0 ? { paced: tr.hist.paced.summary() } : {}),
    };
  } finally {
    await run.close();
  }
}

export async function peerSingle(env: Env, plan: Plan): Promise<RunOut> {
  const tr = tracker(plan);
  const items = bodies('c', tr.total);
  const run = await startPeer<StartBody & { i: number }>({
    redis: env.redis,
    base: 'one',
    concurrency: plan.concurrency,
    processor: async () => undefined,
  });
  run.worker.on('completed', (job) => tr.finish(job.data.i));
  const job = (i: number) => ({
    name: 'send',
    data: { ...items[i]!, i },
    opts: { priority: BULL_PRIORITY[mixedTier(i)] },
  });
  // Bulk adds of 100 jobs, 10 bulks in flight: 1,000 jobs in flight, as on our side.
  const addRange = async (from: number, count: number): Promise<void> => {
    const chunks = Math.ceil(count / 100);
    await pool(chunks, 10, async (c) => {
      const lo = from + c * 100;
      const hi = Math.min(from + count, lo + 100);
      const jobs = [];
      for (let i = lo; i < hi; i++) {
        tr.t0[i] = now();
        jobs.push(job(i));
      }
      await run.queue.addBulk(jobs);
    });
  };
  try {
    await addRange(0, plan.warm);
    await until('warm-up done', () => tr.count.warm === plan.warm, timeoutFor(plan.warm));
    const start = now();
    await addRange(plan.warm, plan.n);
    await until('burst done', () => tr.count.burst === plan.n, timeoutFor(plan.n));
    const seconds = (tr.lastBurst - start) / 1000;
    if (plan.pacedCount > 0) {
      const base = plan.warm + plan.n;
      await paced(plan.pacedCount, plan.pacedRate, (k) => {
        const i = base + k;
        tr.t0[i] = now();
        const j = job(i);
        void run.queue.add(j.name, j.data, j.opts).catch(() => undefined);
      });
      await until('paced phase done', () => tr.count.paced === plan.pacedCount, timeoutFor(plan.pacedCount));
    }
    return {
      n: plan.n,
      concurrency: plan.concurrency,
      seconds,
      perSec: plan.n / seconds,
      burst: tr.hist.burst.summary(),
      ...(plan.pacedCount > 0 ? { paced: tr.hist.paced.summary() } : {}),
    };
  } finally {
    await run.close();
  }
}

/** Picks the concurrency with the best throughput, one short run per candidate. */
async function tune(
  env: Env,
  side: 'ours' | 'peer',
  candidates: number[],
  runs: Record<string, unknown>[],
): Promise<number> {
  const c = env.cfg.single;
  if (candidates.length === 1 || c.tuneN === 0) return candidates[0]!;
  let best = candidates[0]!;
  let bestRate = 0;
  for (const concurrency of candidates) {
    const plan = { warm: c.warm, n: c.tuneN, concurrency, pacedRate: 0, pacedCount: 0 };
    const out = side === 'ours' ? await oursSingle(env, plan) : await peerSingle(env, plan);
    env.log(`  tune ${side} concurrency ${concurrency}: ${Math.round(out.perSec)}/s`);
    runs.push({ phase: 'tune', side, concurrency, perSec: out.perSec });
    if (out.perSec > bestRate) {
      bestRate = out.perSec;
      best = concurrency;
    }
  }
  return best;
}

export async function singleStep(env: Env): Promise<Omit<ScenarioResult, 'id' | 'seconds'>> {
  const c = env.cfg.single;
  const runs: Record<string, unknown>[] = [];
  const oursC = await tune(env, 'ours', c.oursConcurrency, runs);
  const peerC = await tune(env, 'peer', c.peerConcurrency, runs);
  env.shared.oursConcurrency = oursC;
  env.shared.peerConcurrency = peerC;
  const pacedCount = Math.round(c.pacedRate * c.pacedSeconds);
  const ours: RunOut[] = [];
  const peer: RunOut[] = [];
  for (let r = 0; r < env.cfg.reps; r++) {
    // Alternate the order so neither side always runs on a warmer (or more fragmented) server.
    for (const side of r % 2 === 0 ? (['ours', 'peer'] as const) : (['peer', 'ours'] as const)) {
      const plan = {
        warm: c.warm,
        n: c.n,
        concurrency: side === 'ours' ? oursC : peerC,
        pacedRate: c.pacedRate,
        pacedCount,
      };
      const out = side === 'ours' ? await oursSingle(env, plan) : await peerSingle(env, plan);
      (side === 'ours' ? ours : peer).push(out);
      runs.push({ phase: 'measure', rep: r + 1, side, ...out });
      env.log(
        `  rep ${r + 1} ${side}: ${Math.round(out.perSec)}/s, burst p50 ${out.burst.p50.toFixed(0)} ms, paced p50/p99 ${out.paced?.p50.toFixed(1)}/${out.paced?.p99.toFixed(1)} ms`,
      );
    }
  }
  env.shared.oursSingle = spread(ours.map((o) => o.perSec));
  env.shared.oursRate = env.shared.oursSingle.median;
  env.shared.peerRate = spread(peer.map((o) => o.perSec)).median;
  const m = (
    key: string,
    label: string,
    unit: string,
    better: Metric['better'],
    f: (o: RunOut) => number | undefined,
  ): Metric => ({
    key,
    label,
    unit,
    better,
    peerName: 'BullMQ',
    ours: spread(ours.map((o) => f(o) ?? NaN)),
    peer: spread(peer.map((o) => f(o) ?? NaN)),
  });
  return {
    key: 'single-step',
    title: `Single-step journeys, four tiers mixed (N = ${c.n})`,
    params: {
      n: c.n,
      warm: c.warm,
      pacedRate: c.pacedRate,
      pacedSeconds: c.pacedSeconds,
      oursConcurrency: oursC,
      peerConcurrency: peerC,
      candidates: { ours: c.oursConcurrency, peer: c.peerConcurrency },
    },
    metrics: [
      m('throughput', 'enqueue-to-complete throughput', 'executions/s', 'higher', (o) => o.perSec),
      m('pacedP50', `latency p50 at ${c.pacedRate}/s`, 'ms', 'lower', (o) => o.paced?.p50),
      m('pacedP99', `latency p99 at ${c.pacedRate}/s`, 'ms', 'lower', (o) => o.paced?.p99),
      m('burstP50', `latency p50 in the ${c.n} burst (includes queueing)`, 'ms', 'lower', (o) => o.burst.p50),
      m('burstP99', `latency p99 in the ${c.n} burst (includes queueing)`, 'ms', 'lower', (o) => o.burst.p99),
    ],
    notes: [
      c.tuneN > 0 && (c.oursConcurrency.length > 1 || c.peerConcurrency.length > 1)
        ? `concurrency: ours ${oursC} (of ${c.oursConcurrency.join(', ')}), BullMQ ${peerC} (of ${c.peerConcurrency.join(', ')}), best throughput in a ${c.tuneN}-execution tuning run each`
        : `concurrency: ours ${oursC}, BullMQ ${peerC} (not tuned)`,
    ],
    runs,
  };
}

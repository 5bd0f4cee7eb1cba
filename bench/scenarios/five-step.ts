/**
 * Scenario 2: five-step journeys (action, 1 s timer, branch, action, action), end to end: steps per second =
 * 5 × N / (last completion − first enqueue), with every execution started in one burst.
 * Ours: the `bench-five` definition; the wait is a durable timer. BullMQ: the "process step jobs" pattern from its docs,
 * the step saved with `job.updateData` after each step and the wait done with `job.moveToDelayed` + `DelayedError`.
 */
import { DelayedError } from 'bullmq';
import { executionIdOf } from '../../runtime/engine/execution-record.ts';
import { FIVE_STEPS, fiveStep, mixedTier, startBody, BULL_PRIORITY, type StartBody } from '../journeys.ts';
import { fileStarts, startOurs } from '../ours.ts';
import { startPeer, type Job } from '../peer.ts';
import { Histogram, now, pool, spread, until, type LatencySummary } from '../stats.ts';
import type { Env, ScenarioResult } from '../types.ts';

interface RunOut {
  n: number;
  seconds: number;
  stepsPerSec: number;
  latency: LatencySummary;
}

const noop = async (): Promise<undefined> => undefined;
const guestsOf = (i: number): number => (i % 2 === 0 ? 150 : 60);

function tracker(warm: number, n: number) {
  const t0 = new Float64Array(warm + n);
  const done = new Uint8Array(warm + n);
  const hist = new Histogram();
  let warmDone = 0;
  let measuredDone = 0;
  let last = 0;
  return {
    t0,
    hist,
    get warmDone() {
      return warmDone;
    },
    get measuredDone() {
      return measuredDone;
    },
    get last() {
      return last;
    },
    finish(i: number): void {
      if (done[i]) return;
      done[i] = 1;
      if (i < warm) {
        warmDone++;
        return;
      }
      last = now();
      hist.record(last - t0[i]!);
      measuredDone++;
    },
  };
}

async function oursFive(env: Env, warm: number, n: number): Promise<RunOut> {
  const tr = tracker(warm, n);
  const tag = `f${Date.now().toString(36)}`;
  const items = Array.from({ length: warm + n }, (_, i) =>
    startBody(fiveStep.id, tag, i, mixedTier(i), { guests: guestsOf(i) }),
  );
  const ids = new Map(items.map((b, i) => [executionIdOf(b), i]));
  const run = await startOurs({
    url: env.nats.url,
    base: 'five',
    concurrency: env.shared.oursConcurrency ?? 64,
    handlers: { 'email.send': noop, 'sms.send': noop, 'task.create': noop },
    hooks: {
      onFinish: (e) => {
        const i = ids.get(e.executionId);
        if (i !== undefined) tr.finish(i);
      },
    },
    definitions: [fiveStep],
  });
  const sent = (i: number): void => void (tr.t0[i] = now());
  try {
    await fileStarts(run.client, items, 0, warm, sent);
    await until('warm-up done', () => tr.warmDone === warm, 60_000 + warm * 5);
    const start = now();
    await fileStarts(run.client, items, warm, n, sent);
    await until('five-step executions done', () => tr.measuredDone === n, 60_000 + n * 5);
    const seconds = (tr.last - start) / 1000;
    return { n, seconds, stepsPerSec: (FIVE_STEPS * n) / seconds, latency: tr.hist.summary() };
  } finally {
    await run.close();
  }
}

type FiveData = StartBody & { i: number; step: string };

/** The five steps as a BullMQ step job (docs: patterns/process-step-jobs). */
function fiveProcessor(): (job: Job<FiveData>, token?: string) => Promise<string> {
  return async (job, token) => {
    let step = job.data.step;
    const next = async (s: string): Promise<void> => {
      step = s;
      await job.updateData({ ...job.data, step: s });
    };
    for (;;) {
      switch (step) {
        case 'welcome':
          await noop();
          await next('breather');
          break;
        case 'breather':
          await next('size');
          await job.moveToDelayed(Date.now() + 1_000, token);
          throw new DelayedError();
        case 'size':
          await next(Number(job.data.data?.['guests']) > 100 ? 'big' : 'small');
          break;
        case 'big':
        case 'small':
          await noop();
          await next('thanks');
          break;
        case 'thanks':
          await noop();
          await next('done');
          return 'done';
        case 'done':
          return 'done';
        default:
          throw new Error(`unknown step ${step}`);
      }
    }
  };
}

async function peerFive(env: Env, warm: number, n: number): Promise<RunOut> {
  const tr = tracker(warm, n);
  const items = Array.from({ length: warm + n }, (_, i) =>
    startBody(fiveStep.id, 'f', i, mixedTier(i), { guests: guestsOf(i) }),
  );
  const run = await startPeer<FiveData>({
    redis: env.redis,
    base: 'five',
    concurrency: env.shared.peerConcurrency ?? 100,
    processor: fiveProcessor(),
  });
  run.worker.on('completed', (job) => tr.finish(job.data.i));
  const addRange = async (from: number, count: number): Promise<void> => {
    await pool(Math.ceil(count / 100), 10, async (c) => {
      const lo = from + c * 100;
      const hi = Math.min(from + count, lo + 100);
      const jobs = [];
      for (let i = lo; i < hi; i++) {
        tr.t0[i] = now();
        jobs.push({
          name: 'journey',
          data: { ...items[i]!, i, step: 'welcome' },
          opts: { priority: BULL_PRIORITY[mixedTier(i)] },
        });
      }
      await run.queue.addBulk(jobs);
    });
  };
  try {
    await addRange(0, warm);
    await until('warm-up done', () => tr.warmDone === warm, 60_000 + warm * 5);
    const start = now();
    await addRange(warm, n);
    await until('five-step jobs done', () => tr.measuredDone === n, 60_000 + n * 5);
    const seconds = (tr.last - start) / 1000;
    return { n, seconds, stepsPerSec: (FIVE_STEPS * n) / seconds, latency: tr.hist.summary() };
  } finally {
    await run.close();
  }
}

export async function fiveStepScenario(env: Env): Promise<Omit<ScenarioResult, 'id' | 'seconds'>> {
  const { n, warm } = env.cfg.five;
  const ours: RunOut[] = [];
  const peer: RunOut[] = [];
  const runs: Record<string, unknown>[] = [];
  for (let r = 0; r < env.cfg.reps; r++) {
    for (const side of r % 2 === 0 ? (['ours', 'peer'] as const) : (['peer', 'ours'] as const)) {
      const out = side === 'ours' ? await oursFive(env, warm, n) : await peerFive(env, warm, n);
      (side === 'ours' ? ours : peer).push(out);
      runs.push({ rep: r + 1, side, ...out });
      env.log(
        `  rep ${r + 1} ${side}: ${Math.round(out.stepsPerSec)} steps/s, p50 ${out.latency.p50.toFixed(0)} ms end to end`,
      );
    }
  }
  env.shared.oursFive = spread(ours.map((o) => o.stepsPerSec));
  return {
    key: 'five-step',
    title: `Five-step journeys with a 1 s timer and a branch (N = ${n})`,
    params: {
      n,
      warm,
      steps: FIVE_STEPS,
      oursConcurrency: env.shared.oursConcurrency ?? 64,
      peerConcurrency: env.shared.peerConcurrency ?? 100,
    },
    metrics: [
      {
        key: 'stepsPerSec',
        label: 'steps per second, end to end',
        unit: 'steps/s',
        better: 'higher',
        peerName: 'BullMQ',
        ours: spread(ours.map((o) => o.stepsPerSec)),
        peer: spread(peer.map((o) => o.stepsPerSec)),
      },
      {
        key: 'e2eP50',
        label: 'start-to-finish p50 (includes the 1 s wait)',
        unit: 'ms',
        better: 'lower',
        peerName: 'BullMQ',
        ours: spread(ours.map((o) => o.latency.p50)),
        peer: spread(peer.map((o) => o.latency.p50)),
      },
    ],
    notes: [
      'BullMQ runs the steps as one job (process-step-jobs pattern: updateData per step, moveToDelayed for the wait)',
    ],
    runs,
  };
}

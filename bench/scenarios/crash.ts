/**
 * Scenario 6: crash recovery. A runtime child process works through N single-step starts; when about a third are done it
 * is SIGKILLed and a replacement process is started at once. Recovery = SIGKILL → the first step the replacement runs
 * (process start included; the split into "kill → ready" and "ready → first step" is reported too). Then the time until
 * every execution is done (work the killed process held comes back after the ack wait / lock duration, set to the same
 * value on both sides). BullMQ: the same with worker processes (lockDuration = stalledInterval = that value).
 */
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { Queue } from 'bullmq';
import { JourneyClient } from '../../runtime/client.ts';
import { names } from '../../runtime/subjects.ts';
import { spawnChild, type Child } from '../children/spawn.ts';
import { mixedTier, oneStep, startBody, BULL_PRIORITY } from '../journeys.ts';
import { consumerLag, dropTopology, encoder, freshPrefix } from '../ours.ts';
import { JOB_DEFAULTS } from '../peer.ts';
import { now, pool, spread, until } from '../stats.ts';
import type { Env, ScenarioResult } from '../types.ts';

interface RunOut {
  stepsBeforeKill: number;
  recoveryMs: number;
  killToReadyMs: number;
  /** Negative when the replacement ran its first step before it reported ready (its workers start inside start-up). */
  readyToFirstStepMs: number;
  allDoneMs: number;
  /** The replacement's start-up milestones, ms since its process started. */
  replacementStartup: Record<string, number>;
}

/** Kills `first` once it has run a third of the load, starts a replacement, and times the recovery. */
async function crashAndReplace(
  n: number,
  first: Child,
  replace: () => Promise<Child>,
  drained: () => Promise<boolean>,
): Promise<{ out: RunOut; second: Child }> {
  let seen = 0;
  await until(
    'a third of the load done',
    async () => (seen = (await first.stats()).steps) >= n / 3,
    120_000 + n * 5,
    10,
  );
  const killAt = now();
  await first.kill('SIGKILL');
  const second = await replace();
  let firstStep = 0;
  await until(
    'the replacement runs a step',
    async () => (firstStep = (await second.stats()).firstStepAt ?? 0) > 0,
    120_000,
    5,
  );
  await until('every execution done', drained, 180_000 + n * 5, 100);
  return {
    second,
    out: {
      stepsBeforeKill: seen,
      recoveryMs: firstStep - killAt,
      killToReadyMs: second.readyAt - killAt,
      readyToFirstStepMs: firstStep - second.readyAt,
      allDoneMs: now() - killAt,
      replacementStartup: second.timings,
    },
  };
}

async function oursCrash(env: Env, n: number): Promise<RunOut> {
  const prefix = freshPrefix('crash');
  const nm = names(prefix);
  const nc = await connect({ servers: env.nats.url, name: 'bench-producer' });
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  const childEnv = {
    NATS_URL: env.nats.url,
    JRN_PREFIX: prefix,
    CONCURRENCY: String(env.shared.oursConcurrency ?? 64),
    ACK_WAIT_MS: String(env.cfg.crash.ackWaitMs),
  };
  const children: Child[] = [];
  try {
    const first = await spawnChild('runtime', childEnv);
    children.push(first);
    await (await new JourneyClient(nc, prefix).definitions()).deploy(oneStep);
    await pool(n, 1_000, (i) =>
      js.publish(`${prefix}.cmd.start`, encoder.encode(JSON.stringify(startBody(oneStep.id, 'k', i, mixedTier(i))))),
    );
    const drained = async (): Promise<boolean> => {
      const lags = await Promise.all([
        consumerLag(jsm, nm.streams.cmd, nm.routerConsumer),
        ...(['critical', 'high', 'medium', 'low'] as const).map((t) =>
          consumerLag(jsm, nm.streams.work, nm.workConsumer(t)),
        ),
      ]);
      return lags.every((l) => l === 0);
    };
    const { out, second } = await crashAndReplace(n, first, () => spawnChild('runtime', childEnv), drained);
    children.push(second);
    return out;
  } finally {
    for (const c of children) await c.kill('SIGTERM');
    await dropTopology(jsm, nm);
    await nc.drain();
  }
}

async function peerCrash(env: Env, n: number): Promise<RunOut> {
  await env.redis.command('FLUSHALL');
  const name = `crash${Date.now().toString(36)}`;
  const queue = new Queue(name, {
    connection: { host: env.redis.host, port: env.redis.port },
    defaultJobOptions: JOB_DEFAULTS,
  });
  const childEnv = {
    REDIS_HOST: env.redis.host,
    REDIS_PORT: String(env.redis.port),
    QUEUE: name,
    CONCURRENCY: String(env.shared.peerConcurrency ?? 100),
    LOCK_MS: String(env.cfg.crash.ackWaitMs),
  };
  const children: Child[] = [];
  try {
    const first = await spawnChild('bullmq', childEnv);
    children.push(first);
    await pool(Math.ceil(n / 100), 10, async (c) => {
      const jobs = [];
      for (let i = c * 100; i < Math.min(n, c * 100 + 100); i++)
        jobs.push({
          name: 'send',
          data: startBody(oneStep.id, 'k', i, mixedTier(i)),
          opts: { priority: BULL_PRIORITY[mixedTier(i)] },
        });
      await queue.addBulk(jobs);
    });
    const drained = async (): Promise<boolean> => {
      const c = await queue.getJobCounts('wait', 'active', 'delayed', 'prioritized', 'paused');
      return Object.values(c).every((v) => v === 0);
    };
    const { out, second } = await crashAndReplace(n, first, () => spawnChild('bullmq', childEnv), drained);
    children.push(second);
    return out;
  } finally {
    for (const c of children) await c.kill('SIGTERM');
    await queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close();
  }
}

export async function crashScenario(env: Env): Promise<Omit<ScenarioResult, 'id' | 'seconds'>> {
  const { n, reps, ackWaitMs } = env.cfg.crash;
  const ours: RunOut[] = [];
  const peer: RunOut[] = [];
  const runs: Record<string, unknown>[] = [];
  for (let r = 0; r < reps; r++) {
    for (const side of r % 2 === 0 ? (['ours', 'peer'] as const) : (['peer', 'ours'] as const)) {
      const out = side === 'ours' ? await oursCrash(env, n) : await peerCrash(env, n);
      (side === 'ours' ? ours : peer).push(out);
      runs.push({ rep: r + 1, side, ...out });
      env.log(
        `  rep ${r + 1} ${side}: killed after ${out.stepsBeforeKill} steps; first resumed step ${out.recoveryMs.toFixed(0)} ms after SIGKILL ` +
          `(process ready after ${out.killToReadyMs.toFixed(0)} ms: ${Object.entries(out.replacementStartup)
            .map(([k, v]) => `${k} ${v.toFixed(0)}`)
            .join(', ')}), all done ${(out.allDoneMs / 1000).toFixed(1)} s`,
      );
    }
  }
  const m = (key: string, label: string, unit: string, f: (o: RunOut) => number, scale = 1) => ({
    key,
    label,
    unit,
    better: 'lower' as const,
    peerName: 'BullMQ',
    ours: spread(ours.map((o) => f(o) / scale)),
    peer: spread(peer.map((o) => f(o) / scale)),
  });
  return {
    key: 'crash',
    title: `Crash recovery: SIGKILL of a loaded worker process (${n} single-step executions)`,
    params: {
      n,
      reps,
      ackWaitMs,
      oursConcurrency: env.shared.oursConcurrency ?? 64,
      peerConcurrency: env.shared.peerConcurrency ?? 100,
    },
    metrics: [
      m('recovery', 'SIGKILL → first resumed step in the replacement', 'ms', (o) => o.recoveryMs),
      m('killToReady', 'SIGKILL → replacement process ready (start-up)', 'ms', (o) => o.killToReadyMs),
      m('allDone', `SIGKILL → all done (ack wait / lock ${ackWaitMs / 1000} s)`, 's', (o) => o.allDoneMs, 1000),
    ],
    notes: [
      `the replacement is a new process (node + tsx start-up included); ours ackWaitMs = BullMQ lockDuration = stalledInterval = ${ackWaitMs} ms`,
    ],
    runs,
  };
}

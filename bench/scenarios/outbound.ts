/**
 * Scenario 7: what an `outbound` action step costs against an in-process one. The same single-step journey as scenario 1
 * (`email.send`, then the end), on the same nats-server, run twice per repetition: (a) with an in-process no-op handler,
 * (b) with `email.send` outbound (docs/actions.md): the runtime publishes a command on `<p>.actions.email.send` and the
 * step completes when a result arrives on `<p>.results.email.send`. The result comes from a responder in this process on
 * its own NATS connection, written against the documented contract only (a durable pull consumer on `<P>_ACTIONS`, the
 * result published with `Nats-Msg-Id: <key>:<attempt>`, PubAck awaited, then the command acked), standing for a fast
 * service. Enqueue, complete, warm-up, burst and paced phases are those of scenario 1.
 *
 * The responder must not be the bottleneck, so each repetition also measures it alone (its ceiling: a backlog of N
 * commands answered with no runtime running, and the CPU it took per command), samples the commands waiting for it
 * during the outbound burst, and estimates its share of this process's CPU in that burst.
 */
import { readFileSync } from 'node:fs';
import {
  AckPolicy,
  DeliverPolicy,
  RetentionPolicy,
  StorageType,
  jetstream,
  jetstreamManager,
  type JsMsg,
} from '@nats-io/jetstream';
import { connect, headers } from '@nats-io/transport-node';
import { executionIdOf } from '../../runtime/engine/execution-record.ts';
import { mixedTier, oneStep, startBody, type StartBody } from '../journeys.ts';
import { encoder, freshPrefix, startOurs, type OursRun } from '../ours.ts';
import { Histogram, now, paced, pool, spread, until, type LatencySummary } from '../stats.ts';
import type { Env, Metric, ScenarioResult } from '../types.ts';

type Mode = 'in-process' | 'outbound';

const ACTION = 'email.send';
const RESPONDER = 'bench-responder';
/** Commands the responder holds unacked at most (answers in flight), and the size of its pulls. */
const RESPONDER_IN_FLIGHT = 2_048;
const RESPONDER_BATCH = 512;
const MINUTE_NS = 60 * 1e9;

interface Plan {
  warm: number;
  n: number;
  concurrency: number;
  pacedRate: number;
  pacedCount: number;
}

interface RunOut {
  mode: Mode;
  n: number;
  concurrency: number;
  seconds: number;
  perSec: number;
  burst: LatencySummary;
  paced?: LatencySummary;
  /** CPU of this process (runtime, producer and, outbound, the responder) and of nats-server, per burst execution. */
  cpuUsPerExecution: number;
  serverCpuUsPerExecution: number;
  /** CPU seconds of this process during the burst. */
  cpuSeconds: number;
  /** Executions that finished other than `completed` (none expected). */
  notCompleted: number;
  responder?: {
    answered: number;
    failed: number;
    /** Most commands seen waiting for the responder (not yet delivered to it) / delivered and unacked, in the burst. */
    maxWaiting: number;
    maxUnacked: number;
    /** Results the runtime's results consumer had to take more than once (arrived before their attempt was stored). */
    resultsRedelivered: number;
  };
  /**
   * Each outbound attempt stores a deadline timer that is not cancelled when its result arrives: it fires `timeoutMs`
   * after the send as a timeout work message the runtime reads and drops. How many fell due during the burst (their
   * firing is in its figures) and how many only after this run ended (their cost is not in any figure).
   */
  deadlineTimers?: { timeoutMs: number; dueDuringBurst: number; dueAfterRun: number; total: number };
}

interface Responder {
  readonly answered: number;
  readonly failed: number;
  /** When the responder started consuming and when it last answered (epoch ms). */
  readonly startedAt: number;
  readonly lastAt: number;
  stop(): Promise<void>;
}

/**
 * A fast action service: answers every command `ok: true` at once. Pipelined: up to {@link RESPONDER_IN_FLIGHT} answers
 * in flight (the server stops delivering past that), pulled {@link RESPONDER_BATCH} at a time; each command is acked once
 * its result is stored, as the contract asks.
 */
async function startResponder(url: string, prefix: string): Promise<Responder> {
  const nc = await connect({ servers: url, name: RESPONDER });
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const stream = `${prefix.toUpperCase()}_ACTIONS`;
  await jsm.consumers.add(stream, {
    durable_name: RESPONDER,
    filter_subject: `${prefix}.actions.${ACTION}`,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: 30 * 1e9,
    max_ack_pending: RESPONDER_IN_FLIGHT,
  });
  const messages = await (await js.consumers.get(stream, RESPONDER)).consume({ max_messages: RESPONDER_BATCH });
  const state = { answered: 0, failed: 0, inFlight: 0, startedAt: now(), lastAt: 0 };
  const answer = async (msg: JsMsg): Promise<void> => {
    const cmd = msg.json<{ key: string; attempt: number; resultSubject: string }>();
    const h = headers();
    h.set('Nats-Msg-Id', `${cmd.key}:${cmd.attempt}`);
    await js.publish(
      cmd.resultSubject,
      encoder.encode(JSON.stringify({ key: cmd.key, attempt: cmd.attempt, ok: true })),
      {
        headers: h,
      },
    );
    msg.ack();
    state.answered++;
    state.lastAt = now();
  };
  const loop = (async () => {
    for await (const msg of messages) {
      state.inFlight++;
      void answer(msg)
        .catch(() => {
          state.failed++;
          msg.nak(100);
        })
        .finally(() => state.inFlight--);
    }
  })();
  return {
    get answered() {
      return state.answered;
    },
    get failed() {
      return state.failed;
    },
    get startedAt() {
      return state.startedAt;
    },
    get lastAt() {
      return state.lastAt;
    },
    stop: async () => {
      await messages.close();
      await loop.catch(() => undefined);
      await until('responder answers in flight', () => state.inFlight === 0, 10_000).catch(() => undefined);
      await nc.drain();
    },
  };
}

/** CPU seconds (user + system) of another process, from /proc (0 when unreadable). */
function cpuSecondsOf(pid: number): number {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in USER_HZ ticks
  } catch {
    return 0;
  }
}

const ownCpuSeconds = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

const timeoutFor = (n: number): number => 60_000 + n * 2;

/** One run of one mode: warm-up, burst (throughput, CPU), paced phase (latency), as scenario 1 does. */
async function oursRun(env: Env, plan: Plan, mode: Mode): Promise<RunOut> {
  const total = plan.warm + plan.n + plan.pacedCount;
  const t0 = new Float64Array(total);
  const done = new Uint8Array(total);
  const hist = { warm: new Histogram(), burst: new Histogram(), paced: new Histogram() };
  const count = { warm: 0, burst: 0, paced: 0 };
  let lastBurst = 0;
  let notCompleted = 0;
  const phaseOf = (i: number): keyof typeof hist =>
    i < plan.warm ? 'warm' : i < plan.warm + plan.n ? 'burst' : 'paced';
  const finish = (i: number): void => {
    if (done[i]) return;
    done[i] = 1;
    const t = now();
    const phase = phaseOf(i);
    hist[phase].record(t - t0[i]!);
    count[phase]++;
    if (phase === 'burst') lastBurst = t;
  };

  const tag = `${mode === 'outbound' ? 'x' : 'h'}${Date.now().toString(36)}`;
  const items: StartBody[] = Array.from({ length: total }, (_, i) => startBody(oneStep.id, tag, i, mixedTier(i)));
  const ids = new Map(items.map((b, i) => [executionIdOf(b), i]));
  const payloads = items.map((b) => encoder.encode(JSON.stringify(b)));
  // No handler for email.send makes it outbound: an action listed nowhere is `outbound` (docs/actions.md); checked below.
  const run: OursRun = await startOurs({
    url: env.nats.url,
    base: mode === 'outbound' ? 'obx' : 'obh',
    concurrency: plan.concurrency,
    handlers: mode === 'in-process' ? { [ACTION]: async () => undefined } : {},
    hooks: {
      onFinish: (e) => {
        const i = ids.get(e.executionId);
        if (i === undefined) return;
        if (e.outcome !== 'completed') notCompleted++;
        finish(i);
      },
    },
    definitions: [oneStep],
  });
  let responder: Responder | undefined;
  let sampler: NodeJS.Timeout | undefined;
  const lag = { maxWaiting: 0, maxUnacked: 0 };
  try {
    const actual = run.rt.actions.settings(ACTION).mode;
    if (actual !== mode) throw new Error(`${ACTION} runs ${actual}, expected ${mode}`);
    if (mode === 'outbound') responder = await startResponder(env.nats.url, run.prefix);
    const subject = `${run.prefix}.cmd.start`;
    const publish = async (i: number): Promise<void> => {
      t0[i] = now();
      await run.js.publish(subject, payloads[i]!);
    };
    await pool(plan.warm, 1_000, publish);
    await until('warm-up done', () => count.warm === plan.warm, timeoutFor(plan.warm));

    if (responder) {
      let sampling = false;
      sampler = setInterval(() => {
        if (sampling) return;
        sampling = true;
        void run.jsm.consumers
          .info(run.rt.names.streams.actions, RESPONDER)
          .then((ci) => {
            lag.maxWaiting = Math.max(lag.maxWaiting, ci.num_pending);
            lag.maxUnacked = Math.max(lag.maxUnacked, ci.num_ack_pending);
          })
          .catch(() => undefined)
          .finally(() => (sampling = false));
      }, 250);
    }
    const cpu0 = ownCpuSeconds();
    const srv0 = cpuSecondsOf(env.nats.pid);
    const start = now();
    await pool(plan.n, 1_000, (k) => publish(plan.warm + k));
    await until('burst done', () => count.burst === plan.n, timeoutFor(plan.n));
    const cpuSeconds = ownCpuSeconds() - cpu0;
    const serverCpu = cpuSecondsOf(env.nats.pid) - srv0;
    clearInterval(sampler);
    const seconds = (lastBurst - start) / 1000;

    if (plan.pacedCount > 0) {
      const base = plan.warm + plan.n;
      await paced(plan.pacedCount, plan.pacedRate, (k) => void publish(base + k).catch(() => undefined));
      await until('paced phase done', () => count.paced === plan.pacedCount, timeoutFor(plan.pacedCount));
    }
    let resultsRedelivered = 0;
    let deadlineTimers: RunOut['deadlineTimers'];
    if (responder) {
      const ci = await run.jsm.consumers.info(run.rt.names.streams.results, run.rt.names.resultsConsumer);
      resultsRedelivered = ci.num_redelivered;
      // A step's command goes out just after its start command's publish (t0): t0 + timeout is when its timer falls due.
      const timeoutMs = run.rt.actions.settings(ACTION).timeoutMs;
      const end = now();
      let dueDuringBurst = 0;
      let dueAfterRun = 0;
      for (let i = 0; i < total; i++) {
        const due = t0[i]! + timeoutMs;
        if (due >= start && due <= lastBurst) dueDuringBurst++;
        if (due > end) dueAfterRun++;
      }
      deadlineTimers = { timeoutMs, dueDuringBurst, dueAfterRun, total };
    }
    return {
      mode,
      n: plan.n,
      concurrency: plan.concurrency,
      seconds,
      perSec: plan.n / seconds,
      burst: hist.burst.summary(),
      ...(plan.pacedCount > 0 ? { paced: hist.paced.summary() } : {}),
      cpuUsPerExecution: (cpuSeconds * 1e6) / plan.n,
      serverCpuUsPerExecution: (serverCpu * 1e6) / plan.n,
      cpuSeconds,
      notCompleted,
      ...(responder
        ? { responder: { answered: responder.answered, failed: responder.failed, ...lag, resultsRedelivered } }
        : {}),
      ...(deadlineTimers ? { deadlineTimers } : {}),
    };
  } finally {
    clearInterval(sampler);
    await responder?.stop();
    await run.close();
  }
}

/**
 * The responder alone: N commands (shaped like the runtime's) are stored first, then it answers them with nothing else
 * running in this process. Gives its ceiling (commands/s) and its CPU per command.
 */
async function responderAlone(env: Env, n: number): Promise<{ perSec: number; cpuUsPerCommand: number }> {
  const prefix = freshPrefix('rsp');
  const up = prefix.toUpperCase();
  const producer = await connect({ servers: env.nats.url, name: 'bench-producer' });
  const jsm = await jetstreamManager(producer);
  const js = jetstream(producer);
  const streams = [`${up}_ACTIONS`, `${up}_RESULTS`];
  try {
    // As the runtime makes them (runtime/engine/streams.ts).
    await jsm.streams.add({
      name: streams[0]!,
      subjects: [`${prefix}.actions.>`],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      duplicate_window: 30 * MINUTE_NS,
    });
    await jsm.streams.add({
      name: streams[1]!,
      subjects: [`${prefix}.results.>`],
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
      duplicate_window: 30 * MINUTE_NS,
    });
    const tag = `r${Date.now().toString(36)}`;
    await pool(n, 1_000, async (i) => {
      const b = startBody(oneStep.id, tag, i, mixedTier(i));
      const executionId = executionIdOf(b);
      const key = `${executionId}.send.1`;
      const cmd = {
        action: ACTION,
        params: { template: 'hello' },
        key,
        attempt: 1,
        executionId,
        supplierId: b.supplierId,
        clientId: b.clientId,
        journeyId: b.journeyId,
        stepId: 'send',
        tier: mixedTier(i),
        weddingDate: b.weddingDate,
        timeZone: b.timeZone,
        deadline: Date.now() + 30_000,
        resultSubject: `${prefix}.results.${ACTION}`,
      };
      const h = headers();
      h.set('Nats-Msg-Id', `${key}:1`);
      h.set('Jrn-Idempotency-Key', key);
      h.set('Jrn-Execution', executionId);
      await js.publish(`${prefix}.actions.${ACTION}`, encoder.encode(JSON.stringify(cmd)), { headers: h });
    });
    const cpu0 = ownCpuSeconds();
    const responder = await startResponder(env.nats.url, prefix);
    try {
      await until('responder alone done', () => responder.answered >= n, timeoutFor(n));
      const cpu = ownCpuSeconds() - cpu0;
      return { perSec: n / ((responder.lastAt - responder.startedAt) / 1000), cpuUsPerCommand: (cpu * 1e6) / n };
    } finally {
      await responder.stop();
    }
  } finally {
    for (const s of streams) await jsm.streams.delete(s).catch(() => false);
    await producer.drain();
  }
}

/** Scenario 1's choice when it ran; else the best candidate in a short in-process run each (as scenario 1 tunes). */
async function concurrencyFor(env: Env, runs: Record<string, unknown>[]): Promise<{ value: number; how: string }> {
  const c = env.cfg.single;
  if (env.shared.oursConcurrency !== undefined)
    return { value: env.shared.oursConcurrency, how: 'chosen by scenario 1' };
  if (c.oursConcurrency.length === 1 || c.tuneN === 0) return { value: c.oursConcurrency[0]!, how: 'not tuned' };
  let best = c.oursConcurrency[0]!;
  let bestRate = 0;
  for (const concurrency of c.oursConcurrency) {
    const out = await oursRun(
      env,
      { warm: c.warm, n: c.tuneN, concurrency, pacedRate: 0, pacedCount: 0 },
      'in-process',
    );
    env.log(`  tune in-process concurrency ${concurrency}: ${Math.round(out.perSec)}/s`);
    runs.push({ phase: 'tune', mode: 'in-process', concurrency, perSec: out.perSec });
    if (out.perSec > bestRate) {
      bestRate = out.perSec;
      best = concurrency;
    }
  }
  return {
    value: best,
    how: `best in-process throughput of ${c.oursConcurrency.join(', ')} in ${c.tuneN}-execution runs`,
  };
}

/**
 * The latency phase's rate, the same for both modes: `--paced-rate`, or half the outbound throughput of a short probe
 * burst when that is lower (outbound does less per second than in-process, and latency measured at a rate near capacity
 * is mostly queueing).
 */
async function pacedRateFor(
  env: Env,
  n: number,
  concurrency: number,
  runs: Record<string, unknown>[],
): Promise<{ rate: number; how: string }> {
  const c = env.cfg.single;
  if (c.pacedSeconds <= 0) return { rate: c.pacedRate, how: 'no latency phase' };
  const probeN = Math.min(n, 10_000);
  const probe = await oursRun(env, { warm: c.warm, n: probeN, concurrency, pacedRate: 0, pacedCount: 0 }, 'outbound');
  runs.push({ phase: 'probe', mode: 'outbound', concurrency, n: probeN, perSec: probe.perSec });
  const half = Math.max(50, Math.floor(probe.perSec / 2 / 50) * 50);
  env.log(`  probe outbound: ${Math.round(probe.perSec)}/s`);
  return half < c.pacedRate
    ? {
        rate: half,
        how: `latency phase at ${half}/s for both modes: half the outbound throughput of a ${probeN}-execution probe (${Math.round(probe.perSec)}/s), below --paced-rate ${c.pacedRate}`,
      }
    : {
        rate: c.pacedRate,
        how: `latency phase at --paced-rate ${c.pacedRate}/s for both modes (below half the outbound throughput of a ${probeN}-execution probe, ${Math.round(probe.perSec)}/s)`,
      };
}

export async function outboundScenario(env: Env): Promise<Omit<ScenarioResult, 'id' | 'seconds'>> {
  const c = env.cfg.single;
  const n = env.cfg.outbound.n;
  const runs: Record<string, unknown>[] = [];
  const concurrency = await concurrencyFor(env, runs);
  const pacing = await pacedRateFor(env, n, concurrency.value, runs);
  const pacedRate = pacing.rate;
  const pacedCount = Math.round(pacedRate * c.pacedSeconds);
  const out: Record<Mode, RunOut[]> = { 'in-process': [], outbound: [] };
  const alone: { perSec: number; cpuUsPerCommand: number; share: number }[] = [];
  for (let r = 0; r < env.cfg.reps; r++) {
    // Alternate the order so neither mode always runs on a warmer (or more fragmented) server.
    const order: Mode[] = r % 2 === 0 ? ['in-process', 'outbound'] : ['outbound', 'in-process'];
    for (const mode of order) {
      const o = await oursRun(env, { warm: c.warm, n, concurrency: concurrency.value, pacedRate, pacedCount }, mode);
      out[mode].push(o);
      runs.push({ phase: 'measure', rep: r + 1, ...o });
      env.log(
        `  rep ${r + 1} ${mode}: ${Math.round(o.perSec)}/s, burst p50 ${o.burst.p50.toFixed(0)} ms, paced p50/p99 ${o.paced?.p50.toFixed(1)}/${o.paced?.p99.toFixed(1)} ms, CPU ${o.cpuUsPerExecution.toFixed(0)} µs/execution (nats-server ${o.serverCpuUsPerExecution.toFixed(0)})${o.responder ? `, commands waiting for the responder ≤ ${o.responder.maxWaiting}` : ''}`,
      );
    }
    const a = await responderAlone(env, n);
    const last = out.outbound[out.outbound.length - 1]!;
    // Its CPU per command alone, times the commands of the burst, over this process's CPU in the outbound burst.
    const share = (a.cpuUsPerCommand * n) / 1e6 / last.cpuSeconds;
    alone.push({ ...a, share });
    runs.push({ phase: 'responder-alone', rep: r + 1, n, ...a, shareOfOutboundBurstCpu: share });
    env.log(
      `  rep ${r + 1} responder alone: ${Math.round(a.perSec)} commands/s, ${a.cpuUsPerCommand.toFixed(0)} µs CPU/command (≈ ${(share * 100).toFixed(0)} % of this process's CPU in the outbound burst)`,
    );
  }
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
    oursName: 'outbound',
    peerName: 'in-process',
    ours: spread(out.outbound.map((o) => f(o) ?? NaN)),
    peer: spread(out['in-process'].map((o) => f(o) ?? NaN)),
  });
  const outRate = spread(out.outbound.map((o) => o.perSec)).median;
  const aloneRate = spread(alone.map((a) => a.perSec));
  const maxWaiting = Math.max(...out.outbound.map((o) => o.responder?.maxWaiting ?? 0));
  const redelivered = out.outbound.reduce((s, o) => s + (o.responder?.resultsRedelivered ?? 0), 0);
  const notCompleted = [...out.outbound, ...out['in-process']].reduce((s, o) => s + o.notCompleted, 0);
  const notes = [
    `concurrency ${concurrency.value} for both modes (${concurrency.how}); no BullMQ side: this scenario compares the runtime with itself, the peer column is the in-process handler`,
    `responder alone: ${Math.round(aloneRate.median)} commands/s, ${Math.round((outRate / aloneRate.median) * 100)} % of it used by the outbound burst; at most ${maxWaiting} commands were seen waiting for it (sampled every 250 ms)`,
  ];
  notes.push(pacing.how);
  if (pacedRate > 0.7 * outRate) {
    notes.push(
      `the paced rate (${pacedRate}/s) is above 70 % of the outbound throughput measured: its outbound latency includes queueing`,
    );
  }
  const timers = out.outbound.map((o) => o.deadlineTimers).filter((t) => t !== undefined);
  if (timers.length > 0) {
    const sum = (f: (t: (typeof timers)[number]) => number): number => timers.reduce((s, t) => s + f(t), 0);
    notes.push(
      `outbound leaves a deadline timer per step (${timers[0]!.timeoutMs / 1000} s, not cancelled by the result): of ${sum((t) => t.total)} stored, ${sum((t) => t.dueDuringBurst)} fell due during a measured burst, ${sum((t) => t.dueAfterRun)} only after their run ended; firing one (a timer read, a work message, a record read) is in the figures only for those due during a burst`,
    );
  }
  if (redelivered > 0)
    notes.push(`${redelivered} results were taken more than once (arrived before their attempt was stored)`);
  if (notCompleted > 0) notes.push(`${notCompleted} executions finished other than completed`);
  return {
    key: 'outbound',
    title: `Outbound actions vs in-process handler, single-step journeys (N = ${n})`,
    params: {
      n,
      warm: c.warm,
      pacedRate,
      pacedSeconds: c.pacedSeconds,
      concurrency: concurrency.value,
      responder: { inFlight: RESPONDER_IN_FLIGHT, batch: RESPONDER_BATCH },
    },
    metrics: [
      m('throughput', 'enqueue-to-complete throughput', 'executions/s', 'higher', (o) => o.perSec),
      m('pacedP50', `latency p50 at ${pacedRate}/s`, 'ms', 'lower', (o) => o.paced?.p50),
      m('pacedP99', `latency p99 at ${pacedRate}/s`, 'ms', 'lower', (o) => o.paced?.p99),
      m('burstP50', `latency p50 in the ${n} burst (includes queueing)`, 'ms', 'lower', (o) => o.burst.p50),
      m('burstP99', `latency p99 in the ${n} burst (includes queueing)`, 'ms', 'lower', (o) => o.burst.p99),
      m(
        'cpu',
        'CPU of the bench process per execution (outbound: with the responder)',
        'µs',
        'lower',
        (o) => o.cpuUsPerExecution,
      ),
      m('serverCpu', 'CPU of nats-server per execution', 'µs', 'lower', (o) => o.serverCpuUsPerExecution),
      {
        key: 'responderAlone',
        label: 'the responder alone: commands answered (its ceiling)',
        unit: 'commands/s',
        better: 'higher',
        oursName: 'responder',
        ours: aloneRate,
      },
      {
        key: 'responderShare',
        label: "the responder's estimated share of the bench process's CPU in the outbound burst",
        unit: '%',
        better: 'lower',
        oursName: 'responder',
        ours: spread(alone.map((a) => a.share * 100)),
      },
    ],
    notes,
    runs,
  };
}

/**
 * Scenario 4: the raw JetStream ceiling on this machine, with the same client library, server and load shape as scenario 1
 * but no runtime: a producer publishes N messages (PubAck awaited, 1,000 in flight) to a work-queue stream while a durable
 * pull consumer, with the same number of handlers as the runtime, does for each message one durable publish (PubAck
 * awaited) to a second stream and an ack. Steps/s = N / (last ack − first publish). The runtime's figures from scenarios
 * 1 and 2 are then given as a fraction of it (target ≥ 70 %).
 */
import {
  AckPolicy,
  DeliverPolicy,
  RetentionPolicy,
  StorageType,
  jetstream,
  jetstreamManager,
} from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { connectionOptionsFromEnv } from '../../runtime/connection.ts';
import { mixedTier, oneStep, startBody } from '../journeys.ts';
import { encoder, freshPrefix } from '../ours.ts';
import { now, pool, spread, until, type Spread } from '../stats.ts';
import type { Env, Metric, ScenarioResult } from '../types.ts';

async function ceilingRun(env: Env, n: number, warm: number, concurrency: number): Promise<number> {
  const prefix = freshPrefix('raw');
  const up = prefix.toUpperCase();
  const consumerNc = await connect(connectionOptionsFromEnv({ NATS_URL: env.nats.url }));
  const producer = await connect({ servers: env.nats.url, name: 'bench-producer' });
  const jsm = await jetstreamManager(producer);
  const streams = [`${up}_IN`, `${up}_OUT`];
  await jsm.streams.add({
    name: streams[0]!,
    subjects: [`${prefix}.in.>`],
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
    duplicate_window: 120_000_000_000,
  });
  await jsm.streams.add({
    name: streams[1]!,
    subjects: [`${prefix}.out.>`],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    duplicate_window: 120_000_000_000,
  });
  await jsm.consumers.add(streams[0]!, {
    durable_name: 'steps',
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: 60_000_000_000,
    max_deliver: 20,
    max_ack_pending: 4 * concurrency + 256,
  });
  const cjs = jetstream(consumerNc);
  const pjs = jetstream(producer);
  const total = warm + n;
  const payloads = Array.from({ length: total }, (_, i) =>
    encoder.encode(JSON.stringify(startBody(oneStep.id, 'r', i, mixedTier(i)))),
  );
  let done = 0;
  let last = 0;
  let active = 0;
  const waiters: (() => void)[] = [];
  const messages = await (await cjs.consumers.get(streams[0]!, 'steps')).consume({ max_messages: 256 });
  const loop = (async () => {
    for await (const m of messages) {
      while (active >= concurrency) await new Promise<void>((r) => waiters.push(r));
      active++;
      void (async () => {
        try {
          await cjs.publish(`${prefix}.out.${m.subject.slice(prefix.length + 4)}`, m.data);
          m.ack();
          done++;
          last = now();
        } catch {
          m.nak(100);
        } finally {
          active--;
          waiters.shift()?.();
        }
      })();
    }
  })();
  try {
    const subject = (i: number): string => `${prefix}.in.${mixedTier(i)}.s${i % 64}`;
    await pool(warm, 1_000, (i) => pjs.publish(subject(i), payloads[i]!));
    await until('warm-up done', () => done >= warm, 60_000 + warm * 2);
    const start = now();
    await pool(n, 1_000, (k) => pjs.publish(subject(warm + k), payloads[warm + k]!));
    await until('ceiling run done', () => done >= total, 60_000 + n * 2);
    return n / ((last - start) / 1000);
  } finally {
    await messages.close();
    await loop.catch(() => undefined);
    for (const s of streams) await jsm.streams.delete(s).catch(() => false);
    await consumerNc.drain();
    await producer.drain();
  }
}

export async function ceilingScenario(env: Env): Promise<Omit<ScenarioResult, 'id' | 'seconds'>> {
  const { n, concurrency } = env.cfg.ceiling;
  const warm = env.cfg.single.warm;
  const runs: Record<string, unknown>[] = [];
  // The best of the candidate handler counts is the ceiling.
  let best = concurrency[0]!;
  if (concurrency.length > 1) {
    let bestRate = 0;
    for (const c of concurrency) {
      const rate = await ceilingRun(env, Math.max(5_000, Math.round(n / 3)), warm, c);
      runs.push({ phase: 'tune', concurrency: c, perSec: rate });
      env.log(`  tune raw concurrency ${c}: ${Math.round(rate)}/s`);
      if (rate > bestRate) {
        bestRate = rate;
        best = c;
      }
    }
  }
  const rates: number[] = [];
  for (let r = 0; r < env.cfg.reps; r++) {
    const rate = await ceilingRun(env, n, warm, best);
    rates.push(rate);
    runs.push({ phase: 'measure', rep: r + 1, concurrency: best, perSec: rate });
    env.log(`  rep ${r + 1} raw JetStream: ${Math.round(rate)} steps/s`);
  }
  const ceiling = spread(rates);
  env.shared.ceilingRate = ceiling.median;
  const metrics: Metric[] = [
    {
      key: 'ceiling',
      label: 'raw JetStream: consume + durable publish + ack',
      unit: 'steps/s',
      better: 'higher',
      peer: ceiling,
      peerName: 'raw JetStream',
    },
  ];
  const vs = (key: string, label: string, ours: Spread | undefined): void => {
    if (!ours) return;
    metrics.push({
      key,
      label,
      unit: 'steps/s',
      better: 'higher',
      ours,
      peer: ceiling,
      peerName: 'raw JetStream',
      target: { op: '>=', value: 0.7, text: '≥ 70 % of the ceiling', on: 'ratio' },
    });
  };
  vs('singleVsCeiling', 'runtime, single-step journeys (scenario 1) vs the ceiling', env.shared.oursSingle);
  vs('fiveVsCeiling', 'runtime, five-step journeys (scenario 2) vs the ceiling', env.shared.oursFive);
  return {
    key: 'ceiling',
    title: 'Raw JetStream ceiling (same client, server and load shape, no runtime)',
    params: { n, warm, concurrency: best, candidates: concurrency },
    metrics,
    notes: [
      `the ceiling does 1 durable publish per step; the runtime does 2 per single-step execution (work message + execution record) besides routing the command${env.shared.oursSingle ? '' : ' (run scenarios 1 and 2 in the same run for the fractions)'}`,
    ],
    runs,
  };
}

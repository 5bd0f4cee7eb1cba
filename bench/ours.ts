/** The journey runtime side of the scenarios: an in-process runtime on a fresh prefix, a producer connection, teardown. */
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { connectionOptionsFromEnv } from '../runtime/connection.ts';
import type { ActionHandler } from '../runtime/engine/actions.ts';
import type { ExecutorHooks } from '../runtime/engine/executor.ts';
import { startRuntime, type Runtime } from '../runtime/runtime.ts';
import { JourneyClient } from '../runtime/client.ts';
import type { StartCommand } from '../schemas/commands.ts';
import { pool } from './stats.ts';
import { names, type Names } from '../runtime/subjects.ts';

let counter = 0;

/** A fresh subject prefix (so streams, consumers and buckets never carry over between runs). */
export function freshPrefix(base: string): string {
  counter++;
  return `b${base}${Date.now().toString(36).slice(-5)}${counter}`;
}

export interface OursRun {
  prefix: string;
  rt: Runtime;
  /** The producer's own connection (a service publishing commands). */
  producer: NatsConnection;
  /** The service's client on that connection: starts filed with `publishStart(s)` go straight into their tier's work. */
  client: JourneyClient;
  js: JetStreamClient;
  jsm: JetStreamManager;
  close(): Promise<void>;
}

export async function startOurs(opts: {
  url: string;
  base: string;
  concurrency: number;
  handlers: Record<string, ActionHandler>;
  hooks?: Partial<ExecutorHooks>;
  definitions: unknown[];
}): Promise<OursRun> {
  const prefix = freshPrefix(opts.base);
  // The runtime's connection is made as `journeys run` makes it (runtime/connection.ts), so its options are measured too.
  const rnc = await connect(connectionOptionsFromEnv({ NATS_URL: opts.url }));
  const rt = await startRuntime({
    nc: rnc,
    prefix,
    concurrency: opts.concurrency,
    logger: pino({ level: process.env['LOG_LEVEL'] ?? 'warn' }),
    handlers: opts.handlers,
    ...(opts.hooks ? { hooks: opts.hooks } : {}),
  });
  for (const d of opts.definitions) await rt.definitions.deploy(d);
  const producer = await connect({ servers: opts.url, name: 'bench-producer' });
  const js = jetstream(producer);
  const jsm = await jetstreamManager(producer);
  return {
    prefix,
    rt,
    producer,
    client: new JourneyClient(producer, prefix),
    js,
    jsm,
    close: async () => {
      await rt.stop();
      await dropTopology(jsm, names(prefix));
      await producer.drain();
      await rnc.drain();
    },
  };
}

/**
 * Files starts `from` … `from + count - 1` of `items` with the client, in bulks of 100 with 10 bulks in flight (1,000
 * starts in flight, as the BullMQ side adds its jobs with `addBulk`); `sent(i)` is called for each just before its bulk.
 */
export async function fileStarts(
  client: JourneyClient,
  items: readonly StartCommand[],
  from: number,
  count: number,
  sent: (i: number) => void,
): Promise<void> {
  await pool(Math.ceil(count / 100), 10, async (c) => {
    const lo = from + c * 100;
    const hi = Math.min(from + count, lo + 100);
    for (let i = lo; i < hi; i++) sent(i);
    await client.publishStarts(items.slice(lo, hi));
  });
}

/** Deletes every stream and bucket of a prefix (frees the server's disk and memory between runs). */
export async function dropTopology(jsm: JetStreamManager, n: Names): Promise<void> {
  const streams = [...Object.values(n.streams), ...Object.values(n.buckets).map((b) => `KV_${b}`)];
  for (const s of streams) await jsm.streams.delete(s).catch(() => false);
}

/** Bytes and messages stored in a stream (0 when it does not exist). */
export async function streamBytes(jsm: JetStreamManager, stream: string): Promise<{ bytes: number; messages: number }> {
  try {
    const info = await jsm.streams.info(stream);
    return { bytes: info.state.bytes, messages: info.state.messages };
  } catch {
    return { bytes: 0, messages: 0 };
  }
}

/** Messages not yet delivered plus delivered and not acked, on one consumer. */
export async function consumerLag(jsm: JetStreamManager, stream: string, consumer: string): Promise<number> {
  const ci = await jsm.consumers.info(stream, consumer);
  return ci.num_pending + ci.num_ack_pending;
}

export const encoder = new TextEncoder();

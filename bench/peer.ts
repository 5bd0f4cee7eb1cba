/**
 * The BullMQ side of the scenarios, configured as its docs recommend for production: a dedicated connection per
 * Queue and Worker (the worker's with `maxRetriesPerRequest: null`), `removeOnComplete`/`removeOnFail` so Redis memory
 * stays bounded, Redis with AOF everysec and `noeviction`. Every run starts on a flushed Redis and a fresh queue name.
 */
import { Queue, Worker, type Job, type Processor, type WorkerOptions } from 'bullmq';
import type { RedisService } from './services.ts';

let counter = 0;

export interface PeerRun<D> {
  name: string;
  queue: Queue<D>;
  worker: Worker<D>;
  close(): Promise<void>;
}

export const JOB_DEFAULTS = { removeOnComplete: true, removeOnFail: 1_000 } as const;

export async function startPeer<D>(opts: {
  redis: Pick<RedisService, 'host' | 'port' | 'command'>;
  base: string;
  concurrency: number;
  processor: Processor<D>;
  worker?: Partial<WorkerOptions>;
  /** Flush Redis first (default true). */
  flush?: boolean;
}): Promise<PeerRun<D>> {
  if (opts.flush !== false) await opts.redis.command('FLUSHALL');
  counter++;
  const name = `${opts.base}${counter}`;
  const connection = { host: opts.redis.host, port: opts.redis.port };
  const queue = new Queue<D>(name, { connection, defaultJobOptions: JOB_DEFAULTS });
  const worker = new Worker<D>(name, opts.processor, {
    connection: { ...connection, maxRetriesPerRequest: null },
    concurrency: opts.concurrency,
    ...opts.worker,
  });
  worker.on('error', (err) => process.stderr.write(`bullmq worker error: ${err.message}\n`));
  await queue.waitUntilReady();
  await worker.waitUntilReady();
  return {
    name,
    queue,
    worker,
    close: async () => {
      await worker.close();
      await queue.obliterate({ force: true }).catch(() => undefined);
      await queue.close();
    },
  };
}

export type { Job };

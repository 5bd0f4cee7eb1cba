/**
 * A BullMQ worker in its own process (scenarios 5 and 6). Environment: REDIS_HOST, REDIS_PORT, QUEUE, CONCURRENCY,
 * LOCK_MS (lockDuration; stalledInterval is the same). The processor is a no-op that counts calls and, when the job
 * data carries `due` (epoch ms), how late it ran. Reports over IPC (see protocol.ts).
 */
import { Worker } from 'bullmq';
import { childReporter } from './protocol.ts';

const report = childReporter();

try {
  const lock = process.env['LOCK_MS'] ? Number(process.env['LOCK_MS']) : undefined;
  const worker = new Worker<{ due?: number }>(
    process.env['QUEUE'] ?? 'bench',
    async (job) => {
      report.step(job.data.due);
    },
    {
      connection: {
        host: process.env['REDIS_HOST'] ?? '127.0.0.1',
        port: Number(process.env['REDIS_PORT'] ?? 6379),
        maxRetriesPerRequest: null,
      },
      concurrency: Number(process.env['CONCURRENCY'] ?? 100),
      ...(lock ? { lockDuration: lock, stalledInterval: lock } : {}),
    },
  );
  worker.on('error', (err) => process.stderr.write(`bullmq worker error: ${err.message}\n`));
  await worker.waitUntilReady();
  const stop = async (): Promise<void> => {
    await worker.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('disconnect', () => void stop());
  report.ready();
} catch (err) {
  report.fatal(err);
}

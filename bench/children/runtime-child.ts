/**
 * A journey runtime instance in its own process (scenarios 5 and 6), connected the way `journeys run` connects.
 * Environment: NATS_URL, JRN_PREFIX, CONCURRENCY, ACK_WAIT_MS. The in-process `email.send` handler is a no-op that counts
 * calls and, when the execution data carries `fireAt`, how late it ran. Reports over IPC (see protocol.ts).
 */
import { connect } from '@nats-io/transport-node';
import { pino } from 'pino';
import { connectionOptionsFromEnv } from '../../runtime/connection.ts';
import { startRuntime } from '../../runtime/runtime.ts';
import { childReporter } from './protocol.ts';

let timers: { lateness: { count: number; max: number; sum: number }; held: number } | undefined;
const report = childReporter(() =>
  timers
    ? {
        timers: {
          count: timers.lateness.count,
          max: timers.lateness.max,
          mean: timers.lateness.count ? timers.lateness.sum / timers.lateness.count : NaN,
          held: timers.held,
        },
      }
    : {},
);

try {
  const nc = await connect(connectionOptionsFromEnv(process.env));
  report.mark('connected');
  const runtime = await startRuntime({
    nc,
    prefix: process.env['JRN_PREFIX'] ?? 'jrn',
    logger: pino({ level: process.env['LOG_LEVEL'] ?? 'warn' }),
    concurrency: Number(process.env['CONCURRENCY'] ?? 64),
    ackWaitMs: Number(process.env['ACK_WAIT_MS'] ?? 60_000),
    handlers: {
      'email.send': async (inv) => {
        const fireAt = inv.data['fireAt'];
        report.step(typeof fireAt === 'string' ? Date.parse(fireAt) : undefined);
      },
    },
  });
  timers = runtime.timers;
  const stop = async (): Promise<void> => {
    await runtime.stop();
    await nc.drain();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('disconnect', () => void stop());
  report.ready();
} catch (err) {
  report.fatal(err);
}

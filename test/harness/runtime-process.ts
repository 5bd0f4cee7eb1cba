/**
 * A runtime instance in its own process, for crash and multi-instance tests. Configured by environment:
 * NATS_URL, JRN_PREFIX, ACK_WAIT_MS (the runtime's default when unset), ACTION_DELAY_MS (in-process `email.send` handler delay, random 0..N ms),
 * CONCURRENCY, STATS_INTERVAL_MS, RATE_LIMIT and RATE_WINDOW_MS (per-supplier start limit; none when unset),
 * ACTIONS_CONFIG (JSON of an actions file: then no in-process handlers, every action goes to its service). Every action invocation is recorded, undeduplicated, on `<prefix>obs.<pid>` (one message per call), and
 * its effect is sent as an outbound command with the idempotency key as `Nats-Msg-Id` (R12). Prints `ready` when started.
 */
import { connect, headers } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { pino } from 'pino';
import { startRuntime } from '../../runtime/runtime.ts';
import type { ActionInvocation } from '../../runtime/engine/actions.ts';
import type { ActionsFile } from '../../schemas/actions.ts';

const prefix = process.env['JRN_PREFIX'] ?? 'jrn';
const nc = await connect({ servers: process.env['NATS_URL'] ?? 'nats://127.0.0.1:4222', noAsyncTraces: true });
const js = jetstream(nc);
const delay = Number(process.env['ACTION_DELAY_MS'] ?? 0);

const send = async (inv: ActionInvocation): Promise<void> => {
  const at = Date.now();
  await js.publish(`${prefix}obs.${process.pid}`, JSON.stringify({ key: inv.key, pid: process.pid, at, due: inv.data['fireAt'] ?? null, tier: inv.tier }));
  if (delay > 0) await new Promise((r) => setTimeout(r, Math.floor(Math.random() * delay)));
  const h = headers();
  h.set('Nats-Msg-Id', inv.key);
  await js.publish(`${prefix}.actions.${inv.action}`, JSON.stringify({ key: inv.key, params: inv.params }), { headers: h });
};

const runtime = await startRuntime({
  nc,
  prefix,
  logger: pino({ level: process.env['LOG_LEVEL'] ?? 'warn' }),
  ...(process.env['ACK_WAIT_MS'] ? { ackWaitMs: Number(process.env['ACK_WAIT_MS']) } : {}), // else the runtime's default
  concurrency: Number(process.env['CONCURRENCY'] ?? 64),
  timerSlotMs: Number(process.env['TIMER_SLOT_MS'] ?? 60_000),
  ...(process.env['ACTIONS_CONFIG'] ? { actionConfig: JSON.parse(process.env['ACTIONS_CONFIG']) as ActionsFile } : { handlers: { 'email.send': send, 'sms.send': send } }),
  monitor: { intervalMs: Number(process.env['STATS_INTERVAL_MS'] ?? 5_000) },
  ...(process.env['RATE_LIMIT'] ? { rateLimit: { defaultLimit: Number(process.env['RATE_LIMIT']), windowMs: Number(process.env['RATE_WINDOW_MS'] ?? 60_000) } } : {}),
});
process.stdout.write('ready\n');

const stop = async (): Promise<void> => {
  await runtime.stop();
  await nc.drain();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());

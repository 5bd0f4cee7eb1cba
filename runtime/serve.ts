/**
 * `journeys run`: connects to NATS (NATS_URL and friends, as the `nats` CLI) or, with no URL configured, starts an
 * embedded local nats-server with JetStream and data in `.data/` so a newcomer sees it work; then starts one runtime
 * instance and keeps it running until SIGINT/SIGTERM.
 */
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { connect } from '@nats-io/transport-node';
import { createLogger } from './logger.ts';
import { connectionOptionsFromEnv } from './connection.ts';
import { startNatsServer, type NatsServerProcess } from './nats-server-process.ts';
import { startRuntime, type Runtime, type RuntimeOptions } from './runtime.ts';

export interface ServeOptions extends Omit<RuntimeOptions, 'nc'> {
  /** Data folder of the embedded server. @default '.data' */
  dataDir?: string;
  /** Port of the embedded server. @default 4222 */
  port?: number;
  env?: NodeJS.ProcessEnv;
}

export interface Served {
  runtime: Runtime;
  nc: NatsConnection;
  url: string;
  embedded: NatsServerProcess | undefined;
  stop(): Promise<void>;
}

export async function serve(opts: ServeOptions = {}): Promise<Served> {
  const env = opts.env ?? process.env;
  const log = opts.logger ?? createLogger(env['LOG_LEVEL'] ?? 'info');
  let embedded: NatsServerProcess | undefined;
  let url = env['NATS_URL'];
  if (!url) {
    embedded = await startNatsServer({ dir: join(opts.dataDir ?? '.data', 'nats'), port: opts.port ?? 4222 });
    url = embedded.url;
    log.info({ url, dir: embedded.dir }, 'started embedded nats-server (set NATS_URL to use your own)');
  }
  let nc: NatsConnection | undefined;
  let runtime: Runtime;
  try {
    nc = await connect({ ...connectionOptionsFromEnv({ ...env, NATS_URL: url }) });
    runtime = await startRuntime({ ...opts, nc, logger: log });
  } catch (err) {
    await nc?.close();
    await embedded?.stop();
    throw err;
  }
  return {
    runtime,
    nc,
    url,
    embedded,
    stop: async () => {
      await runtime.stop();
      await nc.drain();
      await embedded?.stop();
    },
  };
}

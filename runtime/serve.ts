/**
 * `journeys run`: connects to NATS (NATS_URL and friends, as the `nats` CLI) or, with no URL configured, starts an
 * embedded local nats-server with JetStream and data in `.data/` so a newcomer sees it work; then starts one runtime
 * instance and keeps it running until SIGINT/SIGTERM.
 */
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { connect } from '@nats-io/transport-node';
import { createLogger } from './logger.ts';
import { validateActionsConfig } from './action-config.ts';
import { connectionOptionsFromEnv } from './connection.ts';
import { atMost } from './at-most.ts';
import { startNatsServer, type NatsServerProcess } from './nats-server-process.ts';
import { startRuntime, type Runtime, type RuntimeOptions } from './runtime.ts';
import { startHttp, type HttpServer } from './http.ts';
import { dashboardGuardsFrom, dashboardRoutes, type Dashboard } from './dashboard/routes.ts';

export interface ServeOptions extends Omit<RuntimeOptions, 'nc'> {
  /** Data folder of the embedded server. @default '.data' */
  dataDir?: string;
  /** Port of the embedded server. @default 4222 */
  port?: number;
  env?: NodeJS.ProcessEnv;
  /** Port of `/healthz`, `/readyz`, `/metrics` (env `HTTP_PORT`); `false` for none. @default 8080 */
  httpPort?: number | false;
}

export interface Served {
  runtime: Runtime;
  nc: NatsConnection;
  url: string;
  embedded: NatsServerProcess | undefined;
  http: HttpServer | undefined;
  stop(): Promise<void>;
}

export async function serve(opts: ServeOptions = {}): Promise<Served> {
  const env = opts.env ?? process.env;
  const log = opts.logger ?? createLogger(env['LOG_LEVEL'] ?? 'info');
  // Before anything starts: an embedder's object gets the checks `journeys run --actions` gives a file (cheap to repeat).
  if (opts.actionConfig) validateActionsConfig(opts.actionConfig, 'serve({ actionConfig })');
  let embedded: NatsServerProcess | undefined;
  let url = env['NATS_URL'];
  if (!url) {
    embedded = await startNatsServer({ dir: join(opts.dataDir ?? '.data', 'nats'), port: opts.port ?? 4222 });
    url = embedded.url;
    log.info({ url, dir: embedded.dir }, 'started embedded nats-server (set NATS_URL to use your own)');
  }
  let nc: NatsConnection | undefined;
  let runtime: Runtime | undefined;
  let http: HttpServer | undefined;
  let dashboard: Dashboard | undefined;
  try {
    nc = await connect({ ...connectionOptionsFromEnv({ ...env, NATS_URL: url }) });
    // The product default (R31): 100 starts per minute per supplier, across all instances.
    runtime = await startRuntime({ rateLimit: { defaultLimit: 100, windowMs: 60_000 }, ...opts, nc, logger: log });
    const port = opts.httpPort ?? Number(env['HTTP_PORT'] ?? 8080);
    if (port !== false) {
      const thresholds = opts.monitor === false ? undefined : opts.monitor?.thresholds;
      // Loopback unless told otherwise (HTTP_HOST=0.0.0.0 in a container): the dashboard can replay dead letters, so
      // off loopback that takes the operator token (JRN_HTTP_TOKEN), and without one it is off.
      const host = env['HTTP_HOST'] ?? '127.0.0.1';
      dashboard = dashboardRoutes(runtime, {
        ...(thresholds ? { thresholds } : {}),
        ...dashboardGuardsFrom(env, host),
        onError: (err) => log.warn({ err }, 'dashboard'),
      });
      http = await startHttp({ runtime, registry: runtime.metrics.registry, port, host, routes: dashboard.routes });
      log.info({ port: http.port }, 'http: / (dashboard) /healthz /readyz /metrics');
    }
  } catch (err) {
    dashboard?.close();
    await runtime?.stop();
    await nc?.close();
    await embedded?.stop();
    throw err;
  }
  return {
    runtime,
    nc,
    url,
    embedded,
    http,
    stop: async () => {
      dashboard?.close(); // ends the open event streams, which would keep the HTTP server from closing
      try {
        await http?.close();
        await runtime.stop();
        // Bounded: draining waits on every subscription; what is left after 2 s is closed outright.
        await atMost(nc.drain(), 2_000);
        if (!nc.isClosed()) await nc.close();
      } finally {
        // Never left behind: the embedded server is a child of this process, whatever failed above.
        await embedded?.stop();
      }
    },
  };
}

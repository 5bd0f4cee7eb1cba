/**
 * HTTP endpoints of one runtime instance (R27): `/healthz` fails when timers fall behind or consumers stall (not only when
 * the process is down), `/readyz` when NATS is disconnected or the streams are missing, `/metrics` serves Prometheus text.
 * Further routes (the dashboard) are added by passing `routes`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Runtime } from './runtime.ts';
import { atMost } from './at-most.ts';

export interface HttpOptions {
  runtime: Runtime;
  registry: Registry;
  /** @default 8080 (0 picks a free port) */
  port?: number;
  /** @default '0.0.0.0' */
  host?: string;
  /** A due timer this late (held, failing to fire, or unread in its slot) means timers fall behind. @default 5000 */
  maxTimerLagMs?: number;
  /** Work queued with no handler finishing, or no pass of the timer pump, for this long means a stall. @default 60000 */
  maxStallMs?: number;
  routes?: Record<string, (req: IncomingMessage, res: ServerResponse) => void | Promise<void>>;
}

export interface HttpServer {
  server: Server;
  port: number;
  close(): Promise<void>;
}

export interface HealthReport {
  ok: boolean;
  checks: Record<string, { ok: boolean; detail: string }>;
}

/** Liveness: the process is up, NATS is connected, timers fire on time and work moves. */
export function health(runtime: Runtime, maxTimerLagMs = 5_000, maxStallMs = 60_000): HealthReport {
  const t = runtime.timers.health();
  const d = runtime.dispatcher;
  const stalledFor = d.load > 0 && d.lastProgressAt > 0 ? Date.now() - d.lastProgressAt : 0;
  // While NATS is away, timers cannot fire nor work move, and a restart would not help: readiness reports the outage,
  // and liveness holds timers and work to account again once connected (an orchestrator must not restart every pod
  // of a fleet because their server went away for a minute).
  const away = !runtime.connected;
  const checks = {
    // Reconnecting is no reason to restart the process (that would not bring NATS back): readiness says it.
    nats: { ok: !runtime.nc.isClosed(), detail: runtime.nc.isClosed() ? 'connection closed' : runtime.connected ? 'connected' : 'reconnecting' },
    // Behind counts due timers held, failing to fire, or left unread in a slot due to close; a pump that stopped
    // passing over the slots would leave new ones unread without any of those showing, so its silence counts too.
    timers: {
      ok: away || (t.behindMs <= maxTimerLagMs && t.sinceTickMs <= maxStallMs),
      detail: `oldest due timer ${t.behindMs} ms behind${t.sinceTickMs > maxStallMs ? `; no pass over the slots for ${t.sinceTickMs} ms` : ''}${away ? ' (NATS away: not counted)' : ''}`,
    },
    consumers: {
      ok: away || stalledFor <= maxStallMs,
      detail: `${d.load} queued or running; no progress for ${stalledFor} ms${away ? ' (NATS away: not counted)' : ''}`,
    },
  };
  return { ok: Object.values(checks).every((c) => c.ok), checks };
}

/** Readiness: connected, and the work stream exists. */
export async function ready(runtime: Runtime): Promise<HealthReport> {
  const connected = runtime.connected;
  let streams = { ok: false, detail: 'not checked' };
  if (connected) {
    try {
      await runtime.jsm.streams.info(runtime.names.streams.work);
      streams = { ok: true, detail: 'present' };
    } catch (err) {
      streams = { ok: false, detail: err instanceof Error ? err.message : String(err) };
    }
  }
  const nats = connected ? 'connected' : runtime.nc.isClosed() ? 'connection closed' : 'reconnecting';
  const checks = { nats: { ok: connected, detail: nats }, streams };
  return { ok: connected && streams.ok, checks };
}

export async function startHttp(opts: HttpOptions): Promise<HttpServer> {
  const json = (res: ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    void (async () => {
      if (path === '/healthz') {
        const h = health(opts.runtime, opts.maxTimerLagMs, opts.maxStallMs);
        json(res, h.ok ? 200 : 503, h);
      } else if (path === '/readyz') {
        const r = await ready(opts.runtime);
        json(res, r.ok ? 200 : 503, r);
      } else if (path === '/metrics') {
        res.writeHead(200, { 'content-type': opts.registry.contentType }).end(await opts.registry.metrics());
      } else if (opts.routes?.[path]) {
        await opts.routes[path](req, res);
      } else {
        json(res, 404, { error: `no route ${path}` });
      }
    })().catch((err: unknown) => {
      if (!res.headersSent) json(res, 500, { error: err instanceof Error ? err.message : String(err) });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 8080, opts.host ?? '0.0.0.0', () => resolve());
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      // Requests under way get a second; then every connection is cut. A browser's EventSource reconnects as soon as
      // its stream ends, and one open stream would keep the server (and the whole stop) waiting forever.
      await atMost(closed, 1_000);
      server.closeAllConnections();
      await closed;
    },
  };
}

/**
 * The live web dashboard (R27), served by the runtime's HTTP server (`startHttp({ routes })`):
 *
 * - `/`                      the page (`public/index.html`)
 * - `/assets/<file>`         the page's static files (`public/`) and uPlot's two files from `node_modules/uplot/dist`
 * - `/events`                Server-Sent Events: `stats`, `alert`, `decision` (see `live.ts`), `config` first
 * - `/api/dlq`               GET: dead-letter entries (`runtime.dlq.scan()`), without their step history, and the
 *                             sequences of stored messages that are no entry (`malformed`)
 * - `/api/dlq/replay`        POST `{"seq": 12}`: `runtime.dlq.replay(seq)`
 * - `/api/executions/today`  weddings today and tomorrow (each zone's local dates) from the `<p>_calendar` bucket
 *
 * `startHttp` matches exact paths, so every static file gets its own route: the set is fixed when the routes are built.
 * The page makes no request to any other host: its CSP only allows 'self'.
 *
 * Guards (R30): every route answers only to a loopback Host or one listed in `hosts` (a page on a rebound DNS name
 * cannot read the APIs); a change (replay) must come from the page's own origin, named in `Origin`, and carry the
 * operator token when one is set; at most `maxClients` live streams at once.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_THRESHOLDS, thresholdsWith, type Thresholds } from '../../actors/alerts.ts';
import { addDaysToDate, localDate } from '../../actors/time.ts';
import { WeddingCalendar } from '../calendar.ts';
import { errorMessage, RuntimeError } from '../errors.ts';
import type { Runtime } from '../runtime.ts';
import { LiveFeed } from './live.ts';

export type RouteHandler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

export interface DashboardOptions {
  /** The alert thresholds the runtime was started with (the Vendors tab judges SLAs against them). @default R21's */
  thresholds?: Partial<Thresholds>;
  /** Clock of `/api/executions/today`. @default Date.now */
  now?: () => number;
  /** SSE heartbeat interval. @default 15000 */
  heartbeatMs?: number;
  /**
   * Who may change things from the page (replay a dead letter): `open`, anyone who reaches it (a dashboard on loopback);
   * `{ token }`, requests that carry `Authorization: Bearer <token>` (`JRN_HTTP_TOKEN`); `off`, nobody. @default 'open'
   */
  changes?: 'open' | 'off' | { token: string };
  /** Host names the dashboard answers to besides loopback ones (`JRN_HTTP_HOSTS`): a guard against DNS rebinding. */
  hosts?: readonly string[];
  /** Browsers on `/events` at once; more get 503. @default 100 */
  maxClients?: number;
  onError?(err: unknown): void;
}

export interface Dashboard {
  routes: Record<string, RouteHandler>;
  /** Ends the live streams and unsubscribes; call before closing the HTTP server (open streams keep it from closing). */
  close(): void;
  /** Browsers connected to `/events` now. */
  readonly clients: number;
}

const PUBLIC_DIR = join(dirname(fileURLToPath(import.meta.url)), 'public');
const UPLOT_FILES = ['uPlot.iife.min.js', 'uPlot.min.css'] as const;
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json',
};
/** Everything from this origin, nothing from anywhere else. uPlot sets element styles, hence 'unsafe-inline' for styles. */
const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');
const MAX_BODY_BYTES = 4_096;

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const json = (res: ServerResponse, status: number, body: unknown): void => {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(body));
};
const fail = (res: ServerResponse, status: number, code: string, message: string): void =>
  json(res, status, { ok: false, error: { code, message } });

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

/** The host name of a Host header (no port; IPv6 in brackets), lower case; '' when absent or unreadable. */
export function hostName(header: string | undefined): string {
  if (!header) return '';
  try {
    return new URL(`http://${header}`).hostname.toLowerCase();
  } catch {
    return '';
  }
}

/** Answers 403 to a request whose Host is neither loopback nor listed, before the route sees it. */
function hostGuard(allowed: ReadonlySet<string>, route: RouteHandler): RouteHandler {
  return (req, res) => {
    const host = hostName(req.headers.host);
    if (LOOPBACK.has(host) || allowed.has(host)) return route(req, res);
    fail(res, 403, 'HOST_NOT_ALLOWED', `host "${host}" is not one this dashboard answers to: add it to JRN_HTTP_HOSTS`);
  };
}

/** Bind addresses that only this machine can reach. */
const LOOPBACK_BINDS = new Set(['127.0.0.1', 'localhost', '::1']);

/**
 * The guards `journeys run` gives its dashboard: with `JRN_HTTP_TOKEN`, changes take that token; without, they are open
 * on a loopback bind (a laptop) and off on any other (a container, `HTTP_HOST=0.0.0.0`). `JRN_HTTP_HOSTS`: a comma list
 * of the names the dashboard is reached by (a Service or ingress name).
 */
export function dashboardGuardsFrom(env: NodeJS.ProcessEnv, bindHost: string): Pick<DashboardOptions, 'changes' | 'hosts'> {
  const token = env['JRN_HTTP_TOKEN'] || undefined;
  return {
    changes: token ? { token } : LOOPBACK_BINDS.has(bindHost) ? 'open' : 'off',
    hosts: (env['JRN_HTTP_HOSTS'] ?? '').split(',').map((h) => h.trim()).filter((h) => h !== ''),
  };
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/**
 * A change must come from the dashboard's own page: the browser names the page's origin in `Origin` on every POST, so a
 * request without one (a script, or a form from elsewhere) is refused; with a token set, it must carry it.
 */
function checkChange(req: IncomingMessage, changes: 'open' | 'off' | { token: string }): void {
  if (changes === 'off') throw new HttpError(403, 'CHANGES_OFF', 'changes from the dashboard are off here: set JRN_HTTP_TOKEN to allow them');
  const origin = req.headers.origin;
  if (origin === undefined || origin === 'null') throw new HttpError(403, 'FORBIDDEN', 'a change must come from the dashboard page (no Origin)');
  let host: string;
  try {
    host = new URL(origin).host;
  } catch {
    throw new HttpError(403, 'FORBIDDEN', 'bad origin');
  }
  if (host !== req.headers.host) throw new HttpError(403, 'FORBIDDEN', `cross-origin request from ${origin}`);
  if (changes === 'open') return;
  const given = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
  // Digests have one length, so the comparison takes the same time whatever was sent.
  if (!timingSafeEqual(digest(given), digest(changes.token))) throw new HttpError(401, 'UNAUTHORIZED', 'the operator token is missing or wrong');
}

/** Wraps a JSON endpoint: method check, and errors as `{ ok: false, error: { code, message } }`. */
function endpoint(method: 'GET' | 'POST', f: (req: IncomingMessage, res: ServerResponse) => Promise<void>): RouteHandler {
  return async (req, res) => {
    if (req.method !== method && !(method === 'GET' && req.method === 'HEAD')) {
      res.setHeader('allow', method);
      fail(res, 405, 'METHOD_NOT_ALLOWED', `use ${method}`);
      return;
    }
    try {
      await f(req, res);
    } catch (err) {
      if (res.headersSent) return;
      if (err instanceof HttpError) fail(res, err.status, err.code, err.message);
      else if (err instanceof RuntimeError && err.code === 'DLQ_ENTRY_MISSING') fail(res, 404, err.code, err.message);
      else if (err instanceof RuntimeError && err.code === 'DLQ_ENTRY_MALFORMED') fail(res, 422, err.code, err.message);
      else fail(res, 500, 'INTERNAL', errorMessage(err));
    }
  };
}

/** A state-changing request's body must be JSON (a cross-site form cannot send that without a CORS preflight). */
async function readJson(req: IncomingMessage): Promise<unknown> {
  const type = req.headers['content-type'] ?? '';
  if (!/^application\/json\b/i.test(type)) throw new HttpError(415, 'UNSUPPORTED_MEDIA_TYPE', 'send application/json');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, 'TOO_LARGE', `body over ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    throw new HttpError(400, 'BAD_REQUEST', 'body is not valid JSON');
  }
}

/** A static file, read once. */
function staticFile(path: string, extraHeaders: Record<string, string> = {}): RouteHandler {
  let body: Buffer | undefined;
  const type = TYPES[extname(path)] ?? 'application/octet-stream';
  return (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET' }).end();
      return;
    }
    body ??= readFileSync(path);
    res.writeHead(200, {
      'content-type': type,
      'content-length': body.length,
      'cache-control': 'no-cache',
      'x-content-type-options': 'nosniff',
      ...extraHeaders,
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  };
}

/** Weddings on each zone's local today and tomorrow, from the calendar bucket. */
export async function weddingsTodayAndTomorrow(runtime: Runtime, now: number): Promise<{
  at: string;
  today: { weddings: number; zones: { timeZone: string; date: string; weddings: number }[] };
  tomorrow: { weddings: number; zones: { timeZone: string; date: string; weddings: number }[] };
}> {
  const entries = await new WeddingCalendar(runtime.topology.calendar).upcoming(now, 2);
  const today = { weddings: 0, zones: [] as { timeZone: string; date: string; weddings: number }[] };
  const tomorrow = { weddings: 0, zones: [] as { timeZone: string; date: string; weddings: number }[] };
  for (const e of entries) {
    let local: string;
    try {
      local = localDate(now, e.timeZone);
    } catch {
      continue; // a zone this runtime cannot resolve (validated at start, so only from another version)
    }
    const day = e.date === local ? today : e.date === addDaysToDate(local, 1) ? tomorrow : undefined;
    if (!day) continue;
    day.weddings += e.weddings;
    day.zones.push({ timeZone: e.timeZone, date: e.date, weddings: e.weddings });
  }
  for (const d of [today, tomorrow]) d.zones.sort((a, b) => b.weddings - a.weddings || a.timeZone.localeCompare(b.timeZone));
  return { at: new Date(now).toISOString(), today, tomorrow };
}

export function dashboardRoutes(runtime: Runtime, opts: DashboardOptions = {}): Dashboard {
  const thresholds = thresholdsWith(opts.thresholds ?? {});
  const now = opts.now ?? (() => Date.now());
  const changes = opts.changes ?? 'open';
  const live = new LiveFeed(runtime, {
    config: {
      prefix: runtime.names.prefix,
      instance: runtime.instanceId,
      thresholds: {
        maxExecutionMs: thresholds.maxExecutionMs,
        maxExecutionMsByVendor: thresholds.maxExecutionMsByVendor,
        executionTimeQuantile: thresholds.executionTimeQuantile,
        weddingDaySuccess: thresholds.weddingDaySuccess,
        overallSuccess: thresholds.overallSuccess,
        maxQueueLength: thresholds.maxQueueLength,
      },
      defaults: { maxExecutionMs: DEFAULT_THRESHOLDS.maxExecutionMs },
      // What the replay dialog needs: nothing, a token field, or no replay at all.
      changes: typeof changes === 'object' ? 'token' : changes,
    },
    ...(opts.maxClients ? { maxClients: opts.maxClients } : {}),
    ...(opts.heartbeatMs ? { heartbeatMs: opts.heartbeatMs } : {}),
    ...(opts.onError ? { onError: (err: unknown) => opts.onError?.(err) } : {}),
  });

  const routes: Record<string, RouteHandler> = {
    '/': staticFile(join(PUBLIC_DIR, 'index.html'), {
      'content-security-policy': CSP,
      'referrer-policy': 'no-referrer',
      'x-frame-options': 'DENY',
    }),
    '/events': (req, res) => live.handle(req, res),
    '/api/dlq': endpoint('GET', async (_req, res) => {
      const { entries, malformed } = await runtime.dlq.scan({}, 500);
      json(res, 200, {
        ok: true,
        entries: entries.map(({ history, ...e }) => ({ ...e, historyLength: history.length })),
        // Stored messages that are no entry (R30): listed by sequence so an operator can discard them.
        malformed: malformed.map(({ seq, reason }) => ({ seq, reason })),
      });
    }),
    '/api/dlq/replay': endpoint('POST', async (req, res) => {
      checkChange(req, changes);
      const body = await readJson(req);
      const seq = body !== null && typeof body === 'object' ? (body as { seq?: unknown }).seq : undefined;
      if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) {
        throw new HttpError(400, 'BAD_REQUEST', 'expected {"seq": <positive integer>}');
      }
      const e = await runtime.dlq.replay(seq, 'dashboard');
      json(res, 200, { ok: true, seq, executionId: e.executionId, stepId: e.stepId });
    }),
    '/api/executions/today': endpoint('GET', async (_req, res) => {
      json(res, 200, { ok: true, ...(await weddingsTodayAndTomorrow(runtime, now())) });
    }),
  };
  for (const file of readdirSync(PUBLIC_DIR)) {
    if (file !== 'index.html') routes[`/assets/${file}`] = staticFile(join(PUBLIC_DIR, file));
  }
  const require = createRequire(import.meta.url);
  for (const file of UPLOT_FILES) routes[`/assets/${file}`] = staticFile(require.resolve(`uplot/dist/${file}`));
  const hosts = new Set((opts.hosts ?? []).map((h) => h.toLowerCase()));
  for (const [path, route] of Object.entries(routes)) routes[path] = hostGuard(hosts, route);

  return {
    routes,
    close: () => live.close(),
    get clients() {
      return live.clients;
    },
  };
}

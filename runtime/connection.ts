/**
 * Connection settings with the `nats` CLI's conventions (R23), so one operator environment serves both:
 * NATS_URL, NATS_USER/NATS_PASSWORD, NATS_TOKEN, NATS_CREDS, NATS_NKEY, NATS_CA/NATS_CERT/NATS_KEY, NATS_INBOX_PREFIX.
 *
 * Settings never make a silent choice: two ways to authenticate, half a client certificate, a mix of `tls://` and
 * `nats://` servers or credentials in the URL that nats.js would drop are each a one-line `CONFIG_INVALID` error, raised
 * before any connection is attempted. An empty variable counts as unset (what a container's `NATS_TOKEN=` means).
 */
import { readFileSync } from 'node:fs';
import {
  connect,
  credsAuthenticator,
  nkeyAuthenticator,
  type ConnectionOptions,
  type NatsConnection,
  type TlsOptions,
} from '@nats-io/transport-node';
import { errorMessage, RuntimeError } from './errors.ts';

const DEFAULT_URL = 'nats://127.0.0.1:4222';
/** The ways to authenticate, in the order their names appear in a conflict's message. */
const AUTH_VARS = ['NATS_USER', 'NATS_TOKEN', 'NATS_CREDS', 'NATS_NKEY'] as const;
/** Dot-separated subject tokens: no empty token, no whitespace, no wildcard. */
const INBOX_PREFIX = /^[^\s.*>]+(?:\.[^\s.*>]+)*$/;

function invalid(message: string, cause?: unknown): RuntimeError {
  return new RuntimeError('CONFIG_INVALID', message, cause === undefined ? undefined : { cause });
}

/** `a and b are both set` / `a, b and c are all set`. */
function conflict(names: readonly string[]): RuntimeError {
  const list = names.length === 2 ? names.join(' and ') : `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`;
  return invalid(`${list} are ${names.length === 2 ? 'both' : 'all'} set: choose one`);
}

/** A server entry as it may be quoted in an error: without its password or token. */
function shown(entry: string): string {
  return entry.replace(/\/\/[^@/,]*@/g, '//***@');
}

interface ParsedServers {
  servers: string[];
  /** Every server is `tls://`. */
  tls: boolean;
  /** `user:pass@` or `token@` carried by the URLs (the same on each, or an error). */
  user?: string;
  pass?: string;
  token?: string;
}

/**
 * NATS_URL: comma-separated `nats://`, `tls://` or bare `host[:port]` servers (bare counts as `nats://`, as for the nats
 * CLI). nats.js itself ignores both the scheme and any `user:pass@` in a URL, so both are read here.
 */
function parseServers(value: string): ParsedServers {
  const servers: string[] = [];
  const schemes = new Set<string>();
  const creds = new Set<string>();
  let userinfo: { user: string; pass: string } | undefined;
  for (const raw of value.split(',')) {
    const entry = raw.trim();
    if (!entry) throw invalid(`NATS_URL has an empty server entry ("${shown(value)}")`);
    const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(entry)?.[1]?.toLowerCase() ?? 'nats';
    if (scheme !== 'nats' && scheme !== 'tls') {
      throw invalid(`NATS_URL server "${shown(entry)}" has scheme ${scheme}://: use nats:// or tls://`);
    }
    let url: URL;
    try {
      url = new URL(entry.includes('://') ? entry : `nats://${entry}`);
      if (url.username) userinfo = { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) };
    } catch (err) {
      throw invalid(`NATS_URL server "${shown(entry)}" is not a valid URL`, err);
    }
    if ((url.pathname !== '' && url.pathname !== '/') || url.search || url.hash) {
      throw invalid(`NATS_URL server "${shown(entry)}" has a path or query: give scheme://host:port only`);
    }
    schemes.add(scheme);
    servers.push(`${scheme}://${url.host}`);
    creds.add(url.username ? `${url.username}:${url.password}` : '');
  }
  if (schemes.size > 1) {
    throw invalid(
      'NATS_URL mixes tls:// and nats:// servers: use tls:// for every server (TLS is one setting for the connection)',
    );
  }
  // nats.js has one set of credentials per connection: a server with other (or no) credentials would silently get these.
  if (creds.size > 1) {
    throw invalid(
      'NATS_URL servers carry different credentials: give the same user:pass@ (or token@) on each, or none',
    );
  }
  const parsed: ParsedServers = { servers, tls: schemes.has('tls') };
  if (userinfo && userinfo.pass) return { ...parsed, user: userinfo.user, pass: userinfo.pass };
  if (userinfo) return { ...parsed, token: userinfo.user };
  return parsed;
}

function readSetting(name: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw invalid(`cannot read ${name} ${path}: ${errorMessage(err)}`, err);
  }
}

/**
 * nats.js options from the `nats` CLI's environment variables; throws a `CONFIG_INVALID` RuntimeError (one line) on any
 * ambiguous or incomplete setting. Credential files are read and parsed here, so a bad one fails before connecting.
 */
export function connectionOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): ConnectionOptions {
  const get = (name: string): string | undefined => env[name] || undefined;
  const url = parseServers(get('NATS_URL') ?? DEFAULT_URL);
  const opts: ConnectionOptions = {
    servers: url.servers,
    name: 'journey-runtime',
    // Without this every request (each KV read and write, each JetStream publish) builds an Error for a possible
    // timeout's stack trace up front: about 15 % of the runtime's CPU in a profile of the start path.
    noAsyncTraces: true,
    // A runtime outlives NATS outages (a restarted server, a failed-over node): it never gives up reconnecting, and
    // /readyz says 503 meanwhile. Jitter spreads the replicas' reconnects.
    maxReconnectAttempts: -1,
    reconnectTimeWait: 1_000,
    reconnectJitter: 500,
  };

  const auth = AUTH_VARS.filter((name) => get(name) !== undefined);
  if (auth.length > 1) throw conflict(auth);
  if (auth.length > 0 && (url.user !== undefined || url.token !== undefined)) {
    throw invalid(`NATS_URL carries credentials and ${auth[0]} is set: choose one`);
  }
  const user = get('NATS_USER');
  const password = get('NATS_PASSWORD');
  if (user !== undefined && password === undefined) throw invalid('NATS_USER is set without NATS_PASSWORD');
  if (password !== undefined && user === undefined) throw invalid('NATS_PASSWORD is set without NATS_USER');
  if (user !== undefined) [opts.user, opts.pass] = [user, password];
  else if (url.user !== undefined) [opts.user, opts.pass] = [url.user, url.pass];
  const token = get('NATS_TOKEN') ?? url.token;
  if (token !== undefined) opts.token = token;

  const credsPath = get('NATS_CREDS');
  if (credsPath !== undefined) {
    const authenticator = credsAuthenticator(readSetting('NATS_CREDS', credsPath));
    try {
      authenticator(); // parses the file now, rather than at each connect
    } catch (err) {
      throw invalid(`NATS_CREDS ${credsPath} is not a credentials file: ${errorMessage(err)}`, err);
    }
    opts.authenticator = authenticator;
  }
  const nkeyPath = get('NATS_NKEY');
  if (nkeyPath !== undefined) {
    const seed = readSetting('NATS_NKEY', nkeyPath).toString('utf8').trim();
    const authenticator = nkeyAuthenticator(new TextEncoder().encode(seed));
    let nkey: string | undefined;
    try {
      nkey = (authenticator() as { nkey?: string }).nkey;
    } catch (err) {
      throw invalid(`NATS_NKEY ${nkeyPath} does not hold an nkey seed: ${errorMessage(err)}`, err);
    }
    if (!nkey?.startsWith('U')) throw invalid(`NATS_NKEY ${nkeyPath} holds a seed, but not a user's (SU...)`);
    opts.authenticator = authenticator;
  }

  const [ca, cert, key] = [get('NATS_CA'), get('NATS_CERT'), get('NATS_KEY')];
  if (key !== undefined && cert === undefined)
    throw invalid('NATS_KEY is set without NATS_CERT: a client certificate needs both');
  if (cert !== undefined && key === undefined)
    throw invalid('NATS_CERT is set without NATS_KEY: a client certificate needs both');
  if (url.tls || ca !== undefined || cert !== undefined) {
    // Any `tls` object makes nats.js refuse a server that offers no TLS ("server does not support 'tls'") instead of
    // carrying on in clear; paths rather than contents, so a reconnect reads renewed certificates. Not handshake-first:
    // `tls://` means "TLS required", as for the nats CLI, and servers before 2.10 cannot do it.
    const tls: TlsOptions = {};
    const files = { NATS_CA: ca, NATS_CERT: cert, NATS_KEY: key };
    for (const [name, path] of Object.entries(files)) if (path !== undefined) readSetting(name, path);
    if (ca !== undefined) tls.caFile = ca;
    if (cert !== undefined) tls.certFile = cert;
    if (key !== undefined) tls.keyFile = key;
    opts.tls = tls;
  }

  const inboxPrefix = get('NATS_INBOX_PREFIX');
  if (inboxPrefix !== undefined) {
    if (!INBOX_PREFIX.test(inboxPrefix)) {
      throw invalid(
        `NATS_INBOX_PREFIX "${inboxPrefix}" is not a subject prefix: dot-separated tokens without spaces or wildcards (e.g. _INBOX_runtime)`,
      );
    }
    opts.inboxPrefix = inboxPrefix;
  }
  return opts;
}

/** Connects with {@link connectionOptionsFromEnv}; a bad setting throws before any connection is attempted. */
export async function connectFromEnv(env: NodeJS.ProcessEnv = process.env): Promise<NatsConnection> {
  return await connect(connectionOptionsFromEnv(env));
}

/** Whether a connection is up right now: false from a disconnect until the reconnect (nats.js only says "closed"). */
export interface ConnectionState {
  readonly connected: boolean;
}

export function watchConnection(nc: NatsConnection, onReconnect?: () => void): ConnectionState {
  const state = { connected: !nc.isClosed() };
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') state.connected = false;
      else if (s.type === 'reconnect') {
        state.connected = true;
        onReconnect?.();
      }
    }
  })().catch(() => undefined);
  void nc.closed().then(() => (state.connected = false));
  return state;
}

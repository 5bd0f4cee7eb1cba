/**
 * Connection settings with the `nats` CLI's conventions (R23), so one operator environment serves both:
 * NATS_URL, NATS_USER/NATS_PASSWORD, NATS_TOKEN, NATS_CREDS, NATS_NKEY, NATS_CA/NATS_CERT/NATS_KEY.
 */
import { readFileSync } from 'node:fs';
import { connect, credsAuthenticator, nkeyAuthenticator, type ConnectionOptions, type NatsConnection } from '@nats-io/transport-node';
import { RuntimeError } from './errors.ts';

export function connectionOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): ConnectionOptions {
  const opts: ConnectionOptions = {
    servers: (env['NATS_URL'] ?? 'nats://127.0.0.1:4222').split(','),
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
  try {
    if (env['NATS_USER']) {
      opts.user = env['NATS_USER'];
      opts.pass = env['NATS_PASSWORD'] ?? '';
    }
    if (env['NATS_TOKEN']) opts.token = env['NATS_TOKEN'];
    if (env['NATS_CREDS']) opts.authenticator = credsAuthenticator(readFileSync(env['NATS_CREDS']));
    if (env['NATS_NKEY']) {
      const seed = readFileSync(env['NATS_NKEY'], 'utf8').trim();
      opts.authenticator = nkeyAuthenticator(new TextEncoder().encode(seed));
    }
    if (env['NATS_CA'] || env['NATS_CERT']) {
      opts.tls = {
        ...(env['NATS_CA'] ? { caFile: env['NATS_CA'] } : {}),
        ...(env['NATS_CERT'] ? { certFile: env['NATS_CERT'] } : {}),
        ...(env['NATS_KEY'] ? { keyFile: env['NATS_KEY'] } : {}),
      };
    }
  } catch (err) {
    throw new RuntimeError('CONFIG_INVALID', `cannot read NATS credentials: ${(err as Error).message}`, { cause: err });
  }
  return opts;
}

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

/**
 * Starts and stops a local `nats-server` process. Used by `journeys run` when no NATS URL is configured (an embedded
 * server for newcomers) and by the test harness. The server is always stopped by the process id we started.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile, readFile } from 'node:fs/promises';
import { createServer, connect as tcpConnect } from 'node:net';
import { join } from 'node:path';
import { RuntimeError } from './errors.ts';

const CANDIDATES = ['/usr/sbin/nats-server', '/usr/bin/nats-server', '/usr/local/bin/nats-server'];

/** Path of the `nats-server` binary: `NATS_SERVER_BIN`, then the usual install locations, then `PATH`. */
export function natsServerBinary(): string | undefined {
  const fromEnv = process.env['NATS_SERVER_BIN'];
  if (fromEnv) return fromEnv;
  const found = CANDIDATES.find((p) => existsSync(p));
  if (found) return found;
  for (const dir of (process.env['PATH'] ?? '').split(':')) {
    if (dir && existsSync(join(dir, 'nats-server'))) return join(dir, 'nats-server');
  }
  return undefined;
}

/** A free TCP port on loopback, as chosen by the kernel. */
export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export interface NatsServerOptions {
  /** Folder for JetStream data and the config file. */
  dir: string;
  /** Client port; a free one when absent. */
  port?: number;
  /** Server name (needed in clusters). @default 'jrn-local' */
  serverName?: string;
  /** Cluster block: this node's route port and all routes (itself included). */
  cluster?: { name: string; port: number; routes: string[] };
  /** Extra config text appended verbatim (accounts, authorization, ...). */
  extraConfig?: string;
  /** Milliseconds to wait for the server to accept connections. @default 15000 */
  startTimeoutMs?: number;
}

export interface NatsServerProcess {
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  readonly dir: string;
  /** Stops the process (SIGTERM, then SIGKILL after a grace period). */
  stop(): Promise<void>;
  /** Kills the process at once (crash tests). */
  kill(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Starts `nats-server` with JetStream on loopback and resolves once it accepts TCP connections. */
export async function startNatsServer(opts: NatsServerOptions): Promise<NatsServerProcess> {
  const bin = natsServerBinary();
  if (!bin) {
    throw new RuntimeError(
      'NATS_SERVER_MISSING',
      'nats-server was not found: install it (Debian: apt-get install -y nats-server) or set NATS_URL to an existing server',
    );
  }
  const port = opts.port ?? (await freePort());
  if (await canConnect(port)) {
    throw new RuntimeError(
      'NATS_SERVER_START',
      `port ${port} is already in use (another nats-server?): set NATS_URL=nats://127.0.0.1:${port} to use it, or choose another port`,
    );
  }
  const name = opts.serverName ?? 'jrn-local';
  await mkdir(join(opts.dir, 'jetstream'), { recursive: true });
  const lines = [
    `server_name: ${JSON.stringify(name)}`,
    `listen: "127.0.0.1:${port}"`,
    `max_payload: 1048576`,
    `jetstream { store_dir: ${JSON.stringify(join(opts.dir, 'jetstream'))} }`,
  ];
  if (opts.cluster) {
    lines.push(
      `cluster { name: ${JSON.stringify(opts.cluster.name)}, listen: "127.0.0.1:${opts.cluster.port}", routes: [${opts.cluster.routes
        .map((r) => JSON.stringify(r))
        .join(', ')}] }`,
    );
  }
  if (opts.extraConfig) lines.push(opts.extraConfig);
  const configFile = join(opts.dir, 'nats-server.conf');
  await writeFile(configFile, lines.join('\n') + '\n');
  const logFile = join(opts.dir, 'nats-server.log');
  // Own process group: a Ctrl-C in the terminal reaches the runtime, which then stops the server in order.
  const child = spawn(bin, ['-c', configFile, '-l', logFile], { stdio: 'ignore', detached: true });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const deadline = Date.now() + (opts.startTimeoutMs ?? 15_000);
  while (!(await canConnect(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      const log = await readFile(logFile, 'utf8').catch(() => '');
      throw new RuntimeError(
        'NATS_SERVER_START',
        `nats-server did not start on port ${port}: ${log.trim().split('\n').slice(-3).join(' | ') || 'no log'}`,
      );
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  return handle(child, exited, port, opts.dir);
}

/** Servers started by this process and not yet exited: killed when it exits, however it exits (short of SIGKILL). */
const running = new Set<ChildProcess>();
let exitHook = false;

function handle(child: ChildProcess, exited: Promise<number | null>, port: number, dir: string): NatsServerProcess {
  const pid = child.pid ?? -1;
  // In its own process group, the server would outlive a runtime that exits without stopping it (an uncaught error, a
  // stop cut short): never leave one behind.
  running.add(child);
  void exited.then(() => running.delete(child));
  if (!exitHook) {
    exitHook = true;
    process.on('exit', () => {
      for (const c of running) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    });
  }
  const stop = async (signal: NodeJS.Signals): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  };
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    pid,
    dir,
    stop: () => stop('SIGTERM'),
    kill: () => stop('SIGKILL'),
    [Symbol.asyncDispose]: () => stop('SIGTERM'),
  };
}

async function canConnect(port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const sock = tcpConnect({ port, host: '127.0.0.1' });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

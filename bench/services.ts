/**
 * The servers a benchmark run needs, started fresh on free loopback ports in temp dirs and stopped by the pid we started:
 * a JetStream nats-server (via the runtime's own `startNatsServer`) and a redis-server from Debian with AOF everysec and no
 * RDB snapshots (BullMQ's recommended durability). Installs redis-server with apt-get when it is missing.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, natsServerBinary, startNatsServer, type NatsServerProcess } from '../runtime/nats-server-process.ts';

export interface NatsService {
  url: string;
  pid: number;
  dir: string;
  version: string;
  stop(): Promise<void>;
}

export interface RedisService {
  host: string;
  port: number;
  pid: number;
  dir: string;
  version: string;
  /** One command over RESP, answered as text (bulk string, status or integer). */
  command(...args: string[]): Promise<string>;
  stop(): Promise<void>;
}

export async function startNats(): Promise<NatsService> {
  const bin = natsServerBinary();
  if (!bin)
    throw new Error(
      'nats-server not found: run `bash bin/ensure-package.sh nats-server nats-server` (Debian: apt-get install -y nats-server)',
    );
  const dir = await mkdtemp(join(tmpdir(), 'jrn-bench-nats-'));
  let srv: NatsServerProcess;
  try {
    srv = await startNatsServer({ dir, serverName: 'bench' });
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const version = execFileSync(bin, ['--version'], { encoding: 'utf8' })
    .trim()
    .replace(/^nats-server:\s*v?/, '');
  return {
    url: srv.url,
    pid: srv.pid,
    dir,
    version,
    stop: async () => {
      await srv.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

const REDIS_BIN = '/usr/bin/redis-server';

/** Installs Debian's redis-server when missing (as root, like bin/ensure-package.sh does for nats-server). */
export function ensureRedisServer(): string {
  if (existsSync(REDIS_BIN)) return REDIS_BIN;
  if (process.getuid?.() !== 0) throw new Error('redis-server is missing: apt-get install -y redis-server (as root)');
  process.stderr.write('installing redis-server (Debian package)\n');
  execFileSync(
    'bash',
    ['-c', 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null'],
    { stdio: 'inherit' },
  );
  if (!existsSync(REDIS_BIN)) throw new Error('redis-server still missing after apt-get install');
  return REDIS_BIN;
}

export async function startRedis(): Promise<RedisService> {
  const bin = ensureRedisServer();
  const dir = await mkdtemp(join(tmpdir(), 'jrn-bench-redis-'));
  const port = await freePort();
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    dir,
    '--daemonize',
    'no',
    '--appendonly',
    'yes',
    '--appendfsync',
    'everysec',
    '--save',
    '',
    // BullMQ requires noeviction (Redis' default, stated for clarity).
    '--maxmemory-policy',
    'noeviction',
    '--logfile',
    join(dir, 'redis.log'),
  ];
  const child = spawn(bin, args, { stdio: 'ignore', detached: true });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 15_000;
  const command = (...a: string[]): Promise<string> => resp(port, a);
  for (;;) {
    if (child.exitCode !== null) break;
    if (
      await command('PING').then(
        (r) => r === 'PONG',
        () => false,
      )
    )
      break;
    if (Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 25));
  }
  const stop = async (): Promise<void> => {
    await stopChild(child, exited);
    await rm(dir, { recursive: true, force: true });
  };
  if (
    child.exitCode !== null ||
    !(await command('PING').then(
      (r) => r === 'PONG',
      () => false,
    ))
  ) {
    const log = await readFile(join(dir, 'redis.log'), 'utf8').catch(() => '');
    await stop();
    throw new Error(`redis-server did not start on port ${port}: ${log.trim().split('\n').slice(-3).join(' | ')}`);
  }
  const info = await command('INFO', 'server');
  const version = /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown';
  return { host: '127.0.0.1', port, pid: child.pid!, dir, version, command, stop };
}

async function stopChild(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

/** A minimal RESP client for one command per connection (FLUSHALL, INFO, CONFIG): no Redis library needed. */
async function resp(port: number, args: string[]): Promise<string> {
  const payload = `*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('');
  return await new Promise<string>((resolve, reject) => {
    const sock = tcpConnect({ port, host: '127.0.0.1' });
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`redis ${args[0]} timed out`));
    }, 30_000);
    const done = (fn: () => void): void => {
      clearTimeout(timer);
      sock.destroy();
      fn();
    };
    sock.once('error', (err) => done(() => reject(err)));
    sock.once('connect', () => sock.write(payload));
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      const nl = buf.indexOf('\r\n');
      if (nl < 0) return;
      const head = buf.subarray(0, nl).toString();
      const kind = head[0];
      if (kind === '+' || kind === ':') return done(() => resolve(head.slice(1)));
      if (kind === '-') return done(() => reject(new Error(`redis: ${head.slice(1)}`)));
      if (kind === '$') {
        const len = Number(head.slice(1));
        if (len < 0) return done(() => resolve(''));
        if (buf.length >= nl + 2 + len) return done(() => resolve(buf.subarray(nl + 2, nl + 2 + len).toString()));
        return;
      }
      done(() => reject(new Error(`redis: unexpected reply ${head}`)));
    });
  });
}

/** `field:value` pairs of a Redis INFO section. */
export function parseInfo(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\r\n')) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

/** Resident set size of a process in bytes (VmRSS) and its peak (VmHWM), from /proc. */
export async function processMemory(pid: number): Promise<{ rss: number; hwm: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string): number =>
    Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

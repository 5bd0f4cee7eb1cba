/**
 * Real nats-server processes for integration tests: free loopback ports, a temp store dir, stopped by the pid we started
 * (use `await using`, or call `stop()` in `afterAll`). A 3-node cluster on loopback comes from `startCluster`.
 * Fallback: when no `nats-server` binary exists and a Docker engine does, `@testcontainers/nats` provides the server
 * (a single node; crash tests that kill the server need the binary). Without either, the error says how to install one.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { afterAll, beforeAll } from 'vitest';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { existsSync } from 'node:fs';
import { freePort, natsServerBinary, startNatsServer, type NatsServerProcess } from '../../runtime/nats-server-process.ts';

export interface TestServer extends NatsServerProcess {
  connect(): Promise<NatsConnection>;
}

/** One JetStream-enabled nats-server in a fresh temp dir. */
export async function startServer(extraConfig?: string): Promise<TestServer> {
  if (!natsServerBinary() && !extraConfig && dockerAvailable()) return await startContainer();
  const dir = await mkdtemp(join(tmpdir(), 'jrn-nats-'));
  const srv = await startNatsServer({ dir, ...(extraConfig ? { extraConfig } : {}) });
  return withHelpers(srv, dir);
}

/** A cluster of `size` nodes on loopback, each listing all routes (itself included). */
export async function startCluster(size = 3): Promise<{ nodes: TestServer[]; urls: string[]; stop(): Promise<void> }> {
  const clientPorts = await Promise.all(Array.from({ length: size }, freePort));
  const routePorts = await Promise.all(Array.from({ length: size }, freePort));
  const routes = routePorts.map((p) => `nats-route://127.0.0.1:${p}`);
  const nodes = await Promise.all(
    clientPorts.map(async (port, i) => {
      const dir = await mkdtemp(join(tmpdir(), `jrn-nats-n${i}-`));
      const srv = await startNatsServer({
        dir,
        port,
        serverName: `n${i}`,
        cluster: { name: 'jrn-test', port: routePorts[i]!, routes },
      });
      return withHelpers(srv, dir);
    }),
  );
  return {
    nodes,
    urls: nodes.map((n) => n.url),
    stop: async () => {
      await Promise.all(nodes.map((n) => n.stop()));
    },
  };
}

function dockerAvailable(): boolean {
  const host = process.env['DOCKER_HOST'];
  return host !== undefined ? host.length > 0 : existsSync('/var/run/docker.sock');
}

async function startContainer(): Promise<TestServer> {
  const { NatsContainer } = await import('@testcontainers/nats');
  const container = await new NatsContainer('nats:2.10-alpine').withJetStream().withUsername('test').withPass('test').start();
  const port = container.getMappedPort(4222);
  const url = `nats://test:test@${container.getHost()}:${port}`;
  const stop = async (): Promise<void> => {
    await container.stop();
  };
  return {
    url,
    port,
    pid: -1,
    dir: '',
    stop,
    kill: stop,
    [Symbol.asyncDispose]: stop,
    connect: () => connect({ servers: `${container.getHost()}:${port}`, user: 'test', pass: 'test' }),
  };
}

function withHelpers(srv: NatsServerProcess, dir: string): TestServer {
  const stop = async (): Promise<void> => {
    await srv.stop();
    await rm(dir, { recursive: true, force: true });
  };
  return {
    ...srv,
    stop,
    [Symbol.asyncDispose]: stop,
    connect: () => connect({ servers: srv.url, noAsyncTraces: true }),
  };
}

/** Waits until `check` returns a truthy value, polling; fails with `what` after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T> | T,
  timeoutMs = 30_000,
  everyMs = 50,
): Promise<Exclude<T, undefined | null | false | 0 | ''>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v as Exclude<T, undefined | null | false | 0 | ''>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** A unique name for streams, buckets and prefixes in one test. */
export function uniqueName(base: string): string {
  return `${base}${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
}

/**
 * One server and connection for a test file: started before its tests, closed and stopped after them (after the file's
 * own `afterAll` hooks, which vitest runs in reverse order). `bind` receives them for the file's variables.
 */
export function useNats(bind: (server: TestServer, nc: NatsConnection) => void): void {
  let server: TestServer | undefined;
  let nc: NatsConnection | undefined;
  beforeAll(async () => {
    server = await startServer();
    nc = await server.connect();
    bind(server, nc);
  });
  afterAll(async () => {
    await nc?.close();
    await server?.stop();
  });
}

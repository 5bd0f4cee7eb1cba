/**
 * NATS roles (R33) on a real nats-server started from the shipped `deploy/nats/standalone.conf` (its store folder pointed
 * at a temp dir, ports from flags, passwords from the environment as in production). The server, not the client, is the
 * judge: a refused publish comes back as an `-ERR` that nats.js reports on `nc.status()` and by rejecting a request; a
 * refused subscription is closed with a `PermissionViolationError`; the server logs each as "Publish Violation" or
 * "Subscription Violation" (2.9.10 writes no line containing "Permissions Violation").
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type JsMsg } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import {
  connect,
  headers,
  PermissionViolationError,
  type NatsConnection,
  type Subscription,
} from '@nats-io/transport-node';
import { pino } from 'pino';
import { TIERS } from '../actors/priority.ts';
import { GENERATED_CONFIGS } from '../deploy/nats/generate.ts';
import { JourneyClient } from '../runtime/client.ts';
import { DeadLetters } from '../runtime/engine/dlq.ts';
import { ActionError } from '../runtime/errors.ts';
import { freePort, natsServerBinary } from '../runtime/nats-server-process.ts';
import {
  ROLE_INFO,
  ROLES,
  configEnv,
  rolePermissions,
  serviceEffects,
  subjectMatches,
  type Role,
  type SubjectPermission,
} from '../runtime/roles.ts';
import { startRuntime, type Runtime } from '../runtime/runtime.ts';
import { ensureTopology } from '../runtime/engine/streams.ts';
import { COMMAND_VERBS, names } from '../runtime/subjects.ts';
import { runCli } from './harness/cli.ts';
import { waitFor } from './harness/nats.ts';
import { readAll } from './harness/streams.ts';

const CONF_DIR = fileURLToPath(new URL('../deploy/nats/', import.meta.url));
const n = names('jrn');
const p = n.prefix;
/** An execution id of the right shape (`executionIdOf` makes them). */
const EX = `ex_${'a'.repeat(26)}`;
const perms = rolePermissions(n);
/** 2.9.10 logs "Publish Violation" and "Subscription Violation"; newer servers may say "Permissions Violation". */
const VIOLATION = /Violation/;

/** One subject from each branch of the namespace, and what is outside it that roles touch. */
const SAMPLES = {
  cmd: n.cmd('start'),
  api: n.api('start'),
  admin: `${p}.admin.dlq.replay`,
  override: `${p}.supervisor.override`,
  work: n.work('critical', 'studio-9', EX),
  intake: n.intake('critical', 'studio-9', EX),
  timer: n.timer(42),
  actions: n.action('email.send'),
  results: n.result('email.send'),
  rejects: n.rejects('start'),
  dlq: n.dlq('studio-9', EX),
  statsInstance: n.statsInstance('i1'),
  statsCluster: n.statsCluster,
  alerts: n.alerts,
  decisions: n.decisions,
  audit: `${p}.audit.dlq.replay`,
  kvExecutions: `$KV.${n.buckets.executions}.${EX}`,
  kvDefinitions: `$KV.${n.buckets.definitions}.welcome.latest`,
  effects: `svc.${p}.effects.email.send`,
  other: 'somewhere.else',
} as const;
type Sample = keyof typeof SAMPLES;

/** The role matrix as tested: which sample subjects each role may publish to, and subscribe to. */
const MAY_PUBLISH: Record<Role, Sample[]> = {
  runtime: [
    'api',
    'work',
    'intake',
    'timer',
    'actions',
    'rejects',
    'dlq',
    'statsInstance',
    'statsCluster',
    'alerts',
    'decisions',
    'audit',
    'kvExecutions',
    'kvDefinitions',
  ],
  publisher: ['cmd', 'api', 'intake'],
  'action-service': ['results', 'effects'],
  dashboard: [],
  operator: ['api', 'admin', 'override'],
};
const MAY_SUBSCRIBE: Record<Role, Sample[]> = {
  runtime: ['api', 'admin', 'override', 'statsInstance', 'statsCluster', 'alerts', 'decisions'],
  publisher: [],
  'action-service': [],
  dashboard: ['statsInstance', 'statsCluster', 'alerts', 'decisions'],
  operator: ['statsInstance', 'statsCluster', 'alerts', 'decisions'],
};

function permits(perm: SubjectPermission, subject: string): boolean {
  return (
    perm.allow.some((a) => subjectMatches(a, subject)) && !(perm.deny ?? []).some((d) => subjectMatches(d, subject))
  );
}

// ---------------------------------------------------------------------------------------------------------------------
// A nats-server from the shipped config, and clients connected as roles

interface RoleServer {
  url: string;
  port: number;
  passwords: Record<Role, string>;
  log(): Promise<string>;
  stop(): Promise<void>;
}

/**
 * Environment with a password for every role, each in double quotes: nats-server parses a variable's value as config
 * (unquoted, `ab,cd` is read as `ab`, and `4e5` is refused), and a quoted string is read as it is.
 */
function passwordEnv(
  passwords: Record<Role, string>,
  quote = (pw: string): string => JSON.stringify(pw),
): Record<string, string> {
  return Object.fromEntries(ROLES.map((r) => [ROLE_INFO[r].passwordEnv, quote(passwords[r])]));
}

/** A random password with the characters an unquoted value would lose. */
const randomPassword = (): string => `${randomBytes(12).toString('base64url')},;}#x`;

const clusterEnv = {
  JRN_NATS_SERVER_NAME: 'nats-0',
  JRN_ROUTE_PASSWORD: 'route-secret',
  JRN_NATS_ROUTE_1: 'nats-route://route:route-secret@nats-0:6222',
  JRN_NATS_ROUTE_2: 'nats-route://route:route-secret@nats-1:6222',
  JRN_NATS_ROUTE_3: 'nats-route://route:route-secret@nats-2:6222',
};

const newPasswords = (): Record<Role, string> =>
  Object.fromEntries(ROLES.map((r) => [r, randomPassword()])) as Record<Role, string>;

interface RoleServerOptions {
  /** @default 'standalone.conf' */
  file?: string;
  /** @default fresh random ones */
  passwords?: Record<Role, string>;
  /** The config's variables. @default passwordEnv */
  env?(passwords: Record<Role, string>): Record<string, string>;
  /** More flags (a cluster node's route listener). */
  args?: string[];
  /** Client port. @default a free one */
  port?: number;
}

/**
 * nats-server with a shipped config as it is, but for its store folder (a temp dir: `-sd` and `store_dir` together are
 * refused as a duplicate); address and ports from flags, which override the file. Stopped by its pid.
 */
async function startRoleServer(opts: RoleServerOptions = {}): Promise<RoleServer> {
  const bin = natsServerBinary();
  if (!bin) throw new Error('nats-server not found: apt-get install -y nats-server');
  const dir = await mkdtemp(join(tmpdir(), 'jrn-roles-'));
  const file = opts.file ?? 'standalone.conf';
  const shipped = readFileSync(join(CONF_DIR, file), 'utf8');
  const config = shipped.replace('store_dir: "/data"', `store_dir: ${JSON.stringify(join(dir, 'data'))}`);
  if (config === shipped) throw new Error(`${file} has no store_dir "/data" line to point at the temp dir`);
  await writeFile(join(dir, 'nats.conf'), config);
  const passwords = opts.passwords ?? newPasswords();
  const port = opts.port ?? (await freePort());
  let httpPort = await freePort();
  while (httpPort === port) httpPort = await freePort();
  const logFile = join(dir, 'nats-server.log');
  const child = spawn(
    bin,
    [
      '-c',
      join(dir, 'nats.conf'),
      '-a',
      '127.0.0.1',
      '-p',
      String(port),
      '-m',
      String(httpPort),
      '-l',
      logFile,
      ...(opts.args ?? []),
    ],
    {
      env: { PATH: process.env['PATH'] ?? '', ...(opts.env ?? passwordEnv)(passwords) },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2_000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const kill = (): void => void child.kill('SIGKILL');
  process.once('exit', kill); // never outlive the test process
  const stop = async (): Promise<void> => {
    process.off('exit', kill);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const hard = setTimeout(kill, 5_000);
      await exited;
      clearTimeout(hard);
    }
    await rm(dir, { recursive: true, force: true });
  };
  const log = (): Promise<string> => readFile(logFile, 'utf8').catch(() => '');
  try {
    await waitFor(
      'nats-server ready',
      async () => child.exitCode !== null || (await log()).includes('Server is ready'),
      15_000,
      25,
    );
    if (child.exitCode !== null)
      throw new Error(`nats-server exited: ${stderr.trim()} ${(await log()).trim().split('\n').slice(-3).join(' | ')}`);
  } catch (err) {
    await stop();
    throw err;
  }
  return { url: `nats://127.0.0.1:${port}`, port, passwords, log, stop };
}

interface RoleConnection {
  role: Role;
  nc: NatsConnection;
  /** Errors the server reported on this connection (`-ERR`), in order. */
  errors: Error[];
}

async function connectAs(
  server: RoleServer,
  role: Role,
  opts: { inboxPrefix?: string | false; pass?: string } = {},
): Promise<RoleConnection> {
  const inboxPrefix = opts.inboxPrefix === false ? undefined : (opts.inboxPrefix ?? ROLE_INFO[role].inboxPrefix);
  const nc = await connect({
    servers: server.url,
    user: ROLE_INFO[role].user,
    pass: opts.pass ?? server.passwords[role],
    noAsyncTraces: true,
    ...(inboxPrefix ? { inboxPrefix } : {}),
  });
  const errors: Error[] = [];
  void (async () => {
    for await (const s of nc.status()) if (s.type === 'error') errors.push(s.error);
  })();
  return { role, nc, errors };
}

const refusal = (c: RoleConnection, operation: 'publish' | 'subscription', subject: string): boolean =>
  c.errors.some((e) => e instanceof PermissionViolationError && e.operation === operation && e.subject === subject);

/** A plain publish the server refuses: reported on the connection's status, which stays open. */
async function expectPublishRefused(c: RoleConnection, subject: string): Promise<void> {
  c.nc.publish(subject, '{}');
  await c.nc.flush();
  await waitFor(`${c.role}: publish to ${subject} refused`, () => refusal(c, 'publish', subject), 5_000, 5);
  expect(c.nc.isClosed()).toBe(false);
}

/** A subscription the server refuses is closed with the error before the next PONG (protocol order). */
async function expectSubscribeRefused(c: RoleConnection, subject: string): Promise<void> {
  const sub = c.nc.subscribe(subject);
  await c.nc.flush();
  expect(sub.isClosed(), `${c.role} subscribed to ${subject}`).toBe(true);
  expect(await sub.closed).toBeInstanceOf(PermissionViolationError);
}

async function expectSubscribeAllowed(c: RoleConnection, subject: string): Promise<Subscription> {
  const sub = c.nc.subscribe(subject);
  await c.nc.flush();
  expect(sub.isClosed(), `${c.role} may subscribe to ${subject}`).toBe(false);
  return sub;
}

/** A request, JetStream call or publish with an ack that the server refuses to let out. */
async function expectRefused(what: Promise<unknown>): Promise<void> {
  await expect(what).rejects.toThrow(/Permissions Violation for Publish/);
}

/** A request that reached the server and whose answer reached the inbox: there is just nobody to answer it. */
async function expectNoResponders(what: Promise<unknown>): Promise<void> {
  await expect(what).rejects.toThrow(/no responders/);
}

function firstMessage(sub: Subscription, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`nothing on ${sub.getSubject()} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    void (async () => {
      for await (const m of sub) {
        clearTimeout(timer);
        resolve(m.string());
        return;
      }
    })();
  });
}

// ---------------------------------------------------------------------------------------------------------------------

describe('roles - configuration', () => {
  it('roles - the shipped configs are what runtime/roles.ts renders, and nats-server -t accepts them (with the env set)', () => {
    const bin = natsServerBinary();
    expect(bin).toBeDefined();
    const env: Record<string, string> = {
      PATH: process.env['PATH'] ?? '',
      ...passwordEnv({ runtime: 'a', publisher: 'b', 'action-service': 'c', dashboard: 'd', operator: 'e' }),
      ...clusterEnv,
    };
    for (const { file, render } of GENERATED_CONFIGS) {
      expect(readFileSync(join(CONF_DIR, file), 'utf8'), `${file} is stale: npx tsx deploy/nats/generate.ts`).toBe(
        render(),
      );
      const ok = spawnSync(bin!, ['-c', join(CONF_DIR, file), '-t'], { env, encoding: 'utf8' });
      expect(ok.status, ok.stderr).toBe(0);
      expect(ok.stdout + ok.stderr).toMatch(/is valid/);
      // Every variable the file reads is documented, and a missing one is refused by name.
      const documented = Object.keys(configEnv({ cluster: file === 'cluster.conf' }));
      expect(
        [...readFileSync(join(CONF_DIR, file), 'utf8').matchAll(/^\s*(?:\w+:\s*)?\$([A-Z][A-Z0-9_]+)\s*$/gm)]
          .map((m) => m[1])
          .sort(),
      ).toEqual([...documented].sort());
      const withoutOne = Object.fromEntries(Object.entries(env).filter(([k]) => k !== 'JRN_OPERATOR_PASSWORD'));
      const missing = spawnSync(bin!, ['-c', join(CONF_DIR, file), '-t'], { env: withoutOne, encoding: 'utf8' });
      expect(missing.status).not.toBe(0);
      expect(missing.stderr).toMatch(/JRN_OPERATOR_PASSWORD/);
    }
  });

  it('roles - a password variable is read as a config value: quoted it is taken whole, unquoted it can be cut short', async () => {
    const server = await startRoleServer({
      env: (pw) => ({ ...passwordEnv(pw), [ROLE_INFO.publisher.passwordEnv]: 'ab,cd' }),
    });
    try {
      const operator = await connectAs(server, 'operator'); // quoted: the whole password, punctuation and all
      await operator.nc.close();
      await expect(connectAs(server, 'publisher', { pass: 'ab,cd' })).rejects.toThrow(/Authorization Violation/);
      const cut = await connectAs(server, 'publisher', { pass: 'ab' });
      await cut.nc.close();
    } finally {
      await server.stop();
    }
  });

  it('roles - cluster.conf: three nodes form a JetStream cluster over authenticated routes; roles hold on every node', async () => {
    const passwords = newPasswords();
    const routePassword = randomPassword();
    const clientPorts = [await freePort(), await freePort(), await freePort()];
    const routePorts = [await freePort(), await freePort(), await freePort()];
    const quoted = (v: string): string => JSON.stringify(v);
    const nodes: RoleServer[] = [];
    try {
      const started = await Promise.allSettled(
        routePorts.map((routePort, i) =>
          startRoleServer({
            file: 'cluster.conf',
            passwords,
            port: clientPorts[i]!,
            args: ['--cluster', `nats://127.0.0.1:${routePort}`],
            env: (pw) => ({
              ...passwordEnv(pw),
              JRN_NATS_SERVER_NAME: quoted(`n${i}`),
              JRN_ROUTE_PASSWORD: quoted(routePassword),
              // In a URL the password is percent-encoded; the server decodes it.
              ...Object.fromEntries(
                routePorts.map((rp, j) => [
                  `JRN_NATS_ROUTE_${j + 1}`,
                  quoted(`nats-route://route:${encodeURIComponent(routePassword)}@127.0.0.1:${rp}`),
                ]),
              ),
            }),
          }),
        ),
      );
      for (const r of started) if (r.status === 'fulfilled') nodes.push(r.value);
      for (const r of started) if (r.status === 'rejected') throw r.reason;
      const [a, b, c] = nodes as [RoleServer, RoleServer, RoleServer];
      const rt = await connectAs(a, 'runtime');
      const jsm = await jetstreamManager(rt.nc, { checkAPI: false, timeout: 2_000 });
      // The metadata leader is elected once the routes are up: until then JetStream requests go unanswered.
      const info = await waitFor(
        'an R3 stream',
        () => jsm.streams.add({ name: n.streams.cmd, subjects: [`${p}.cmd.>`], num_replicas: 3 }),
        20_000,
        100,
      );
      expect(info.cluster?.replicas).toHaveLength(2);
      const pub = await connectAs(b, 'publisher');
      expect((await jetstream(pub.nc).publish(n.cmd('start'), '{}')).stream).toBe(n.streams.cmd);
      await expectPublishRefused(pub, n.timer(1));
      const op = await connectAs(c, 'operator');
      expect((await (await jetstreamManager(op.nc)).streams.info(n.streams.cmd)).state.messages).toBe(1);
      await expectSubscribeRefused(op, `${ROLE_INFO.publisher.inboxPrefix}.>`);
      for (const conn of [rt, pub, op]) await conn.nc.close();
    } finally {
      await Promise.all(nodes.map((node) => node.stop()));
    }
  });

  it('roles - the matrix: every subject of the map is published and subscribed only by the roles meant to', () => {
    for (const role of ROLES) {
      for (const [sample, subject] of Object.entries(SAMPLES) as [Sample, string][]) {
        expect(permits(perms[role].publish, subject), `${role} publish ${subject}`).toBe(
          MAY_PUBLISH[role].includes(sample),
        );
        expect(permits(perms[role].subscribe, subject), `${role} subscribe ${subject}`).toBe(
          MAY_SUBSCRIBE[role].includes(sample),
        );
      }
    }
    // Every subject the runtime's streams capture, and every concrete subject it writes, is within its permissions.
    const written = [
      ...TIERS.map((t) => n.work(t, 's', 'e')),
      n.timer(1),
      n.action('a.b'),
      n.rejects('admin'),
      n.dlq('s', 'e'),
      `${p}.audit.scale`,
      n.statsInstance('x'),
      n.statsCluster,
      n.alerts,
      n.decisions,
      ...Object.values(n.buckets).map((b) => `$KV.${b}.key`),
      `$JS.ACK.${n.streams.work}.work-critical.1.2.3.4.5`,
      `$JS.API.STREAM.CREATE.${n.streams.cmd}`,
    ];
    for (const s of written) expect(permits(perms.runtime.publish, s), s).toBe(true);
    for (const verb of COMMAND_VERBS) {
      expect(permits(perms.runtime.subscribe, n.api(verb))).toBe(true);
      expect(permits(perms.publisher.publish, n.cmd(verb))).toBe(true);
    }
    // Each role may subscribe to its own inbox and no other.
    for (const role of ROLES) {
      for (const other of ROLES) {
        expect(
          permits(perms[role].subscribe, `${ROLE_INFO[other].inboxPrefix}.abc.1`),
          `${role} reads ${other}'s inbox`,
        ).toBe(role === other);
      }
      expect(permits(perms[role].subscribe, '_INBOX.abc.1')).toBe(false);
    }
  });
});

describe('roles - each role on a real server: what it may do works, what it may not is refused', () => {
  let server: RoleServer;
  const conns: RoleConnection[] = [];
  const as = async (role: Role, opts?: { inboxPrefix?: string | false }): Promise<RoleConnection> => {
    const c = await connectAs(server, role, opts);
    conns.push(c);
    return c;
  };
  let rt: RoleConnection;

  beforeAll(async () => {
    server = await startRoleServer();
    rt = await as('runtime');
    await ensureTopology(rt.nc, await jetstreamManager(rt.nc), n, {
      replicas: 1,
      maxAckPending: 1_000,
      ackWaitMs: 30_000,
    });
  });
  afterAll(async () => {
    for (const c of conns.splice(0)) await c.nc.close().catch(() => undefined);
    await server?.stop();
  });

  it('roles - every role: publishing outside its part of the map is refused, and the connection lives on', async () => {
    for (const role of ROLES) {
      const c = await as(role);
      for (const [sample, subject] of Object.entries(SAMPLES) as [Sample, string][]) {
        if (!MAY_PUBLISH[role].includes(sample)) await expectPublishRefused(c, subject);
      }
      for (const [sample, subject] of Object.entries(SAMPLES) as [Sample, string][]) {
        if (MAY_SUBSCRIBE[role].includes(sample)) (await expectSubscribeAllowed(c, subject)).unsubscribe();
        else await expectSubscribeRefused(c, subject);
      }
    }
  });

  it("roles - inboxes: each role subscribes to its own inbox only; another role's, or the default _INBOX, is refused", async () => {
    for (const role of ROLES) {
      const c = await as(role);
      (await expectSubscribeAllowed(c, `${ROLE_INFO[role].inboxPrefix}.mine.>`)).unsubscribe();
      for (const other of ROLES.filter((r) => r !== role))
        await expectSubscribeRefused(c, `${ROLE_INFO[other].inboxPrefix}.>`);
      await expectSubscribeRefused(c, '_INBOX.>');
      await expectSubscribeRefused(c, '>');
    }
    // Without its inbox prefix a client cannot even receive its replies: requests fail at once.
    const bare = await as('publisher', { inboxPrefix: false });
    await expect(bare.nc.request(n.api('start'), '{}', { timeout: 5_000 })).rejects.toThrow(
      /Permissions Violation for Subscription to "_INBOX\./,
    );
  });

  it('roles - publisher: commands and intake starts (PubAck from the stream) and api requests go through; no other work, no JetStream API, no executions bucket', async () => {
    const c = await as('publisher');
    const js = jetstream(c.nc);
    for (const verb of COMMAND_VERBS) {
      const ack = await js.publish(n.cmd(verb), '{}', { headers: withMsgId(`roles-${verb}`) });
      expect(ack.stream).toBe(n.streams.cmd);
      await expectNoResponders(c.nc.request(n.api(verb), '{}', { timeout: 5_000 }));
    }
    // The start intake: stored by the work stream; any other work subject is the runtime's alone.
    expect((await js.publish(n.intake('low', 'studio-9', EX), '{}', { headers: withMsgId('roles-intake') })).stream).toBe(n.streams.work);
    await expectRefused(js.publish(n.work('low', 'studio-9', EX), '{}'));
    await expectRefused(c.nc.request(`${p}.admin.executions.status`, '{"executionId":"ex_1"}', { timeout: 5_000 }));
    await expectRefused(c.nc.request(`${p}.supervisor.override`, '{"clear":true,"by":"x"}', { timeout: 5_000 }));
    await expectRefused(js.publish(n.timer(1), '{}'));
    await expectRefused(js.publish(n.result('email.send'), '{}'));
    await expectRefused(js.publish(`${p}.cmd.anything`, '{}'));

    // The executions bucket: a KV get, a direct get, a consumer on its stream, a core subscription on its subjects.
    const kv = await new Kvm(c.nc).open(n.buckets.executions);
    await expectRefused(kv.get('ex_1'));
    const jsm = await jetstreamManager(c.nc, { checkAPI: false });
    await expectRefused(
      jsm.direct.getMessage(`KV_${n.buckets.executions}`, { last_by_subj: `$KV.${n.buckets.executions}.${EX}` }),
    );
    await expectRefused(jsm.streams.getMessage(`KV_${n.buckets.executions}`, { seq: 1 }));
    await expectRefused(jsm.consumers.add(`KV_${n.buckets.executions}`, { name: 'peek', ack_policy: AckPolicy.None }));
    await expectRefused(jsm.streams.info(n.streams.cmd));
    await expectRefused(jetstreamManager(c.nc));
    await expectSubscribeRefused(c, `$KV.${n.buckets.executions}.>`);
  });

  it('roles - action service: its durable consumer on the action commands, acks, results and its own effects stream; nothing else', async () => {
    const rjs = jetstream(rt.nc);
    await rjs.publish(
      n.action('email.send'),
      JSON.stringify({
        action: 'email.send',
        key: 'ex_1.send.1',
        attempt: 1,
        params: {},
        resultSubject: n.result('email.send'),
      }),
    );

    const c = await as('action-service');
    const js = jetstream(c.nc);
    const jsm = await jetstreamManager(c.nc);
    const effects = serviceEffects(n);
    await jsm.streams.add({ name: effects.stream, subjects: [effects.subjects], duplicate_window: 30 * 60 * 1e9 });
    expect((await jsm.streams.info(effects.stream)).config.subjects).toEqual([effects.subjects]);
    expect((await js.publish(SAMPLES.effects, '{}', { headers: withMsgId('ex_1.send.1') })).stream).toBe(
      effects.stream,
    );
    await jsm.consumers.add(n.streams.actions, {
      durable_name: 'svc-email_send',
      filter_subject: n.action('email.send'),
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
    });
    const consumer = await js.consumers.get(n.streams.actions, 'svc-email_send');
    const m = await consumer.next({ expires: 5_000 });
    expect(m?.json<{ key: string }>().key).toBe('ex_1.send.1');
    expect(
      (await js.publish(n.result('email.send'), JSON.stringify({ key: 'ex_1.send.1', attempt: 1, ok: true }))).stream,
    ).toBe(n.streams.results);
    expect(await m!.ackAck()).toBe(true);
    expect((await consumer.info()).num_ack_pending).toBe(0);

    await expectRefused(js.publish(n.action('email.send'), '{}')); // no forged commands
    await expectRefused(c.nc.request(n.api('start'), '{}', { timeout: 5_000 }));
    await expectRefused(jsm.consumers.add(n.streams.work, { name: 'peek', ack_policy: AckPolicy.None }));
    await expectRefused(jsm.consumers.add(n.streams.dlq, { name: 'peek', ack_policy: AckPolicy.None }));
    await expectRefused(jsm.consumers.delete(n.streams.actions, 'svc-email_send'));
    await expectRefused(jsm.streams.delete(n.streams.actions));
    await expectRefused(jsm.streams.add({ name: 'SVC_OTHER', subjects: ['svc.other.>'] }));
    await expectRefused(jsm.streams.getMessage(`KV_${n.buckets.executions}`, { seq: 1 }));
    await expectRefused(new Kvm(c.nc).open(n.buckets.executions).then((kv) => kv.get('ex_1')));
  });

  it('roles - dashboard: stats, alerts and decisions live, the stats history read through JetStream; it publishes nothing else', async () => {
    const c = await as('dashboard');
    const stats = firstMessage(await expectSubscribeAllowed(c, `${p}.stats.>`));
    const alerts = firstMessage(await expectSubscribeAllowed(c, n.alerts));
    const decisions = firstMessage(await expectSubscribeAllowed(c, n.decisions));
    const rjs = jetstream(rt.nc);
    await rjs.publish(n.statsCluster, '{"instance":"cluster"}');
    await rjs.publish(n.alerts, '{"type":"raised","id":"queue:low"}');
    rt.nc.publish(n.decisions, '{"kind":"scale"}');
    expect(await stats).toBe('{"instance":"cluster"}');
    expect(await alerts).toBe('{"type":"raised","id":"queue:low"}');
    expect(await decisions).toBe('{"kind":"scale"}');

    // What `journeys report` and the alerts seed of `journeys stats` do.
    const jsm = await jetstreamManager(c.nc);
    expect((await jsm.streams.info(n.streams.stats)).state.messages).toBe(2);
    const history = await readAll<{ instance?: string; id?: string }>(c.nc, n.streams.stats);
    expect(history.map((h) => h.subject)).toEqual([n.statsCluster, n.alerts]);
    const alertsOnly = await jetstream(c.nc).consumers.get(n.streams.stats, {
      deliver_policy: DeliverPolicy.All,
      filter_subjects: n.alerts,
    });
    expect((await alertsOnly.info()).num_pending).toBe(1);
    expect((await jsm.streams.getMessage(n.streams.stats, { last_by_subj: n.statsCluster }))?.string()).toBe(
      '{"instance":"cluster"}',
    );

    await expectRefused(jetstream(c.nc).publish(n.statsCluster, '{}'));
    await expectRefused(jsm.streams.info(n.streams.dlq));
    await expectRefused(jsm.streams.getMessage(n.streams.audit, { seq: 1 }));
    await expectRefused(jsm.consumers.add(n.streams.work, { name: 'peek', ack_policy: AckPolicy.None }));
    await expectRefused(jsm.streams.delete(n.streams.stats));
    await expectRefused(jsm.streams.purge(n.streams.stats));
    await expectRefused(c.nc.request(`${p}.admin.executions.status`, '{}', { timeout: 5_000 }));
    await expectRefused(new Kvm(c.nc).open(n.buckets.definitions).then((kv) => kv.get('welcome.latest')));
  });

  it('roles - operator: admin, overrides and api requests, read-only views of everything; changes only through the runtime', async () => {
    // Something to look at: a dead letter, an execution entry and a deployed definition, written by the runtime.
    const rjs = jetstream(rt.nc);
    const rjsm = await jetstreamManager(rt.nc);
    await new DeadLetters(rjs, rjsm, n).add({
      executionId: EX,
      supplierId: 'studio-9',
      journeyId: 'welcome',
      version: 1,
      stepId: 'send',
      visit: 1,
      key: `${EX}.send.1`,
      action: 'email.send',
      error: 'boom',
      attempts: 3,
      tier: 'low',
      at: Date.now(),
      history: [],
    });
    await (await new Kvm(rt.nc).open(n.buckets.executions)).put(EX, 'opaque');

    const c = await as('operator');
    const client = new JourneyClient(c.nc, p);
    const dlq = await client.dlq();
    const [entry] = await dlq.list();
    expect(entry).toMatchObject({ executionId: EX, error: 'boom' });
    expect((await dlq.get(entry!.seq)).key).toBe(`${EX}.send.1`);
    const executions = await client.executions();
    expect((await executions.get(EX))?.string()).toBe('opaque');
    const keys: string[] = [];
    for await (const k of await executions.keys()) keys.push(k);
    expect(keys).toEqual([EX]);
    expect(await (await client.definitions()).list()).toEqual([]);
    const jsm = await jetstreamManager(c.nc);
    expect((await jsm.consumers.info(n.streams.work, n.workConsumer('critical'))).name).toBe('work-critical');
    expect((await jsm.streams.info(n.streams.audit)).config.name).toBe(n.streams.audit);
    await expectNoResponders(
      c.nc.request(`${p}.admin.dlq.replay`, JSON.stringify({ seq: entry!.seq, by: 'alice' }), { timeout: 5_000 }),
    );
    await expectNoResponders(
      c.nc.request(`${p}.supervisor.override`, '{"clear":true,"by":"alice"}', { timeout: 5_000 }),
    );
    await expectNoResponders(c.nc.request(n.api('pause'), '{"supplierId":"studio-9"}', { timeout: 5_000 }));

    // Changing things directly is refused before anything changes: the runtime does it (validated and audited).
    await expectRefused(dlq.replay(entry!.seq, 'alice')); // publishes the work itself
    await expectRefused(dlq.discard(entry!.seq, 'alice')); // deletes the stream message itself
    expect((await dlq.get(entry!.seq)).executionId).toBe(EX);
    await expectRefused((await client.definitions()).deploy(definition()));
    await expectRefused(executions.put(EX, 'tampered'));
    await expectRefused(jsm.streams.purge(n.streams.dlq));
    await expectRefused(jsm.streams.deleteMessage(n.streams.dlq, entry!.seq));
    await expectRefused(jsm.consumers.delete(n.streams.work, n.workConsumer('critical')));
    await expectRefused(jsm.streams.delete(n.streams.work));
    await expectRefused(jetstream(c.nc).publish(`${p}.audit.dlq.replay`, '{}'));
    await expectRefused(jetstream(c.nc).publish(n.work('critical', 'studio-9', EX), '{}'));
  });

  it('roles - the server logs every refusal with the user (what the end-to-end run must not show)', async () => {
    const log = await server.log();
    expect(log).toMatch(/Publish Violation - User "publisher", Subject "jrn\.admin\./);
    expect(log).toMatch(/Subscription Violation - User "dashboard", Subject "_INBOX_operator\.>"/);
    expect(log.split('\n').filter((l) => VIOLATION.test(l)).length).toBeGreaterThan(50);
  });
});

// ---------------------------------------------------------------------------------------------------------------------

function withMsgId(id: string) {
  const h = headers();
  h.set('Nats-Msg-Id', id);
  return h;
}

/** An in-process note, a short wait, an outbound email answered by the action service, then an in-process task. */
function definition() {
  return {
    id: 'roles-welcome',
    version: 1,
    name: 'Roles: note, wait, welcome email, task',
    vendorType: 'photographer',
    trigger: { event: 'booking.created' },
    start: 'note',
    steps: {
      note: { type: 'action', action: 'crm.note', params: { text: 'booked' }, next: 'pause' },
      pause: { type: 'wait', duration: 'PT1S', next: 'send' },
      send: { type: 'action', action: 'email.send', params: { template: 'welcome' }, next: 'task' },
      task: { type: 'action', action: 'task.create', params: { title: 'call the couple' }, next: 'done' },
      done: { type: 'end' },
    },
  };
}

/**
 * The reference action service's calls (examples/action-service.ts), made in-process as the action-service user: the
 * example itself cannot authenticate yet (its `connect()` passes neither credentials, which nats.js 3.4 ignores in a URL,
 * nor an inbox prefix). Same stream, consumer, publishes, headers and ack order.
 */
async function startActionService(
  nc: NatsConnection,
  prefix: string,
): Promise<{ stop(): Promise<void>; performed: string[] }> {
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const effects = `SVC_EFFECTS_${prefix.toUpperCase()}`;
  await jsm.streams
    .add({ name: effects, subjects: [`svc.${prefix}.effects.>`], duplicate_window: 30 * 60 * 1e9 })
    .catch(async () => {
      await jsm.streams.info(effects);
    });
  const durable = 'svc-email_send';
  await jsm.consumers.add(`${prefix.toUpperCase()}_ACTIONS`, {
    durable_name: durable,
    filter_subject: `${prefix}.actions.email.send`,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: 5e9,
    max_ack_pending: 256,
  });
  const messages = await (
    await js.consumers.get(`${prefix.toUpperCase()}_ACTIONS`, durable)
  ).consume({ max_messages: 128 });
  const performed: string[] = [];
  const handle = async (msg: JsMsg): Promise<void> => {
    const cmd = msg.json<{ action: string; key: string; attempt: number; params: unknown; resultSubject?: string }>();
    const ack = await js.publish(
      `svc.${prefix}.effects.${cmd.action}`,
      JSON.stringify({ key: cmd.key, params: cmd.params }),
      { headers: withMsgId(cmd.key) },
    );
    performed.push(cmd.key);
    if (cmd.resultSubject) {
      const answer = { key: cmd.key, attempt: cmd.attempt, ok: true, data: { messageId: `${effects}-${ack.seq}` } };
      await js.publish(cmd.resultSubject, JSON.stringify(answer), { headers: withMsgId(`${cmd.key}:${cmd.attempt}`) });
    }
    msg.ack();
  };
  const done = (async () => {
    for await (const msg of messages) await handle(msg);
  })();
  return {
    performed,
    stop: async () => {
      await messages.close();
      await done;
    },
  };
}

describe('roles - end to end: the runtime and every other role, with no permission refused', () => {
  let server: RoleServer;
  const conns: RoleConnection[] = [];
  const as = async (role: Role): Promise<RoleConnection> => {
    const c = await connectAs(server, role);
    conns.push(c);
    return c;
  };
  const undo: (() => Promise<unknown>)[] = [];
  /** The `journeys` CLI as `role`: the nats CLI's environment plus NATS_INBOX_PREFIX. */
  const cli = (role: Role, args: string[], env: Record<string, string> = {}) =>
    runCli([...args, '--json'], {
      url: server.url,
      prefix: p,
      timeoutMs: 60_000,
      env: {
        NATS_USER: ROLE_INFO[role].user,
        NATS_PASSWORD: server.passwords[role],
        NATS_INBOX_PREFIX: ROLE_INFO[role].inboxPrefix,
        ...env,
      },
    });

  beforeAll(async () => {
    server = await startRoleServer();
  });
  afterAll(async () => {
    for (const f of undo.splice(0).reverse()) await f().catch(() => undefined);
    for (const c of conns.splice(0)) await c.nc.close().catch(() => undefined);
    await server?.stop();
  });

  it(
    'roles - a journey end to end: in-process action, wait, outbound action, dead letter, replay by the operator, stats for the dashboard',
    { timeout: 120_000 },
    async () => {
      let failing = true;
      const rt = await as('runtime');
      const runtime: Runtime = await startRuntime({
        nc: rt.nc,
        prefix: p,
        logger: pino({ level: 'silent' }),
        actionConfig: { actions: { 'email.send': { mode: 'outbound', timeout: 'PT10S' } } },
        handlers: {
          'crm.note': async () => ({ noted: true }),
          'task.create': async () => {
            if (failing) throw new ActionError('task service says no', { retryable: false });
            return { taskId: 't-1' };
          },
        },
        monitor: { intervalMs: 500 },
        supervisor: { tickMs: 500 },
      });
      undo.push(() => runtime.stop());

      const svcConn = await as('action-service');
      const svc = await startActionService(svcConn.nc, p);
      undo.push(() => svc.stop());

      // The operator deploys the definition through the runtime (validated and audited).
      const op = await as('operator');
      const ask = async (subject: string, body: unknown) =>
        (await op.nc.request(subject, JSON.stringify(body), { timeout: 10_000 })).json<{
          ok: boolean;
          result?: Record<string, unknown>;
          error?: unknown;
        }>();
      expect(await ask(`${p}.admin.definitions.deploy`, { definition: definition(), by: 'alice' })).toMatchObject({
        ok: true,
        result: { id: 'roles-welcome', version: 1 },
      });
      // `journeys defs deploy` sends the same request: the same content again makes no new version.
      const defsDir = await mkdtemp(join(tmpdir(), 'jrn-roles-defs-'));
      undo.push(() => rm(defsDir, { recursive: true, force: true }));
      await writeFile(join(defsDir, 'welcome.json'), JSON.stringify(definition()));
      const redeploy = await cli('operator', ['defs', 'deploy', join(defsDir, 'welcome.json')], { USER: 'alice' });
      expect(redeploy.code, redeploy.stderr).toBe(0);
      expect(JSON.parse(redeploy.stdout)).toMatchObject([{ id: 'roles-welcome', version: 1, created: false }]);

      // The dashboard watches; a publisher starts one execution by request, one fire-and-forget, one on the start intake.
      const dash = await as('dashboard');
      const firstStats = firstMessage(await expectSubscribeAllowed(dash, n.statsCluster), 20_000);
      const pub = await as('publisher');
      const id = await new JourneyClient(pub.nc, p).start({
        supplierId: 'studio-9',
        clientId: 'couple-1',
        journeyId: 'roles-welcome',
      });
      await jetstream(pub.nc).publish(
        n.cmd('start'),
        JSON.stringify({ supplierId: 'studio-9', clientId: 'couple-2', journeyId: 'roles-welcome' }),
      );
      await new JourneyClient(pub.nc, p).publishStart({ supplierId: 'studio-9', clientId: 'couple-3', journeyId: 'roles-welcome' });

      // All three reach the task step after the wait and the email, and are dead-lettered there.
      const opClient = new JourneyClient(op.nc, p);
      const dlq = await opClient.dlq();
      const entries = await waitFor(
        'three dead letters',
        async () => {
          const list = await dlq.list();
          return list.length === 3 && list;
        },
        30_000,
        100,
      );
      expect(entries.map((e) => e.stepId)).toEqual(['task', 'task', 'task']);
      expect(entries.map((e) => e.executionId)).toContain(id);
      expect(svc.performed.sort()).toEqual(entries.map((e) => `${e.executionId}.send.1`).sort());
      const status = await ask(`${p}.admin.executions.status`, { executionId: id });
      expect(status).toMatchObject({ ok: true, result: { status: 'failed', state: 'task' } });

      // The operator's CLI (executions bucket, dead letters, definitions, a scaling override) works under the operator
      // role; each run is a process of its own, so they go side by side.
      const [cliStatus, cliDlq, cliLs, cliDefs, scaled] = await Promise.all([
        cli('operator', ['status', id]),
        cli('operator', ['dlq', 'ls']),
        cli('operator', ['ls']),
        cli('operator', ['defs', 'ls']),
        cli('operator', ['scale', '--critical', '8', '--for', 'PT1M', '--by', 'alice']),
      ]);
      for (const r of [cliStatus, cliDlq, cliLs, cliDefs, scaled]) expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(cliStatus.stdout)).toMatchObject({ executionId: id, status: 'failed' });
      expect(JSON.parse(cliDlq.stdout)).toHaveLength(3);
      expect(JSON.parse(cliLs.stdout)).toHaveLength(3);
      expect(JSON.parse(cliDefs.stdout)).toMatchObject([{ id: 'roles-welcome', latest: 1 }]);
      expect(JSON.parse(scaled.stdout)).toMatchObject({
        by: 'alice',
        applied: [{ concurrency: { critical: 8 } }],
        refused: [],
      });

      // The task service is fixed; the operator replays them through the runtime: one by an admin request, the others
      // with the CLI (which sends the same requests).
      failing = false;
      const [first, ...rest] = entries;
      expect(await ask(`${p}.admin.dlq.replay`, { seq: first!.seq, by: 'alice' })).toMatchObject({
        ok: true,
        result: { replayed: first!.seq, executionId: first!.executionId },
      });
      const replayed = await cli('operator', ['dlq', 'replay', ...rest.map((e) => String(e.seq))], { USER: 'alice' });
      expect(replayed.code, replayed.stderr).toBe(0);
      expect(JSON.parse(replayed.stdout)).toEqual(
        rest.map((e) => ({ seq: e.seq, executionId: e.executionId, stepId: e.stepId, journeyId: e.journeyId, replayed: true })),
      );
      for (const e of entries) {
        await waitFor(
          `${e.executionId} done`,
          async () => (await opClient.status(e.executionId)).status === 'done',
          30_000,
          100,
        );
      }
      expect(await dlq.list()).toEqual([]);
      const audit = await readAll<{ action: string; by: string }>(op.nc, n.streams.audit);
      expect(audit.filter((a) => a.data.action === 'dlq.replay').map((a) => a.data.by)).toEqual(['alice', 'alice', 'alice']);
      expect(audit.some((a) => a.data.action === 'definitions.deploy' && a.data.by === 'alice')).toBe(true);

      // The dashboard: live stats, and the CLI's stats and report from the stored history.
      expect(JSON.parse(await firstStats)).toMatchObject({ instance: 'cluster' });
      const [once, report] = await Promise.all([
        cli('dashboard', ['stats', '--once']),
        cli('dashboard', ['report', '--since', 'PT1H']),
      ]);
      expect(once.code, once.stderr).toBe(0);
      expect(JSON.parse(once.stdout)).toMatchObject({ instance: 'cluster' });
      expect(report.code, report.stderr).toBe(0);
      expect(report.stdout.length).toBeGreaterThan(0);

      // Shut down in order; nothing anyone did above was refused.
      for (const f of undo.splice(0).reverse()) await f();
      for (const c of conns.splice(0)) await c.nc.close();
      for (const c of [rt, svcConn, op, dash, pub])
        expect(c.errors, `${c.role}: errors reported by the server`).toEqual([]);
      const log = await server.log();
      expect(log).toContain('Server is ready');
      expect(log.split('\n').filter((l) => VIOLATION.test(l))).toEqual([]);
    },
  );
});

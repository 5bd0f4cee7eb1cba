/**
 * Connection settings (R23): each ambiguous or incomplete setting is one `CONFIG_INVALID` line, and TLS against real
 * nats-servers: mutual TLS with certificates made here by the `openssl` CLI, a plain server that `tls://` must refuse,
 * user/password, nkey and per-role inbox prefixes against a server with permissions. Also the CLI's one-line failures and
 * its process-level handler of unhandled rejections.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, nkeys, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectFromEnv, connectionOptionsFromEnv } from '../runtime/connection.ts';
import { RuntimeError } from '../runtime/errors.ts';
import { oneStep } from './fixtures.ts';
import { lines, runCli } from './harness/cli.ts';
import { startServer, uniqueName, type TestServer } from './harness/nats.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
let dir: string;
/** A user's nkey: its seed file, and the public key a server lists. */
let seedFile: string;
let userPublicKey: string;
let accountSeedFile: string;
let credsFile: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'jrn-conn-'));
  const user = nkeys.createUser();
  userPublicKey = user.getPublicKey();
  seedFile = join(dir, 'user.nk');
  await writeFile(seedFile, `${new TextDecoder().decode(user.getSeed())}\n`);
  accountSeedFile = join(dir, 'account.nk');
  await writeFile(accountSeedFile, new TextDecoder().decode(nkeys.createAccount().getSeed()));
  // The client parses a creds file (a JWT block and a seed block) but leaves the JWT to the server.
  credsFile = join(dir, 'user.creds');
  await writeFile(
    credsFile,
    [
      '-----BEGIN NATS USER JWT-----',
      'eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.e30.c2ln',
      '------END NATS USER JWT------',
      '',
      '-----BEGIN USER NKEY SEED-----',
      new TextDecoder().decode(user.getSeed()),
      '------END USER NKEY SEED------',
      '',
    ].join('\n'),
  );
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** The message of the CONFIG_INVALID error these settings raise (and that it is one). */
function refused(env: NodeJS.ProcessEnv): string {
  let caught: unknown;
  try {
    connectionOptionsFromEnv(env);
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(RuntimeError);
  const err = caught as RuntimeError;
  expect(err.code).toBe('CONFIG_INVALID');
  expect(err.message).not.toContain('\n');
  return err.message;
}

describe('connection - settings', () => {
  it('connection - defaults: the local server, no TLS required, no credentials, the default inbox', () => {
    const opts = connectionOptionsFromEnv({});
    expect(opts.servers).toEqual(['nats://127.0.0.1:4222']);
    expect(opts.tls).toBeUndefined();
    expect(opts.authenticator ?? opts.user ?? opts.token ?? opts.inboxPrefix).toBeUndefined();
    expect(opts.maxReconnectAttempts).toBe(-1);
  });

  it('connection - an empty variable counts as unset', () => {
    const opts = connectionOptionsFromEnv({
      NATS_URL: '',
      NATS_TOKEN: '',
      NATS_USER: '',
      NATS_CA: '',
      NATS_INBOX_PREFIX: '',
    });
    expect(opts.servers).toEqual(['nats://127.0.0.1:4222']);
    expect(opts.tls).toBeUndefined();
    expect(opts.token ?? opts.user ?? opts.inboxPrefix).toBeUndefined();
  });

  it('connection - two ways to authenticate are refused: choose one', () => {
    expect(refused({ NATS_CREDS: credsFile, NATS_NKEY: seedFile })).toBe(
      'NATS_CREDS and NATS_NKEY are both set: choose one',
    );
    expect(refused({ NATS_USER: 'u', NATS_PASSWORD: 'p', NATS_TOKEN: 't' })).toBe(
      'NATS_USER and NATS_TOKEN are both set: choose one',
    );
    expect(refused({ NATS_TOKEN: 't', NATS_CREDS: credsFile })).toBe(
      'NATS_TOKEN and NATS_CREDS are both set: choose one',
    );
    expect(refused({ NATS_USER: 'u', NATS_PASSWORD: 'p', NATS_TOKEN: 't', NATS_NKEY: seedFile })).toBe(
      'NATS_USER, NATS_TOKEN and NATS_NKEY are all set: choose one',
    );
  });

  it('connection - a user needs a password and a password a user', () => {
    expect(refused({ NATS_USER: 'u' })).toBe('NATS_USER is set without NATS_PASSWORD');
    expect(refused({ NATS_PASSWORD: 'p' })).toBe('NATS_PASSWORD is set without NATS_USER');
    expect(refused({ NATS_TOKEN: 't', NATS_PASSWORD: 'p' })).toBe('NATS_PASSWORD is set without NATS_USER');
    const opts = connectionOptionsFromEnv({ NATS_USER: 'u', NATS_PASSWORD: 'p' });
    expect([opts.user, opts.pass]).toEqual(['u', 'p']);
    expect(connectionOptionsFromEnv({ NATS_TOKEN: 't' }).token).toBe('t');
  });

  it('connection - half a client certificate is refused', () => {
    expect(refused({ NATS_KEY: '/k.pem' })).toBe('NATS_KEY is set without NATS_CERT: a client certificate needs both');
    expect(refused({ NATS_CERT: '/c.pem', NATS_CA: '/ca.pem' })).toBe(
      'NATS_CERT is set without NATS_KEY: a client certificate needs both',
    );
  });

  it('connection - credential files are read and parsed before connecting', () => {
    expect(refused({ NATS_CREDS: join(dir, 'missing.creds') })).toBe(
      `cannot read NATS_CREDS ${join(dir, 'missing.creds')}: ENOENT: no such file or directory, open '${join(dir, 'missing.creds')}'`,
    );
    expect(refused({ NATS_CREDS: seedFile })).toBe(
      `NATS_CREDS ${seedFile} is not a credentials file: unable to parse credentials`,
    );
    expect(refused({ NATS_NKEY: credsFile })).toMatch(
      new RegExp(`^NATS_NKEY ${credsFile} does not hold an nkey seed: `),
    );
    expect(refused({ NATS_NKEY: accountSeedFile })).toBe(
      `NATS_NKEY ${accountSeedFile} holds a seed, but not a user's (SU...)`,
    );
    expect(refused({ NATS_CA: join(dir, 'ca.pem') })).toMatch(/^cannot read NATS_CA .*ca\.pem: ENOENT/);
    expect(typeof connectionOptionsFromEnv({ NATS_CREDS: credsFile }).authenticator).toBe('function');
    expect(typeof connectionOptionsFromEnv({ NATS_NKEY: seedFile }).authenticator).toBe('function');
  });

  it('connection - tls:// requires TLS (a tls option, not handshake-first); so do NATS_CA and NATS_CERT', () => {
    const opts = connectionOptionsFromEnv({ NATS_URL: 'tls://a:4222, tls://b:4223' });
    expect(opts.servers).toEqual(['tls://a:4222', 'tls://b:4223']);
    expect(opts.tls).toEqual({});
    const ca = join(dir, 'user.creds'); // any readable file: contents are nats.js's (and OpenSSL's) business at connect
    expect(connectionOptionsFromEnv({ NATS_URL: 'nats://a:4222', NATS_CA: ca }).tls).toEqual({ caFile: ca });
    expect(connectionOptionsFromEnv({ NATS_URL: 'a:4222', NATS_CERT: ca, NATS_KEY: seedFile }).tls).toEqual({
      certFile: ca,
      keyFile: seedFile,
    });
  });

  it('connection - NATS_URL: a mix of tls:// and nats:// (or bare) servers, other schemes, empty entries and paths are refused', () => {
    const mixed =
      'NATS_URL mixes tls:// and nats:// servers: use tls:// for every server (TLS is one setting for the connection)';
    expect(refused({ NATS_URL: 'tls://a:4222,nats://b:4222' })).toBe(mixed);
    expect(refused({ NATS_URL: 'tls://a:4222,b:4222' })).toBe(mixed);
    expect(refused({ NATS_URL: 'ws://a:8080' })).toBe(
      'NATS_URL server "ws://a:8080" has scheme ws://: use nats:// or tls://',
    );
    expect(refused({ NATS_URL: 'nats://a:4222,,nats://b:4222' })).toBe(
      'NATS_URL has an empty server entry ("nats://a:4222,,nats://b:4222")',
    );
    expect(refused({ NATS_URL: 'nats://a:4222/x' })).toBe(
      'NATS_URL server "nats://a:4222/x" has a path or query: give scheme://host:port only',
    );
    expect(refused({ NATS_URL: 'nats://a:99999' })).toBe('NATS_URL server "nats://a:99999" is not a valid URL');
    expect(connectionOptionsFromEnv({ NATS_URL: 'a:4222, nats://[::1]:4223/' }).servers).toEqual([
      'nats://a:4222',
      'nats://[::1]:4223',
    ]);
  });

  it('connection - credentials in NATS_URL are used (nats.js would drop them), never mixed with others, never shown', () => {
    const opts = connectionOptionsFromEnv({ NATS_URL: 'nats://rt:s%40cret@a:4222,nats://rt:s%40cret@b:4222' });
    expect([opts.user, opts.pass, opts.servers]).toEqual(['rt', 's@cret', ['nats://a:4222', 'nats://b:4222']]);
    expect(connectionOptionsFromEnv({ NATS_URL: 'nats://tok@a:4222' }).token).toBe('tok');
    expect(refused({ NATS_URL: 'nats://rt:secret@a:4222', NATS_TOKEN: 't' })).toBe(
      'NATS_URL carries credentials and NATS_TOKEN is set: choose one',
    );
    expect(refused({ NATS_URL: 'nats://rt:secret@a:4222,nats://b:4222' })).toBe(
      'NATS_URL servers carry different credentials: give the same user:pass@ (or token@) on each, or none',
    );
    expect(refused({ NATS_URL: 'nats://rt:%zz@a:4222' })).toBe(
      'NATS_URL server "nats://***@a:4222" is not a valid URL',
    );
    expect(refused({ NATS_URL: 'ws://rt:secret@a:4222' })).toBe(
      'NATS_URL server "ws://***@a:4222" has scheme ws://: use nats:// or tls://',
    );
  });

  it('connection - NATS_INBOX_PREFIX is passed to nats.js once checked: subject tokens without wildcards', () => {
    expect(connectionOptionsFromEnv({ NATS_INBOX_PREFIX: '_INBOX_runtime' }).inboxPrefix).toBe('_INBOX_runtime');
    expect(connectionOptionsFromEnv({ NATS_INBOX_PREFIX: '_I.runtime-1' }).inboxPrefix).toBe('_I.runtime-1');
    for (const bad of ['_INBOX.>', '_INBOX.*.x', '_INBOX.', '.x', 'a..b', 'has space']) {
      expect(refused({ NATS_INBOX_PREFIX: bad })).toBe(
        `NATS_INBOX_PREFIX "${bad}" is not a subject prefix: dot-separated tokens without spaces or wildcards (e.g. _INBOX_runtime)`,
      );
    }
  });
});

/** A CA, a server certificate for 127.0.0.1 and a client certificate, made with the `openssl` CLI in `into`. */
async function makeCertificates(into: string): Promise<void> {
  const openssl = (args: string[]): void => {
    execFileSync('openssl', args, { cwd: into, stdio: ['ignore', 'ignore', 'pipe'] });
  };
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
  } catch (err) {
    throw new Error('the TLS tests need the openssl CLI (Debian: apt-get install -y openssl)', { cause: err });
  }
  const key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(['req', '-x509', ...key, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=jrn-test-ca']);
  const exts = {
    server: 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth',
    client: 'extendedKeyUsage=clientAuth',
  };
  for (const [name, ext] of Object.entries(exts)) {
    await writeFile(join(into, `${name}.ext`), `${ext}\n`);
    openssl(['req', ...key, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=jrn-test-${name}`]);
    openssl(
      ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial'].concat([
        '-out',
        `${name}.pem`,
        '-days',
        '2',
        '-extfile',
        `${name}.ext`,
      ]),
    );
  }
}

/** Connects, then proves the connection usable with a JetStream API request. */
async function jetStreamRequest(nc: NatsConnection): Promise<number> {
  try {
    const jsm = await jetstreamManager(nc, { timeout: 5_000 });
    return (await jsm.getAccountInfo()).streams;
  } finally {
    await nc.close();
  }
}

const failure = async (p: Promise<unknown>): Promise<Error> => {
  try {
    const v = await p;
    if (v && typeof v === 'object' && 'close' in v) await (v as NatsConnection).close();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected the connection to be refused');
};

describe('connection - TLS against real servers', () => {
  let certs: string;
  let tlsServer: TestServer;
  let plainServer: TestServer;
  let hostPort: string;
  let mtls: Record<string, string>;

  beforeAll(async () => {
    certs = await mkdtemp(join(tmpdir(), 'jrn-certs-'));
    await makeCertificates(certs);
    tlsServer = await startServer(
      `tls { cert_file: ${JSON.stringify(join(certs, 'server.pem'))}, key_file: ${JSON.stringify(join(certs, 'server.key'))}, ` +
        `ca_file: ${JSON.stringify(join(certs, 'ca.pem'))}, verify: true, timeout: 2 }`,
    );
    plainServer = await startServer();
    hostPort = `127.0.0.1:${tlsServer.port}`;
    mtls = {
      NATS_CA: join(certs, 'ca.pem'),
      NATS_CERT: join(certs, 'client.pem'),
      NATS_KEY: join(certs, 'client.key'),
    };
  });

  afterAll(async () => {
    await tlsServer?.stop();
    await plainServer?.stop();
    if (certs) await rm(certs, { recursive: true, force: true });
  });

  it('connection - tls:// with NATS_CA, NATS_CERT and NATS_KEY connects to a mutual-TLS server and serves JetStream', async () => {
    const nc = await connectFromEnv({ NATS_URL: `tls://${hostPort}`, ...mtls });
    expect(nc.info?.tls_required).toBe(true);
    expect(nc.info?.tls_verify).toBe(true);
    expect(await jetStreamRequest(nc)).toBe(0);
  });

  it('connection - without the client certificate the mutual-TLS server refuses the connection', async () => {
    const env = { NATS_URL: `tls://${hostPort}`, NATS_CA: mtls['NATS_CA']! };
    // The server ends the handshake with a TLS alert. Without reconnects (the CLI's setting) nats.js reports that alert,
    // or the reset that follows it, whichever the socket sees first; with them (connectFromEnv's, for `run`) nats.js 3.4
    // takes the closed socket for a disconnect to reconnect from and settles only at its connect timeout (20 s by
    // default, 2 s here). Refused either way, never connected.
    const alert = await failure(connect({ ...connectionOptionsFromEnv(env), reconnect: false }));
    expect(alert.message).toMatch(/alert bad certificate|certificate required|ECONNRESET/);
    const timedOut = await failure(connect({ ...connectionOptionsFromEnv(env), timeout: 2_000 }));
    expect(timedOut.name).toBe('TimeoutError');
  });

  it('connection - nats:// against a TLS-required server upgrades to TLS: with NATS_CA it connects, without it the certificate is untrusted', async () => {
    // nats.js follows the server's tls_required whatever the URL's scheme says; the scheme only decides what the
    // client insists on. Nothing ever goes in clear to this server.
    expect(await jetStreamRequest(await connectFromEnv({ NATS_URL: `nats://${hostPort}`, ...mtls }))).toBe(0);
    const untrusted = await failure(connectFromEnv({ NATS_URL: `nats://${hostPort}` }));
    expect(untrusted.message).toBe('unable to verify the first certificate');
  });

  it('connection - tls:// against a plain server fails instead of connecting in clear', async () => {
    const plainUrl = `127.0.0.1:${plainServer.port}`;
    const err = await failure(connectFromEnv({ NATS_URL: `tls://${plainUrl}` }));
    expect(err.message).toBe("server does not support 'tls'");
    expect(await failure(connectFromEnv({ NATS_URL: `nats://${plainUrl}`, NATS_CA: mtls['NATS_CA']! }))).toHaveProperty(
      'message',
      "server does not support 'tls'",
    );
    // Baseline: the same server in clear when nothing asks for TLS.
    expect(await jetStreamRequest(await connectFromEnv({ NATS_URL: `nats://${plainUrl}` }))).toBe(0);
  });

  it('connection - cli: tls:// against a plain server is one line and exit 1; mutual TLS reaches the server', async () => {
    const prefix = uniqueName('conn');
    const plain = await runCli(['ls'], { url: `tls://127.0.0.1:${plainServer.port}`, prefix });
    expect(plain.code).toBe(1);
    expect(lines(plain.stderr)).toEqual([
      `journeys: cannot connect to NATS at tls://127.0.0.1:${plainServer.port}: server does not support 'tls'`,
    ]);
    // No runtime ever ran with this prefix there: the message says so, which takes a JetStream request over TLS.
    const secure = await runCli(['ls'], { url: `tls://${hostPort}`, prefix, env: mtls });
    expect(lines(secure.stderr)).toEqual([
      expect.stringMatching(
        new RegExp(`^journeys: no journey runtime has run with prefix "${prefix}" on this NATS server`),
      ),
    ]);
  });
});

describe('connection - credentials and inbox prefixes against a server with permissions', () => {
  let server: TestServer;
  let url: string;

  beforeAll(async () => {
    // `rt` may only subscribe below its own inbox prefix, as a role in deploy/nats/ is.
    server = await startServer(
      [
        'authorization {',
        '  users: [',
        '    { user: "rt", password: "rt-pass", permissions: { publish: ">", subscribe: "_INBOX_runtime.>" } }',
        `    { nkey: "${userPublicKey}" }`,
        '  ]',
        '}',
      ].join('\n'),
    );
    url = `nats://127.0.0.1:${server.port}`;
  });

  afterAll(async () => {
    await server?.stop();
  });

  it('connection - NATS_INBOX_PREFIX: replies reach a role allowed only its own inbox; the default inbox is refused', async () => {
    const rt = { NATS_URL: url, NATS_USER: 'rt', NATS_PASSWORD: 'rt-pass' };
    expect(await jetStreamRequest(await connectFromEnv({ ...rt, NATS_INBOX_PREFIX: '_INBOX_runtime' }))).toBe(0);
    const denied = await failure(jetStreamRequest(await connectFromEnv(rt)));
    expect(denied.message).toMatch(/Permissions Violation for Subscription to "_INBOX\./);
  });

  it('connection - user:pass@ in NATS_URL and NATS_NKEY authenticate; wrong credentials are refused', async () => {
    const inbox = { NATS_INBOX_PREFIX: '_INBOX_runtime' };
    expect(
      await jetStreamRequest(
        await connectFromEnv({ NATS_URL: `nats://rt:rt-pass@127.0.0.1:${server.port}`, ...inbox }),
      ),
    ).toBe(0);
    expect(await jetStreamRequest(await connectFromEnv({ NATS_URL: url, NATS_NKEY: seedFile }))).toBe(0);
    const wrong = await failure(connectFromEnv({ NATS_URL: url, NATS_USER: 'rt', NATS_PASSWORD: 'nope' }));
    expect(wrong.message).toMatch(/Authorization Violation/);
  });

  it('connection - cli: NATS_CREDS and NATS_NKEY both set is one line and exit 1, before any connection', async () => {
    const r = await runCli(['ls'], {
      url,
      prefix: uniqueName('conn'),
      env: { NATS_CREDS: credsFile, NATS_NKEY: seedFile },
    });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(lines(r.stderr)).toEqual(['journeys: NATS_CREDS and NATS_NKEY are both set: choose one']);
  });
});

describe('connection - cli: an unhandled rejection is one line on stderr', () => {
  /** Preloaded into the CLI: rejects a promise nobody handles just after main.ts installs its handler. */
  let stray: string;
  let good: string;

  beforeAll(async () => {
    stray = join(dir, 'stray-rejection.mjs');
    await writeFile(
      stray,
      "process.on('newListener', (event) => {\n" +
        "  if (event === 'unhandledRejection') setImmediate(() => void Promise.reject(new Error('stray promise')));\n" +
        '});\n',
    );
    good = join(dir, 'good.json');
    await writeFile(good, JSON.stringify(oneStep));
  });

  /** The CLI as one process (`node --import tsx`, so a SIGTERM reaches it), with the stray rejection preloaded. */
  function cliWithStray(args: string[], env: Record<string, string>) {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--import', pathToFileURL(stray).href, 'runtime/cli/main.ts', ...args],
      {
        cwd: ROOT,
        env: { ...process.env, LOG_LEVEL: 'warn', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const out = { stdout: '', stderr: '' };
    child.stdout.on('data', (d: Buffer) => (out.stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out.stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    return { child, out, exited };
  }

  it('connection - cli: a one-shot command that would succeed prints the line and exits 1, as the crash did', async () => {
    const { out, exited } = cliWithStray(['defs', 'validate', good], {});
    expect(await exited).toBe(1);
    expect(lines(out.stderr)).toEqual(['journeys: unhandled rejection: stray promise']);
    expect(out.stdout).not.toBe('');
  });

  it('connection - cli: run logs the line and keeps serving; SIGTERM still stops it with exit 0', async () => {
    const plain = await startServer();
    const { child, out, exited } = cliWithStray(['run', '--no-sample', '--prefix', uniqueName('conn')], {
      NATS_URL: plain.url,
      HTTP_PORT: '0',
    });
    try {
      const deadline = Date.now() + 60_000;
      while (!out.stdout.includes('Ctrl-C to stop.')) {
        if (child.exitCode !== null || Date.now() > deadline) {
          throw new Error(`run did not start (exit ${child.exitCode})\nstdout: ${out.stdout}\nstderr: ${out.stderr}`);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(out.stderr.split('\n').filter((l) => l.includes('unhandled rejection'))).toEqual([
        'journeys: unhandled rejection: stray promise',
      ]);
      expect(out.stderr).not.toMatch(/^\s+at /m);
      expect(child.exitCode).toBeNull();
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
      await plain.stop();
    }
  });
});

/**
 * The compiled package, run as the image runs it, with node alone: `npm run build`'s output (bin/build.js, into a
 * temp folder, leaving the checkout's dist/ alone) packed by `npm pack` and unpacked into a folder laid out as the
 * image's /app (package.json, dist/, bin/journeys.js; node_modules linked to the checkout's). Checks what the package
 * ships, that its code imports only production dependencies, that the library entry loads and a user's module
 * type-checks against its declarations, and that the image's command (`node dist/runtime/cli/main.js run --no-sample`,
 * NATS_URL set) serves /healthz and /readyz against a real nats-server while the compiled CLI deploys a journey, starts
 * it and reads it done, its action performed by the reference action service. The runtime writes nothing in its
 * folder, and stops cleanly on SIGTERM (`docker stop`).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { builtinModules } from 'node:module';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { cp, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../runtime/nats-server-process.ts';
import { oneStep, weddingInDays } from './fixtures.ts';
import type { CliResult } from './harness/cli.ts';
import { useNats, uniqueName, waitFor, type TestServer } from './harness/nats.ts';
import { spawnActionService, type RuntimeProcess } from './harness/processes.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const ENTRY = 'dist/runtime/cli/main.js';
const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  name: string;
  main: string;
  types: string;
  exports: Record<string, Record<string, string>>;
  dependencies: Record<string, string>;
};

let server: TestServer;
let nc: NatsConnection;
useNats((s, c) => ([server, nc] = [s, c]));

let tmp = '';
/** The unpacked package: the image's /app. */
let app = '';
/** What `npm pack` puts in the tarball: from the build's stage folder, and from the checkout (dry run). */
let packed: string[] = [];
let packedFromCheckout: string[] = [];
const prefix = uniqueName('bld');
let httpPort = 0;
let runtime: ChildProcess | undefined;
let exited: Promise<number | null> | undefined;
let stdout = '';
let stderr = '';
let service: RuntimeProcess | undefined;

/** Runs a command to its end; rejects with its output when it fails. */
function exec(file: string, args: string[], cwd: string, timeout = 120_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { cwd, timeout, maxBuffer: 16 * 1024 * 1024 }, (err, out, errOut) =>
      err ? reject(new Error(`${file} ${args.join(' ')}: ${err.message}\n${errOut}`)) : resolve(out),
    );
  });
}

/** Every file under `dir`, relative to it (symlinks not followed). */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => !e.isDirectory())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}

/** The environment of the container: NATS_URL of the test server, HTTP on a free loopback port. */
const containerEnv = (): NodeJS.ProcessEnv => ({
  ...process.env,
  NATS_URL: server.url,
  JRN_PREFIX: prefix,
  HTTP_HOST: '127.0.0.1',
  HTTP_PORT: String(httpPort),
  NODE_ENV: 'production',
  LOG_LEVEL: 'warn',
});

/** `node <script> <args>` in the package folder, as `docker run IMAGE <args>` (script: the entrypoint, or the bin). */
const journeys = (args: string[], script = ENTRY): Promise<CliResult> =>
  new Promise((resolve) => {
    execFile(
      process.execPath,
      [script, ...args],
      { cwd: app, timeout: 20_000, env: containerEnv() },
      (err, out, errOut) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout: out, stderr: errOut }),
    );
  });

/** Rejects when the runtime exits, for racing against a wait (handled, so a later exit is no unhandled rejection). */
function failOnExit(): Promise<never> {
  const p = exited!.then((code) => {
    throw new Error(`the runtime exited (${code})\n--- stdout ---\n${stdout}\n--- stderr ---\n${stderr.slice(-3_000)}`);
  });
  p.catch(() => undefined);
  return p;
}

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'jrn-build-'));
  const stage = join(tmp, 'stage');
  await mkdir(join(stage, 'bin'), { recursive: true });
  await cp(join(ROOT, 'package.json'), join(stage, 'package.json'));
  await cp(join(ROOT, 'bin', 'journeys.js'), join(stage, 'bin', 'journeys.js'));
  await exec(process.execPath, ['bin/build.js', '--out-dir', join(stage, 'dist')], ROOT);
  const [pack] = JSON.parse(await exec('npm', ['pack', '--json', '--pack-destination', tmp], stage)) as {
    filename: string;
    files: { path: string }[];
  }[];
  packed = pack!.files.map((f) => f.path).sort();
  const [dry] = JSON.parse(await exec('npm', ['pack', '--dry-run', '--json'], ROOT)) as { files: { path: string }[] }[];
  packedFromCheckout = dry!.files.map((f) => f.path).sort();
  await exec('tar', ['-xzf', join(tmp, pack!.filename), '-C', tmp], tmp);
  app = join(tmp, 'package');
  await symlink(join(ROOT, 'node_modules'), join(app, 'node_modules'), 'dir');
  httpPort = await freePort();
}, 180_000);

afterAll(async () => {
  if (runtime?.pid !== undefined && runtime.exitCode === null && runtime.signalCode === null) {
    process.kill(runtime.pid, 'SIGKILL');
    await exited;
  }
  await service?.kill('SIGKILL');
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('build - the package', () => {
  it('build - npm pack ships the compiled JavaScript with declarations and the files it reads, no TypeScript source', () => {
    // From the checkout, whatever it holds (sources, tests, a dist/ or none): package.json's `files` lets only these out.
    const shipped = (f: string): boolean =>
      f.startsWith('dist/') || ['package.json', 'README.md', 'bin/journeys.js'].includes(f);
    expect(packedFromCheckout).toContain('bin/journeys.js');
    expect(packedFromCheckout.filter((f) => !shipped(f))).toEqual([]);
    expect(packed.filter((f) => !shipped(f))).toEqual([]);
    expect(packed.filter((f) => /\.[cm]?ts$/.test(f) && !/\.d\.[cm]?ts$/.test(f))).toEqual([]);
    // Every source file the build compiles, as JavaScript and declarations.
    const file = join(ROOT, 'tsconfig.build.json');
    const config = ts.parseJsonConfigFileContent(
      ts.readConfigFile(file, (p) => ts.sys.readFile(p)).config,
      ts.sys,
      ROOT,
      undefined,
      file,
    );
    const outputs = config.fileNames
      .flatMap((f) => ts.getOutputFileNames(config, f, false))
      .map((f) => relative(ROOT, f));
    expect(outputs).toContain(ENTRY);
    expect(outputs.filter((f) => !packed.includes(f))).toEqual([]);
    // What the runtime reads beside its code: the dashboard's files and `run`'s sample journeys.
    const assets = [
      ...readdirSync(join(ROOT, 'runtime/dashboard/public'))
        .filter((f) => f !== 'tsconfig.json')
        .map((f) => `runtime/dashboard/public/${f}`),
      ...readdirSync(join(ROOT, 'schemas/examples')).map((f) => `schemas/examples/${f}`),
    ];
    expect(assets.filter((f) => !packed.includes(`dist/${f}`))).toEqual([]);
    // The entry points of package.json name shipped files.
    for (const entry of [PKG.main, PKG.types, PKG.exports['.']!['types']!, PKG.exports['.']!['default']!]) {
      expect(packed).toContain(relative('.', entry));
    }
  });

  it('build - the compiled code imports only Node built-ins, production dependencies and compiled files that exist', () => {
    const IMPORT = /\bfrom\s*(['"])([^'"]+)\1|\bimport\s*\(\s*(['"])([^'"]+)\3\s*\)|^\s*import\s*(['"])([^'"]+)\5/gm;
    const builtins = new Set(builtinModules);
    const bad: string[] = [];
    const used = new Set<string>();
    let relativeImports = 0;
    for (const file of filesUnder(join(app, 'dist')).filter(
      (f) => f.endsWith('.js') && !f.startsWith('runtime/dashboard/public/'),
    )) {
      const text = readFileSync(join(app, 'dist', file), 'utf8');
      for (const m of text.matchAll(IMPORT)) {
        const spec = (m[2] ?? m[4] ?? m[6])!;
        if (spec.startsWith('.')) {
          relativeImports++;
          if (!spec.endsWith('.js') || !existsSync(resolve(app, 'dist', dirname(file), spec)))
            bad.push(`${file}: ${spec}`);
        } else if (spec.startsWith('node:') || builtins.has(spec)) {
          continue;
        } else {
          const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
          used.add(name);
          if (!(name in PKG.dependencies)) bad.push(`${file}: ${spec} (not a production dependency)`);
        }
      }
    }
    expect(bad).toEqual([]);
    // The scan did read imports of both kinds.
    expect(used).toContain('@nats-io/transport-node');
    expect(relativeImports).toBeGreaterThan(100);
  });

  it("build - the library entry loads with node and exports what the source exports; a user's module type-checks", async () => {
    // By the package's name from inside it (a self-reference), so it resolves through package.json's exports.
    const script = `console.log(JSON.stringify(Object.keys(await import('${PKG.name}')).sort()))`;
    const compiled = JSON.parse(await exec(process.execPath, ['--input-type=module', '-e', script], app)) as string[];
    expect(compiled).toEqual(Object.keys(await import('../runtime/index.ts')).sort());

    // A user's module, compiled strictly against the package installed under its name. Declaration files are not
    // checked themselves (skipLibCheck: four times faster); one of ours that did not resolve would turn its types into
    // `any`, and the @ts-expect-error below would then have no error to expect: that fails too.
    const user = join(tmp, 'user');
    const installed = join(user, 'node_modules', ...PKG.name.split('/'));
    await mkdir(dirname(installed), { recursive: true });
    await symlink(app, installed, 'dir');
    await writeFile(join(user, 'package.json'), '{ "type": "module" }\n');
    await writeFile(
      join(user, 'main.ts'),
      [
        `import { JourneyClient, validateJourneyConfiguration, type JourneyDefinition, type StartCommand } from '${PKG.name}';`,
        `export const def: JourneyDefinition = ${JSON.stringify(oneStep)};`,
        `export const valid: boolean = validateJourneyConfiguration(def).ok;`,
        `export type Start = (c: JourneyClient, cmd: StartCommand) => ReturnType<JourneyClient['start']>;`,
        `// @ts-expect-error a definition needs its steps`,
        `export const bad: JourneyDefinition = { id: 'x', version: 1 };`,
      ].join('\n'),
    );
    const program = ts.createProgram([join(user, 'main.ts')], {
      strict: true,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      target: ts.ScriptTarget.ES2022,
      noEmit: true,
      skipLibCheck: true,
      types: ['node'],
      typeRoots: [join(ROOT, 'node_modules/@types')],
    });
    const problems = ts.getPreEmitDiagnostics(program);
    expect(problems.map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'))).toEqual([]);
    expect(program.getSourceFiles().some((f) => f.fileName === join(app, 'dist/runtime/index.d.ts'))).toBe(true);
  }, 60_000);
});

describe("build - the image's command against nats-server", () => {
  let before: string[] = [];

  it('build - `node dist/runtime/cli/main.js run --no-sample` with NATS_URL serves /healthz and /readyz, no embedded server', async () => {
    before = filesUnder(app);
    runtime = spawn(process.execPath, [ENTRY, 'run', '--no-sample'], {
      cwd: app,
      env: containerEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    exited = new Promise((r) => runtime!.once('exit', (code) => r(code)));
    runtime.stdout!.on('data', (d: Buffer) => void (stdout += d.toString()));
    runtime.stderr!.on('data', (d: Buffer) => void (stderr = (stderr + d.toString()).slice(-20_000)));
    const status = async (path: string): Promise<number> => (await fetch(`http://127.0.0.1:${httpPort}${path}`)).status;
    await Promise.race([
      (async () => {
        await waitFor('/healthz 200', async () => (await status('/healthz')) === 200);
        await waitFor('/readyz 200', async () => (await status('/readyz')) === 200);
      })(),
      failOnExit(),
    ]);
    // The dashboard's files, copied by the build, and the metrics.
    for (const path of ['/', '/assets/app.js', '/assets/style.css', '/assets/uPlot.min.css', '/metrics']) {
      expect([path, await status(path)]).toEqual([path, 200]);
    }
    expect(stdout).toContain(`  NATS      ${server.url}\n`);
    expect(stdout).not.toContain('embedded');
  });

  it('build - the compiled CLI deploys a journey, starts it and reads it done; its action goes to the action service', async () => {
    expect(runtime, 'the runtime of the test before').toBeDefined();
    await writeFile(join(tmp, 'one-step.json'), JSON.stringify(oneStep));
    // The package's bin: with no sources beside it, it runs the compiled CLI.
    const deploy = await journeys(['defs', 'deploy', join(tmp, 'one-step.json')], 'bin/journeys.js');
    expect(deploy).toMatchObject({ code: 0, stderr: '', stdout: 'deployed one-step v1\n' });
    service = await spawnActionService({ NATS_URL: server.url, JRN_PREFIX: prefix, SERVICE_ACTIONS: 'email.send' });

    const wedding = weddingInDays(365, 'Europe/London'); // low tier whatever the day
    const start = await journeys([
      'start',
      '--supplier',
      'sup1',
      '--client',
      'c1',
      '--journey',
      'one-step',
      '--wedding',
      wedding,
      '--tz',
      'Europe/London',
    ]);
    expect(start).toMatchObject({ code: 0, stderr: '' });
    const id = start.stdout.trim();
    expect(id).toMatch(/^ex_[a-z2-7]{26}$/);
    const done = await Promise.race([
      waitFor('the execution to complete', async () => {
        const r = await journeys(['status', id, '--json']);
        const s = JSON.parse(r.stdout) as { status: string; history: { step: string }[] };
        return s.status === 'done' ? s : undefined;
      }),
      failOnExit(),
    ]);
    expect(done).toMatchObject({ executionId: id, journeyId: 'one-step', state: 'completed', weddingDate: wedding });
    expect(done.history.map((h) => h.step)).toEqual(['send', 'done']);
    // Performed once, by the service (the effect it records per idempotency key).
    const effects = await (await jetstreamManager(nc)).streams.info(`SVC_EFFECTS_${prefix.toUpperCase()}`);
    expect(effects.state.messages).toBe(1);
  });

  it('build - the runtime stops with exit 0 on SIGTERM and has written nothing in its folder', async () => {
    expect(runtime?.pid, 'the runtime of the tests before').toBeDefined();
    runtime!.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(stderr).not.toMatch(/^journeys: /m);
    expect(filesUnder(app)).toEqual(before);
  });
});

/**
 * The image's Dockerfile, as far as this machine allows (no Docker engine): dockerfile-utils finds nothing wrong in
 * it, and what ties it to the code holds: the final stage is Node 20 slim with no package installs, runs as a non-root
 * user, exposes and probes the runtime's default HTTP port, binds on all interfaces, runs the file the build compiles
 * the CLI to, and declares as a volume the one folder `journeys run` may write; the build stage copies from the context
 * all the build reads, and .dockerignore excludes none of it. The HEALTHCHECK command itself is run against an HTTP
 * server.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, posix, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { validate } from 'dockerfile-utils';
import ts from 'typescript';
import { afterEach, describe, expect, it } from 'vitest';
import { runCommand } from '../runtime/cli/run.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const read = (file: string): string => readFileSync(join(ROOT, file), 'utf8');

interface Instruction {
  keyword: string;
  args: string;
  line: number;
}

/** Instructions with continuation lines joined; comments and parser directives dropped. */
function instructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  let buffer = '';
  let start = 0;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return; // a comment inside a continuation is dropped too, as Docker does
    if (buffer === '') start = i + 1;
    buffer += line.endsWith('\\') ? `${line.slice(0, -1)} ` : line;
    if (line.endsWith('\\')) return;
    const [, keyword, args] = /^(\S+)\s*(.*)$/s.exec(buffer)!;
    out.push({ keyword: keyword!.toUpperCase(), args: args!.trim(), line: start });
    buffer = '';
  });
  return out;
}

/** Stages in order, each starting at its FROM. */
function stages(all: Instruction[]): { from: string; name?: string; body: Instruction[] }[] {
  const out: { from: string; name?: string; body: Instruction[] }[] = [];
  for (const ins of all) {
    if (ins.keyword === 'FROM') {
      const words = ins.args.split(/\s+/).filter((w) => !w.startsWith('--'));
      out.push({ from: words[0]!, ...(words[1]?.toUpperCase() === 'AS' ? { name: words[2]! } : {}), body: [] });
    } else {
      out.at(-1)?.body.push(ins);
    }
  }
  return out;
}

/** Exec form (`["a", "b"]`) only: shell form would put `sh -c` in front of the runtime and keep signals from it. */
const execForm = (args: string): string[] => {
  expect(args.startsWith('['), `exec form: ${args}`).toBe(true);
  return JSON.parse(args) as string[];
};

/** `COPY [--flags] src... dest` (space-separated form). */
function copyOf(ins: Instruction): { from?: string; sources: string[]; dest: string } {
  const words = ins.args.split(/\s+/);
  const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length);
  const paths = words.filter((w) => !w.startsWith('--'));
  return { ...(from ? { from } : {}), sources: paths.slice(0, -1), dest: paths.at(-1)! };
}

/** `ENV A=1 B=2` pairs. */
const envOf = (body: Instruction[]): Record<string, string> =>
  Object.fromEntries(
    body
      .filter((i) => i.keyword === 'ENV')
      .flatMap((i) => i.args.split(/\s+/).map((pair) => pair.split('=', 2) as [string, string])),
  );

/**
 * Docker's .dockerignore rules (moby patternmatcher): patterns in order, the last one that matches the path or one of
 * its parent folders decides, `!` re-includes; `*` and `?` stay within one path segment, `**` spans any number.
 */
const GLOBS: Record<string, string> = { '**/': '(?:.*/)?', '**': '.*', '*': '[^/]*', '?': '[^/]' };
function dockerignore(text: string): (path: string) => boolean {
  const patterns = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const exclusion = l.startsWith('!');
      const clean = posix.normalize((exclusion ? l.slice(1) : l).trim()).replace(/^\/+|\/+$/g, '');
      const source = clean
        .split(/(\*\*\/|\*\*|\*|\?)/)
        .map((part) => GLOBS[part] ?? part.replace(/[.+^${}()|[\]\\]/g, '\\$&'))
        .join('');
      return { exclusion, re: new RegExp(`^${source}$`) };
    });
  return (path) => {
    const parts = posix.normalize(path).split('/');
    const candidates = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
    let excluded = false;
    for (const p of patterns) if (candidates.some((c) => p.re.test(c))) excluded = !p.exclusion;
    return excluded;
  };
}

const dockerfile = read('Dockerfile');
const all = instructions(dockerfile);
const [build, final] = ((s) => [s.at(-2), s.at(-1)])(stages(all));
const one = (body: Instruction[], keyword: string): Instruction => {
  const found = body.filter((i) => i.keyword === keyword);
  if (found.length !== 1) throw new Error(`expected one ${keyword} in the stage, found ${found.length}`);
  return found[0]!;
};
const buildConfig = (() => {
  const file = join(ROOT, 'tsconfig.build.json');
  const { config } = ts.readConfigFile(file, (p) => ts.sys.readFile(p));
  return {
    raw: config as { include: string[]; extends: string },
    parsed: ts.parseJsonConfigFileContent(config, ts.sys, ROOT, undefined, file),
  };
})();

describe('dockerfile - syntax', () => {
  it('dockerfile - dockerfile-utils reports no problem; two stages, the first named and copied from', () => {
    expect(validate(dockerfile)).toEqual([]);
    expect(build?.name, 'a named build stage before the final one').toBeDefined();
    expect(final!.body.filter((i) => i.keyword === 'COPY').every((i) => copyOf(i).from === build!.name)).toBe(true);
  });
});

describe('dockerfile - the final stage', () => {
  it('dockerfile - runs on a Node 20 slim image, as a non-root user, without installing packages', () => {
    expect(final!.from).toMatch(/^node:20(\.\d+){0,2}-(bookworm-|bullseye-)?slim(@sha256:[0-9a-f]{64})?$/);
    const user = one(final!.body, 'USER').args;
    expect(user).not.toMatch(/^(root|0)(:|$)/);
    const runs = final!.body.filter((i) => i.keyword === 'RUN').map((i) => i.args);
    expect(runs.filter((r) => /\b(apt-get|apt|dpkg|npm|npx|tsx)\b/.test(r))).toEqual([]);
    expect(envOf(final!.body)).toMatchObject({ NODE_ENV: 'production', HTTP_HOST: '0.0.0.0' });
  });

  it("dockerfile - exposes and probes the runtime's default HTTP port", () => {
    const serve = read('runtime/serve.ts');
    const defaultPort = /env\['HTTP_PORT'\] \?\? (\d+)/.exec(serve)?.[1];
    expect(defaultPort, 'runtime/serve.ts has a default for HTTP_PORT').toBeDefined();
    expect(one(final!.body, 'EXPOSE').args).toBe(defaultPort);
    expect(envOf(final!.body)['HTTP_PORT'], 'HTTP_PORT left at its default').toBeUndefined();
    const check = one(final!.body, 'HEALTHCHECK').args;
    const cmd = execForm(check.slice(check.indexOf(' CMD ') + ' CMD '.length).trim());
    expect(cmd.slice(0, 2)).toEqual(['node', '-e']);
    expect(cmd[2]).toContain('/healthz');
    expect(cmd[2]).toContain(`process.env.HTTP_PORT || ${defaultPort}`);
  });

  it('dockerfile - the entrypoint is the compiled CLI, copied from where the build puts it, and CMD runs a runtime', () => {
    const workdir = one(final!.body, 'WORKDIR').args;
    const buildWorkdir = one(build!.body, 'WORKDIR').args;
    // Where tsc writes runtime/cli/main.ts, relative to the checkout (the build stage's WORKDIR).
    const [compiled] = ts.getOutputFileNames(buildConfig.parsed, join(ROOT, 'runtime/cli/main.ts'), false);
    const entry = relative(ROOT, compiled!);
    expect(entry).toBe('dist/runtime/cli/main.js');
    expect(execForm(one(final!.body, 'ENTRYPOINT').args)).toEqual(['node', entry]);

    const outDir = relative(ROOT, buildConfig.parsed.options.outDir!);
    const copies = final!.body.filter((i) => i.keyword === 'COPY').map(copyOf);
    const outCopy = copies.find((c) => c.sources.includes(posix.join(buildWorkdir, outDir)));
    expect(outCopy, `the final stage copies ${posix.join(buildWorkdir, outDir)} from the build stage`).toBeDefined();
    expect(posix.resolve(workdir, outCopy!.dest)).toBe(posix.join(workdir, outDir));
    for (const dep of ['node_modules', 'package.json']) {
      expect(copies.some((c) => c.sources.includes(posix.join(buildWorkdir, dep)))).toBe(true);
    }
    const buildRuns = build!.body.filter((i) => i.keyword === 'RUN').map((i) => i.args);
    expect(buildRuns.some((r) => r.includes('npm run build'))).toBe(true);
    expect(
      buildRuns.some((r) => /npm (prune|ci) .*--omit=dev/.test(r)),
      'dev dependencies dropped',
    ).toBe(true);

    const cmd = execForm(one(final!.body, 'CMD').args);
    expect(cmd[0]).toBe(runCommand.name);
    expect(cmd).toContain('--no-sample');
  });

  it('dockerfile - the one folder `journeys run` may write is a volume the user owns', () => {
    const dataDir = /opts\.dataDir \?\? '([^']+)'/.exec(read('runtime/serve.ts'))?.[1];
    expect(dataDir, 'runtime/serve.ts has a default data folder').toBeDefined();
    const workdir = one(final!.body, 'WORKDIR').args;
    const volume = execForm(one(final!.body, 'VOLUME').args);
    expect(volume).toEqual([posix.join(workdir, dataDir!)]);
    const user = one(final!.body, 'USER').args;
    const runs = final!.body.filter((i) => i.keyword === 'RUN').map((i) => i.args);
    expect(runs.some((r) => r.includes(`chown ${user}:${user} ${dataDir}`))).toBe(true);
  });
});

describe('dockerfile - the build context', () => {
  const ignored = dockerignore(read('.dockerignore'));
  const contextSources = build!.body
    .filter((i) => i.keyword === 'COPY')
    .map(copyOf)
    .filter((c) => c.from === undefined)
    .flatMap((c) => c.sources);

  it('dockerfile - every file the build stage copies exists and is not excluded by .dockerignore', () => {
    expect(contextSources.length).toBeGreaterThan(0);
    expect(contextSources.filter((s) => !existsSync(join(ROOT, s)))).toEqual([]);
    expect(contextSources.filter((s) => ignored(s))).toEqual([]);
    // Inside a copied folder too: a file the runtime reads at run time (the dashboard's page) is not excluded.
    expect(ignored('runtime/dashboard/public/index.html')).toBe(false);
  });

  it('dockerfile - the build stage copies what the build reads: tsconfig includes, the config it extends, the script', () => {
    const script = /^node (\S+)$/.exec(
      (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts['build']!,
    )?.[1];
    expect(script, 'npm run build is `node <script>`').toBeDefined();
    const needed = [
      ...buildConfig.raw.include,
      posix.normalize(buildConfig.raw.extends),
      'package.json',
      'package-lock.json',
      'tsconfig.build.json',
      script!,
    ];
    const copied = (p: string): boolean => contextSources.some((s) => p === s || p.startsWith(`${s}/`));
    expect(needed.filter((p) => !copied(p))).toEqual([]);
  });

  it('dockerfile - .dockerignore keeps local state, build output and history out of the context', () => {
    for (const path of [
      'node_modules/xstate/package.json',
      '.data/nats/jetstream',
      'dist/runtime/index.js',
      '.git/HEAD',
      'bench/results/x.json',
      'test-artifacts/demo-overview.png',
      'test/cli.test.ts',
      '.env',
    ]) {
      expect(ignored(path), path).toBe(true);
    }
  });
});

describe('dockerfile - HEALTHCHECK', () => {
  let server: Server | undefined;
  afterEach(async () => {
    await new Promise((r) => (server ? server.close(r) : r(undefined)));
    server = undefined;
  });

  /** Runs the image's health check command here (node is this node) with HTTP_PORT set; resolves its exit code. */
  const runCheck = (port: number): Promise<number> => {
    const check = one(final!.body, 'HEALTHCHECK').args;
    const [node, ...args] = execForm(check.slice(check.indexOf(' CMD ') + ' CMD '.length).trim());
    expect(node).toBe('node');
    return new Promise((resolve) => {
      execFile(process.execPath, args, { env: { ...process.env, HTTP_PORT: String(port) }, timeout: 10_000 }, (err) =>
        resolve(err ? (typeof err.code === 'number' ? err.code : -1) : 0),
      );
    });
  };
  const serveHealth = async (status: number): Promise<number> => {
    server = createServer((req, res) => void res.writeHead(req.url === '/healthz' ? status : 404).end());
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    return (server.address() as AddressInfo).port;
  };

  it('dockerfile - the health check passes on /healthz 200 and fails on 503 or no server', async () => {
    expect(await runCheck(await serveHealth(200))).toBe(0);
    const port = await serveHealth(503);
    expect(await runCheck(port)).toBe(1);
    await new Promise((r) => server!.close(r));
    server = undefined;
    expect(await runCheck(port)).toBe(1);
  });
});

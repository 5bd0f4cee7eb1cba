/**
 * `journeys scale`, `stats` and `report` as real child processes (tsx) against a real nats-server, with a runtime in this
 * process under a unique prefix publishing stats every 300 ms.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JourneyClient } from '../runtime/client.ts';
import { startRuntime, type Runtime } from '../runtime/runtime.ts';
import type { StatsMessage } from '../schemas/stats.ts';
import { DEFAULT_SCALING_CONFIG } from '../actors/scaling-policy.ts';
import { oneStep } from './fixtures.ts';
import { useNats, uniqueName, waitFor, type TestServer } from './harness/nats.ts';
import { lines, runCli, type CliResult } from './harness/cli.ts';


let server: TestServer;
let nc: NatsConnection;
useNats((s, c) => ([server, nc] = [s, c]));
let runtime: Runtime;
let prefix: string;
let dir: string;
const cluster: StatsMessage[] = [];

const cli = (args: string[], opts: { prefix?: string } = {}): Promise<CliResult> =>
  runCli(args, { url: server.url, prefix: opts.prefix ?? prefix, env: { USER: 'tester' } });


beforeAll(async () => {
  prefix = uniqueName('obs');
  runtime = await startRuntime({
    nc,
    prefix,
    logger: pino({ level: 'silent' }),
    monitor: { intervalMs: 300 },
    // Season and Saturday neutral: the allocation the policy restores after an override is the base on any day.
    supervisor: { config: { seasonFactor: 1, saturdayFactor: 1 } },
    handlers: { 'email.send': async () => undefined },
  });
  await runtime.definitions.deploy(oneStep);
  nc.subscribe(runtime.names.statsCluster, { callback: (_e, m) => void cluster.push(m.json<StatsMessage>()) });
  dir = await mkdtemp(join(tmpdir(), 'jrn-cli-obs-'));
});

afterAll(async () => {
  await runtime?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('cli - scale, stats and report against a running runtime', () => {
  it('cli - scale sets a per-tier override every instance applies, and --clear removes it', async () => {
    const [set, usage] = await Promise.all([
      cli(['scale', '--critical', '40', '--for', 'PT10M', '--json']),
      cli(['scale', '--for', '10m']),
    ]);
    expect(set).toMatchObject({ code: 0, stderr: '' });
    const reply = JSON.parse(set.stdout) as {
      by: string;
      until: string;
      applied: { instance: string; concurrency: Record<string, number>; replicas: number }[];
      refused: unknown[];
    };
    expect(reply.by).toBe('tester');
    expect(Date.parse(reply.until) - Date.now()).toBeGreaterThan(9 * 60_000);
    expect(reply.refused).toEqual([]);
    expect(reply.applied).toHaveLength(1);
    expect(reply.applied[0]).toMatchObject({ instance: runtime.instanceId, concurrency: { critical: 40 } });
    expect(runtime.dispatcher.concurrency.critical).toBe(40);
    expect(usage.code).toBe(2);
    expect(lines(usage.stderr)).toEqual([
      'journeys: give at least one of --critical, --high, --medium, --low, --replicas (or --clear)',
    ]);

    const [clear, nobody] = await Promise.all([
      cli(['scale', '--clear']),
      cli(['scale', '--replicas', '2', '--for', '1h'], { prefix: uniqueName('none') }),
    ]);
    expect(clear).toMatchObject({ code: 0, stderr: '' });
    expect(lines(clear.stdout)[0]).toBe('override cleared by tester: applied by 1 instance');
    // Cleared: critical goes straight back to what the policy wants with no load, the base.
    const base = DEFAULT_SCALING_CONFIG.baseConcurrency.critical;
    expect(clear.stdout).toMatch(new RegExp(`^${runtime.instanceId}\\s+${base}\\b`, 'm'));
    expect(runtime.dispatcher.concurrency.critical).toBe(base);
    expect(nobody.code).toBe(1);
    expect(lines(nobody.stderr)).toHaveLength(1);
    expect(nobody.stderr).toMatch(/^journeys: no runtime answered on none\w+\.supervisor\.override/);
  });

  it('cli - stats --once --json prints one cluster stats message', async () => {
    const r = await cli(['stats', '--once', '--json']);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    const m = JSON.parse(r.stdout) as StatsMessage;
    expect(m).toMatchObject({ v: 1, instance: 'cluster', instances: 1 });
    expect(Object.keys(m.queues)).toEqual(['critical', 'high', 'medium', 'low']);
    // The very message the runtime published on the cluster subject, printed whole.
    const published = await waitFor('the printed window among the published ones', () => cluster.find((c) => c.at === m.at), 5_000);
    expect(m).toEqual(published);
  });

  // The report reads the stats stream from a start time, which nats-server compares with its own clock: under a clock
  // faked for Node only (bin/test-at-awkward-instants.sh) the two disagree by months, so the window is empty.
  it.skipIf(process.env['JRN_FAKED_CLOCK'])('cli - report over the stored history counts the executions that ran; HTML goes to a file with charts', async () => {
    const client = new JourneyClient(nc, prefix);
    const N = 7;
    const ids = await Promise.all(
      Array.from({ length: N }, (_, i) =>
        client.start({
          supplierId: 's1',
          clientId: `c${i}`,
          journeyId: 'one-step',
          weddingDate: '2031-01-01',
          timeZone: 'UTC',
        }),
      ),
    );
    expect(new Set(ids).size).toBe(N);
    // Every completion is in a stored cluster window once the cumulative count reaches N.
    await waitFor('cluster stats counting every execution', () => cluster.at(-1)?.cumulative.totals.completed === N);
    const file = join(dir, 'report.html');
    const [md, html] = await Promise.all([
      cli(['report', '--since', 'PT1H', '--format', 'md']),
      cli(['report', '--since', 'PT1H', '--format', 'html', '--out', file]),
    ]);
    expect(md).toMatchObject({ code: 0, stderr: '' });
    expect(md.stdout).toMatch(/^# Journey runtime performance report/);
    expect(md.stdout).toContain(`| executions completed | ${N} |`);
    expect(md.stdout).toContain(`| executions started | ${N} |`);
    expect(md.stdout).toMatch(new RegExp(`\\| venue \\| ${N} \\| ${N} \\| 0 \\| ${N} \\|`));
    expect(md.stdout).toMatch(new RegExp(`\\| send \\| ${N} \\| ${N} \\| 0 \\| 0 \\| 100 % \\| 100 % \\|`));

    expect(html).toMatchObject({ code: 0, stderr: '' });
    expect(html.stdout.trim()).toMatch(
      new RegExp(`^wrote ${file.replace(/[.\\/]/g, '\\$&')} \\(html, \\d+ stats messages\\)$`),
    );
    const page = await readFile(file, 'utf8');
    expect(page).toMatch(/^<!doctype html>/);
    expect(page).toContain('<svg');
    expect(page).not.toMatch(/(src|href)\s*=\s*["']?https?:/i);
  });
});

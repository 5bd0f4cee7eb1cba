/**
 * deploy/grafana/journeys.json: every query parses as PromQL and loads in Prometheus, its limit lines are the runtime's
 * thresholds, and every metric it names is served on /metrics of a running runtime with the labels and label values the
 * queries select and group by (a runtime started as `journeys run` starts it, after a journey ran).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NatsConnection } from '@nats-io/transport-node';
import { parser } from '@prometheus-io/lezer-promql';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { DEFAULT_THRESHOLDS } from '../actors/alerts.ts';
import { JourneyClient } from '../runtime/client.ts';
import { ActionError } from '../runtime/errors.ts';
import { serve, type Served } from '../runtime/serve.ts';
import { oneStep, weddingInDays } from './fixtures.ts';
import { uniqueName, useNats, waitFor, type TestServer } from './harness/nats.ts';

let server: TestServer;
let nc: NatsConnection;
useNats((s, c) => ([server, nc] = [s, c]));
let served: Served | undefined;
afterAll(async () => {
  await served?.stop();
});

const root = fileURLToPath(new URL('..', import.meta.url));
const read = (path: string): string => readFileSync(join(root, path), 'utf8');

interface Target {
  expr: string;
  legendFormat?: string;
}
interface Panel {
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  targets?: (Target & { datasource?: { type: string; uid: string } })[];
  fieldConfig?: { defaults: { thresholds?: { steps: { value: number | null }[] } } };
  panels?: Panel[];
}
interface Variable {
  name: string;
  type: string;
  query: string;
  current?: { value?: string };
}
const dashboard = JSON.parse(read('deploy/grafana/journeys.json')) as {
  panels: Panel[];
  templating: { list: Variable[] };
};
const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
const variables = dashboard.templating.list;

/** Grafana's built-in variables with values of the kind they take, and the dashboard's own at their defaults. */
const BUILT_IN: Record<string, string> = { __rate_interval: '1m', __interval: '1m', __range: '1h' };
function interpolate(expr: string): string {
  const out = expr.replace(/\$\{(\w+)\}|\$(\w+)/g, (all, braced: string | undefined, bare: string | undefined) => {
    const name = (braced ?? bare)!;
    const v = BUILT_IN[name] ?? variables.find((x) => x.name === name)?.current?.value;
    if (v === undefined) throw new Error(`unknown variable ${all} in ${expr}`);
    return v;
  });
  return out;
}
const queries = panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: interpolate(t.expr) })));

/** Not the runtime's: Prometheus's own `up`, and the NATS exporter's (compose runs it with -jsz=all). */
const NOT_THE_RUNTIME = new Set(['up', 'jetstream_consumer_num_pending', 'jetstream_consumer_num_ack_pending']);

type Node = ReturnType<typeof parser.parse>['topNode'];
interface Selector {
  metric: string;
  matchers: { label: string; op: string; value: string }[];
}
interface Use {
  selectors: Selector[];
  grouping: { labels: string[]; metrics: string[] }[];
  errors: number[];
}

/** The metric selectors of an expression, and for each aggregation the labels it groups by and the metrics in it. */
function uses(expr: string): Use {
  const tree = parser.parse(expr);
  const text = (n: Node): string => expr.slice(n.from, n.to);
  const selectorsIn = (top: Node): Selector[] => {
    const found: Selector[] = [];
    tree.iterate({
      from: top.from,
      to: top.to,
      enter: (ref) => {
        if (ref.name !== 'VectorSelector') return;
        const metric = ref.node.getChild('Identifier');
        const matchers = (ref.node.getChild('LabelMatchers')?.getChildren('UnquotedLabelMatcher') ?? []).map((m) => ({
          label: text(m.getChild('LabelName')!),
          op: text(m.getChild('MatchOp')!),
          value: JSON.parse(text(m.getChild('StringLiteral')!)) as string,
        }));
        if (metric) found.push({ metric: text(metric), matchers });
      },
    });
    return found;
  };
  const use: Use = { selectors: selectorsIn(tree.topNode), grouping: [], errors: [] };
  tree.iterate({
    enter: (ref) => {
      if (ref.type.isError) use.errors.push(ref.from);
      if (ref.name !== 'AggregateExpr') return;
      const by = ref.node.getChild('AggregateModifier');
      if (!by?.getChild('By')) return;
      const labels = by.getChild('GroupingLabels')!.getChildren('LabelName').map(text);
      use.grouping.push({ labels, metrics: selectorsIn(ref.node.getChild('FunctionCallBody')!).map((s) => s.metric) });
    },
  });
  return use;
}

/** Exit code and output of a command. */
async function run(cmd: string, args: string[]): Promise<{ code: number; out: string }> {
  return await new Promise((done) => {
    execFile(cmd, args, { cwd: root }, (err, stdout, stderr) =>
      done({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, out: stdout + stderr }),
    );
  });
}

/** Samples of Prometheus text: name and labels of every series line. */
function samples(text: string): { name: string; labels: Record<string, string> }[] {
  return text
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s/.exec(l)!;
      const labels = Object.fromEntries(
        [...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1]!, x[2]!]),
      );
      return { name: m[1]!, labels };
    });
}

describe('deploy/grafana', () => {
  it('grafana - the datasource is a variable, and every panel and query takes it', () => {
    const ds = variables.find((v) => v.type === 'datasource');
    expect(ds).toMatchObject({ name: 'datasource', query: 'prometheus' });
    for (const p of panels.filter((x) => x.targets)) {
      expect(p.datasource, p.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
      for (const t of p.targets!) expect(t.datasource, p.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
    }
    expect(queries.length).toBeGreaterThan(20);
  });

  it('grafana - every query parses as PromQL (lezer-promql) and loads in Prometheus (promtool check rules)', async () => {
    for (const q of queries) expect(uses(q.expr).errors, `${q.panel}: ${q.expr}`).toEqual([]);
    expect(
      uses('sum by (tier) (rate(journeys_steps_total[5m])').errors.length,
      'a broken query is caught',
    ).toBeGreaterThan(0);
    // The real parser and its type checks: each query as a recording rule.
    const rules = {
      groups: [{ name: 'dashboard', rules: queries.map((q, i) => ({ record: `dashboard:query_${i}`, expr: q.expr })) }],
    };
    const file = join(mkdtempSync(join(tmpdir(), 'jrn-grafana-')), 'queries.yml');
    writeFileSync(file, stringify(rules));
    const promtool = (await run('bash', ['bin/ensure-promtool.sh'])).out.trim().split('\n').at(-1)!;
    const checked = await run(promtool, ['check', 'rules', file]);
    expect(checked.code, checked.out).toBe(0);
    expect(checked.out).toContain(`SUCCESS: ${queries.length} rules found`);
  }, 180_000);

  it("grafana - its limit lines are the runtime's alert thresholds", () => {
    const t = DEFAULT_THRESHOLDS;
    const sla = queries.find((q) => q.expr.includes('label_replace(vector('))!.expr;
    const limits = Object.fromEntries(
      [...sla.matchAll(/vector\(([\d.]+)\), "vendor_type", "(\w+)"/g)].map((m) => [m[2]!, Number(m[1]) * 1000]),
    );
    expect(limits).toEqual({ planner: t.maxExecutionMs, other: t.maxExecutionMs, ...t.maxExecutionMsByVendor });
    const threshold = (title: RegExp): number | null | undefined =>
      panels.find((p) => title.test(p.title))?.fieldConfig?.defaults.thresholds?.steps[1]?.value;
    expect(threshold(/^Pending work per tier/)).toBe(t.maxQueueLength);
    expect(threshold(/^Step success \(/)).toBe(t.overallSuccess);
    expect(threshold(/^Wedding-day success/)).toBe(t.weddingDaySuccess);
    expect(threshold(/^Step latency p50 \/ p99 by tier/)).toBe(t.maxExecutionMs / 1000);
  });

  it('grafana - replicas up are counted on the job the compose Prometheus scrapes the runtimes with', () => {
    const job = variables.find((v) => v.name === 'job')?.current?.value;
    const config = parse(read('deploy/compose/prometheus.yml')) as {
      scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[];
    };
    const scrapesRuntimes = config.scrape_configs.find((j) => j.job_name === job);
    expect(
      scrapesRuntimes?.static_configs.flatMap((c) => c.targets).every((t) => t.startsWith('runtime-')),
      `job ${job}`,
    ).toBe(true);
  });

  it('grafana - every metric it names is on /metrics of a running runtime, with the labels and values it selects and groups by', async () => {
    const prefix = uniqueName('graf');
    const service = `${prefix}.svc.quotes`;
    // A quote service that is down: every request fails (retryably), so the breaker opens at the first failure.
    const down = nc.subscribe(service, {
      callback: (_e, m) => {
        m.respond(JSON.stringify({ ok: false, error: { code: 'UNAVAILABLE', message: 'down' }, retryable: true }));
      },
    });
    served = await serve({
      env: { NATS_URL: server.url },
      httpPort: 0,
      prefix,
      logger: pino({ level: 'silent' }),
      handlers: {
        'sms.send': async () => undefined,
        'email.send': async () => undefined,
        'payment.capture': async () => {
          throw new ActionError('card declined', { retryable: false });
        },
      },
      actionConfig: {
        actions: { 'quote.request': { mode: 'request', subject: service, breaker: { minCalls: 1, window: 2 } } },
      },
      rateLimit: { defaultLimit: 1, windowMs: 60_000 },
    });
    const client = new JourneyClient(nc, prefix);
    const defs = await client.definitions();
    const oneAction = (id: string, action: string) =>
      ({
        id,
        version: 1,
        name: id,
        vendorType: 'venue',
        trigger: { event: 'booking.created' },
        start: 'text',
        steps: {
          text: { type: 'action', action: 'sms.send', params: {}, next: 'act' },
          act: { type: 'action', action, params: {}, next: 'done' },
          done: { type: 'end' },
        },
      }) as const;
    for (const d of [oneAction('charge', 'payment.capture'), oneAction('quote', 'quote.request'), oneStep])
      await defs.deploy(d);
    // Weddings tomorrow (still critical if midnight passes meanwhile): the tier the wedding-day panels select. The
    // charge is declined for good (a dead letter); the quote meets the service that is down; one-step finishes.
    const start = (supplierId: string, journeyId: string) =>
      client.start({ supplierId, clientId: 'c', journeyId, weddingDate: weddingInDays(1) });
    const charge = await start('g', 'charge');
    await start('q', 'quote');
    const done = await start('h', oneStep.id);
    await waitFor('the charge dead-lettered', async () => (await client.status(charge)).status === 'failed');
    await waitFor('one-step done', async () => (await client.status(done)).status === 'done');
    // A refused command, and starts over a limit of one a minute (three span at most two windows: one is over it).
    await expect(start('g', 'no-such-journey')).rejects.toMatchObject({ code: 'UNKNOWN_JOURNEY' });
    await Promise.all(
      [1, 2, 3].map((i) => client.start({ supplierId: 'busy', clientId: `c${i}`, journeyId: oneStep.id })),
    );

    const all = queries.map((q) => uses(q.expr));
    const runtimeSelectors = all.flatMap((u) => u.selectors).filter((s) => !NOT_THE_RUNTIME.has(s.metric));
    const missing = async (): Promise<string[]> => {
      const series = samples(await (await fetch(`http://127.0.0.1:${served!.http!.port}/metrics`)).text());
      const problems: string[] = [];
      const of = (metric: string) => series.filter((s) => s.name === metric);
      for (const { metric, matchers } of runtimeSelectors) {
        if (of(metric).length === 0) problems.push(`${metric}: no series`);
        for (const { label, op, value } of matchers) {
          // Each value the matcher names (each alternative of a simple regex) occurs on some series of the metric.
          const wanted = op === '=' ? [value] : op === '=~' && /^[\w|-]+$/.test(value) ? value.split('|') : [];
          for (const v of wanted)
            if (!of(metric).some((s) => s.labels[label] === v)) problems.push(`${metric}{${label}="${v}"}: no series`);
          if (!of(metric).some((s) => label in s.labels)) problems.push(`${metric}: no label ${label}`);
        }
      }
      for (const g of all.flatMap((u) => u.grouping)) {
        for (const metric of g.metrics.filter((m) => !NOT_THE_RUNTIME.has(m))) {
          for (const label of g.labels)
            if (!of(metric).some((s) => label in s.labels))
              problems.push(`${metric}: grouped by ${label}, which it lacks`);
        }
      }
      return [...new Set(problems)];
    };
    await waitFor('every series the dashboard selects', async () => (await missing()).length === 0, 30_000).catch(
      () => undefined,
    );
    expect(await missing()).toEqual([]);
    down.unsubscribe();
  });
});

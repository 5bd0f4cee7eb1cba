import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { DEFAULT_THRESHOLDS } from '../actors/alerts.ts';

interface Rule {
  alert: string;
  expr: string;
  labels: { severity: string; rule: string };
}

const rules = (parse(readFileSync(new URL('../deploy/prometheus/alerts.yml', import.meta.url), 'utf8')) as { groups: { rules: Rule[] }[] })
  .groups.flatMap((g) => g.rules);
const byRule = (name: string): Rule => rules.find((r) => r.labels.rule === name)!;

interface UnitTests {
  tests: { alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[] }[];
}

const root = fileURLToPath(new URL('..', import.meta.url));
/** Exit code, stdout, and stdout with stderr, of a command run from the repo root. */
async function run(cmd: string, args: string[]): Promise<{ code: number; stdout: string; out: string }> {
  return await new Promise((done) => {
    execFile(cmd, args, { cwd: root }, (err, stdout, stderr) =>
      done({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, out: stdout + stderr }),
    );
  });
}

describe('Prometheus alert rules in deploy/', () => {
  it('prometheus-rules - mirror every runtime alert rule with the same thresholds', () => {
    const t = DEFAULT_THRESHOLDS;
    for (const [vendor, ms] of Object.entries(t.maxExecutionMsByVendor)) {
      expect(byRule('execution-time').expr).toContain(`vector(${ms / 1000}), "vendor_type", "${vendor}"`);
    }
    expect(byRule('execution-time').expr).toContain(`vector(${t.maxExecutionMs / 1000})`);
    expect(byRule('wedding-day-success').expr).toContain(`< ${t.weddingDaySuccess}`);
    expect(byRule('wedding-day-success').labels.severity).toBe('critical');
    expect(byRule('queue-length').expr).toContain(`> ${t.maxQueueLength}`);
    expect(byRule('overall-success').expr).toContain(`< ${t.overallSuccess}`);
  });

  it('prometheus-rules - only use metric names the runtime exports', async () => {
    const { createMetrics } = await import('../runtime/metrics.ts');
    const exported = (await createMetrics(() => undefined).registry.getMetricsAsJSON()).map((m) => m.name);
    for (const r of rules) {
      for (const name of r.expr.match(/journeys_[a-z_]+/g) ?? []) {
        expect(exported, `${r.alert} uses ${name}`).toContain(name.replace(/_bucket$/, ''));
      }
    }
  });

  it('prometheus-rules - every alert has a promtool unit test where it fires and one where it stays quiet', () => {
    const unitTests = new URL('../deploy/prometheus/alerts.test.yml', import.meta.url);
    const file = parse(readFileSync(unitTests, 'utf8')) as UnitTests;
    const cases = file.tests.flatMap((t) => t.alert_rule_test ?? []);
    for (const r of rules) {
      const expected = cases.filter((c) => c.alertname === r.alert).map((c) => c.exp_alerts.length > 0);
      expect(expected, `${r.alert} fires in a test`).toContain(true);
      expect(expected, `${r.alert} stays quiet in a test`).toContain(false);
    }
  });

  it('prometheus-rules - promtool checks alerts.yml and its unit tests pass', async () => {
    // The first run downloads Debian's prometheus package (not installed) for its promtool: allow for apt.
    const found = await run('bash', ['bin/ensure-promtool.sh']);
    expect(found.code, found.out).toBe(0);
    const promtool = found.stdout.trim();
    const checked = await run(promtool, ['check', 'rules', 'deploy/prometheus/alerts.yml']);
    expect(checked.code, checked.out).toBe(0);
    expect(checked.out).toContain(`SUCCESS: ${rules.length} rules found`);
    const tested = await run(promtool, ['test', 'rules', 'deploy/prometheus/alerts.test.yml']);
    expect(tested.code, tested.out).toBe(0);
    expect(tested.out).toContain('SUCCESS');
  }, 300_000);
});

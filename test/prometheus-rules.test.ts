import { readFileSync } from 'node:fs';
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
});

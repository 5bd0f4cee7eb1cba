/** The results of a run: the console/Markdown table of ratios, the JSON file and the hand-written SVG chart. */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Spread } from './stats.ts';
import type { Metric, ScenarioResult } from './types.ts';

export interface RunReport {
  command: string;
  startedAt: string;
  finishedAt: string;
  seconds: number;
  kind: 'full' | 'quick' | 'partial';
  config: unknown;
  versions: Record<string, string>;
  machine: Record<string, string | number>;
  services: Record<string, string>;
  scenarios: ScenarioResult[];
}

export function fmt(v: number | undefined, unit: string): string {
  if (v === undefined || !Number.isFinite(v)) return '–';
  if (unit === 'ms') return v < 10 ? v.toFixed(1) : Math.round(v).toLocaleString('en-US');
  if (unit === 's') return v.toFixed(1);
  if (unit === 'MB' || unit === '%') return v < 10 ? v.toFixed(1) : Math.round(v).toLocaleString('en-US');
  return Math.round(v).toLocaleString('en-US');
}

function cell(s: Spread | undefined, unit: string): string {
  if (!s || !Number.isFinite(s.median)) return '–';
  const range = s.runs.length > 1 ? ` (${fmt(s.min, unit)}–${fmt(s.max, unit)})` : '';
  return `${fmt(s.median, unit)}${range}`;
}

export function ratio(m: Metric): number | undefined {
  const o = m.ours?.median;
  const p = m.peer?.median;
  if (o === undefined || p === undefined || !Number.isFinite(o) || !Number.isFinite(p) || p === 0) return undefined;
  return o / p;
}

/** Who is better and by how much ("ours 1.8×", "BullMQ 3.2×"), or the fraction of the ceiling. */
export function verdict(m: Metric): string {
  const r = ratio(m);
  if (r === undefined) return '';
  if (m.peerName === 'raw JetStream') return `${(r * 100).toFixed(0)} % of ceiling`;
  const oursBetter = m.better === 'higher' ? r >= 1 : r <= 1;
  const factor = m.better === 'higher' ? (oursBetter ? r : 1 / r) : oursBetter ? 1 / r : r;
  if (Math.abs(factor - 1) < 0.05) return 'even';
  return `${oursBetter ? (m.oursName ?? 'ours') : (m.peerName ?? 'peer')} ${factor.toFixed(factor < 10 ? 2 : 0)}× better`;
}

export function targetStatus(m: Metric): string {
  if (!m.target) return '';
  const v = m.target.on === 'ratio' ? ratio(m) : m.ours?.median;
  if (v === undefined || !Number.isFinite(v)) return `${m.target.text}: not measured`;
  const ok = m.target.op === '<' ? v < m.target.value : m.target.op === '<=' ? v <= m.target.value : v >= m.target.value;
  return `${m.target.text}: ${ok ? 'MET' : 'MISSED'}`;
}

/** One Markdown table for the whole run (also what the console prints). */
export function table(scenarios: ScenarioResult[]): string {
  const rows = [
    '| # | metric | unit | ours: median (min–max) | peer: median (min–max) | ours ÷ peer | who is better | target |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const s of scenarios) {
    if (s.error) {
      rows.push(`| ${s.id} | ${s.title}: FAILED (${s.error.split('\n')[0]}) | | | | | | |`);
      continue;
    }
    for (const m of s.metrics) {
      const r = ratio(m);
      const peer = m.peer ? `${m.peerName ?? 'peer'}: ${cell(m.peer, m.unit)}` : '–';
      const ours = m.oursName && m.ours ? `${m.oursName}: ${cell(m.ours, m.unit)}` : cell(m.ours, m.unit);
      rows.push(
        `| ${s.id} | ${m.label} | ${m.unit} | ${ours} | ${peer} | ${r === undefined ? '–' : r.toFixed(2)} | ${verdict(m)} | ${targetStatus(m)} |`,
      );
    }
  }
  return rows.join('\n');
}

const esc = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** A bar chart, one panel row per metric that has figures on both sides: bars scaled to the larger median of the row. */
export function svg(report: RunReport): string {
  const W = 980;
  const left = 440;
  const barMax = W - left - 150;
  const colors: Record<string, string> = { ours: '#0f766e', BullMQ: '#c2410c', 'raw JetStream': '#64748b' };
  const parts: string[] = [];
  let y = 70;
  const header = [
    `<text x="20" y="30" font-size="18" font-weight="bold">Journey runtime vs BullMQ and raw JetStream</text>`,
    `<text x="20" y="50" font-size="12" fill="#475569">${esc(
      `${report.finishedAt.slice(0, 10)} · ${report.machine['cpus']} cores, ${report.machine['memoryGiB']} GiB · node ${report.versions['node']} · nats-server ${report.versions['nats-server']} · redis ${report.versions['redis']} · bullmq ${report.versions['bullmq']} · bars: medians, whiskers: min–max over repetitions`,
    )}</text>`,
  ];
  for (const s of report.scenarios) {
    const metrics = s.metrics.filter((m) => m.ours && Number.isFinite(m.ours.median));
    if (metrics.length === 0) continue;
    y += 12;
    parts.push(`<text x="20" y="${y + 14}" font-size="14" font-weight="bold">${esc(`${s.id}. ${s.title}`)}</text>`);
    y += 24;
    for (const m of metrics) {
      const bars: { who: string; s: Spread }[] = [{ who: m.oursName ?? 'ours', s: m.ours! }];
      if (m.peer && Number.isFinite(m.peer.median)) bars.push({ who: m.peerName ?? 'peer', s: m.peer });
      // Scaled to the larger median; a whisker past the edge is cut there.
      const scaleMax = Math.max(...bars.map((b) => b.s.median)) || 1;
      const at = (v: number): number => left + Math.min(barMax + 20, (v / scaleMax) * barMax);
      const rowH = 16 * bars.length + 12;
      const label = m.label.length > 72 ? m.label.slice(0, 70) + '…' : m.label;
      parts.push(`<text x="20" y="${y + 11}" font-size="11">${esc(label)}</text>`);
      const sub = [`${m.unit}, ${m.better} is better`, verdict(m), targetStatus(m)].filter(Boolean).join(' · ');
      parts.push(`<text x="20" y="${y + 25}" font-size="10" fill="#475569">${esc(sub)}</text>`);
      bars.forEach((b, i) => {
        const by = y + i * 16;
        const w = Math.max(1, at(b.s.median) - left);
        const color = colors[i === 0 ? 'ours' : b.who] ?? '#334155';
        parts.push(
          `<rect x="${left}" y="${by}" width="${w.toFixed(1)}" height="12" fill="${color}" rx="2"><title>${esc(`${b.who}: ${fmt(b.s.median, m.unit)} ${m.unit}`)}</title></rect>`,
        );
        if (b.s.runs.length > 1) {
          const x1 = at(b.s.min);
          const x2 = at(b.s.max);
          parts.push(
            `<line x1="${x1.toFixed(1)}" x2="${x2.toFixed(1)}" y1="${by + 6}" y2="${by + 6}" stroke="#0f172a" stroke-width="1.2"/>`,
          );
          parts.push(
            `<line x1="${x1.toFixed(1)}" x2="${x1.toFixed(1)}" y1="${by + 2}" y2="${by + 10}" stroke="#0f172a"/><line x1="${x2.toFixed(1)}" x2="${x2.toFixed(1)}" y1="${by + 2}" y2="${by + 10}" stroke="#0f172a"/>`,
          );
        }
        const end = Math.max(left + w, b.s.runs.length > 1 ? at(b.s.max) : 0);
        parts.push(
          `<text x="${(end + 6).toFixed(1)}" y="${by + 10}" font-size="10.5">${esc(`${b.who} ${fmt(b.s.median, m.unit)}`)}</text>`,
        );
      });
      y += Math.max(rowH, 34);
    }
  }
  const legend = Object.entries(colors)
    .map(
      ([who, c], i) =>
        `<rect x="${W - 360 + i * 115}" y="18" width="12" height="12" fill="${c}"/><text x="${W - 343 + i * 115}" y="28" font-size="11">${esc(who)}</text>`,
    )
    .join('');
  const H = y + 20;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif">`,
    `<rect width="${W}" height="${H}" fill="#ffffff"/>`,
    ...header,
    legend,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}

/** Writes `<stamp>.json` plus the latest JSON and SVG (full runs: latest.*; quick and partial runs: latest-quick.*, latest-partial.*). */
export async function writeResults(dir: string, report: RunReport): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const stamp = report.startedAt.replace(/[:.]/g, '-');
  const base = report.kind === 'full' ? 'latest' : `latest-${report.kind}`;
  const json = JSON.stringify(report, null, 2) + '\n';
  const files = [
    join(dir, `${report.kind === 'full' ? '' : `${report.kind}-`}${stamp}.json`),
    join(dir, `${base}.json`),
    join(dir, `${base}.svg`),
    join(dir, `${base}.md`),
  ];
  await writeFile(files[0]!, json);
  await writeFile(files[1]!, json);
  await writeFile(files[2]!, svg(report));
  await writeFile(files[3]!, table(report.scenarios) + '\n');
  return files;
}

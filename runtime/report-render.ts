/**
 * Renders a performance report (`actors/report.ts`) as Markdown (tables) or as one self-contained HTML page: inline CSS
 * and hand-written inline SVG charts (throughput and latency over time, step success by vendor type), no script, no
 * external request. Both formats share one list of sections, so they always carry the same numbers.
 */
import type { CalendarSlice, LatencySummary, PerformanceReport, SliceReport, TimelinePoint } from '../actors/report.ts';

// ---------------------------------------------------------------------------------------------------------------------
// Formatting
// ---------------------------------------------------------------------------------------------------------------------

const DASH = '–';

/** `1234567` as `1,234,567`. */
export function formatCount(n: number): string {
  const [int, frac] = String(n).split('.');
  const grouped = (int ?? '').replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return frac === undefined ? grouped : `${grouped}.${frac}`;
}

/** A rate in 0..1 as a percentage; two decimals from 99 % up, where the difference matters (99.9 % targets). */
export function formatPercent(rate: number | null): string {
  if (rate === null || !Number.isFinite(rate)) return DASH;
  if (rate >= 1) return '100 %';
  const pct = rate * 100;
  return `${rate >= 0.99 ? (Math.floor(pct * 100) / 100).toFixed(2) : pct.toFixed(1)} %`;
}

/** A latency in ms: `0.8 ms`, `120 ms`, `1.25 s`, `2.5 min`, `1.2 h`. */
export function formatMs(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms)) return DASH;
  if (ms < 10) return `${Math.round(ms * 10) / 10} ms`;
  if (ms < 1_000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1_000).toFixed(2)} s`;
  if (ms < 3_600_000) return `${(ms / 60_000).toFixed(1)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}

/** A rate per hour: one decimal below 10. */
export function formatRate(n: number | null): string {
  if (n === null || !Number.isFinite(n)) return DASH;
  return n < 10 ? (Math.round(n * 10) / 10).toString() : formatCount(Math.round(n));
}

/** A length of time for prose: `6 d 23 h`, `59 min`, `12 s`. */
export function formatSpan(ms: number): string {
  const s = Math.round(ms / 1_000);
  if (s < 60) return `${s} s`;
  const min = Math.round(s / 60);
  if (min < 60) return `${min} min`;
  const h = Math.floor(min / 60);
  if (h < 48) return min % 60 === 0 ? `${h} h` : `${h} h ${min % 60} min`;
  const d = Math.floor(h / 24);
  return h % 24 === 0 ? `${d} d` : `${d} d ${h % 24} h`;
}

/** `2027-05-01 08:00 UTC` (seconds when there are any). */
function formatInstant(iso: string): string {
  return `${iso.replace('T', ' ').replace(/(:\d{2})?\.\d{3}Z$/, (_m, sec: string | undefined) => (sec && sec !== ':00' ? sec : ''))} UTC`;
}

// ---------------------------------------------------------------------------------------------------------------------
// Sections shared by both formats
// ---------------------------------------------------------------------------------------------------------------------

interface Table {
  headers: string[];
  /** Right-aligned columns (numbers). */
  numeric: boolean[];
  rows: string[][];
}

type Chart = 'throughput' | 'latency' | 'vendors';

interface Section {
  title: string;
  level: 2 | 3;
  paragraphs: string[];
  /** Charts come before the tables in HTML; Markdown has none. */
  charts: Chart[];
  tables: Table[];
}

const section = (title: string, parts: Partial<Omit<Section, 'title'>> = {}): Section => ({
  title,
  level: parts.level ?? 2,
  paragraphs: parts.paragraphs ?? [],
  charts: parts.charts ?? [],
  tables: parts.tables ?? [],
});

/** A table whose first column is a label and the others numbers. */
const table = (headers: string[], rows: string[][]): Table => ({
  headers,
  numeric: headers.map((_, i) => i > 0),
  rows,
});

const latencyRow = (name: string, l: LatencySummary): string[] => [
  name,
  formatCount(l.count),
  formatMs(l.mean),
  formatMs(l.p50),
  formatMs(l.p90),
  formatMs(l.p99),
  formatMs(l.max),
];

const SLICE_HEADERS = [
  'started',
  'completed',
  'failed',
  'steps done',
  'retried',
  'step success',
  'execution success',
  'step p50',
  'step p99',
];
const sliceCells = (s: SliceReport): string[] => [
  formatCount(s.started),
  formatCount(s.completed),
  formatCount(s.failed),
  formatCount(s.stepsDone),
  formatCount(s.retried),
  formatPercent(s.stepSuccess),
  formatPercent(s.executionSuccess),
  formatMs(s.stepLatency.p50),
  formatMs(s.stepLatency.p99),
];

const CALENDAR_HEADERS = [
  'stats covered',
  'completed',
  'completed / h',
  'steps / h',
  'failed',
  'step success',
  'step p50',
  'step p99',
];
const calendarCells = (c: CalendarSlice): string[] => [
  formatSpan(c.coveredMs),
  formatCount(c.completed),
  formatRate(c.completedPerHour),
  formatRate(c.stepsPerHour),
  formatCount(c.failed),
  formatPercent(c.stepSuccess),
  formatMs(c.stepLatency.p50),
  formatMs(c.stepLatency.p99),
];

function sections(r: PerformanceReport): Section[] {
  const out: Section[] = [];
  const d = r.data;
  const period = `${formatInstant(r.period.from)} to ${formatInstant(r.period.to)} (${formatSpan(Date.parse(r.period.to) - Date.parse(r.period.from))})`;
  if (r.empty) {
    out.push(
      section('Summary', {
        paragraphs: [
          `Period: ${period}.`,
          'No data: no cluster stats were recorded in this period. Either no runtime ran with its monitor on, or the ' +
            'history has expired (it is kept for 30 days).',
          ...(r.alerts.raised + r.alerts.cleared > 0
            ? [`Alerts in the period: ${r.alerts.raised} raised, ${r.alerts.cleared} cleared.`]
            : []),
        ],
      }),
    );
    return out;
  }
  const zones = d.timeZones.length > 0 ? d.timeZones.join(', ') : 'UTC';
  out.push(
    section('Summary', {
      paragraphs: [
        `Period: ${period}.`,
        `Data: ${formatCount(d.messages)} cluster stats messages from ${formatInstant(d.first!)} to ${formatInstant(d.last!)}, ` +
          `covering ${formatSpan(d.coveredMs)} (${formatPercent(d.coverage)} of the period); up to ${d.maxInstances} ` +
          `instance${d.maxInstances === 1 ? '' : 's'}. Saturday and season flags are computed in ${zones}.`,
        `${formatCount(r.totals.completed)} executions completed and ${formatCount(r.totals.stepsDone)} steps done; ` +
          `step success ${formatPercent(r.totals.stepSuccess)}, wedding-day step success ${formatPercent(r.weddingDay.stepSuccess)}; ` +
          `step latency p50 ${formatMs(r.totals.stepLatency.p50)}, p99 ${formatMs(r.totals.stepLatency.p99)}; ` +
          `${r.alerts.raised} alert${r.alerts.raised === 1 ? '' : 's'} raised.`,
      ],
    }),
  );
  const t = r.throughput;
  out.push(
    section('Throughput', {
      paragraphs: [
        'Rates are per hour of covered time (while the cluster published stats); the peak is the busiest point of the chart.',
      ],
      charts: ['throughput'],
      tables: [
        table(
          ['measure', 'total', 'per hour', 'peak per hour'],
          [
            [
              'executions completed',
              formatCount(t.completed),
              formatRate(t.completedPerHour),
              formatRate(t.peakCompletedPerHour),
            ],
            ['steps done', formatCount(t.stepsDone), formatRate(t.stepsPerHour), formatRate(t.peakStepsPerHour)],
            ['executions started', formatCount(r.totals.started), DASH, DASH],
            ['executions exited (exit event)', formatCount(r.totals.exited), DASH, DASH],
            ['executions cancelled', formatCount(r.totals.cancelled), DASH, DASH],
            ['executions failed (dead-lettered)', formatCount(r.totals.failed), DASH, DASH],
            ['step attempts retried', formatCount(r.totals.retried), DASH, DASH],
          ],
        ),
      ],
    }),
  );
  out.push(
    section('Latency', {
      paragraphs: ['Percentiles of all samples in the period (merged histograms, within 4 %).'],
      charts: ['latency'],
      tables: [
        table(
          ['latency', 'samples', 'mean', 'p50', 'p90', 'p99', 'max'],
          [
            latencyRow('step (one attempt, action included)', r.totals.stepLatency),
            latencyRow('execution (start to finish)', r.totals.executionLatency),
          ],
        ),
      ],
    }),
  );
  out.push(
    section('Success by vendor type', {
      charts: ['vendors'],
      tables: [
        table(
          ['vendor type', ...SLICE_HEADERS],
          r.byVendor.length > 0
            ? r.byVendor.map((v) => [v.vendorType, ...sliceCells(v)])
            : [['(none)', ...SLICE_HEADERS.map(() => DASH)]],
        ),
      ],
    }),
  );
  out.push(
    section('Actions', {
      paragraphs: [
        r.byAction.length === 0
          ? 'No action attempt in the period.'
          : 'Attempts per action, whichever journeys used it. Success counts every failed attempt (retried or dead); ' +
            'held: attempts not made while the circuit of the action was open. Latency of ok and failed attempts.',
      ],
      tables:
        r.byAction.length === 0
          ? []
          : [
              table(
                ['action', 'attempts', 'ok', 'failed', 'held', 'success', 'p50', 'p99'],
                r.byAction.map((a) => [
                  a.action,
                  formatCount(a.attempts),
                  formatCount(a.ok),
                  formatCount(a.failed),
                  formatCount(a.held),
                  formatPercent(a.success),
                  formatMs(a.latency.p50),
                  formatMs(a.latency.p99),
                ]),
              ),
            ],
    }),
  );
  out.push(
    section('Success by tier', {
      paragraphs: ['Tiers by days to the wedding: critical 0–1, high 2–7, medium 8–30, low > 30 or unknown.'],
      tables: [
        table(
          ['tier', ...SLICE_HEADERS],
          [...r.byTier.map((s) => [s.tier, ...sliceCells(s)]), ['wedding day', ...sliceCells(r.weddingDay)]],
        ),
      ],
    }),
  );
  out.push(
    section('Saturday vs weekday', {
      tables: [
        table(
          ['days', ...CALENDAR_HEADERS],
          [
            ['Saturday', ...calendarCells(r.saturday.saturday)],
            ['other days', ...calendarCells(r.saturday.weekday)],
          ],
        ),
      ],
    }),
  );
  out.push(
    section('Season vs off-season', {
      paragraphs: ['Wedding season is May to October.'],
      tables: [
        table(
          ['months', ...CALENDAR_HEADERS],
          [
            ['season', ...calendarCells(r.season.season)],
            ['off-season', ...calendarCells(r.season.offSeason)],
          ],
        ),
      ],
    }),
  );
  out.push(
    section('Top errors', {
      paragraphs:
        r.topErrors.length === 0
          ? ['No failed attempts.']
          : ['Failed attempts (retried or dead), summed from the top list of each stats window.'],
      tables:
        r.topErrors.length === 0
          ? []
          : [
              {
                headers: ['count', 'error'],
                numeric: [true, false],
                rows: r.topErrors.map((e) => [formatCount(e.count), e.message]),
              },
            ],
    }),
  );
  out.push(
    section('Journeys: conversion and drop-off', {
      paragraphs: [
        r.journeys.length === 0
          ? 'No journey ran a step in the period.'
          : 'Action steps in the order they first ran. Reached: executions that finished the step (done or failed). ' +
            "Conversion: done as a share of the first step's reached. Drop-off: share of the previous step's done that " +
            'did not reach this step (still waiting, exited, cancelled or branched elsewhere).',
      ],
    }),
  );
  for (const j of r.journeys) {
    out.push(
      section(`${j.journeyId} (${j.vendorType})`, {
        level: 3,
        paragraphs: [
          `${formatCount(j.started)} started, ${formatCount(j.completed)} completed, ${formatCount(j.exited)} exited, ` +
            `${formatCount(j.cancelled)} cancelled, ${formatCount(j.failed)} failed; step success ${formatPercent(j.stepSuccess)}.`,
        ],
        tables:
          j.steps.length === 0
            ? []
            : [
                table(
                  ['step', 'reached', 'done', 'retried', 'failed', 'success', 'conversion', 'drop-off', 'p50', 'p99'],
                  j.steps.map((s) => [
                    s.stepId,
                    formatCount(s.reached),
                    formatCount(s.done),
                    formatCount(s.retried),
                    formatCount(s.failed),
                    formatPercent(s.success),
                    formatPercent(s.conversion),
                    formatPercent(s.dropOff),
                    formatMs(s.latency.p50),
                    formatMs(s.latency.p99),
                  ]),
                ),
              ],
      }),
    );
  }
  const a = r.alerts;
  out.push(
    section('Alerts', {
      paragraphs: [
        a.raised + a.cleared === 0
          ? 'No alert was raised or cleared in the period.'
          : `${a.raised} raised, ${a.cleared} cleared` +
            (a.clearedFromBefore > 0 ? ` (${a.clearedFromBefore} of them raised before the period)` : '') +
            (a.activeAtEnd.length > 0
              ? `; still active at the end: ${a.activeAtEnd.map((s) => `${s.id} (${s.severity})`).join(', ')}.`
              : '; none active at the end.'),
      ],
      tables:
        a.spans.length === 0
          ? []
          : [
              {
                headers: ['raised', 'cleared', 'open for', 'severity', 'alert', 'message'],
                numeric: [false, false, true, false, false, false],
                rows: a.spans.map((s) => [
                  formatInstant(new Date(s.raisedAt).toISOString()),
                  s.clearedAt === null ? 'still active' : formatInstant(new Date(s.clearedAt).toISOString()),
                  formatSpan((s.clearedAt ?? Date.parse(r.period.to)) - s.raisedAt),
                  s.severity,
                  s.id,
                  s.message,
                ]),
              },
            ],
    }),
  );
  return out;
}

const TITLE = 'Journey runtime performance report';

// ---------------------------------------------------------------------------------------------------------------------
// Markdown
// ---------------------------------------------------------------------------------------------------------------------

const mdCell = (text: string): string => text.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');

function mdTable(t: Table): string {
  return [
    `| ${t.headers.map(mdCell).join(' | ')} |`,
    `|${t.numeric.map((n) => (n ? '---:' : '---')).join('|')}|`,
    ...t.rows.map((row) => `| ${row.map(mdCell).join(' | ')} |`),
  ].join('\n');
}

/** The report as Markdown: headings, paragraphs and pipe tables. */
export function renderMarkdown(r: PerformanceReport): string {
  const blocks = [`# ${TITLE}`];
  for (const s of sections(r)) {
    blocks.push(`${'#'.repeat(s.level)} ${mdCell(s.title)}`);
    blocks.push(...s.paragraphs);
    blocks.push(...s.tables.map(mdTable));
  }
  return `${blocks.join('\n\n')}\n`;
}

// ---------------------------------------------------------------------------------------------------------------------
// HTML and SVG
// ---------------------------------------------------------------------------------------------------------------------

const ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};
/** Text safe in HTML and SVG content and attribute values. */
export const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);

const COLORS = {
  completed: '#2563eb',
  steps: '#0d9488',
  p50: '#7c3aed',
  p99: '#dc2626',
  bar: '#16a34a',
  barLow: '#f59e0b',
};
const W = 760;
const M = { left: 64, right: 20, top: 30, bottom: 40 };
const fix = (n: number): string => (Math.round(n * 10) / 10).toString();

/** A "nice" upper bound for an axis (1, 2, 2.5 or 5 times a power of ten) and its tick step. */
function niceAxis(max: number, ticks = 4): { top: number; step: number } {
  if (!(max > 0)) return { top: 1, step: 0.25 };
  const raw = max / ticks;
  const pow = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 2.5, 5, 10].find((m) => m * pow >= raw) ?? 10) * pow;
  return { top: step * Math.ceil(max / step - 1e-9), step };
}

const pad2 = (n: number): string => String(n).padStart(2, '0');
const S = 1_000;
const DAY_MS = 86_400_000;
const TICK_STEPS = [
  S,
  5 * S,
  15 * S,
  30 * S,
  60 * S,
  300 * S,
  900 * S,
  1_800 * S,
  3_600 * S,
  10_800 * S,
  21_600 * S,
  43_200 * S,
  DAY_MS,
  2 * DAY_MS,
  7 * DAY_MS,
  14 * DAY_MS,
];

/** Round UTC instants between `x0` and `x1` for axis labels, at most `max` of them. */
function timeTicks(x0: number, x1: number, max = 6): { ticks: number[]; step: number } {
  const span = Math.max(1, x1 - x0);
  const step = TICK_STEPS.find((t) => span / t <= max) ?? Math.ceil(span / max / DAY_MS) * DAY_MS;
  const ticks: number[] = [];
  for (let t = Math.ceil(x0 / step) * step; t <= x1; t += step) ticks.push(t);
  return { ticks, step };
}

function timeLabel(ms: number, step: number, spanMs: number): string {
  const d = new Date(ms);
  const hm = `${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}`;
  const md = `${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())}`;
  if (step < 60 * S) return `${hm}:${pad2(d.getUTCSeconds())}`;
  if (step >= DAY_MS) return md;
  return spanMs > 36 * 3_600 * S ? `${md} ${hm}` : hm;
}

interface Series {
  name: string;
  color: string;
  values: (number | null)[];
  area?: boolean;
}

/** A line chart over the timeline: one path per series, broken at gaps, the first optionally filled. */
function lineChart(
  title: string,
  points: readonly TimelinePoint[],
  series: Series[],
  format: (v: number) => string,
): string {
  const H = 240;
  const plotW = W - M.left - M.right;
  const plotH = H - M.top - M.bottom;
  const x0 = points[0]?.from ?? 0;
  const x1 = points.at(-1)?.to ?? x0 + 1;
  const span = Math.max(1, x1 - x0);
  const xOf = (p: TimelinePoint): number => M.left + (((p.from + p.to) / 2 - x0) / span) * plotW;
  const maxY = Math.max(0, ...series.flatMap((s) => s.values.filter((v): v is number => v !== null)));
  const axis = niceAxis(maxY);
  const yOf = (v: number): number => M.top + plotH - (v / axis.top) * plotH;
  const parts: string[] = [];
  parts.push(`<title>${escapeHtml(title)}</title>`);
  parts.push(`<rect x="${M.left}" y="${M.top}" width="${plotW}" height="${plotH}" class="plot"/>`);
  for (let v = 0; v <= axis.top + 1e-9; v += axis.step) {
    const y = fix(yOf(v));
    parts.push(`<line x1="${M.left}" x2="${M.left + plotW}" y1="${y}" y2="${y}" class="grid"/>`);
    parts.push(`<text x="${M.left - 6}" y="${y}" class="ylab">${escapeHtml(format(v))}</text>`);
  }
  const { ticks, step } = timeTicks(x0, x1);
  for (const t of ticks) {
    const x = fix(M.left + ((t - x0) / span) * plotW);
    parts.push(`<line x1="${x}" x2="${x}" y1="${M.top + plotH}" y2="${M.top + plotH + 4}" class="axis"/>`);
    parts.push(`<text x="${x}" y="${M.top + plotH + 18}" class="xlab">${escapeHtml(timeLabel(t, step, span))}</text>`);
  }
  parts.push(`<line x1="${M.left}" x2="${M.left + plotW}" y1="${M.top + plotH}" y2="${M.top + plotH}" class="axis"/>`);
  for (const s of series) {
    // Runs of consecutive points with a value; a gap (no stats) breaks the line.
    const runs: [number, number][][] = [];
    let run: [number, number][] = [];
    s.values.forEach((v, i) => {
      const p = points[i];
      if (v === null || p === undefined) {
        if (run.length > 0) runs.push(run);
        run = [];
      } else run.push([xOf(p), yOf(v)]);
    });
    if (run.length > 0) runs.push(run);
    for (const r of runs) {
      const d = r.map(([x, y], i) => `${i === 0 ? 'M' : 'L'}${fix(x)} ${fix(y)}`).join(' ');
      if (s.area && r.length > 1) {
        const base = fix(yOf(0));
        parts.push(
          `<path d="${d} L${fix(r.at(-1)![0])} ${base} L${fix(r[0]![0])} ${base} Z" fill="${s.color}" fill-opacity="0.15" stroke="none"/>`,
        );
      }
      if (r.length > 1)
        parts.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2" stroke-linejoin="round"/>`);
      else parts.push(`<circle cx="${fix(r[0]![0])}" cy="${fix(r[0]![1])}" r="3" fill="${s.color}"/>`);
    }
  }
  let lx = M.left;
  for (const s of series) {
    parts.push(`<rect x="${lx}" y="8" width="12" height="12" fill="${s.color}"/>`);
    parts.push(`<text x="${lx + 16}" y="18" class="legend">${escapeHtml(s.name)}</text>`);
    lx += 24 + s.name.length * 7;
  }
  return `<svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${escapeHtml(title)}">${parts.join('')}</svg>`;
}

/** Horizontal bars of step success by vendor type (0–100 %), with the value and step count beside each. */
function vendorChart(r: PerformanceReport): string {
  const rows = r.byVendor.filter((v) => v.stepSuccess !== null);
  if (rows.length === 0) return '<p class="note">No finished steps to chart.</p>';
  const left = 150;
  const right = 170;
  const barH = 20;
  const gap = 8;
  const top = 10;
  const H = top + rows.length * (barH + gap) + 24;
  const plotW = W - left - right;
  const parts = ['<title>Step success by vendor type</title>'];
  for (const pct of [0, 25, 50, 75, 100]) {
    const x = fix(left + (pct / 100) * plotW);
    parts.push(`<line x1="${x}" x2="${x}" y1="${top}" y2="${H - 20}" class="grid"/>`);
    parts.push(`<text x="${x}" y="${H - 6}" class="xlab">${pct} %</text>`);
  }
  rows.forEach((v, i) => {
    const y = top + i * (barH + gap);
    const rate = v.stepSuccess ?? 0;
    const color = rate >= 0.95 ? COLORS.bar : COLORS.barLow;
    parts.push(`<text x="${left - 8}" y="${fix(y + barH / 2)}" class="ylab">${escapeHtml(v.vendorType)}</text>`);
    parts.push(
      `<rect x="${left}" y="${y}" width="${fix(Math.max(1, rate * plotW))}" height="${barH}" fill="${color}"/>`,
    );
    parts.push(
      `<text x="${left + plotW + 8}" y="${fix(y + barH / 2)}" class="val">${escapeHtml(
        `${formatPercent(v.stepSuccess)} of ${formatCount(v.stepsDone + v.failed)} steps`,
      )}</text>`,
    );
  });
  return `<svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="Step success by vendor type">${parts.join('')}</svg>`;
}

function chart(kind: Chart, r: PerformanceReport): string {
  const points = r.timeline;
  if (kind === 'vendors') return vendorChart(r);
  if (points.length === 0) return '';
  const every = `one point per ${formatSpan(r.bucketMs)}, times in UTC`;
  if (kind === 'throughput') {
    return (
      lineChart(
        `Throughput per hour (${every})`,
        points,
        [
          { name: 'steps done / h', color: COLORS.steps, values: points.map((p) => p.stepsPerHour), area: true },
          { name: 'executions completed / h', color: COLORS.completed, values: points.map((p) => p.completedPerHour) },
        ],
        (v) => formatRate(v),
      ) + `<p class="note">Throughput per hour, ${every}.</p>`
    );
  }
  return (
    lineChart(
      `Step latency (${every})`,
      points,
      [
        { name: 'p99', color: COLORS.p99, values: points.map((p) => p.stepP99) },
        { name: 'p50', color: COLORS.p50, values: points.map((p) => p.stepP50) },
      ],
      (v) => formatMs(v),
    ) + `<p class="note">Step latency p50 and p99, ${every}.</p>`
  );
}

function htmlTable(t: Table): string {
  const cls = (i: number): string => (t.numeric[i] ? ' class="num"' : '');
  return [
    '<table>',
    `<thead><tr>${t.headers.map((h, i) => `<th${cls(i)}>${escapeHtml(h)}</th>`).join('')}</tr></thead>`,
    `<tbody>${t.rows.map((row) => `<tr>${row.map((c, i) => `<td${cls(i)}>${escapeHtml(c)}</td>`).join('')}</tr>`).join('')}</tbody>`,
    '</table>',
  ].join('');
}

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2937;background:#f8fafc;margin:0}
main{max-width:960px;margin:0 auto;padding:24px 32px 48px;background:#fff;min-height:100vh}
h1{font-size:24px;margin:0 0 12px}h2{font-size:18px;margin:32px 0 8px;padding-bottom:4px;border-bottom:1px solid #e5e7eb}
h3{font-size:15px;margin:20px 0 6px}p{margin:6px 0}.note{color:#6b7280;font-size:12px}
table{border-collapse:collapse;margin:8px 0 12px;font-size:13px;width:100%}
th,td{padding:4px 8px;border-bottom:1px solid #e5e7eb;text-align:left;vertical-align:top}
th{background:#f3f4f6;font-weight:600}.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
svg{display:block;max-width:100%;height:auto;margin:8px 0}
svg .plot{fill:#fcfcfd;stroke:#e5e7eb}svg .grid{stroke:#e5e7eb}svg .axis{stroke:#9ca3af}
svg text{font:11px system-ui,sans-serif;fill:#4b5563}svg .ylab{text-anchor:end;dominant-baseline:middle}
svg .xlab{text-anchor:middle}svg .val{dominant-baseline:middle}svg .legend{font-size:12px;fill:#1f2937}
`.trim();

/** The report as one self-contained HTML page (inline CSS and SVG; no script, no external resource). */
export function renderHtml(r: PerformanceReport): string {
  const body: string[] = [`<h1>${escapeHtml(TITLE)}</h1>`];
  for (const s of sections(r)) {
    body.push(`<h${s.level}>${escapeHtml(s.title)}</h${s.level}>`);
    body.push(...s.paragraphs.map((p) => `<p>${escapeHtml(p)}</p>`));
    if (!r.empty) body.push(...s.charts.map((c) => chart(c, r)));
    body.push(...s.tables.map(htmlTable));
  }
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(`${TITLE}, ${r.period.from.slice(0, 10)} to ${r.period.to.slice(0, 10)}`)}</title>`,
    `<style>${CSS}</style>`,
    '</head>',
    `<body><main>${body.join('\n')}</main></body>`,
    '</html>',
    '',
  ].join('\n');
}

/** The performance report: pure aggregation of stats messages (`actors/report.ts`) and its Markdown and HTML rendering. */
import { describe, expect, it } from 'vitest';
import type { AlertEvent } from '../actors/alerts.ts';
import { histogramOf, quantile } from '../actors/histogram.ts';
import { apply, emptyWindow, toStats, type MetricEvent } from '../actors/monitor.ts';
import type { Tier } from '../actors/priority.ts';
import { addStats, buildReport, finishReport, startReport, type PerformanceReport } from '../actors/report.ts';
import type { StatsMessage } from '../schemas/stats.ts';
import { renderHtml, renderMarkdown } from '../runtime/report-render.ts';

const MIN = 60_000;
const HOUR = 60 * MIN;
/** A Friday in wedding season; the next day is a Saturday. */
const FRI = Date.parse('2027-06-11T12:00:00Z');
const SAT = Date.parse('2027-06-12T12:00:00Z');
/** A Wednesday off-season. */
const WED_JAN = Date.parse('2027-01-13T12:00:00Z');

interface Ev {
  tier?: Tier;
  vendorType?: string;
  journeyId?: string;
  weddingDay?: boolean;
}
const base = (at: number, o: Ev = {}) => ({
  at,
  tier: o.tier ?? 'medium',
  vendorType: o.vendorType ?? 'photographer',
  journeyId: o.journeyId ?? 'photo-classic',
  weddingDay: o.weddingDay ?? false,
});
const started = (at: number, o: Ev = {}): MetricEvent => ({ type: 'execution.started', ...base(at, o) });
const step = (
  at: number,
  stepId: string,
  outcome: 'done' | 'retry' | 'dead' | 'held',
  ms: number,
  o: Ev & { error?: string; action?: string } = {},
): MetricEvent => ({
  type: 'step.finished',
  ...base(at, o),
  stepId,
  action: o.action ?? 'email.send',
  outcome,
  ms,
  ...(o.error ? { error: o.error } : {}),
});
const completed = (at: number, ms: number, o: Ev = {}): MetricEvent => ({
  type: 'execution.finished',
  ...base(at, o),
  outcome: 'completed',
  ms,
});
const times = <T>(n: number, make: (i: number) => T): T[] => Array.from({ length: n }, (_, i) => make(i));

/** A cluster stats message of a window of `windowMs` ending at `at`, built the way the monitor builds it. */
function message(at: number, events: readonly MetricEvent[], windowMs = MIN): StatsMessage {
  return toStats(events.reduce(apply, emptyWindow()), { instance: 'cluster', now: at, windowMs, timeZone: 'UTC' });
}

/** `n` executions of one step each, completed. */
const simple = (at: number, n: number, o: Ev = {}, ms = 20): MetricEvent[] =>
  times(n, () => [started(at, o), step(at, 'send', 'done', ms, o), completed(at, 1_000, o)]).flat();

const alert = (
  type: AlertEvent['type'],
  id: string,
  at: number,
  severity: AlertEvent['severity'] = 'warning',
): AlertEvent => ({
  type,
  id,
  rule: id.startsWith('queue') ? 'queue-length' : 'overall-success',
  severity,
  value: 1,
  threshold: 1,
  at,
  message: `${id} ${type}`,
});

describe('report - aggregation', () => {
  it('report - window counts add up over the period; throughput is per hour of covered time', () => {
    const stats = [
      message(FRI + 1 * MIN, simple(FRI, 3)),
      message(FRI + 2 * MIN, simple(FRI, 5, { vendorType: 'venue', journeyId: 'venue-final' })),
      message(FRI + 3 * MIN, [...simple(FRI, 2), step(FRI, 'send', 'dead', 30, { error: 'HTTP 503' })]),
    ];
    const r = buildReport({ period: { from: FRI - HOUR, to: FRI + HOUR }, stats, alerts: [] });
    expect(r.empty).toBe(false);
    expect(r.data.messages).toBe(3);
    expect(r.data.coveredMs).toBe(3 * MIN);
    expect(r.totals).toMatchObject({ started: 10, completed: 10, stepsDone: 10, failed: 1 });
    expect(r.throughput.completed).toBe(10);
    // 10 in three minutes of stats: 200 an hour.
    expect(r.throughput.completedPerHour).toBeCloseTo(200);
    expect(r.throughput.stepsPerHour).toBeCloseTo(200);
    expect(r.totals.stepSuccess).toBeCloseTo(10 / 11);
    expect(r.byVendor.map((v) => [v.vendorType, v.completed, v.failed])).toEqual([
      ['photographer', 5, 1],
      ['venue', 5, 0],
    ]);
    expect(r.byTier.find((t) => t.tier === 'medium')?.completed).toBe(10);
    expect(r.byTier.find((t) => t.tier === 'critical')?.completed).toBe(0);
    expect(r.topErrors).toEqual([{ message: 'HTTP 503', count: 1 }]);
    // Sums of the windows, the same whatever the order the messages come in.
    expect(
      buildReport({ period: { from: FRI - HOUR, to: FRI + HOUR }, stats: [...stats].reverse(), alerts: [] }),
    ).toEqual(r);
  });

  it('report - per action: attempts, success and latency summed over the windows, held attempts apart', () => {
    const sms = { action: 'sms.send' };
    const stats = [
      message(FRI + MIN, [step(FRI, 'send', 'done', 100), step(FRI, 'text', 'retry', 900, { ...sms, error: 'x' })]),
      message(FRI + 2 * MIN, [
        step(FRI, 'send', 'done', 300),
        step(FRI, 'text', 'dead', 1_000, { ...sms, error: 'x' }),
        step(FRI, 'text', 'held', 0, sms),
        step(FRI, 'text', 'held', 0, sms),
      ]),
    ];
    const r = buildReport({ period: { from: FRI, to: FRI + HOUR }, stats, alerts: [] });
    const round = (x: number | undefined) => Math.round((x ?? NaN) * 10) / 10;
    expect(r.byAction.map(({ latency: _, ...a }) => a)).toEqual([
      { action: 'sms.send', attempts: 2, ok: 0, failed: 2, held: 2, success: 0 },
      { action: 'email.send', attempts: 2, ok: 2, failed: 0, held: 0, success: 1 },
    ]);
    expect(r.byAction[0]?.latency.p99).toBe(round(quantile(histogramOf([900, 1_000]), 0.99)));
    expect(r.byAction[1]?.latency).toMatchObject({ count: 2, p50: round(quantile(histogramOf([100, 300]), 0.5)) });
    const md = renderMarkdown(r);
    expect(md).toMatch(/\| action \| attempts \| ok \| failed \| held \| success \| p50 \| p99 \|/);
    expect(md).toMatch(/\| sms\.send \| 2 \| 0 \| 2 \| 2 \| 0\.0 % \|/);
  });

  it('report - messages whose window does not end in the period are not counted', () => {
    const period = { from: FRI, to: FRI + 10 * MIN };
    const r = buildReport({
      period,
      stats: [
        message(FRI, simple(FRI, 7)),
        message(FRI + 5 * MIN, simple(FRI, 2)),
        message(FRI + 11 * MIN, simple(FRI, 4)),
      ],
      alerts: [alert('raised', 'overall-success', FRI - 1), alert('raised', 'queue-length:low', FRI + MIN)],
    });
    expect(r.totals.completed).toBe(2);
    expect(r.data.skipped).toBe(2);
    expect(r.alerts.raised).toBe(1);
  });

  it('report - percentiles come from the merged histograms, not averaged percentiles', () => {
    const fast = times(60, () => 10);
    const slow = times(40, (i) => 800 + i * 10);
    const stats = [
      message(
        FRI + MIN,
        fast.map((ms) => step(FRI, 'send', 'done', ms)),
      ),
      message(
        FRI + 2 * MIN,
        slow.map((ms) => step(FRI, 'send', 'done', ms)),
      ),
    ];
    const r = buildReport({ period: { from: FRI, to: FRI + HOUR }, stats, alerts: [] });
    const all = histogramOf([...fast, ...slow]);
    const round = (x: number | undefined) => Math.round((x ?? NaN) * 10) / 10;
    expect(r.totals.stepLatency.count).toBe(100);
    expect(r.totals.stepLatency.p50).toBe(round(quantile(all, 0.5)));
    expect(r.totals.stepLatency.p99).toBe(round(quantile(all, 0.99)));
    expect(r.totals.stepLatency.max).toBe(1_190);
    // The median of all samples is a fast one; the mean of the two windows' medians would be ~500 ms.
    expect(r.totals.stepLatency.p50).toBe(10);
    expect(r.byVendor[0]?.stepLatency.p99).toBe(r.totals.stepLatency.p99);
  });

  it('report - Saturday vs weekday and season vs off-season split by each message flags', () => {
    const stats = [
      message(FRI + MIN, simple(FRI, 4)),
      message(SAT + MIN, simple(SAT, 9, { weddingDay: true, tier: 'critical' })),
      message(SAT + 2 * MIN, simple(SAT, 3, { weddingDay: true, tier: 'critical' })),
      message(WED_JAN + MIN, simple(WED_JAN, 1)),
    ];
    expect(stats.map((m) => m.flags.saturday)).toEqual([false, true, true, false]);
    const r = buildReport({ period: { from: WED_JAN, to: SAT + HOUR }, stats, alerts: [] });
    expect(r.saturday.saturday).toMatchObject({ messages: 2, completed: 12, coveredMs: 2 * MIN });
    expect(r.saturday.weekday).toMatchObject({ messages: 2, completed: 5, coveredMs: 2 * MIN });
    expect(r.saturday.saturday.completedPerHour).toBeCloseTo(12 * 30);
    expect(r.season.season.completed).toBe(16);
    expect(r.season.offSeason.completed).toBe(1);
    expect(r.weddingDay.completed).toBe(12);
    expect(r.byTier.find((t) => t.tier === 'critical')?.completed).toBe(12);
    // The timeline spans the data, in order, with a gap (null rates) between January and June.
    expect(r.timeline.length).toBeGreaterThan(2);
    expect(r.timeline.length).toBeLessThanOrEqual(60);
    expect(r.timeline.reduce((n, p) => n + p.completed, 0)).toBe(17);
    expect(r.timeline.some((p) => p.completedPerHour === null)).toBe(true);
  });

  it('report - the timeline follows the data: an hour in a month is drawn by the minute, days of data coarser', () => {
    const hour = times(60, (i) => message(FRI + (i + 1) * MIN, simple(FRI, 1 + (i % 3))));
    const month = buildReport({
      period: { from: FRI - 20 * 24 * HOUR, to: FRI + 10 * 24 * HOUR },
      stats: hour,
      alerts: [],
    });
    expect(month.bucketMs).toBe(MIN);
    expect(month.timeline).toHaveLength(60);
    expect(month.timeline[0]).toMatchObject({ from: FRI, to: FRI + MIN, completed: 1, completedPerHour: 60 });
    // Three days of 5-minute windows: coarsened while reading (at most 240 buckets), then merged to at most 60 points.
    const n = 3 * 24 * 12;
    const days = times(n, (i) => message(FRI + (i + 1) * 5 * MIN, simple(FRI, 1), 5 * MIN));
    const r = buildReport({ period: { from: FRI, to: FRI + 3 * 24 * HOUR }, stats: days, alerts: [] });
    expect(r.timeline.length).toBeLessThanOrEqual(60);
    expect(r.timeline.length).toBeGreaterThanOrEqual(30);
    expect(r.timeline.reduce((sum, p) => sum + p.completed, 0)).toBe(n);
    expect(r.timeline.every((p) => p.from % HOUR === 0 && p.completedPerHour === 12)).toBe(true);
    expect(r.throughput).toMatchObject({ completed: n, completedPerHour: 12, peakCompletedPerHour: 12 });
  });

  it('report - per-step conversion and drop-off, steps in the order they first appear', () => {
    const j = { journeyId: 'photo-classic' };
    const stats = [
      message(FRI + MIN, [
        ...times(10, () => started(FRI, j)),
        ...times(10, () => step(FRI, 'welcome', 'done', 50, j)),
        ...times(2, () => step(FRI, 'questionnaire', 'retry', 50, { ...j, error: 'timeout' })),
        ...times(6, () => step(FRI, 'questionnaire', 'done', 50, j)),
        step(FRI, 'questionnaire', 'dead', 50, { ...j, error: 'timeout' }),
      ]),
      message(FRI + 2 * MIN, [
        // A step seen first in a later window comes after the earlier ones, whatever its key order here.
        ...times(3, () => step(FRI, 'thanks', 'done', 50, j)),
        ...times(2, () => step(FRI, 'questionnaire', 'done', 50, j)),
        ...times(3, () => completed(FRI, 5_000, j)),
      ]),
    ];
    const r = buildReport({ period: { from: FRI, to: FRI + HOUR }, stats, alerts: [] });
    const journey = r.journeys.find((x) => x.journeyId === 'photo-classic')!;
    expect(journey).toMatchObject({ started: 10, completed: 3, failed: 1, vendorType: 'photographer' });
    expect(journey.steps.map((s) => [s.stepId, s.reached, s.done, s.retried, s.failed])).toEqual([
      ['welcome', 10, 10, 0, 0],
      ['questionnaire', 9, 8, 2, 1],
      ['thanks', 3, 3, 0, 0],
    ]);
    const [welcome, questionnaire, thanks] = journey.steps;
    expect(welcome).toMatchObject({ conversion: 1, dropOff: null, success: 1 });
    expect(questionnaire?.conversion).toBeCloseTo(0.8);
    expect(questionnaire?.dropOff).toBeCloseTo(0.1); // 10 welcomed, 9 reached the questionnaire
    expect(questionnaire?.success).toBeCloseTo(8 / 9);
    expect(thanks?.conversion).toBeCloseTo(0.3);
    expect(thanks?.dropOff).toBeCloseTo(1 - 3 / 8);
  });

  it('report - alerts raised and cleared in the period, with what is still active at its end', () => {
    const r = buildReport({
      period: { from: FRI, to: FRI + HOUR },
      stats: [message(FRI + MIN, simple(FRI, 1))],
      alerts: [
        alert('cleared', 'queue-length:low', FRI + 5 * MIN),
        alert('raised', 'overall-success', FRI + 10 * MIN),
        alert('cleared', 'overall-success', FRI + 20 * MIN),
        alert('raised', 'queue-length:critical', FRI + 30 * MIN),
        alert('raised', 'queue-length:critical', FRI + 31 * MIN, 'critical'),
      ],
    });
    expect(r.alerts).toMatchObject({ raised: 3, cleared: 2, clearedFromBefore: 1 });
    expect(r.alerts.spans.map((s) => [s.id, s.clearedAt])).toEqual([
      ['overall-success', FRI + 20 * MIN],
      ['queue-length:critical', null],
      ['queue-length:critical', null],
    ]);
    expect(r.alerts.activeAtEnd.map((s) => [s.id, s.severity])).toEqual([['queue-length:critical', 'critical']]);
    expect(r.alerts.byRule).toEqual([
      { rule: 'overall-success', raised: 1, cleared: 1 },
      { rule: 'queue-length', raised: 2, cleared: 1 },
    ]);
  });

  it('report - an empty period is a report that says there is no data', () => {
    const state = startReport({ from: FRI, to: FRI + HOUR });
    expect(addStats(state, message(FRI + 2 * HOUR, simple(FRI, 1)))).toBe(false);
    const r = finishReport(state);
    expect(r).toMatchObject({ empty: true, timeline: [], journeys: [], byVendor: [] });
    expect(r.totals.completed).toBe(0);
    expect(r.throughput.completedPerHour).toBeNull();
    expect(renderMarkdown(r)).toMatch(/No data: no cluster stats were recorded in this period/);
    expect(renderHtml(r)).toMatch(/No data/);
    expect(() => startReport({ from: FRI, to: FRI })).toThrow(RangeError);
  });
});

describe('report - rendering', () => {
  const report: PerformanceReport = buildReport({
    period: { from: FRI, to: SAT + HOUR },
    stats: [
      message(FRI + MIN, [...simple(FRI, 4), step(FRI, 'send', 'dead', 40, { error: 'bad <b>|pipe</b>' })]),
      message(FRI + 2 * HOUR, simple(FRI, 6, { vendorType: 'venue', journeyId: 'venue<x>' }, 300)),
      message(SAT + MIN, simple(SAT, 2, { weddingDay: true, tier: 'critical' })),
    ],
    alerts: [alert('raised', 'overall-success', FRI + 3 * MIN)],
  });

  it('report - Markdown has the summary and a table per aggregate', () => {
    const md = renderMarkdown(report);
    expect(md).toMatch(/^# Journey runtime performance report/);
    expect(md).toMatch(/\| executions completed \| 12 \| [\d.,]+ \| [\d.,]+ \|/);
    expect(md).toMatch(/\| step \(one attempt, action included\) \| 13 \|/);
    expect(md).toMatch(/\| vendor type \| started \| completed \| failed \|/);
    expect(md).toMatch(/\| photographer \| 6 \| 6 \| 1 \| 6 \|/);
    expect(md).toMatch(/\| tier \| started \|/);
    expect(md).toMatch(/\| Saturday \| 1 min \| 2 \|/);
    expect(md).toMatch(/\| off-season \| 0 s \| 0 \|/);
    expect(md).toMatch(/\| step \| reached \| done \| retried \| failed \| success \| conversion \| drop-off \|/);
    expect(md).toContain('### venue<x> (venue)');
    // A pipe in a cell is escaped so the table keeps its columns.
    expect(md).toContain('| 1 | bad <b>\\|pipe</b> |');
    expect(md).toMatch(/\| raised \| cleared \| open for \|/);
    for (const line of md.split('\n').filter((l) => l.startsWith('|---') || l.startsWith('|--')))
      expect(line).toMatch(/^\|(-{3}:?\|)+$/);
  });

  it('report - HTML is self-contained: inline SVG charts, no script, no external URL, text escaped', () => {
    const html = renderHtml(report);
    expect(html).toMatch(/^<!doctype html>/);
    expect(html.match(/<svg/g)?.length).toBe(3);
    expect(html).toContain('<rect');
    expect(html).not.toMatch(/<script|<link|@import|url\(/i);
    expect(html).not.toMatch(/(src|href)\s*=\s*["']?\s*(https?:)?\/\//i);
    expect(html).not.toMatch(/https?:/);
    expect(html).toContain('venue&lt;x&gt;');
    expect(html).toContain('bad &lt;b&gt;|pipe&lt;/b&gt;');
    expect(html).not.toContain('<x>');
    expect(html).toMatch(/<table>.*<th[^>]*>vendor type<\/th>/s);
  });

  it('report - HTML charts draw lines (and a filled area) over continuous stats', () => {
    const stats = times(120, (i) => message(FRI + (i + 1) * MIN, simple(FRI, 1 + (i % 7), {}, 10 + i)));
    const r = buildReport({ period: { from: FRI - HOUR, to: FRI + 3 * HOUR }, stats, alerts: [] });
    expect(r.timeline.every((p) => p.completedPerHour !== null)).toBe(true);
    const html = renderHtml(r);
    expect(html.match(/<path d="M[^"]+" fill="none"/g)?.length).toBe(4);
    expect(html).toMatch(/<path d="M[^"]+ Z" fill="#[0-9a-f]{6}" fill-opacity/);
  });
});

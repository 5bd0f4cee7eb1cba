/**
 * `journeys report`: a performance report over a period, from the stored history in `<P>_STATS` (the cluster-wide stats
 * messages and the alerts, kept 30 days), as Markdown or self-contained HTML.
 */
import { writeFile } from 'node:fs/promises';
import { DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { AlertEvent } from '../../actors/alerts.ts';
import { addDuration } from '../../actors/duration.ts';
import { addAlert, addStats, finishReport, startReport, type ReportState } from '../../actors/report.ts';
import type { StatsMessage } from '../../schemas/stats.ts';
import { errorMessage } from '../errors.ts';
import { renderHtml, renderMarkdown } from '../report-render.ts';
import { names } from '../subjects.ts';
import { UsageError, type Flags } from './args.ts';
import type { Command, Context } from './command.ts';
import { json } from './output.ts';
import { parseDurationArg, withNats } from './scale.ts';

/** Stored times and the `at` of a message differ by the publish delay (and clock skew): read a little wider, filter exactly. */
const SLACK_MS = 60_000;
const FORMATS = ['md', 'html'] as const;
type Format = (typeof FORMATS)[number];

/** `--since`: an ISO date or instant, or a duration counted back from `until`. */
function sinceOf(f: Flags, until: number): number {
  const v = f.required('since');
  if (/^\d{4}-\d{2}-\d{2}/.test(v)) {
    const ms = Date.parse(v);
    if (Number.isNaN(ms)) throw new UsageError(`--since is not a valid date or instant: "${v}"`);
    return ms;
  }
  const d = parseDurationArg(v);
  if (d === undefined)
    throw new UsageError(
      `--since must be an ISO date or instant (2027-05-01) or a duration (P7D, PT12H, 7d), got "${v}"`,
    );
  return addDuration(until, { ...d, sign: -1 }, 'UTC');
}

function formatOf(f: Flags): Format {
  const v = f.str('format');
  if (v === undefined) return /\.html?$/i.test(f.str('out') ?? '') ? 'html' : 'md';
  const lower = v.toLowerCase() === 'markdown' ? 'md' : v.toLowerCase();
  if (!(FORMATS as readonly string[]).includes(lower)) throw new UsageError(`--format must be md or html, got "${v}"`);
  return lower as Format;
}

/**
 * Feeds the stats and alerts stored between `from` and `to` into `state`, in stream (time) order: an ordered consumer
 * from `from`, stopping past `to` or when nothing is pending.
 */
async function readHistory(ctx: Context, nc: NatsConnection, state: ReportState): Promise<void> {
  const n = names(ctx.prefix);
  const { from, to } = state.period;
  const info = await (await jetstreamManager(nc)).streams.info(n.streams.stats);
  if (info.state.messages === 0) return;
  const consumer = await jetstream(nc).consumers.get(n.streams.stats, {
    deliver_policy: DeliverPolicy.StartTime,
    opt_start_time: new Date(from - SLACK_MS).toISOString(),
  });
  if ((await consumer.info()).num_pending === 0) return;
  const messages = await consumer.consume({ max_messages: 1_000 });
  let read = 0;
  let unreadable = 0;
  try {
    for await (const m of messages) {
      if (m.time.getTime() > to + SLACK_MS) break;
      read++;
      try {
        if (m.subject === n.statsCluster) addStats(state, m.json<StatsMessage>());
        else if (m.subject === n.alerts) addAlert(state, m.json<AlertEvent>());
      } catch {
        unreadable++;
      }
      if (read % 10_000 === 0) ctx.progress(`read ${read} stored messages`, false);
      if (m.info.pending === 0) break;
    }
  } finally {
    await messages.close().catch(() => undefined);
  }
  if (read >= 10_000) ctx.progress(`read ${read} stored messages`, true);
  state.skipped += unreadable;
}

export const reportCommand: Command = {
  name: 'report',
  args: '',
  summary:
    'A performance report over a period, from the stored stats history. Throughput, latency percentiles, success ' +
    'by vendor type and tier, Saturday vs weekday, season vs off-season, top errors, per-step conversion and ' +
    'drop-off, alerts; Markdown, or self-contained HTML with charts. The history is kept 30 days.',
  example: 'report --since P7D --format html --out weekly.html',
  flags: {
    since: {
      kind: 'string',
      value: 'ISO|DURATION',
      help: 'start: 2027-05-01, an instant, or a duration back from --until (P7D, PT12H, 7d)',
    },
    until: { kind: 'string', value: 'ISO', help: 'end of the period (default: now)' },
    format: { kind: 'string', value: 'md|html', help: 'output format (default: md, or html when --out ends in .html)' },
    out: { kind: 'string', value: 'FILE', help: 'write the report to FILE instead of stdout' },
  },
  async run(ctx, f) {
    f.noMoreThan(0);
    const until = f.instant('until') ?? Date.now();
    const since = sinceOf(f, until);
    if (since >= until) throw new UsageError('--since must be before --until');
    const format = formatOf(f);
    const out = f.str('out');
    if (out === '') throw new UsageError('--out needs a file name');
    const state = startReport({ from: since, to: until });
    await withNats(ctx, (nc) => readHistory(ctx, nc, state));
    const report = finishReport(state);
    const text = ctx.json ? `${json(report)}\n` : format === 'html' ? renderHtml(report) : renderMarkdown(report);
    if (out === undefined) return void ctx.out(text.replace(/\n$/, ''));
    try {
      await writeFile(out, text);
    } catch (err) {
      throw new Error(`cannot write ${out}: ${errorMessage(err)}`, { cause: err });
    }
    const what = report.empty ? 'no data in the period' : `${report.data.messages} stats messages`;
    ctx.out(`wrote ${out} (${ctx.json ? 'json' : format}, ${what})`);
  },
};

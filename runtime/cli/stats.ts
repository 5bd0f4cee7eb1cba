/**
 * `journeys stats`: a live view of the cluster-wide stats (or one instance's), redrawn on every message, with the alerts
 * that are raised and not cleared. `--once` prints the first message and exits.
 */
import { DeliverPolicy, jetstream } from '@nats-io/jetstream';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type { AlertEvent } from '../../actors/alerts.ts';
import { TIERS } from '../../actors/priority.ts';
import type { StatsMessage } from '../../schemas/stats.ts';
import { decodeText } from '../codec.ts';
import { formatCount, formatMs, formatPercent } from '../report-render.ts';
import { names } from '../subjects.ts';
import { UsageError } from './args.ts';
import type { Command } from './command.ts';
import { clip, columns, json, shortIso } from './output.ts';
import { withNats } from './scale.ts';

/** No first message within this long: an error (no runtime, or its monitor is off). */
const FIRST_MESSAGE_MS = 15_000;
/** Reading the stored alerts to know which are active is best effort, bounded. */
const SEED_MS = 3_000;
const INSTANCE = /^[A-Za-z0-9_-]{1,128}$/;
const CLEAR_SCREEN = '\x1b[H\x1b[2J';

/** Alerts raised and not cleared, from events in any order (the newest event of an id wins). */
export class ActiveAlerts {
  readonly #last = new Map<string, AlertEvent>();

  apply(e: AlertEvent): void {
    if (typeof e?.id !== 'string' || typeof e.at !== 'number') return;
    const prev = this.#last.get(e.id);
    if (prev === undefined || e.at >= prev.at) this.#last.set(e.id, e);
  }

  /** Most severe first, then oldest. */
  list(): AlertEvent[] {
    return [...this.#last.values()]
      .filter((e) => e.type === 'raised')
      .sort((a, b) => (a.severity === b.severity ? a.at - b.at : a.severity === 'critical' ? -1 : 1));
  }
}

/** Folds the alerts stored in the stats stream (30 days) into `into`; gives up quietly after {@link SEED_MS}. */
async function seedAlerts(nc: NatsConnection, prefix: string, into: ActiveAlerts): Promise<void> {
  const n = names(prefix);
  const deadline = Date.now() + SEED_MS;
  const consumer = await jetstream(nc).consumers.get(n.streams.stats, {
    deliver_policy: DeliverPolicy.All,
    filter_subjects: n.alerts,
  });
  if ((await consumer.info()).num_pending === 0) return;
  const messages = await consumer.consume({ max_messages: 1_000 });
  const timer = setTimeout(() => void messages.close(), Math.max(1, deadline - Date.now()));
  try {
    for await (const m of messages) {
      try {
        into.apply(m.json<AlertEvent>());
      } catch {
        // not an alert: ignore
      }
      if (m.info.pending === 0 || Date.now() > deadline) break;
    }
  } finally {
    clearTimeout(timer);
    await messages.close().catch(() => undefined);
  }
}

const perSecond = (n: number, windowMs: number): string =>
  windowMs > 0 ? `${(Math.round((n * 10_000) / windowMs) / 10).toFixed(1)}/s` : '-';

/** The text view of one stats message and the active alerts. */
export function renderStats(m: StatsMessage, alerts: readonly AlertEvent[], now = Date.now()): string {
  const t = m.totals;
  const flags = [m.flags.saturday ? 'Saturday' : '', m.flags.season ? 'wedding season' : ''].filter(Boolean);
  const who =
    m.instance === 'cluster'
      ? `cluster (${m.instances} instance${m.instances === 1 ? '' : 's'})`
      : `instance ${m.instance}`;
  const age = Math.max(0, Math.round((now - Date.parse(m.at)) / 1_000));
  const wd = m.weddingDay;
  const step = m.latency.step;
  const rows: string[][] = [
    [
      'throughput',
      `${perSecond(t.completed, m.windowMs)} completed, ${perSecond(t.stepsDone, m.windowMs)} steps (started ${t.started}, completed ${t.completed}, failed ${t.failed}, retried ${t.retried})`,
    ],
    [
      'success',
      t.stepsDone + t.failed === 0
        ? 'no finished steps'
        : `${formatPercent(t.successRate)} of steps (${t.failed} dead of ${t.stepsDone + t.failed})`,
    ],
    [
      'wedding day',
      wd.stepsDone + wd.failed === 0
        ? 'no steps'
        : `${formatPercent(wd.successRate)} of ${wd.stepsDone + wd.failed} steps, p99 ${formatMs(wd.latency.step.p99)}`,
    ],
    [
      'step latency',
      step.count === 0
        ? 'no steps'
        : `p50 ${formatMs(step.p50)}  p99 ${formatMs(step.p99)}  max ${formatMs(step.max)}  (${formatCount(step.count)} step${step.count === 1 ? '' : 's'})`,
    ],
    [
      'queues',
      TIERS.map((tier) => `${tier} ${m.queues[tier].pending}+${m.queues[tier].ackPending}`).join('  ') +
        '  (pending+in flight)',
    ],
    ['calendar', `${flags.length > 0 ? flags.join(', ') : 'weekday, off-season'} (${m.flags.timeZone})`],
  ];
  const errors = m.topErrors.slice(0, 3);
  if (errors.length === 0) rows.push(['top errors', 'none']);
  errors.forEach((e, i) => rows.push([i === 0 ? 'top errors' : '', `${e.count}x ${clip(e.message, 100)}`]));
  if (alerts.length === 0) rows.push(['alerts', 'none active']);
  alerts.forEach((a, i) =>
    rows.push([
      i === 0 ? 'alerts' : '',
      `${a.severity.toUpperCase()} ${a.id} since ${shortIso(new Date(a.at).toISOString())}: ${clip(a.message, 100)}`,
    ]),
  );
  const header = `${who} at ${shortIso(m.at)}, window ${(m.windowMs / 1_000).toFixed(1)} s${age > 2 ? ` (${age} s ago)` : ''}`;
  return `${header}\n${columns(rows.map(([k, v]) => [`  ${k}`, v ?? '']))}`;
}

export const statsCommand: Command = {
  name: 'stats',
  args: '',
  summary:
    'Live view of the cluster stats, redrawn on every message. Throughput, success, latency, queues, top errors and ' +
    'active alerts, cluster-wide or of one instance (--instance). Ctrl-C to stop.',
  example: 'stats --once --json',
  flags: {
    instance: { kind: 'string', value: 'ID', help: "one instance's stats instead of the cluster's" },
    once: { kind: 'boolean', help: 'print the first message and exit' },
  },
  async run(ctx, f) {
    f.noMoreThan(0);
    const instance = f.str('instance');
    if (instance !== undefined && !INSTANCE.test(instance))
      throw new UsageError(`--instance must be 1-128 letters, digits, _ or -, got "${instance}"`);
    const once = f.bool('once');
    const n = names(ctx.prefix);
    const subject = instance === undefined ? n.statsCluster : n.statsInstance(instance);
    const tty = process.stdout.isTTY === true;
    return await withNats(ctx, async (nc) => {
      const alerts = new ActiveAlerts();
      let last: StatsMessage | undefined;
      let lastAt = 0;
      const subs: Subscription[] = [];
      const timers: NodeJS.Timeout[] = [];
      let settle!: (code: number | Error) => void;
      const finished = new Promise<number>((resolve, reject) => {
        settle = (r) => (r instanceof Error ? reject(r) : resolve(r));
      });
      const draw = (): void => {
        if (!last) return;
        if (ctx.json) return void ctx.out(JSON.stringify(last));
        const block = renderStats(last, alerts.list());
        ctx.out(tty ? `${CLEAR_SCREEN}${block}` : `${block}\n`);
      };
      // Alerts raised before we started: from the stored history. Live ones arrive on the subscription meanwhile.
      const seeded = seedAlerts(nc, ctx.prefix, alerts).catch(() => undefined);
      subs.push(
        nc.subscribe(n.alerts, {
          callback: (_err, msg) => {
            try {
              alerts.apply(JSON.parse(decodeText(msg.data)) as AlertEvent);
            } catch {
              return;
            }
            if (!once && !ctx.json) draw();
          },
        }),
      );
      subs.push(
        nc.subscribe(subject, {
          callback: (err, msg) => {
            if (err) return settle(err);
            let m: StatsMessage;
            try {
              m = JSON.parse(decodeText(msg.data)) as StatsMessage;
              if (typeof m.at !== 'string' || typeof m.totals !== 'object') throw new Error('not a stats message');
            } catch (e) {
              return void ctx.err(`ignored a malformed message on ${subject}: ${(e as Error).message}`);
            }
            if (once && last) return; // the first one is being printed
            last = m;
            lastAt = Date.now();
            if (once) {
              if (ctx.json) {
                ctx.out(json(m));
                return settle(0);
              }
              void seeded.then(() => {
                draw();
                settle(0);
              });
              return;
            }
            draw();
          },
        }),
      );
      timers.push(
        setTimeout(() => {
          if (!last)
            settle(
              new Error(
                `no stats on ${subject} within ${FIRST_MESSAGE_MS / 1_000} s (is a runtime running with prefix "${ctx.prefix}" and its monitor on?)`,
              ),
            );
        }, FIRST_MESSAGE_MS),
      );
      if (!once) {
        // A live view that stops changing says so, instead of showing old numbers as current.
        let warned = false;
        timers.push(
          setInterval(() => {
            const silent = Date.now() - lastAt;
            if (!last || silent < FIRST_MESSAGE_MS) return void (warned = false);
            if (ctx.json || warned) return;
            warned = !tty;
            if (tty)
              ctx.out(
                `${CLEAR_SCREEN}${renderStats(last, alerts.list())}\n\n  no stats for ${Math.round(silent / 1_000)} s`,
              );
            else ctx.err(`no stats on ${subject} for ${Math.round(silent / 1_000)} s`);
          }, 1_000),
        );
      }
      const stop = (): void => settle(0);
      // A reader that goes away (`journeys stats --json | head`) ends the view quietly.
      const closed = (err: NodeJS.ErrnoException): void => (err.code === 'EPIPE' ? stop() : settle(err));
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      process.stdout.on('error', closed);
      try {
        return await finished;
      } finally {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        process.stdout.off('error', closed);
        for (const t of timers) clearTimeout(t);
        for (const s of subs) s.unsubscribe();
      }
    });
  },
};

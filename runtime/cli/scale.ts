/**
 * `journeys scale`: an operator override of the supervisor's scaling (R18). The request goes to
 * `<p>.supervisor.override`, which every runtime instance answers; replies are collected for about a second.
 */
import { userInfo } from 'node:os';
import type { Msg, NatsConnection } from '@nats-io/transport-node';
import { durationMs, parseDuration } from '../../actors/duration.ts';
import { TIERS, type Tier } from '../../actors/priority.ts';
import { decodeText, encodeJson } from '../codec.ts';
import { errorMessage } from '../errors.ts';
import { UsageError, type Flags } from './args.ts';
import { connectCli, type Command, type Context } from './command.ts';
import { json, table } from './output.ts';

/** Opens a NATS connection of its own for a command (the shared client does not expose one) and closes it after. */
export async function withNats<T>(ctx: Context, run: (nc: NatsConnection) => Promise<T>): Promise<T> {
  const nc = await connectCli(ctx.env);
  try {
    return await run(nc);
  } finally {
    await nc.close().catch(() => undefined);
  }
}

const SHORTHAND = /^(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/;

/**
 * A positive duration from an ISO-8601 duration (`PT30M`, `P7D`) or a shorthand (`30m`, `2h`, `1h30m`, `7d`, `45s`),
 * as the ISO duration it stands for; undefined for anything else.
 */
export function parseDurationArg(text: string): ReturnType<typeof parseDuration> {
  const iso = parseDuration(text.toUpperCase());
  if (iso !== undefined) return iso.sign === 1 && durationMs(iso) > 0 ? iso : undefined;
  const m = SHORTHAND.exec(text.toLowerCase());
  if (m === null || text === '') return undefined;
  const [w, d, h, min, s] = m.slice(1).map((x) => Number(x ?? 0));
  const d0 = {
    sign: 1 as const,
    years: 0,
    months: 0,
    weeks: w ?? 0,
    days: d ?? 0,
    hours: h ?? 0,
    minutes: min ?? 0,
    seconds: s ?? 0,
  };
  return durationMs(d0) > 0 ? d0 : undefined;
}

/** `--name` as a positive duration in ms (approximate for months and years), or a usage error. */
export function durationFlag(f: Flags, name: string): number | undefined {
  const v = f.str(name);
  if (v === undefined) return undefined;
  const d = parseDurationArg(v);
  if (d === undefined)
    throw new UsageError(`--${name} must be a positive duration such as PT30M, P1D, 30m or 2h, got "${v}"`);
  return durationMs(d);
}

interface OverrideReply {
  ok: boolean;
  instance?: string;
  concurrency?: Record<Tier, number>;
  replicas?: number;
  error?: { code: string; message: string };
}

/** How long replies are collected: every instance answers, each within a few ms unless it is busy. */
const COLLECT_MS = 1_000;

async function collect(nc: NatsConnection, subject: string, body: unknown): Promise<OverrideReply[]> {
  const replies: OverrideReply[] = [];
  let iter: AsyncIterable<Msg>;
  try {
    iter = await nc.requestMany(subject, encodeJson(body), { strategy: 'timer', maxWait: COLLECT_MS });
  } catch (err) {
    if (/no responders/i.test(errorMessage(err))) return replies;
    throw err;
  }
  try {
    for await (const m of iter) {
      if (m.data.length === 0) continue; // a status message (no responders) on some servers
      try {
        replies.push(JSON.parse(decodeText(m.data)) as OverrideReply);
      } catch {
        replies.push({ ok: false, error: { code: 'BAD_REPLY', message: 'an instance sent a reply that is not JSON' } });
      }
    }
  } catch (err) {
    // No runtime subscribed: the server answers "no responders" at once.
    if (!/no responders|503/i.test(errorMessage(err))) throw err;
  }
  return replies;
}

function defaultUser(env: NodeJS.ProcessEnv): string {
  const fromEnv = env['USER'] ?? env['LOGNAME'] ?? env['USERNAME'];
  if (fromEnv) return fromEnv;
  try {
    return userInfo().username || 'cli';
  } catch {
    return 'cli';
  }
}

export const scaleCommand: Command = {
  name: 'scale',
  args: '',
  summary:
    "Overrides the supervisor's scaling on every instance for a while. Sets per-tier concurrency and/or replicas " +
    'until --for has passed (or --clear goes back to the policy at once), and prints what each instance applied.',
  example: 'scale --critical 40 --high 20 --for PT30M --by alice',
  flags: {
    critical: { kind: 'string', value: 'N', help: 'concurrency of the critical tier (wedding today or tomorrow)' },
    high: { kind: 'string', value: 'N', help: 'concurrency of the high tier (2-7 days)' },
    medium: { kind: 'string', value: 'N', help: 'concurrency of the medium tier (8-30 days)' },
    low: { kind: 'string', value: 'N', help: 'concurrency of the low tier (> 30 days)' },
    replicas: { kind: 'string', value: 'N', help: 'desired replicas (instances)' },
    for: { kind: 'string', value: 'DURATION', help: 'how long the override holds: PT30M, PT2H, 30m, 2h (required)' },
    by: { kind: 'string', value: 'NAME', help: 'who sets it, for the audit trail (default: $USER)' },
    clear: { kind: 'boolean', help: 'remove the override: back to the policy at once' },
  },
  async run(ctx, f) {
    f.noMoreThan(0);
    const by = f.str('by') ?? defaultUser(ctx.env);
    if (by.trim() === '') throw new UsageError('--by must not be empty');
    const concurrency: Partial<Record<Tier, number>> = {};
    for (const tier of TIERS) {
      const n = f.int(tier, 1);
      if (n !== undefined) concurrency[tier] = n;
    }
    const replicas = f.int('replicas', 1);
    const forMs = durationFlag(f, 'for');
    let body: Record<string, unknown>;
    if (f.bool('clear')) {
      if (Object.keys(concurrency).length > 0 || replicas !== undefined || forMs !== undefined)
        throw new UsageError('--clear takes no tier, --replicas or --for');
      body = { clear: true, by };
    } else {
      if (Object.keys(concurrency).length === 0 && replicas === undefined)
        throw new UsageError('give at least one of --critical, --high, --medium, --low, --replicas (or --clear)');
      if (forMs === undefined) throw new UsageError('missing --for (how long the override holds, e.g. PT30M)');
      body = {
        by,
        until: Date.now() + forMs,
        ...(Object.keys(concurrency).length > 0 ? { concurrency } : {}),
        ...(replicas !== undefined ? { replicas } : {}),
      };
    }
    const subject = `${ctx.prefix}.supervisor.override`;
    const replies = await withNats(ctx, (nc) => collect(nc, subject, body));
    if (replies.length === 0)
      throw new Error(
        `no runtime answered on ${subject} (is one running with prefix "${ctx.prefix}" and its supervisor on?)`,
      );
    const applied = replies.filter((r) => r.ok);
    const refused = replies.filter((r) => !r.ok);
    if (ctx.json) {
      ctx.out(
        json({
          ...(body['clear'] ? { cleared: true } : { until: new Date(body['until'] as number).toISOString() }),
          by,
          applied: applied.map((r) => ({ instance: r.instance, concurrency: r.concurrency, replicas: r.replicas })),
          refused: refused.map((r) => r.error ?? { code: 'REFUSED', message: 'refused' }),
        }),
      );
    } else if (applied.length > 0) {
      const what = body['clear']
        ? `override cleared by ${by}`
        : `override by ${by} until ${new Date(body['until'] as number).toISOString()}`;
      ctx.out(`${what}: applied by ${applied.length} instance${applied.length === 1 ? '' : 's'}`);
      ctx.out(
        table(
          ['INSTANCE', ...TIERS.map((t) => t.toUpperCase()), 'REPLICAS'],
          applied.map((r) => [
            r.instance ?? '?',
            ...TIERS.map((t) => String(r.concurrency?.[t] ?? '-')),
            String(r.replicas ?? '-'),
          ]),
        ),
      );
    }
    const first = refused[0];
    if (first) {
      const message = first.error?.message ?? 'refused';
      throw new Error(
        applied.length === 0
          ? `override refused: ${message}`
          : `${refused.length} of ${replies.length} instances refused the override: ${message}`,
      );
    }
  },
};

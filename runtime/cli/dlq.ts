/** `journeys dlq ls|show|replay|discard`: the dead-letter queue. */
import { throttledProgress } from './progress.ts';
import type { DeadLetters, DlqEntry, DlqFilter } from '../engine/dlq.ts';
import { errorMessage } from '../errors.ts';
import { UsageError, type Flags } from './args.ts';
import { operator, type Command, type Context, type FlagHelp } from './command.ts';
import { clip, columns, json, table } from './output.ts';

const FILTER_FLAGS: Readonly<Record<string, FlagHelp>> = {
  journey: { kind: 'string', value: 'J', help: 'only entries of this journey' },
  supplier: { kind: 'string', value: 'S', help: 'only entries of this supplier' },
  error: { kind: 'string', value: 'TEXT', help: 'only entries whose error contains TEXT' },
  since: { kind: 'string', value: 'ISO', help: 'only entries dead-lettered at or after this instant' },
  until: { kind: 'string', value: 'ISO', help: 'only entries dead-lettered at or before this instant' },
};

function filterOf(f: Flags): DlqFilter {
  const since = f.instant('since');
  const until = f.instant('until');
  return {
    ...(f.str('journey') ? { journeyId: f.str('journey')! } : {}),
    ...(f.str('supplier') ? { supplierId: f.str('supplier')! } : {}),
    ...(f.str('error') ? { error: f.str('error')! } : {}),
    ...(since !== undefined ? { since } : {}),
    ...(until !== undefined ? { until } : {}),
  };
}

function seqs(f: Flags): number[] {
  return f.positionals.map((s) => {
    if (!/^\d+$/.test(s) || Number(s) < 1) throw new UsageError(`"${s}" is not a dead-letter sequence number`);
    return Number(s);
  });
}

const iso = (ms: number): string => new Date(ms).toISOString();

const ls: Command = {
  name: 'dlq ls',
  args: '',
  summary: 'Lists dead-lettered steps, oldest first.',
  example: 'dlq ls --journey photographer-classic --since 2027-01-01T00:00:00Z',
  flags: { ...FILTER_FLAGS, limit: { kind: 'string', value: 'N', help: 'at most N entries (default 1000)' } },
  async run(ctx, f) {
    f.noMoreThan(0);
    const list = await (await dlqOf(ctx)).list(filterOf(f), f.int('limit', 1) ?? 1_000);
    if (ctx.json) return void ctx.out(json(list));
    if (list.length === 0) return void ctx.out('no dead letters');
    ctx.out(
      table(
        ['SEQ', 'AT', 'JOURNEY', 'SUPPLIER', 'EXECUTION', 'STEP', 'ACTION', 'TRIES', 'ERROR'],
        list.map((e) => [
          String(e.seq),
          iso(e.at).slice(0, 16).replace('T', ' '),
          e.journeyId ? `${e.journeyId} v${e.version}` : '-',
          clip(e.supplierId, 20),
          e.executionId,
          e.stepId || '-',
          e.action || '-',
          String(e.attempts),
          clip(e.error, 60),
        ]),
      ),
    );
  },
};

const show: Command = {
  name: 'dlq show',
  args: '<seq>',
  summary: 'Shows one dead-lettered step with the execution history that led to it.',
  example: 'dlq show 42',
  flags: {},
  async run(ctx, f) {
    f.arg(0, '<seq>');
    f.noMoreThan(1);
    const e = await (await dlqOf(ctx)).get(seqs(f)[0]!);
    if (ctx.json) return void ctx.out(json(e));
    ctx.out(
      columns([
        ['seq', String(e.seq)],
        ['at', iso(e.at)],
        ['execution', e.executionId],
        ['supplier', e.supplierId],
        ['journey', e.journeyId ? `${e.journeyId} v${e.version}` : '-'],
        ['step', `${e.stepId || '-'} (visit ${e.visit})`],
        ['action', e.action || '-'],
        ['attempts', String(e.attempts)],
        ['tier', e.tier],
        ['key', e.key],
        ['error', e.error],
      ]),
    );
    if (e.history.length > 0) {
      ctx.out('\nhistory:');
      ctx.out(columns(e.history.map((h) => [`  ${iso(h.at)}`, h.step, h.note ?? ''])));
    }
  },
};

/** Applies `op` to each entry, with progress on stderr when there is more than one; failures are collected. */
async function each(
  ctx: Context,
  verb: 'replay' | 'discard',
  targets: number[],
  op: (seq: number) => Promise<Pick<DlqEntry, 'executionId' | 'stepId' | 'journeyId'>>,
): Promise<void> {
  const done: { seq: number; executionId: string; stepId: string; journeyId: string }[] = [];
  const failed: { seq: number; error: unknown }[] = [];
  const progress = throttledProgress((t, last) => ctx.progress(`${verb} ${t}`, last), targets.length);
  for (const [i, seq] of targets.entries()) {
    try {
      const e = await op(seq);
      done.push({ seq, executionId: e.executionId, stepId: e.stepId, journeyId: e.journeyId });
    } catch (err) {
      if (targets.length === 1) throw err;
      failed.push({ seq, error: err });
    }
    if (targets.length > 1) progress(i + 1);
  }
  const past = verb === 'replay' ? 'replayed' : 'discarded';
  if (ctx.json) ctx.out(json(done.map((d) => ({ ...d, [past]: true }))));
  else for (const d of done) ctx.out(`${past} ${d.seq}: ${d.executionId}${d.stepId ? ` at ${d.stepId}` : ''}`);
  const first = failed[0];
  if (first)
    throw new Error(
      `${failed.length} of ${targets.length} could not be ${past}; first: ${first.seq}: ${errorMessage(first.error)}`,
    );
}

const replay: Command = {
  name: 'dlq replay',
  args: '<seq>... | --all',
  summary: 'Resumes each execution at its failed step with fresh attempts and removes the entry.',
  example: 'dlq replay --all --journey photographer-classic --error timeout --dry-run',
  flags: {
    all: { kind: 'boolean', help: 'every entry matching the filters' },
    'dry-run': { kind: 'boolean', help: 'list what would be replayed, change nothing' },
    ...FILTER_FLAGS,
  },
  async run(ctx, f) {
    const filter = filterOf(f);
    const all = f.bool('all');
    if (all && f.positionals.length > 0) throw new UsageError('give sequence numbers or --all, not both');
    if (!all && f.positionals.length === 0) throw new UsageError('missing <seq> or --all');
    if (!all && Object.keys(filter).length > 0) throw new UsageError('filters apply only with --all');
    const dlq = await dlqOf(ctx);
    const entries = all ? await dlq.list(filter, 100_000) : undefined;
    const targets = entries ? entries.map((e) => e.seq) : seqs(f);
    if (f.bool('dry-run')) {
      const list = entries ?? (await Promise.all(targets.map((s) => dlq.get(s))));
      if (ctx.json)
        return void ctx.out(
          json(list.map((e) => ({ seq: e.seq, executionId: e.executionId, stepId: e.stepId, journeyId: e.journeyId }))),
        );
      for (const e of list) ctx.out(`would replay ${e.seq}: ${e.executionId}${e.stepId ? ` at ${e.stepId}` : ''}`);
      return void ctx.out(`${list.length} entr${list.length === 1 ? 'y' : 'ies'} (dry run: nothing replayed)`);
    }
    if (targets.length === 0) return void ctx.out(ctx.json ? json([]) : 'no dead letters match');
    const client = await ctx.client();
    await each(ctx, 'replay', targets, (seq) => client.admin<DlqResult>('dlq.replay', { seq, by: operator(ctx.env) }));
  },
};

const discard: Command = {
  name: 'dlq discard',
  args: '<seq>...',
  summary: 'Removes entries without replaying them (the executions stay failed).',
  example: 'dlq discard 42 43',
  flags: {},
  async run(ctx, f) {
    if (f.positionals.length === 0) throw new UsageError('missing <seq>');
    const targets = seqs(f);
    const client = await ctx.client();
    await each(ctx, 'discard', targets, (seq) => client.admin<DlqResult>('dlq.discard', { seq, by: operator(ctx.env) }));
  },
};

/** What the runtime answers to a replay or a discard (runtime/admin-api.ts). */
type DlqResult = Pick<DlqEntry, 'executionId' | 'stepId' | 'journeyId'>;

async function dlqOf(ctx: Context): Promise<DeadLetters> {
  return await (await ctx.client()).dlq();
}

export const dlqCommands: readonly Command[] = [ls, show, replay, discard];

/** Who runs the CLI, for the audit record. */


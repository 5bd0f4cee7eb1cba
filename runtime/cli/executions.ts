/** `journeys start|event|cancel|pause|resume|status|ls`: executions. */
import { isValidTimeZone } from '../../actors/time.ts';
import type { ExecutionStatusResult, ExecutionWait } from '../../schemas/admin.ts';
import type { StartCommand } from '../../schemas/commands.ts';
import { executionStatusResult } from '../admin-api.ts';
import type { ExecutionStatus } from '../client.ts';
import { RuntimeError } from '../errors.ts';
import { UsageError, type Flags } from './args.ts';
import type { Command } from './command.ts';
import { clip, columns, json, shortIso, table } from './output.ts';

const EXECUTION_ID = /^ex_[a-z2-7]{26}$/;
const ID = /^[A-Za-z0-9_-]{1,64}$/;
const STATUSES = ['active', 'paused', 'failed', 'done'] as const;

function executionId(f: Flags, index = 0): string {
  const id = f.arg(index, '<executionId>');
  if (!EXECUTION_ID.test(id)) throw new UsageError(`"${id}" is not an execution id (ex_ and 26 letters or digits 2-7)`);
  return id;
}

function idFlag(f: Flags, name: string, required: true): string;
function idFlag(f: Flags, name: string, required: false): string | undefined;
function idFlag(f: Flags, name: string, required: boolean): string | undefined {
  const v = required ? f.required(name) : f.str(name);
  if (v !== undefined && !ID.test(v))
    throw new UsageError(`--${name} must be 1-64 letters, digits, _ or -, got "${v}"`);
  return v;
}

const start: Command = {
  name: 'start',
  args: '',
  summary: 'Starts a journey for one client and prints the execution id (starting it again finds the same execution).',
  example:
    'start --supplier acme-photo --client couple-42 --journey photographer-classic --wedding 2027-06-12 --tz Europe/London',
  flags: {
    supplier: { kind: 'string', value: 'S', help: 'supplier (vendor) id' },
    client: { kind: 'string', value: 'C', help: 'client (couple) id' },
    journey: { kind: 'string', value: 'J', help: 'journey id' },
    wedding: { kind: 'string', value: 'YYYY-MM-DD', help: 'local wedding date' },
    tz: { kind: 'string', value: 'Zone', help: "IANA time zone of the wedding (default: the journey's)" },
    booked: { kind: 'string', value: 'ISO', help: 'booking instant, with Z or an offset' },
    data: { kind: 'string', value: 'JSON', help: 'execution data, a JSON object' },
    reentry: {
      kind: 'string',
      value: 'K',
      help: 're-entry key: a separate run of the same journey for the same client',
    },
    version: { kind: 'string', value: 'N', help: 'journey version (default: latest)' },
  },
  async run(ctx, f) {
    f.noMoreThan(0);
    const tz = f.str('tz');
    if (tz !== undefined && !isValidTimeZone(tz)) throw new UsageError(`--tz: unknown IANA time zone "${tz}"`);
    const wedding = f.str('wedding');
    if (wedding !== undefined && !/^\d{4}-\d{2}-\d{2}$/.test(wedding))
      throw new UsageError(`--wedding must be YYYY-MM-DD, got "${wedding}"`);
    const booked = f.str('booked');
    const data = f.json('data');
    const reentry = idFlag(f, 'reentry', false);
    const version = f.int('version', 1);
    const cmd: StartCommand = {
      supplierId: idFlag(f, 'supplier', true),
      clientId: idFlag(f, 'client', true),
      journeyId: f.required('journey'),
      ...(wedding ? { weddingDate: wedding } : {}),
      ...(tz ? { timeZone: tz } : {}),
      ...(booked ? { bookedAt: booked } : {}),
      ...(data ? { data } : {}),
      ...(reentry ? { reentryKey: reentry } : {}),
      ...(version ? { version } : {}),
    };
    const id = await (await ctx.client()).start(cmd);
    ctx.out(ctx.json ? json({ executionId: id }) : id);
  },
};

const event: Command = {
  name: 'event',
  args: '<executionId> <name>',
  summary: 'Sends a domain event, such as form.submitted, to one execution.',
  example: `event ex_${'a'.repeat(26)} form.submitted --data '{"guestCount":120}'`,
  flags: { data: { kind: 'string', value: 'JSON', help: 'event data, a JSON object' } },
  async run(ctx, f) {
    const id = executionId(f);
    const name = f.arg(1, '<name>');
    f.noMoreThan(2);
    const data = f.json('data');
    await (await ctx.client()).event({ executionId: id, name, ...(data ? { data } : {}) });
    ctx.out(ctx.json ? json({ executionId: id, event: name, sent: true }) : `sent ${name} to ${id}`);
  },
};

const PAST = { cancel: 'cancelled', pause: 'paused', resume: 'resumed' } as const;

function control(verb: 'cancel' | 'pause' | 'resume'): Command {
  return {
    name: verb,
    args: '<executionId> | --supplier S',
    summary: `${verb[0]!.toUpperCase()}${verb.slice(1)}s one execution, or every execution of a supplier.`,
    example: `${verb} --supplier acme-photo --reason "supplier asked"`,
    flags: {
      supplier: { kind: 'string', value: 'S', help: 'every execution of this supplier' },
      reason: { kind: 'string', value: 'TEXT', help: 'recorded with the command' },
    },
    async run(ctx, f) {
      const supplier = idFlag(f, 'supplier', false);
      const reason = f.str('reason');
      if (supplier !== undefined && f.positionals.length > 0)
        throw new UsageError('give an execution id or --supplier, not both');
      if (supplier === undefined && f.positionals.length === 0)
        throw new UsageError('missing <executionId> or --supplier S');
      const target = supplier !== undefined ? { supplierId: supplier } : { executionId: executionId(f) };
      f.noMoreThan(supplier !== undefined ? 0 : 1);
      const ids = await (await ctx.client()).control(verb, { ...target, ...(reason ? { reason } : {}) });
      if (ctx.json) ctx.out(json({ verb, ...target, executionIds: ids }));
      else if (supplier !== undefined) ctx.out(`${verb} sent for every execution of supplier ${supplier}`);
      else ctx.out(`${PAST[verb]} ${ids.join(' ') || (target as { executionId: string }).executionId}`);
    },
  };
}

/** One line for `waiting`: what, at which step, until when. */
function describeWait(w: ExecutionWait): string {
  const due = w.dueAt ? ` ${w.kind === 'event' ? 'timeout' : 'due'} ${w.dueAt}` : '';
  switch (w.kind) {
    case 'timer':
      return `timer at step ${w.stepId}${due || ' (due now: its anchor is missing)'}`;
    case 'event':
      return `event ${w.event ?? '?'} at step ${w.stepId}${due}`;
    case 'action':
      return `action ${w.action ?? '?'} at step ${w.stepId}`;
    case 'retry':
      return `retry of ${w.action ?? '?'} at step ${w.stepId}${due}`;
    case 'result':
      return `result of ${w.action ?? '?'} (attempt ${w.attempt ?? '?'}) at step ${w.stepId}, deadline ${w.dueAt ?? '?'}`;
    case 'approval':
      return `approval of step ${w.stepId} (event approval.granted or approval.rejected)`;
  }
}

function describe(s: ExecutionStatusResult): string {
  const rows: string[][] = [
    ['execution', s.executionId],
    ['journey', `${s.journeyId} v${s.version}`],
    ['supplier', s.supplierId],
    ['client', s.clientId],
    ['state', `${s.state} (${s.status})`],
    ['wedding', `${s.weddingDate ?? 'unknown'} (${s.timeZone})`],
    ['tier', s.tier],
    ['waiting', s.waiting ? describeWait(s.waiting) : 'nothing'],
  ];
  if (s.failure)
    rows.push([
      'failure',
      `${s.failure.stepId}: ${s.failure.error} (${s.failure.attempts} attempt${s.failure.attempts === 1 ? '' : 's'})`,
    ]);
  rows.push(['updated', s.updatedAt]);
  const history = s.history.slice(-8).map((h) => [`  ${h.at}`, h.step, h.note ?? '']);
  const more = s.history.length > history.length ? ` (last ${history.length} of ${s.history.length})` : '';
  return [columns(rows), '', `history${more}:`, columns(history)].join('\n');
}

const status: Command = {
  name: 'status',
  args: '<executionId>',
  summary:
    'Shows one execution: state, status, wedding, priority tier, what it waits for and when, failure, recent history ' +
    '(--json: the executions.status reply, schemas/admin-executions-status-reply.schema.json).',
  example: `status ex_${'a'.repeat(26)} --json`,
  flags: {},
  async run(ctx, f) {
    const id = executionId(f);
    f.noMoreThan(1);
    // Built by the same function as the `<prefix>.admin.executions.status` reply, from the record read directly (no
    // runtime needs to be running), at this machine's clock.
    const r = await (await ctx.client()).record(id);
    if (!r) throw new RuntimeError('UNKNOWN_EXECUTION', `no execution ${id}`);
    const s = executionStatusResult(id, r, Date.now());
    ctx.out(ctx.json ? json(s) : describe(s));
  },
};

const ls: Command = {
  name: 'ls',
  args: '',
  summary: 'Lists executions (a scan of the executions bucket: for operators, not for hot paths).',
  example: 'ls --supplier acme-photo --status failed',
  flags: {
    supplier: { kind: 'string', value: 'S', help: 'only this supplier' },
    status: { kind: 'string', value: 'STATUS', help: `only ${STATUSES.join('|')}` },
    limit: { kind: 'string', value: 'N', help: 'at most N rows (default 100)' },
  },
  async run(ctx, f) {
    f.noMoreThan(0);
    const st = f.str('status');
    if (st !== undefined && !(STATUSES as readonly string[]).includes(st))
      throw new UsageError(`--status must be one of ${STATUSES.join(', ')}`);
    const supplier = idFlag(f, 'supplier', false);
    const limit = f.int('limit', 1) ?? 100;
    const list = await (
      await ctx.client()
    ).list(
      { ...(supplier ? { supplierId: supplier } : {}), ...(st ? { status: st as ExecutionStatus['status'] } : {}) },
      limit,
    );
    if (ctx.json) return void ctx.out(json(list));
    if (list.length === 0) return void ctx.out('no executions');
    ctx.out(
      table(
        ['EXECUTION', 'SUPPLIER', 'CLIENT', 'JOURNEY', 'STATE', 'STATUS', 'WEDDING', 'DUE'],
        list.map((s) => [
          s.executionId,
          clip(s.supplierId, 20),
          clip(s.clientId, 20),
          `${s.journeyId} v${s.version}`,
          clip(s.state, 24),
          s.status,
          s.weddingDate ?? '-',
          shortIso(s.dueAt),
        ]),
      ),
    );
  },
};

export const executionCommands: readonly Command[] = [
  start,
  event,
  control('cancel'),
  control('pause'),
  control('resume'),
  status,
  ls,
];

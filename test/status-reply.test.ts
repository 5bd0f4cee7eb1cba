/**
 * The `<p>.admin.executions.status` reply against a real nats-server and runtime (simulated clock): its tier is the one
 * `tierAt` gives, `waiting` says what the execution waits for with the exact due instant, every reply matches the
 * published schema, and `journeys status` prints the same thing. Wedding dates are built relative to the clock, so the
 * tiers do not depend on the day or hour the suite runs.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { Value } from '@sinclair/typebox/value';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addDuration, parseDuration } from '../actors/duration.ts';
import { tierAt } from '../actors/priority.ts';
import { executionStatusResult } from '../runtime/admin-api.ts';
import type { ExecutionRecord } from '../runtime/engine/execution-record.ts';
import { createTestKit, type TestKit, type TestKitOptions } from '../runtime/testkit.ts';
import {
  ExecutionStatusReplySchema,
  ExecutionStatusResultSchema,
  type ExecutionStatusReply,
  type ExecutionStatusResult,
} from '../schemas/admin.ts';
import { weddingInDays } from './fixtures.ts';
import { runCli } from './harness/cli.ts';
import { uniqueName, useNats, type TestServer } from './harness/nats.ts';

let server: TestServer;
let nc: NatsConnection;
useNats((s, c) => ([server, nc] = [s, c]));

const HOLD = 'PT36H';
const TIMEOUT = 'P2D';
/** A timer, then an event with a timeout, then an action: one of each kind of wait. */
const waits = {
  id: 'status-waits',
  version: 1,
  name: 'A timer, an event, an action',
  vendorType: 'photographer',
  trigger: { event: 'booking.created' },
  start: 'hold',
  steps: {
    hold: { type: 'wait', duration: HOLD, next: 'ask' },
    ask: { type: 'waitForEvent', event: 'form.submitted', timeout: TIMEOUT, onEvent: 'send', onTimeout: 'send' },
    send: { type: 'action', action: 'email.send', params: { template: 'thanks' }, next: 'done' },
    done: { type: 'end' },
  },
} as const;

const kits: TestKit[] = [];
/** A kit at the real current instant (so `weddingInDays` and the simulated clock agree on "today"). */
async function kitNow(handlers: TestKitOptions['handlers'] = {}): Promise<TestKit> {
  const kit = await createTestKit({ nc, prefix: uniqueName('st'), now: Date.now(), handlers });
  kits.push(kit);
  await kit.deploy(waits);
  return kit;
}
afterAll(async () => {
  for (const kit of kits) await kit.stop();
});

/** The raw admin reply, checked against the published schema and for fields the schema does not document. */
async function statusReply(kit: TestKit, executionId: unknown): Promise<ExecutionStatusReply> {
  const msg = await nc.request(`${kit.runtime.names.prefix}.admin.executions.status`, JSON.stringify({ executionId }), {
    timeout: 5_000,
  });
  const reply: unknown = msg.json();
  expect([...Value.Errors(ExecutionStatusReplySchema, reply)].map((e) => `${e.path}: ${e.message}`)).toEqual([]);
  const r = reply as ExecutionStatusReply;
  if (r.ok) expectOnlyDocumented(r.result);
  return r;
}

function expectOnlyDocumented(result: ExecutionStatusResult): void {
  expect(Object.keys(result).filter((k) => !(k in ExecutionStatusResultSchema.properties))).toEqual([]);
}

async function status(kit: TestKit, executionId: string): Promise<ExecutionStatusResult> {
  const r = await statusReply(kit, executionId);
  if (!r.ok) throw new Error(`status of ${executionId}: ${r.error.code} ${r.error.message}`);
  return r.result;
}

const iso = (ms: number): string => new Date(ms).toISOString();

describe('status reply - tier and timer wait', () => {
  let kit: TestKit;
  beforeAll(async () => {
    kit = await kitNow();
  });

  // Days chosen inside their tier's range with room above: a midnight passing between the kit's clock and
  // `weddingInDays` can only add a day.
  const cases = [
    { days: 0, timeZone: 'Pacific/Auckland', tier: 'critical' },
    { days: 5, timeZone: 'Europe/London', tier: 'high' },
    { days: 20, timeZone: 'America/New_York', tier: 'medium' },
    { days: 100, timeZone: 'UTC', tier: 'low' },
  ] as const;

  it.each(cases)(
    'status reply - wedding in $days days ($timeZone): tier $tier, waiting on the timer with its exact due instant',
    async ({ days, timeZone, tier }) => {
      const weddingDate = weddingInDays(days, timeZone);
      const startedAt = kit.clock.now();
      const id = await kit.start({
        supplierId: 'sr',
        clientId: `c${days}`,
        journeyId: waits.id,
        weddingDate,
        timeZone,
      });
      const s = await status(kit, id);
      expect(s.tier).toBe(tierAt(kit.clock.now(), weddingDate, timeZone).tier);
      expect(s.tier).toBe(tier);
      expect(s.waiting).toEqual({ kind: 'timer', stepId: 'hold', dueAt: iso(startedAt + 36 * 3_600_000) });
      expect(s).toMatchObject({ executionId: id, state: 'hold', status: 'active', weddingDate, timeZone });
    },
  );

  it('status reply - no wedding date: tier low', async () => {
    const id = await kit.start({ supplierId: 'sr', clientId: 'undated', journeyId: waits.id, timeZone: 'UTC' });
    const s = await status(kit, id);
    expect(s.tier).toBe('low');
    expect(s.weddingDate).toBeUndefined();
    expect(s.waiting?.kind).toBe('timer');
  });

  it('status reply - refusals match the schema too (unknown execution, bad request)', async () => {
    const unknown = await statusReply(kit, `ex_${'a'.repeat(26)}`);
    expect(unknown).toMatchObject({ ok: false, error: { code: 'UNKNOWN_EXECUTION' } });
    const bad = await statusReply(kit, 'not-an-id');
    expect(bad).toMatchObject({ ok: false, error: { code: 'BAD_COMMAND' } });
  });

  it('status reply - journeys status prints tier and wait; --json prints the reply result', async () => {
    const weddingDate = weddingInDays(20, 'UTC');
    const id = await kit.start({
      supplierId: 'sr',
      clientId: 'cli',
      journeyId: waits.id,
      weddingDate,
      timeZone: 'UTC',
    });
    const reply = await status(kit, id);
    const opts = { url: server.url, prefix: kit.runtime.names.prefix, timeoutMs: 30_000 };
    const [human, json] = await Promise.all([runCli(['status', id], opts), runCli(['status', id, '--json'], opts)]);
    expect(human).toMatchObject({ code: 0, stderr: '' });
    expect(human.stdout).toMatch(/^tier\s+medium$/m);
    expect(human.stdout).toMatch(
      new RegExp(`^waiting\\s+timer at step hold due ${reply.waiting!.dueAt!.replace(/\./g, '\\.')}$`, 'm'),
    );
    expect(json.code).toBe(0);
    const printed: unknown = JSON.parse(json.stdout);
    expect(Value.Check(ExecutionStatusResultSchema, printed)).toBe(true);
    // 20 days out is medium at the CLI's clock as at the kit's, so the whole result is the same.
    expect(printed).toEqual(reply);
  });
});

describe('status reply - the wait follows the execution', () => {
  it('status reply - timer, then event with its timeout, then an action retry, then nothing', async () => {
    let failures = 0;
    const kit = await kitNow({
      'email.send': async () => {
        if (failures++ === 0) throw new Error('mail server busy');
      },
    });
    const timeZone = 'America/New_York';
    const weddingDate = weddingInDays(100, timeZone);
    const t0 = kit.clock.now();
    const id = await kit.start({ supplierId: 'sr', clientId: 'walk', journeyId: waits.id, weddingDate, timeZone });
    expect((await status(kit, id)).waiting).toEqual({ kind: 'timer', stepId: 'hold', dueAt: iso(t0 + 36 * 3_600_000) });

    await kit.advance(HOLD);
    const asked = await status(kit, id);
    expect(asked.waiting).toEqual({
      kind: 'event',
      stepId: 'ask',
      event: 'form.submitted',
      dueAt: iso(addDuration(t0 + 36 * 3_600_000, parseDuration(TIMEOUT)!, timeZone)),
    });
    expect(asked.tier).toBe(tierAt(kit.clock.now(), weddingDate, timeZone).tier);

    await kit.client.event({ executionId: id, name: 'form.submitted', data: {} });
    await kit.settle();
    const record = await kit.client.record(id);
    expect(record?.retry).toBeDefined();
    expect((await status(kit, id)).waiting).toEqual({
      kind: 'retry',
      stepId: 'send',
      action: 'email.send',
      dueAt: iso(record!.retry!.dueAt),
    });

    await kit.advance(record!.retry!.dueAt - kit.clock.now() + 60_000);
    const done = await status(kit, id);
    expect(done).toMatchObject({ state: 'completed', status: 'done', waiting: null });
    expect(failures).toBe(2);
  });

  it('status reply - approval, action, a stale retry and a missing anchor, from stored records', async () => {
    const kit = await kitNow();
    const id = await kit.start({ supplierId: 'sr', clientId: 'shapes', journeyId: waits.id, timeZone: 'UTC' });
    const base = (await kit.client.record(id))!;
    const withPending = (
      pending: ExecutionRecord['snap']['context']['pending'],
      more: Partial<ExecutionRecord> = {},
    ): ExecutionRecord => ({
      ...base,
      ...more,
      snap: { ...base.snap, context: { ...base.snap.context, pending } },
    });
    const action = {
      kind: 'action',
      stepId: 'send',
      visit: 1,
      key: `${id}.send.1`,
      action: 'email.send',
      params: {},
    } as const;
    const at = base.updatedAt;
    const shapes: [ExecutionRecord, ExecutionStatusResult['waiting']][] = [
      [withPending({ kind: 'approval', stepId: 'send', visit: 1 }), { kind: 'approval', stepId: 'send' }],
      [withPending(action), { kind: 'action', stepId: 'send', action: 'email.send' }],
      [
        withPending(action, { retry: { key: `${id}.send.0`, attempt: 2, dueAt: at } }),
        { kind: 'action', stepId: 'send', action: 'email.send' },
      ],
      [
        withPending(action, { retry: { key: action.key, attempt: 2, dueAt: at } }),
        { kind: 'retry', stepId: 'send', action: 'email.send', dueAt: iso(at) },
      ],
      [
        withPending({
          kind: 'timer',
          stepId: 'hold',
          visit: 1,
          timer: { id: 't', dueAt: -Infinity, purpose: 'waitUntil' },
        }),
        { kind: 'timer', stepId: 'hold' },
      ],
      [{ ...withPending(null), status: 'done' }, null],
    ];
    for (const [record, waiting] of shapes) {
      const result = executionStatusResult(id, record, kit.clock.now());
      expect(result.waiting).toEqual(waiting);
      expect(Value.Check(ExecutionStatusReplySchema, { ok: true, result })).toBe(true);
    }
  });
});

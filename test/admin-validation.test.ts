/**
 * Admin requests on `<p>.admin.<action>` are validated like commands (R30): a bad one is answered with a stable code and
 * recorded in REJECTS, and never reaches KV or the log as a runtime error (found by a hostile-input run: ids with `>` or
 * NUL gave `INTERNAL "invalid key"`, a 10,000-character id a 5 s timeout, a 10,000-level definition a stack overflow, and
 * every replay of a missing dead letter a level-50 log line).
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { startRuntime, type Runtime } from '../runtime/runtime.ts';
import { useNats, uniqueName, waitFor } from './harness/nats.ts';
import { readAll } from './harness/streams.ts';
import { oneStep } from './fixtures.ts';

let nc: NatsConnection;
useNats((_server, c) => (nc = c));
const runtimes: Runtime[] = [];
afterAll(async () => {
  await Promise.all(runtimes.map((r) => r.stop()));
});

interface Reply {
  ok: boolean;
  result?: unknown;
  error?: { code: string; message: string };
}

/** A runtime of its own, `one-step` deployed, whose log lines are kept (so a test can say what was logged as an error). */
async function adminRuntime(): Promise<{
  rt: Runtime;
  log: { level: number; msg: string; err?: string }[];
  ask(action: string, body: string | Uint8Array): Promise<Reply>;
}> {
  const log: { level: number; msg: string; err?: string }[] = [];
  const rt = await startRuntime({
    nc,
    prefix: uniqueName('adm'),
    logger: pino(
      { level: 'debug' },
      { write: (line: string) => void log.push(JSON.parse(line) as (typeof log)[number]) },
    ),
    monitor: false,
    supervisor: false,
  });
  runtimes.push(rt);
  await rt.definitions.deploy(oneStep);
  // Longer than the 5 s an unbounded key once took to fail: a slow answer shows as a wrong code, not as a timeout here.
  const ask = async (action: string, body: string | Uint8Array) =>
    (await nc.request(`${rt.names.prefix}.admin.${action}`, body, { timeout: 8_000 })).json<Reply>();
  return { rt, log, ask };
}

type Case = [action: string, body: string | Uint8Array, code: string, message: RegExp];

/** Sends each case, checks its answer, then that exactly these refusals were recorded, in order, under `rejects.admin`. */
async function expectRefused(
  rt: Runtime,
  ask: (a: string, b: string | Uint8Array) => Promise<Reply>,
  cases: Case[],
): Promise<void> {
  for (const [action, body, code, message] of cases) {
    const reply = await ask(action, body);
    const what = `${action} ${String(body).slice(0, 80)}`;
    expect(reply, what).toMatchObject({ ok: false, error: { code } });
    expect(reply.error!.message, what).toMatch(message);
    expect(reply.error!.message, what).not.toMatch(/Cannot read|undefined|TypeError|call stack|invalid key|timeout/i);
  }
  const rejects = await waitFor(
    'every refusal recorded',
    async () => {
      const all = await readAll<{ code: string; reason: string; subject: string }>(nc, rt.names.streams.rejects);
      return all.length >= cases.length ? all : undefined;
    },
    20_000,
  );
  expect(rejects.map((r) => [r.data.subject, r.data.code])).toEqual(
    cases.map(([action, , code]) => [`${rt.names.prefix}.admin.${action}`, code]),
  );
  expect(new Set(rejects.map((r) => r.subject))).toEqual(new Set([`${rt.names.prefix}.rejects.admin`]));
}

/** `inner` wrapped in `levels` objects: `{"a":{"a":…inner…}}`. */
const nested = (levels: number, inner = '1'): string => '{"a":'.repeat(levels) + inner + '}'.repeat(levels);
const definitionWith = (fields: Record<string, unknown>, raw?: [string, string]): string => {
  const text = JSON.stringify({ ...oneStep, id: 'deep', ...fields });
  return raw ? text.replace(JSON.stringify(raw[0]), raw[1]) : text;
};

describe('admin request validation', () => {
  it('admin - ids and versions outside their patterns are refused as bad requests, at once, and recorded', async () => {
    const { rt, ask } = await adminRuntime();
    const status = (executionId: unknown) => JSON.stringify({ executionId });
    const cases: Case[] = [
      ['executions.status', status('x'.repeat(10_000)), 'PAYLOAD_TOO_LARGE', /exceeds the limit of 4096/],
      ['executions.status', status(`ex_${'a'.repeat(3_000)}`), 'BAD_COMMAND', /\$\.executionId/],
      ['executions.status', status('ex_aaaaaaaaaaaaa.aaaaaaaaaaaa'), 'BAD_COMMAND', /\$\.executionId/],
      ['executions.status', status('ex_aaaaaaaaaaaaa>aaaaaaaaaaaa'), 'BAD_COMMAND', /\$\.executionId/],
      ['executions.status', status('ex_aaaaaaaaaaaaa*aaaaaaaaaaaa'), 'BAD_COMMAND', /\$\.executionId/],
      ['executions.status', status('ex_aaaaaaaaaaaaa\u0000aaaaaaaaaaaa'), 'BAD_COMMAND', /\$\.executionId/],
      ['executions.status', status(42), 'BAD_COMMAND', /\$\.executionId/],
      ['dlq.replay', JSON.stringify({ seq: 1e308 }), 'BAD_COMMAND', /\$\.seq/],
      ['dlq.discard', JSON.stringify({ seq: 0 }), 'BAD_COMMAND', /\$\.seq/],
      ['dlq.discard', JSON.stringify({ seq: '7' }), 'BAD_COMMAND', /\$\.seq/],
      ['definitions.deploy', definitionWith({ version: 1e308 }), 'DEFINITION_INVALID', /version/],
      [
        'definitions.deploy',
        JSON.stringify({ definition: { ...oneStep, id: 'deep', version: 2 ** 53 + 2 }, by: 'alice' }),
        'DEFINITION_INVALID',
        /version/,
      ],
      ['definitions.deploy', definitionWith({ id: 'a.b>' }), 'DEFINITION_INVALID', /\$\.id/],
    ];
    await expectRefused(rt, ask, cases);
    // Nothing of it reached the registry.
    expect((await rt.definitions.list()).map((d) => d.id)).toEqual(['one-step']);
  });

  it('admin - null, arrays, unknown properties, oversized and deeply nested bodies are refused with a clean message and recorded', async () => {
    const { rt, ask } = await adminRuntime();
    const cases: Case[] = [
      ...['executions.status', 'dlq.replay', 'dlq.discard', 'definitions.deploy'].map((a): Case => [
        a,
        'null',
        'BAD_COMMAND',
        /JSON object/,
      ]),
      ['dlq.replay', '[1]', 'BAD_COMMAND', /JSON object/],
      [
        'executions.status',
        JSON.stringify({ executionId: 'ex_aaaaaaaaaaaaaaaaaaaaaaaaaa', sudo: true }),
        'BAD_COMMAND',
        /./,
      ],
      ['dlq.replay', JSON.stringify({ seq: 1, by: 'alice', force: true }), 'BAD_COMMAND', /./],
      [
        'definitions.deploy',
        JSON.stringify({ definition: { ...oneStep, id: 'deep' }, by: 'alice', dryRun: true }),
        'BAD_COMMAND',
        /./,
      ],
      ['definitions.deploy', JSON.stringify({ definition: 'one-step' }), 'BAD_COMMAND', /\$\.definition/],
      [
        'executions.status',
        JSON.stringify({ executionId: 'ex_aaaaaaaaaaaaaaaaaaaaaaaaaa', pad: 'x'.repeat(900 * 1024) }),
        'PAYLOAD_TOO_LARGE',
        /4096/,
      ],
      ['dlq.discard', JSON.stringify({ seq: 1, by: 'x'.repeat(5_000) }), 'PAYLOAD_TOO_LARGE', /4096/],
      ['definitions.deploy', definitionWith({ name: 'x'.repeat(70_000) }), 'PAYLOAD_TOO_LARGE', /65536/],
      ['executions.status', new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]), 'BAD_JSON', /JSON/],
      ['explode', JSON.stringify({ seq: 1 }), 'BAD_COMMAND', /unknown admin action/],
      // 10,000 levels (60 KB, under the 64 KiB limit) in params, bare and wrapped, and where a string belongs.
      [
        'definitions.deploy',
        definitionWith({ steps: { send: { ...oneStep.steps.send, params: '@' }, done: { type: 'end' } } }, [
          '@',
          nested(10_000),
        ]),
        'INVALID_PAYLOAD',
        /\$\.steps\.send\.params.*deeper than 32/,
      ],
      [
        'definitions.deploy',
        `{"by":"alice","definition":${definitionWith({ steps: { send: { ...oneStep.steps.send, params: '@' }, done: { type: 'end' } } }, ['@', nested(10_000)])}}`,
        'INVALID_PAYLOAD',
        /deeper than 32/,
      ],
      [
        'definitions.deploy',
        definitionWith({ name: '@' }, ['@', '['.repeat(20_000) + ']'.repeat(20_000)]),
        'INVALID_PAYLOAD',
        /\$\.name.*deeper than 64/,
      ],
      [
        'definitions.deploy',
        definitionWith({
          steps: {
            send: {
              ...oneStep.steps.send,
              params: Object.fromEntries(Array.from({ length: 1_001 }, (_, i) => [`k${i}`, i])),
            },
            done: { type: 'end' },
          },
        }),
        'INVALID_PAYLOAD',
        /more than 1000 keys/,
      ],
    ];
    await expectRefused(rt, ask, cases);
    expect((await rt.definitions.list()).map((d) => d.id)).toEqual(['one-step']);

    // The same definition within the limits deploys, wrapped with who deployed it, and bare.
    const params = JSON.parse(nested(32)) as Record<string, unknown>;
    const wrapped = await ask(
      'definitions.deploy',
      JSON.stringify({
        definition: { ...oneStep, id: 'deep', steps: { ...oneStep.steps, send: { ...oneStep.steps.send, params } } },
        by: 'alice',
      }),
    );
    expect(wrapped).toMatchObject({ ok: true, result: { id: 'deep', version: 1, created: true } });
    expect(await ask('definitions.deploy', definitionWith({ version: 2 }))).toMatchObject({
      ok: true,
      result: { id: 'deep', version: 2 },
    });
    const audit = await readAll<{ action: string; by: string; target: string }>(nc, rt.names.streams.audit);
    expect(audit.map((a) => [a.data.target, a.data.by])).toEqual([
      ['deep.v1', 'alice'],
      ['deep.v2', 'unknown'],
    ]);
  });

  it('admin - a missing dead letter is answered DLQ_ENTRY_MISSING and recorded, never logged as a runtime error', async () => {
    const { rt, log, ask } = await adminRuntime();
    // A real entry, discarded once (ok), then again (gone): the gap it leaves, and sequences never written.
    const execution = 'ex_aaaaaaaaaaaaaaaaaaaaaaaaaa';
    await rt.dlq.add({
      executionId: execution,
      supplierId: 's',
      journeyId: 'one-step',
      version: 1,
      stepId: 'send',
      visit: 1,
      key: 'k',
      action: 'email.send',
      error: 'boom',
      attempts: 3,
      tier: 'low',
      at: Date.now(),
      history: [],
    });
    const [entry] = await waitFor('the dead letter', async () => {
      const all = await rt.dlq.list();
      return all.length === 1 ? all : undefined;
    });
    expect(await ask('dlq.discard', JSON.stringify({ seq: entry!.seq, by: 'alice' }))).toMatchObject({
      ok: true,
      result: { discarded: entry!.seq, executionId: execution },
    });
    await expectRefused(rt, ask, [
      [
        'dlq.discard',
        JSON.stringify({ seq: entry!.seq, by: 'alice' }),
        'DLQ_ENTRY_MISSING',
        new RegExp(`no dead-letter entry ${entry!.seq}`),
      ],
      ['dlq.replay', JSON.stringify({ seq: entry!.seq + 1 }), 'DLQ_ENTRY_MISSING', /no dead-letter entry/],
      ['dlq.replay', JSON.stringify({ seq: Number.MAX_SAFE_INTEGER }), 'DLQ_ENTRY_MISSING', /no dead-letter entry/],
      ['executions.status', JSON.stringify({ executionId: execution }), 'UNKNOWN_EXECUTION', /no execution/],
    ]);
    // The asker's mistakes: nothing at error level or above.
    expect(log.filter((l) => l.level >= 50)).toEqual([]);
    await expect(rt.dlq.get(entry!.seq)).rejects.toMatchObject({ code: 'DLQ_ENTRY_MISSING' });
  });
});

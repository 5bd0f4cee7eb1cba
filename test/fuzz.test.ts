/**
 * Property-based hostile input (R30): a few hundred generated payloads (bytes, arbitrary JSON, valid requests with one
 * field made hostile: deep nesting, huge strings, unicode, NUL, prototype keys, numbers like 1e308, -0, 1e999) thrown at
 * every subject the runtime reads from outside, against one runtime child process. Deterministic: the seed is fixed
 * (FUZZ_SEED overrides it) and printed, so a failure replays.
 *
 * What must hold: the process lives and logs no runtime error; every request is answered, either `ok: false` with a code
 * from the stable set and a message that leaks no internals, or `ok: true` only for an input its published schema accepts;
 * every refusal, and every stream message the runtime could not route, is recorded in REJECTS, one record each; the
 * command stream drains without a redelivery.
 */
import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { ErrorCodes } from '../runtime/errors.ts';
import { DeadLetterRequestSchema, DeployRequestSchema, ExecutionStatusRequestSchema } from '../schemas/admin.ts';
import {
  ControlCommandSchema,
  EventCommandSchema,
  ScaleOverrideSchema,
  StartCommandSchema,
} from '../schemas/commands.ts';
import { JourneyDefinitionSchema } from '../schemas/journey-definition.ts';
import { useNats, uniqueName, waitFor, type TestServer } from './harness/nats.ts';
import { spawnRuntime, type RuntimeProcess } from './harness/processes.ts';
import { readAll } from './harness/streams.ts';

let server: TestServer;
let nc: NatsConnection;
useNats((s, c) => ([server, nc] = [s, c]));
let proc: RuntimeProcess | undefined;
afterAll(async () => {
  await proc?.kill('SIGKILL');
});

const SEED = Number(process.env['FUZZ_SEED'] ?? 20_261_203);
const RUNS = 600;

const VERBS = ['start', 'event', 'cancel', 'pause', 'resume'] as const;
const ADMIN = ['executions.status', 'dlq.replay', 'dlq.discard', 'definitions.deploy'] as const;
/** Valid payloads per kind of subject, as raw JSON text per top-level key (raw, so a hostile value can be any JSON text). */
const TEMPLATES: Record<string, Record<string, string>[]> = {
  start: [
    {
      supplierId: '"fuzz"',
      clientId: '"c1"',
      journeyId: '"never-deployed"',
      weddingDate: '"2030-06-01"',
      timeZone: '"Europe/London"',
      data: '{"guests":120}',
    },
  ],
  event: [{ executionId: '"ex_aaaaaaaaaaaaaaaaaaaaaaaaaa"', name: '"form.submitted"', data: '{"guestCount":120}' }],
  control: [
    { executionId: '"ex_aaaaaaaaaaaaaaaaaaaaaaaaaa"', reason: '"fuzz"' },
    { supplierId: '"fuzz"', reason: '"fuzz"' },
  ],
  'executions.status': [{ executionId: '"ex_aaaaaaaaaaaaaaaaaaaaaaaaaa"' }],
  dlq: [{ seq: '1', by: '"fuzz"' }],
  'definitions.deploy': [
    {
      id: '"fuzz-journey"',
      version: '1',
      name: '"Fuzz"',
      vendorType: '"venue"',
      trigger: '{"event":"booking.created"}',
      start: '"send"',
      steps:
        '{"send":{"type":"action","action":"email.send","params":{"template":"hello"},"next":"done"},"done":{"type":"end"}}',
    },
  ],
  override: [{ by: '"fuzz"', for: '"PT1H"', concurrency: '{"critical":4}' }],
};

interface Target {
  subject: string;
  /** Request (answered) or stream (recorded when refused). */
  request: boolean;
  template: keyof typeof TEMPLATES;
  schema: TSchema;
  maxBytes: number;
}
const targets = (p: string): Target[] => [
  ...VERBS.flatMap((v): Target[] => {
    const template = v === 'start' || v === 'event' ? v : 'control';
    const schema = v === 'start' ? StartCommandSchema : v === 'event' ? EventCommandSchema : ControlCommandSchema;
    return [
      { subject: `${p}.api.${v}`, request: true, template, schema, maxBytes: 65_536 },
      { subject: `${p}.cmd.${v}`, request: false, template, schema, maxBytes: 65_536 },
    ];
  }),
  ...ADMIN.map((a): Target => ({
    subject: `${p}.admin.${a}`,
    request: true,
    template: a.startsWith('dlq.') ? 'dlq' : a,
    schema:
      a === 'executions.status'
        ? ExecutionStatusRequestSchema
        : a === 'definitions.deploy'
          ? JourneyDefinitionSchema
          : DeadLetterRequestSchema,
    maxBytes: a === 'definitions.deploy' ? 65_536 : 4_096,
  })),
  {
    subject: `${p}.supervisor.override`,
    request: true,
    template: 'override',
    schema: ScaleOverrideSchema,
    maxBytes: 4_096,
  },
];

/** Hostile JSON values, as raw text (deep values are never built as objects here: that would overflow this process). */
const hostileValue: fc.Arbitrary<string> = fc.oneof(
  fc
    .tuple(fc.integer({ min: 33, max: 12_000 }), fc.constantFrom('{"a":', '['))
    .map(([n, open]) => open.repeat(n) + '1' + (open === '[' ? ']' : '}').repeat(n)),
  fc.integer({ min: 1_000, max: 100_000 }).map((n) => `"${'x'.repeat(n)}"`),
  fc
    .integer({ min: 1_001, max: 3_000 })
    .map((n) => `{${Array.from({ length: n }, (_, i) => `"k${i}":${i}`).join(',')}}`),
  fc.string({ unit: 'binary', maxLength: 40 }).map((s) => JSON.stringify(s)),
  fc.string({ unit: 'grapheme', maxLength: 40 }).map((s) => JSON.stringify(s)),
  fc.constantFrom(
    '1e308',
    '-0',
    '1e999',
    '-1e999',
    '"NaN"',
    '"Infinity"',
    '9007199254740993',
    '4.9e-324',
    '-1',
    '0',
    '1.5',
    'null',
    'true',
    '[]',
    '{}',
    '"a\\u0000b"',
    '"\\u0000"',
    '"a.b"',
    '">"',
    '"*"',
    '"ex_aaaaaaaaaaaaaaaaaaaaaaaaa>"',
    '"ex_AAAAAAAAAAAAAAAAAAAAAAAAAA"',
    '"../../etc"',
    '{"__proto__":{"polluted":1}}',
    '{"constructor":{"prototype":{"polluted":1}}}',
    '"\\ud800"',
    '"\u202e\u0301"',
  ),
  fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)),
);

const objectText = (fields: Record<string, string>): string =>
  `{${Object.entries(fields)
    .map(([k, v]) => `${JSON.stringify(k)}:${v}`)
    .join(',')}}`;

/** A valid payload with one change: a field made hostile, an extra (or prototype) key, a field gone, or hostile free JSON. */
const mutated = (template: Record<string, string>): fc.Arbitrary<string> =>
  fc.oneof(
    fc
      .tuple(fc.constantFrom(...Object.keys(template)), hostileValue)
      .map(([k, v]) => objectText({ ...template, [k]: v })),
    fc
      .tuple(
        fc.constantFrom('__proto__', 'constructor', 'prototype', 'extra', 'by', 'definition', 'data', 'clear'),
        hostileValue,
      )
      .map(([k, v]) => objectText(template).slice(0, -1) + `,${JSON.stringify(k)}:${v}}`),
    fc
      .constantFrom(...Object.keys(template))
      .map((k) => objectText(Object.fromEntries(Object.entries(template).filter(([key]) => key !== k)))),
    // Free JSON (`data`, a step's `params`) is where a hostile value passes the schema: weighted up.
    ...Array.from({ length: 3 }, () =>
      hostileValue.map((v) =>
        'steps' in template
          ? objectText({ ...template, steps: template['steps']!.replace('{"template":"hello"}', `{"x":${v}}`) })
          : objectText({ ...template, data: `{"x":${v}}` }),
      ),
    ),
    hostileValue.map((v) => objectText({ definition: 'steps' in template ? objectText(template) : v, by: '"fuzz"' })),
  );

type Input = { target: number; body: string | Uint8Array; kind: string };
const inputs = (all: Target[]): fc.Arbitrary<Input> =>
  fc.integer({ min: 0, max: all.length - 1 }).chain((target) => {
    const templates = TEMPLATES[all[target]!.template]!;
    return fc.oneof(
      {
        weight: 1,
        arbitrary: fc.uint8Array({ maxLength: 512 }).map((body): Input => ({ target, body, kind: 'bytes' })),
      },
      { weight: 2, arbitrary: hostileValue.map((body): Input => ({ target, body, kind: 'value' })) },
      {
        weight: 5,
        arbitrary: fc
          .constantFrom(...templates)
          .chain(mutated)
          .map((body): Input => ({ target, body, kind: 'mutated' })),
      },
    );
  });

const utf8 = new TextDecoder('utf-8', { fatal: true });
/** `body` parsed when it is within `t`'s size and valid UTF-8 JSON, else undefined. */
function parsed(t: Target, body: string | Uint8Array): unknown {
  const bytes = typeof body === 'string' ? new TextEncoder().encode(body) : body;
  if (bytes.byteLength > t.maxBytes) return undefined;
  try {
    return JSON.parse(utf8.decode(bytes)) as unknown;
  } catch {
    return undefined;
  }
}

/** Whether the published schema accepts `body` for `t`: the only inputs an `ok: true` may answer. */
function schemaAccepts(t: Target, body: string | Uint8Array): boolean {
  const json = parsed(t, body);
  if (t.template === 'definitions.deploy' && typeof json === 'object' && json !== null && 'definition' in json) {
    return Value.Check(DeployRequestSchema, json) && Value.Check(JourneyDefinitionSchema, json.definition);
  }
  return json !== undefined && Value.Check(t.schema, json);
}

const STABLE = new Set<string>(Object.values(ErrorCodes));
const LEAK = /Cannot read|undefined|TypeError|RangeError|call stack|invalid key|is not a function/i;

describe('hostile input', () => {
  it('fuzz - every outside subject: the process lives, every request is answered with a stable code, every refusal is recorded', async () => {
    const prefix = uniqueName('fz');
    proc = await spawnRuntime({ NATS_URL: server.url, JRN_PREFIX: prefix });
    const logged: string[] = [];
    let partial = '';
    proc.child.stdout!.on('data', (d: Buffer) => {
      const lines = (partial + d.toString()).split('\n');
      partial = lines.pop() ?? '';
      logged.push(...lines.filter((l) => l.startsWith('{')));
    });
    const all = targets(prefix);
    console.log(`fuzz: seed ${SEED} (FUZZ_SEED=${SEED} replays), ${RUNS} inputs over ${all.length} subjects`);
    const samples = fc.sample(inputs(all), { seed: SEED, numRuns: RUNS });

    const js = jetstream(nc);
    const refusedBySubject = new Map<string, number>();
    const count = (subject: string) => refusedBySubject.set(subject, (refusedBySubject.get(subject) ?? 0) + 1);
    const codes = new Map<string, number>();
    let accepted = 0;
    let routed = 0; // stream messages the schema accepts: routed, or refused for an unknown journey or execution
    for (const [i, { target, body, kind }] of samples.entries()) {
      const t = all[target]!;
      const what = `#${i} ${kind} ${t.subject} ${String(typeof body === 'string' ? body : `bytes[${body.length}]`).slice(0, 120)} (seed ${SEED})`;
      if (!t.request) {
        await js.publish(t.subject, body);
        // Nothing exists to route to, so every message is refused, but for a supplier-wide control command.
        const routable =
          t.template === 'control' && schemaAccepts(t, body) && 'supplierId' in (parsed(t, body) as object);
        if (routable) routed++;
        else count(t.subject);
        continue;
      }
      const reply = (await nc.request(t.subject, body, { timeout: 10_000 })).json<{
        ok: boolean;
        error?: { code: string; message: string };
      }>();
      if (reply.ok) {
        expect(schemaAccepts(t, body), `ok: true for an input its schema refuses: ${what}`).toBe(true);
        accepted++;
        continue;
      }
      expect(STABLE.has(reply.error?.code ?? ''), `code ${reply.error?.code} outside the stable set: ${what}`).toBe(
        true,
      );
      expect(reply.error!.message.length, what).toBeGreaterThan(0);
      expect(reply.error!.message, what).not.toMatch(LEAK);
      count(t.subject);
      codes.set(reply.error!.code, (codes.get(reply.error!.code) ?? 0) + 1);
    }
    const expected = [...refusedBySubject.values()].reduce((a, b) => a + b, 0);
    console.log(
      `fuzz: ${expected} refused, ${accepted} requests accepted, ${routed} stream messages routable by schema; answers ${JSON.stringify(Object.fromEntries(codes))}`,
    );

    // Drained first: the router records a refusal before it acknowledges the message.
    const jsm = await jetstreamManager(nc);
    await waitFor(
      'the command stream drained',
      async () => {
        const ci = await jsm.consumers.info(`${prefix.toUpperCase()}_CMD`, 'router');
        return ci.num_pending + ci.num_ack_pending === 0;
      },
      20_000,
    );
    expect((await jsm.consumers.info(`${prefix.toUpperCase()}_CMD`, 'router')).num_redelivered).toBe(0);

    const records = await waitFor(
      'one REJECTS record per refusal',
      async () => {
        const got = await readAll<{ code: string; subject: string }>(nc, `${prefix.toUpperCase()}_REJECTS`);
        return got.length >= expected ? got : undefined;
      },
      30_000,
    );
    const recorded = new Map<string, number>();
    for (const r of records) recorded.set(r.data.subject, (recorded.get(r.data.subject) ?? 0) + 1);
    expect(Object.fromEntries(recorded)).toEqual(Object.fromEntries(refusedBySubject));
    expect(records.filter((r) => !STABLE.has(r.data.code))).toEqual([]);

    // Alive, still answering, and nothing it was sent counted as its own failure.
    const probe = (
      await nc.request(
        `${prefix}.admin.executions.status`,
        JSON.stringify({ executionId: 'ex_aaaaaaaaaaaaaaaaaaaaaaaaaa' }),
        { timeout: 5_000 },
      )
    ).json<{ error?: { code: string } }>();
    expect(probe.error?.code).toBe('UNKNOWN_EXECUTION');
    expect(proc.child.exitCode).toBeNull();
    expect(proc.child.signalCode).toBeNull();
    expect(logged.filter((l) => (JSON.parse(l) as { level: number }).level >= 50)).toEqual([]);
  });
});

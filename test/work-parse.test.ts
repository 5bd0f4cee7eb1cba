/**
 * Checks of the runtime's internal messages as they are read (R30): work messages, stored timer entries and instance
 * stats. Each bad shape gets a stable code and a reason naming the field; every message the runtime itself makes passes.
 */
import { describe, expect, it } from 'vitest';
import { encode, encodeJson } from '../runtime/codec.ts';
import { RejectedError } from '../runtime/errors.ts';
import { executionIdOf } from '../runtime/engine/execution-record.ts';
import { seal } from '../runtime/sealed.ts';
import { checkTimerEntry, type TimerEntry } from '../runtime/engine/timers.ts';
import { MAX_WORK_BYTES, binaryRejectRecord, maxWorkBytes, parseWork, parseWorkSubject, type Work } from '../runtime/engine/work.ts';
import { MAX_INSTANCE_STATS_BYTES, parseInstanceStats } from '../runtime/monitor-host.ts';
import { isIntakeSubject, parseIntake, startTier, startWork } from '../runtime/engine/intake.ts';
import { MONITOR_LIMITS, applyAll, emptyWindow, toStats, type MetricEvent } from '../actors/monitor.ts';

const cmd = { supplierId: 'acme', clientId: 'c1', journeyId: 'one-step' };
const EX = executionIdOf(cmd);
const SUBJECT = `jrn.work.low.acme.${EX}`;
const KEY = `${EX}.send.1`;

/** The code and reason of the `RejectedError` that `f` throws. */
function refusal(f: () => unknown): { code: string; reason: string } {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(RejectedError);
    return { code: (err as RejectedError).code, reason: (err as RejectedError).message };
  }
  throw new Error('expected a RejectedError, nothing was thrown');
}

/** A nest of `depth` arrays, built without recursion. */
function nested(depth: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

describe('work - parseWork', () => {
  const valid: Work[] = [
    { k: 'start', cmd: { ...cmd, weddingDate: '2028-02-29', timeZone: 'Europe/London', bookedAt: '2027-01-01T10:00:00Z', data: { guests: 120 } }, pii: seal({ name: 'A & B' }), def: { id: 'one-step', version: 1 } },
    { k: 'start', cmd, def: { id: 'one-step', version: 3 }, reserved: true },
    { k: 'event', name: 'form.submitted', data: { answers: [1, 'two', { three: null }] } },
    { k: 'event', name: 'booking.cancelled' },
    { k: 'timer', id: 'wait.1.0' },
    { k: 'retry', key: KEY, attempt: 2 },
    { k: 'result', result: { key: KEY, attempt: 1, ok: true, data: { id: 'm-1' } } },
    { k: 'result', result: { key: KEY, attempt: 1, ok: false, error: { code: 'DECLINED', message: 'no' }, retryable: false } },
    { k: 'result', result: { key: KEY, attempt: 1, working: true, extendMs: 5_000 } },
    { k: 'timeout', key: KEY, attempt: 1, deadline: 1_800_000_000_000 },
    { k: 'replay' },
    { k: 'cancel', reason: 'client asked' },
    { k: 'cancel' },
    { k: 'pause' },
    { k: 'resume' },
  ];

  it('work - every kind the runtime makes passes, addressed to its execution, and comes back as it was', () => {
    for (const w of valid) expect(parseWork(encode(w), SUBJECT)).toEqual(w);
  });

  it('work - the subject must be <prefix>.work.<tier>.<supplier>.<execution> with valid tokens', () => {
    expect(parseWorkSubject(SUBJECT)).toEqual({ tier: 'low', supplierId: 'acme', executionId: EX });
    for (const subject of [
      `jrn.work.low.acme`,
      `jrn.work.low.acme.${EX}.extra`,
      `jrn.work.urgent.acme.${EX}`,
      `jrn.work.low.acme.ex_short`,
      `jrn.work.low.acme.EX_${EX.slice(3)}`,
      `jrn.work.low.${'s'.repeat(65)}.${EX}`,
      `jrn.other.low.acme.${EX}`,
    ]) {
      expect(refusal(() => parseWork(encode({ k: 'pause' }), subject)), subject).toMatchObject({ code: 'BAD_COMMAND', reason: expect.stringMatching(/^subject: /) });
    }
  });

  it('work - bytes that are not msgpack are BAD_COMMAND, whatever they are', () => {
    const cases: [string, Uint8Array][] = [
      ['empty', new Uint8Array()],
      ['JSON text', new TextEncoder().encode('{"k":"pause"}')],
      ['unknown extension', Uint8Array.from([0xd4, 5, 1])],
      ['truncated string', Uint8Array.from([0xdb, 0xff, 0xff, 0xff, 0xff, 1])],
      ['trailing bytes', Uint8Array.from([...encode({ k: 'pause' }), 0xc0])],
      ['nested past the stack', Uint8Array.from([...new Array<number>(200_000).fill(0x91), 0xc0])],
    ];
    for (const [what, bytes] of cases) expect(refusal(() => parseWork(bytes, SUBJECT)), what).toMatchObject({ code: 'BAD_COMMAND', reason: expect.stringMatching(/^\$: (empty, )?not msgpack/) });
  });

  it('work - msgpack of the wrong shape is BAD_COMMAND naming the field at fault', () => {
    const cases: [unknown, RegExp][] = [
      [{}, /^\$\.k: missing/],
      [[], /^\$: an array, not a work message/],
      ['pause', /^\$: a string/],
      [null, /^\$: null/],
      [{ k: 'explode' }, /^\$\.k: unknown work kind "explode"/],
      [{ k: 'timer' }, /^\$\.id: /],
      [{ k: 'timer', id: 7 }, /^\$\.id: /],
      [{ k: 'event', name: 'Not An Event' }, /^\$\.name: /],
      [{ k: 'retry', key: KEY, attempt: 0 }, /^\$\.attempt: /],
      [{ k: 'retry', key: KEY, attempt: 2n }, /^\$\.attempt: /],
      [{ k: 'timeout', key: KEY, attempt: 1, deadline: 'soon' }, /^\$\.deadline: /],
      [{ k: 'timeout', key: KEY, attempt: 1, deadline: Number.NaN }, /^\$\.deadline: /],
      [{ k: 'result', result: { key: KEY, attempt: 1 } }, /^\$\.result: /],
      [{ k: 'cancel', reason: 'x'.repeat(501) }, /^\$\.reason: /],
      [{ k: 'start', cmd, def: { id: 'one-step' } }, /^\$\.def\.version: /],
      [{ k: 'start', cmd: { ...cmd, client: { name: 'A' } }, def: { id: 'one-step', version: 1 } }, /^\$\.cmd/],
      [{ k: 'start', cmd: { ...cmd, supplierId: 'a.b' }, def: { id: 'one-step', version: 1 } }, /^\$\.cmd\.supplierId: /],
      [{ k: 'start', cmd: { ...cmd, timeZone: 'Mars/Olympus' }, def: { id: 'one-step', version: 1 } }, /^\$\.cmd\.timeZone: /],
      [{ k: 'start', cmd: { ...cmd, weddingDate: '2027-02-30' }, def: { id: 'one-step', version: 1 } }, /^\$\.cmd\.weddingDate: /],
      [{ k: 'start', cmd: { ...cmd, clientId: 'someone-else' }, def: { id: 'one-step', version: 1 } }, /^\$\.cmd: .*do not name the execution/],
    ];
    for (const [value, reason] of cases) {
      expect(refusal(() => parseWork(encode(value), SUBJECT)), JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v))).toEqual({ code: 'BAD_COMMAND', reason: expect.stringMatching(reason) });
    }
  });

  it('work - free JSON too deep, too wide or not JSON is INVALID_PAYLOAD', () => {
    const wide = Object.fromEntries(Array.from({ length: 1_001 }, (_, i) => [`k${i}`, i]));
    const cases: [Work, RegExp][] = [
      [{ k: 'event', name: 'form.submitted', data: { deep: nested(40) } }, /^\$\.data.*nested deeper than 32/],
      [{ k: 'event', name: 'form.submitted', data: wide }, /^\$\.data: more than 1000 keys/],
      [{ k: 'start', cmd: { ...cmd, data: { deep: nested(40) } }, def: { id: 'one-step', version: 1 } }, /^\$\.cmd\.data/],
      [{ k: 'result', result: { key: KEY, attempt: 1, ok: true, data: { deep: nested(40) } } }, /^\$\.result\.data/],
      [{ k: 'event', name: 'form.submitted', data: { blob: new Uint8Array([1, 2]) } }, /binary, not a JSON value/],
      [{ k: 'event', name: 'form.submitted', data: { when: new Date(0) } }, /a date, not a JSON value/],
      [{ k: 'event', name: 'form.submitted', data: { n: [1, 2, 3n] } }, /a bigint, not a JSON value/],
      [{ k: 'event', name: 'form.submitted', data: { n: Number.POSITIVE_INFINITY } }, /non-finite number/],
    ];
    for (const [w, reason] of cases) expect(refusal(() => parseWork(encode(w), SUBJECT))).toEqual({ code: 'INVALID_PAYLOAD', reason: expect.stringMatching(reason) });
  });

  it('work - a message past the size limit is PAYLOAD_TOO_LARGE before it is decoded; the limit grows with the command limit', () => {
    const big = encode({ k: 'event', name: 'form.submitted', data: { text: 'x'.repeat(MAX_WORK_BYTES) } });
    expect(refusal(() => parseWork(big, SUBJECT)).code).toBe('PAYLOAD_TOO_LARGE');
    expect(parseWork(big, SUBJECT, maxWorkBytes(1024 * 1024))).toMatchObject({ k: 'event' });
    expect(maxWorkBytes(65_536)).toBe(MAX_WORK_BYTES);
    expect(maxWorkBytes(1024)).toBe(MAX_WORK_BYTES);
  });

  it('work - a rejects record of a binary message holds a hex prefix of at most 64 bytes, never its text', () => {
    const bytes = encode({ k: 'start', cmd: { ...cmd, data: { email: 'bride@example.com', note: 'y'.repeat(200) } } });
    const record = binaryRejectRecord({ code: 'BAD_COMMAND', message: '$.def: required' }, SUBJECT, bytes, 42);
    expect(record).toEqual({ code: 'BAD_COMMAND', reason: '$.def: required', subject: SUBJECT, bytes: bytes.byteLength, sample: Buffer.from(bytes.subarray(0, 64)).toString('hex'), at: 42 });
    expect(record.sample).toMatch(/^[0-9a-f]{128}$/);
    expect(JSON.stringify(record)).not.toContain('example.com');
  });
});

describe('timers - checkTimerEntry', () => {
  const SLOT_MS = 1_000;
  const slot = 1_700_000_000;
  const due = slot * SLOT_MS + 500;
  const entry: TimerEntry = { id: `${EX}.wait.1.0`, due, sup: 'acme', ex: EX, tz: 'Europe/London', wd: '2027-06-12', work: { k: 'timer', id: 'wait.1.0' } };
  const where = { slotMs: SLOT_MS, slot };

  it('timers - entries the runtime stores pass: timers, retries, deadlines, parked starts; due before the slot is fine too', () => {
    const ok: TimerEntry[] = [
      entry,
      { ...entry, wd: undefined, tz: 'UTC' },
      { ...entry, id: `${KEY}.a2.${due}`, work: { k: 'retry', key: KEY, attempt: 2 } },
      { ...entry, id: `${KEY}.a1.t${due}`, work: { k: 'timeout', key: KEY, attempt: 1, deadline: due } },
      { ...entry, id: `rl:${EX}`, work: { k: 'start', cmd, def: { id: 'one-step', version: 1 }, reserved: true } },
      { ...entry, due: due - 3_600_000 },
    ].map((e) => JSON.parse(JSON.stringify(e)) as TimerEntry);
    for (const e of ok) expect(checkTimerEntry(e, where)).toEqual(e);
  });

  it('timers - a stored message that is not a timer entry is BAD_COMMAND naming the field', () => {
    const cases: [unknown, RegExp][] = [
      [{}, /^\$\.id: /],
      [[entry], /^\$: not a timer entry/],
      ['due', /^\$: not a timer entry/],
      [{ ...entry, id: '' }, /^\$\.id: /],
      [{ ...entry, id: 'a\r\nNats-Msg-Id: x' }, /^\$\.id: /],
      [{ ...entry, due: 'soon' }, /^\$\.due: expected a finite number/],
      [{ ...entry, due: Number.NaN }, /^\$\.due: expected a finite number/],
      [{ ...entry, due: Number.POSITIVE_INFINITY }, /^\$\.due: expected a finite number/],
      [{ ...entry, due: (slot + 1) * SLOT_MS }, /^\$\.due: after the end of its slot/],
      [{ ...entry, sup: 'a.b' }, /^\$\.sup: /],
      [{ ...entry, sup: undefined }, /^\$\.sup: /],
      [{ ...entry, ex: 'ex_nope' }, /^\$\.ex: /],
      [{ ...entry, tz: 'Mars/Olympus' }, /^\$\.tz: /],
      [{ ...entry, tz: 3 }, /^\$\.tz: /],
      [{ ...entry, wd: '2027-02-30' }, /^\$\.wd: /],
      [{ ...entry, work: undefined }, /^\$\.work: undefined, not a work message/],
      [{ ...entry, work: {} }, /^\$\.work\.k: missing/],
      [{ ...entry, work: { k: 'retry', key: KEY } }, /^\$\.work\.attempt: /],
      [{ ...entry, work: { k: 'start', cmd: { ...cmd, clientId: 'other' }, def: { id: 'one-step', version: 1 } } }, /^\$\.work\.cmd: .*do not name the execution/],
    ];
    for (const [value, reason] of cases) expect(refusal(() => checkTimerEntry(value, where)), JSON.stringify(value)).toEqual({ code: 'BAD_COMMAND', reason: expect.stringMatching(reason) });
    expect(refusal(() => checkTimerEntry({ ...entry, work: { k: 'event', name: 'x.y', data: { deep: nested(40) } } }, where)).code).toBe('INVALID_PAYLOAD');
  });
});

describe('stats - parseInstanceStats', () => {
  const T = Date.UTC(2027, 5, 12, 10, 0, 0);
  const event = (i: number): MetricEvent => ({ type: 'execution.started', at: T, tier: 'low', vendorType: `vendor${i}`, journeyId: `journey-${i}`, weddingDay: false });
  const stats = (instance = 'rt-1', events: MetricEvent[] = [event(0)]) => toStats(applyAll(emptyWindow(), events), { instance, now: T, windowMs: 5_000 });

  it('stats - an instance message passes, even at every cardinality bound (named groups plus _other)', () => {
    const crowded = stats('rt-1', Array.from({ length: 300 }, (_, i) => event(i)));
    expect(Object.keys(crowded.byVendor)).toHaveLength(MONITOR_LIMITS.vendors + 1);
    expect(Object.keys(crowded.byJourney)).toHaveLength(MONITOR_LIMITS.journeys + 1);
    for (const m of [stats(), crowded]) expect(parseInstanceStats(m.instance, encodeJson(m))).toEqual(m);
  });

  it('stats - bad messages get BAD_JSON, BAD_COMMAND or PAYLOAD_TOO_LARGE', () => {
    const m = stats();
    const tooWide = { ...m, byVendor: Object.fromEntries(Array.from({ length: MONITOR_LIMITS.vendors + 2 }, (_, i) => [`v${i}`, m.weddingDay])) };
    const cases: [Uint8Array, string, RegExp][] = [
      [new Uint8Array(), 'BAD_JSON', /not valid UTF-8 JSON/],
      [Uint8Array.from([0xff, 0xfe, 0x7b]), 'BAD_JSON', /not valid UTF-8 JSON/],
      [encode(m), 'BAD_JSON', /not valid UTF-8 JSON/],
      [encodeJson({}), 'BAD_COMMAND', /^\$\.v: /],
      [encodeJson([m]), 'BAD_COMMAND', /^\$: /],
      [encodeJson({ ...m, totals: { ...m.totals, started: -1 } }), 'BAD_COMMAND', /^\$\.totals\.started: /],
      [encodeJson({ ...m, instance: 'rt-2' }), 'BAD_COMMAND', /^\$\.instance: not the instance its subject names/],
      [encodeJson({ ...m, instances: 1_000 }), 'BAD_COMMAND', /^\$\.instances: /],
      [encodeJson(tooWide), 'BAD_COMMAND', /^\$\.byVendor: 52 groups/],
      [new Uint8Array(MAX_INSTANCE_STATS_BYTES + 1), 'PAYLOAD_TOO_LARGE', /exceeds the limit/],
    ];
    for (const [bytes, code, reason] of cases) expect(refusal(() => parseInstanceStats('rt-1', bytes))).toEqual({ code, reason: expect.stringMatching(reason) });
    const cluster = stats('cluster');
    expect(refusal(() => parseInstanceStats('cluster', encodeJson(cluster))).reason).toMatch(/^\$\.instance: /);
  });
});

describe('start intake subjects and bodies (runtime/engine/intake.ts)', () => {
  const start = { ...cmd, weddingDate: '2031-05-17', timeZone: 'Europe/Paris' };
  const INTAKE = `jrn.work.critical.acme.${EX}.start`;

  it('intake - told apart from work subjects by its six tokens and final `start`, whatever the ids say', () => {
    expect(isIntakeSubject(INTAKE)).toBe(true);
    expect(isIntakeSubject(SUBJECT)).toBe(false);
    expect(isIntakeSubject(`jrn.work.low.start.${EX}`)).toBe(false); // a supplier named "start": five tokens, work
    expect(isIntakeSubject(`jrn.work.low.acme.start`)).toBe(false);
    expect(isIntakeSubject(`jrn.work.low.acme.${EX}.start.x`)).toBe(false);
  });

  it('intake - a start is parsed with the tier it was filed under; the tier it belongs in comes from the definition zone when it has none', () => {
    expect(parseIntake(INTAKE, encodeJson(start), 65_536)).toEqual({ filedTier: 'critical', supplierId: 'acme', executionId: EX, cmd: start });
    // 22:30 UTC on the 15th is the 16th in Paris: one day to go there (critical), two in UTC (high). The start's zone wins.
    expect(startTier(Date.parse('2031-05-15T22:30:00Z'), start, { timeZone: 'UTC' })).toBe('critical');
    expect(startTier(Date.parse('2031-05-15T22:30:00Z'), { ...start, timeZone: 'UTC' }, { timeZone: 'Europe/Paris' })).toBe('high');
    // Eight days ahead in UTC (medium) is seven in Auckland (high) at this hour: a start without a zone takes the definition's.
    const bare = { ...cmd, weddingDate: '2031-05-17' };
    const at = Date.parse('2031-05-09T13:00:00Z');
    expect(startTier(at, bare, {})).toBe('medium');
    expect(startTier(at, bare, { timeZone: 'Pacific/Auckland' })).toBe('high');
  });

  it('intake - a start work message keeps the client apart (sealed as the router seals it) and pins the definition version', () => {
    const work = startWork({ ...start, client: { email: 'a@example.com' } }, { id: 'one-step', version: 3 });
    expect(work).toEqual({ k: 'start', cmd: start, pii: seal({ email: 'a@example.com' }), def: { id: 'one-step', version: 3 } });
  });

  it('intake - bad subjects and bodies get BAD_COMMAND, BAD_JSON or PAYLOAD_TOO_LARGE naming what is wrong', () => {
    const body = encodeJson(start);
    const cases: [string, Uint8Array, string, RegExp][] = [
      [`jrn.work.urgent.acme.${EX}.start`, body, 'BAD_COMMAND', /^subject: not /],
      [`jrn.work.low.acme.notanid.start`, body, 'BAD_COMMAND', /^subject: supplier or execution/],
      [`jrn.work.low.other.${EX}.start`, body, 'BAD_COMMAND', /^subject: names execution/],
      [INTAKE, encodeJson({ ...start, clientId: 'c2' }), 'BAD_COMMAND', /^subject: names execution/],
      [INTAKE, encodeJson({ ...start, reserved: true }), 'BAD_COMMAND', /^\$\.reserved|^\$: /],
      [INTAKE, encode(start), 'BAD_JSON', /not valid UTF-8 JSON/],
      [INTAKE, encodeJson({ ...start, data: { pad: 'x'.repeat(100) } }), 'PAYLOAD_TOO_LARGE', /exceeds the limit of 120/],
    ];
    for (const [subject, bytes, code, reason] of cases) {
      expect(refusal(() => parseIntake(subject, bytes, code === 'PAYLOAD_TOO_LARGE' ? 120 : 65_536)), subject).toEqual({ code, reason: expect.stringMatching(reason) });
    }
  });
});

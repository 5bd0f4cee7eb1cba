/**
 * The execution id rule as the README states it, checked three ways: an independent implementation here (BigInt over
 * the digest), the README's copyable snippet itself, and the ids a real runtime hands out, so a service publishing on
 * `<p>.cmd.start` can rely on computing them.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { NatsConnection } from '@nats-io/transport-node';
import fc from 'fast-check';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JourneyClient, executionIdOf, startRuntime, type Runtime } from '../runtime/index.ts';
import { oneStep, weddingInDays } from './fixtures.ts';
import { uniqueName, useNats, waitFor } from './harness/nats.ts';

type IdParts = { supplierId: string; clientId: string; journeyId: string; reentryKey?: string };

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';

/** The README's formula, written apart from the runtime's: bytes joined by hand, the digest as one BigInt. */
function referenceId(p: IdParts): string {
  const utf8 = new TextEncoder();
  const fields = [p.supplierId, p.clientId, p.journeyId, p.reentryKey ?? ''].map((f) => utf8.encode(f));
  const bytes = Buffer.concat(fields.flatMap((f, i) => (i === 0 ? [f] : [Uint8Array.of(0), f])));
  const digest = BigInt(`0x${createHash('sha256').update(bytes).digest('hex')}`);
  const first130 = digest >> 126n; // 256 - 130: the 26 five-bit groups, most significant first
  let id = 'ex_';
  for (let group = 25; group >= 0; group--) id += ALPHABET[Number((first130 >> BigInt(5 * group)) & 31n)];
  return id;
}

/** The JS snippet under "Execution id" in the README, compiled as written (its import replaced by a parameter). */
function readmeSnippet(): (p: IdParts) => string {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const bullet = readme.slice(readme.indexOf('- **Execution id**'));
  const block = /```js\n([\s\S]*?)\n\s*```/.exec(bullet)?.[1];
  if (!block) throw new Error('README: no ```js block under "Execution id"');
  const lines = block.split('\n').map((l) => l.trim());
  expect(lines[0]).toBe("import { createHash } from 'node:crypto';");
  expect(lines.length, 'the snippet stays short enough to copy').toBeLessThanOrEqual(6);
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- the documented snippet is the thing under test
  const make = new Function('createHash', `${lines.slice(1).join('\n')}\nreturn executionIdOf;`) as (
    h: typeof createHash,
  ) => (p: IdParts) => string;
  return make(createHash);
}

/** Any string of Unicode scalar values (what UTF-8 can encode), including the empty one. */
const text = fc.oneof(fc.string({ unit: 'binary' }), fc.string({ unit: 'grapheme' }), fc.string());

describe('execution id - the documented rule', () => {
  it('execution id - executionIdOf equals an independent implementation of the formula, for any Unicode ids', () => {
    fc.assert(
      fc.property(
        text,
        text,
        text,
        fc.option(text, { nil: undefined }),
        (supplierId, clientId, journeyId, reentryKey) => {
          const parts = { supplierId, clientId, journeyId, ...(reentryKey === undefined ? {} : { reentryKey }) };
          const id = executionIdOf(parts);
          expect(id).toMatch(/^ex_[a-z2-7]{26}$/);
          expect(id).toBe(referenceId(parts));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('execution id - a missing re-entry key is the empty one; the separator keeps fields apart', () => {
    const base = { supplierId: 's', clientId: 'c', journeyId: 'j' };
    expect(executionIdOf(base)).toBe(executionIdOf({ ...base, reentryKey: '' }));
    expect(executionIdOf({ supplierId: 'ab', clientId: 'c', journeyId: 'j' })).not.toBe(
      executionIdOf({ supplierId: 'a', clientId: 'bc', journeyId: 'j' }),
    );
    // Pinned: a change of the rule changes ids of executions already stored, which then cannot be found again.
    expect(executionIdOf({ supplierId: 'studio-9', clientId: 'couple-42', journeyId: 'photographer-classic' })).toBe(
      referenceId({ supplierId: 'studio-9', clientId: 'couple-42', journeyId: 'photographer-classic' }),
    );
    expect(executionIdOf({ supplierId: 'studio-9', clientId: 'couple-42', journeyId: 'photographer-classic' })).toBe(
      'ex_7qpatrdgjho3kqm7fpdjgql7lu',
    );
  });

  it("execution id - the README's snippet gives the same ids", () => {
    const snippet = readmeSnippet();
    fc.assert(
      fc.property(
        text,
        text,
        text,
        fc.option(text, { nil: undefined }),
        (supplierId, clientId, journeyId, reentryKey) => {
          const parts = { supplierId, clientId, journeyId, ...(reentryKey === undefined ? {} : { reentryKey }) };
          expect(snippet(parts)).toBe(executionIdOf(parts));
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('execution id - a real runtime', () => {
  let nc: NatsConnection;
  useNats((_server, c) => (nc = c));
  let runtime: Runtime;
  let prefix: string;
  beforeAll(async () => {
    prefix = uniqueName('xid');
    runtime = await startRuntime({
      nc,
      prefix,
      logger: pino({ level: 'silent' }),
      handlers: { 'email.send': async () => undefined },
    });
    await runtime.definitions.deploy(oneStep);
  });
  afterAll(async () => {
    await runtime?.stop();
  });

  it('execution id - api.start returns the id the formula gives', async () => {
    const client = new JourneyClient(nc, prefix);
    const starts: IdParts[] = [
      { supplierId: 'studio-9', clientId: 'couple-42', journeyId: oneStep.id },
      { supplierId: 'studio-9', clientId: 'couple-42', journeyId: oneStep.id, reentryKey: 'second-wedding' },
      { supplierId: 'Venue_7', clientId: 'c-1', journeyId: oneStep.id },
    ];
    for (const parts of starts) {
      const id = await client.start({ ...parts, weddingDate: weddingInDays(60), timeZone: 'Europe/London' });
      expect(id).toBe(referenceId(parts));
      expect(id).toBe(executionIdOf(parts));
    }
  });

  it('execution id - a start published on cmd.start is stored under the id the publisher computed', async () => {
    const parts = { supplierId: 'studio-9', clientId: 'couple-43', journeyId: oneStep.id };
    nc.publish(`${prefix}.cmd.start`, JSON.stringify({ ...parts, weddingDate: weddingInDays(60), timeZone: 'UTC' }));
    const client = new JourneyClient(nc, prefix);
    const record = await waitFor('the published start to be stored', () => client.record(referenceId(parts)), 20_000);
    expect(record.snap.context).toMatchObject(parts);
  });
});

/**
 * Runs every `nats` command in docs/cookbook.md against a real server and runtime, through a NATS client (the `nats` CLI
 * is not packaged for Debian), so the documented subjects, payloads and replies cannot drift from the code.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { startRuntime, type Runtime } from '../runtime/runtime.ts';
import { ActionError } from '../runtime/errors.ts';
import { useNats, waitFor } from './harness/nats.ts';
import { weddingInDays } from './fixtures.ts';

let nc: NatsConnection;
useNats((_server, c) => (nc = c));
let runtime: Runtime;
const failedOnce = new Set<string>();
beforeAll(async () => {
  runtime = await startRuntime({
    nc,
    logger: pino({ level: 'silent' }),
    monitor: { intervalMs: 250 },
    handlers: {
      'email.send': async (inv) => {
        // The failing studio's first send fails for good (a dead letter to replay); the replayed one goes through.
        if (inv.supplierId === 'failing-studio' && !failedOnce.has(inv.key)) {
          failedOnce.add(inv.key);
          throw new ActionError('mailbox full', { retryable: false });
        }
      },
      'task.create': async () => undefined,
    },
  });
});
afterAll(async () => {
  await runtime?.stop();
});

/** Splits a shell line into words, honouring '…' and "…" quoting and the '…'$VAR'…' splices the page uses. */
function words(line: string, vars: Record<string, string>): string[] {
  const out: string[] = [];
  let cur = '';
  let inWord = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      cur += line.slice(i + 1, end);
      i = end;
      inWord = true;
    } else if (c === '"') {
      const end = line.indexOf('"', i + 1);
      const inner = line.slice(i + 1, end);
      const cat = /^\$\(cat (.+)\)$/.exec(inner);
      cur += cat ? readFileSync(new URL(`../${cat[1]}`, import.meta.url), 'utf8') : inner;
      i = end;
      inWord = true;
    } else if (c === '$') {
      const name = /^\$([A-Z_]+)/.exec(line.slice(i))![1]!;
      if (vars[name] === undefined) throw new Error(`${name} is not set before: ${line}`);
      cur += vars[name];
      i += name.length;
      inWord = true;
    } else if (c === ' ') {
      if (inWord) out.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (inWord) out.push(cur);
  return out;
}

/** What `nats <args>` does, through the client; returns the reply or the data read. */
async function nats(args: string[]): Promise<unknown> {
  const [cmd, sub, ...rest] = args;
  const jsm = await jetstreamManager(nc);
  if (cmd === 'req') {
    const reply = await nc.request(sub!, rest[0] ?? '', { timeout: 5_000 });
    return reply.json();
  }
  if (cmd === 'pub') {
    nc.publish(sub!, rest[0] ?? '');
    await nc.flush();
    return undefined;
  }
  if (cmd === 'kv' && sub === 'get') {
    const e = await (await new Kvm(nc).open(rest[0]!)).get(rest[1]!);
    if (!e || e.value.length === 0) throw new Error(`no key ${rest[1]}`);
    return e.string();
  }
  if (cmd === 'stream' && sub === 'info') return await jsm.streams.info(rest[0]!);
  if (cmd === 'stream' && sub === 'view') {
    const info = await jsm.streams.info(rest[0]!);
    if (info.state.messages === 0) return [];
    const consumer = await jetstream(nc).consumers.get(rest[0]!, { deliver_policy: DeliverPolicy.All });
    const out: unknown[] = [];
    for await (const m of await consumer.fetch({ max_messages: info.state.messages, expires: 2_000 })) {
      out.push({ seq: m.seq, subject: m.subject, data: m.string() });
      if (m.info.pending === 0) break;
    }
    return out;
  }
  if (cmd === 'consumer' && sub === 'info') return await jsm.consumers.info(rest[0]!, rest[1]!);
  if (cmd === 'sub') {
    const count = Number(rest[rest.indexOf('--count') + 1] ?? 1);
    const got: unknown[] = [];
    const s = nc.subscribe(sub!, { max: count });
    const timer = setTimeout(() => s.unsubscribe(), 10_000);
    for await (const m of s) got.push(m.json());
    clearTimeout(timer);
    return got;
  }
  throw new Error(`the docs use "nats ${args.join(' ')}", which this test does not know`);
}

describe('docs/cookbook.md', () => {
  it('docs - every documented nats command works and answers as described', async () => {
    const page = readFileSync(new URL('../docs/cookbook.md', import.meta.url), 'utf8');
    const lines = [...page.matchAll(/```bash\n([\s\S]*?)```/g)].flatMap((m) => m[1]!.split('\n')).filter((l) => l.startsWith('nats '));
    // Every `nats` line of the page is in a bash block, so none of them escapes this run.
    expect(lines).toEqual(page.split('\n').filter((l) => l.startsWith('nats ')));
    const vars: Record<string, string> = {};
    for (const line of lines) {
      if (line.includes('$SEQ') && vars['SEQ'] === undefined) {
        // A dead letter to replay: a start whose email action fails for good. The sample journey holds its emails in
        // quiet hours (21:00–08:00 London), so its copy here has none: the dead letter comes at any hour the suite runs.
        const anyHour = { ...JSON.parse(readFileSync(new URL('../schemas/examples/photographer-classic.json', import.meta.url), 'utf8')), id: 'docs-any-hour' };
        delete anyHour.quietHours;
        await runtime.definitions.deploy(anyHour);
        const start = { supplierId: 'failing-studio', clientId: 'c', journeyId: 'docs-any-hour', weddingDate: weddingInDays(200, 'Europe/London'), timeZone: 'Europe/London' };
        const r = (await nats(['req', 'jrn.api.start', JSON.stringify(start)])) as { ok: boolean };
        expect(r.ok).toBe(true);
        const entries = await waitFor('a dead letter', async () => (await runtime.dlq.list()).at(0));
        vars['SEQ'] = String(entries.seq);
      }
      const result = await nats(words(line, vars).slice(1));
      if (line.startsWith('nats req')) {
        expect(result, line).toMatchObject({ ok: true });
        const ids = (result as { executionIds?: string[] }).executionIds;
        if (line.includes('jrn.api.start') && ids?.[0]) vars['EXECUTION'] = ids[0];
      }
      if (line.startsWith('nats sub')) expect((result as unknown[]).length, line).toBe(Number(/--count (\d+)/.exec(line)?.[1] ?? 1));
    }
    // The documented effects happened.
    expect(await runtime.dlq.list()).toHaveLength(0); // replayed
    const audit = (await nats(['stream', 'view', 'JRN_AUDIT'])) as { subject: string; data: string }[];
    expect(audit.map((a) => a.subject)).toEqual(expect.arrayContaining(['jrn.audit.definitions.deploy', 'jrn.audit.dlq.replay']));
    expect(JSON.parse(audit.find((a) => a.subject === 'jrn.audit.dlq.replay')!.data).by).toBe('alice');
  });
});

import { afterAll, describe, expect, it } from 'vitest';
import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { startRuntime, type Runtime } from '../runtime/runtime.ts';
import type { DecisionRecord } from '../actors/supervisor.ts';
import { useNats, uniqueName, waitFor } from './harness/nats.ts';
import { readAll } from './harness/streams.ts';
import { oneStep, weddingInDays } from './fixtures.ts';

let nc: NatsConnection;
useNats((_server, c) => (nc = c));
let runtime: Runtime | undefined;
afterAll(async () => {
  await runtime?.stop();
});

/**
 * Season, Saturday and the calendar are the pure tests' business (supervisor.test.ts, on fixed dates): here they are
 * neutral, so what these tests see comes from the load they make, on any day the suite runs.
 */
const anyDay = { seasonFactor: 1, saturdayFactor: 1 } as const;

describe('supervisor in the runtime', () => {
  it("supervisor - a burst of starts raises the backlog tier's concurrency within 30 s, lowers it after, and records every decision", async () => {
    const prefix = uniqueName('sv');
    const decisions: (DecisionRecord & { instance: string })[] = [];
    nc.subscribe(`${prefix}.supervisor.decisions`, { callback: (_e, m) => void decisions.push(m.json()) });
    await nc.flush();
    runtime = await startRuntime({
      nc,
      prefix,
      logger: pino({ level: 'silent' }),
      monitor: { intervalMs: 500 },
      // High-tier backlogs should drain within 5 s (30 s by default): a burst of slow sends cannot, at base concurrency.
      supervisor: { tickMs: 500, config: { ...anyDay, scaleDownCooldownMs: 2_000, drainTargetSeconds: { high: 5 } } },
      handlers: { 'email.send': () => new Promise((r) => setTimeout(r, 100)) },
    });
    await runtime.definitions.deploy(oneStep);
    // The first tick's allocation (from nothing) is the starting point; the burst comes after it.
    const first = await waitFor('the first decision', () => decisions.find((d) => d.from === null), 20_000);
    const before = first.to.concurrency.high;
    expect(before).toBe(8); // the base: no load, no season, no Saturday
    const js = jetstream(nc);
    const burstAt = Date.now();
    await Promise.all(
      Array.from({ length: 2_000 }, (_, i) =>
        js.publish(`${prefix}.cmd.start`, JSON.stringify({ supplierId: 'burst', clientId: `c${i}`, journeyId: 'one-step', weddingDate: weddingInDays(4), timeZone: 'UTC' })),
      ),
    );
    const up = await waitFor('a scale-up of the high tier', () => decisions.find((d) => d.from !== null && d.to.concurrency.high > before), 30_000);
    expect(up.from!.concurrency.high).toBe(before);
    expect(up.at - burstAt).toBeLessThan(30_000);
    expect(runtime.dispatcher.concurrency.high).toBeGreaterThanOrEqual(up.to.concurrency.high);
    expect(up.reason).toMatch(/^up .*high 8→\d+.*high backlog \d+ needs \d+ handlers/);

    // Once the backlog is gone, it comes back down to the base after the cooldown.
    const down = await waitFor('a return to the base after the burst', () => decisions.find((d) => d.seq > up.seq && d.to.concurrency.high === before), 40_000);
    expect(down.from!.concurrency.high).toBeGreaterThan(before);
    expect(down.at - up.at).toBeGreaterThanOrEqual(2_000); // not before the cooldown
    // Every decision is in the audit stream as well.
    const audit = await readAll<DecisionRecord>(nc, runtime.names.streams.audit);
    expect(audit.map((a) => a.data.seq)).toEqual(expect.arrayContaining(decisions.map((d) => d.seq)));
    console.log(`supervisor: ${decisions.length} decisions: ${decisions.map((d) => d.to.concurrency.high).join(' → ')} (high)`);
  });

  it('supervisor - weddings known for tomorrow (from the executions) pre-scale before their day starts', async () => {
    await runtime?.stop();
    const prefix = uniqueName('sv');
    runtime = await startRuntime({
      nc,
      prefix,
      logger: pino({ level: 'silent' }),
      monitor: { intervalMs: 500 },
      supervisor: { tickMs: 500, config: { ...anyDay, busyDayWeddings: 30, preScaleLeadHours: 48 } },
      handlers: { 'email.send': async () => undefined },
    });
    await runtime.definitions.deploy({ ...oneStep, steps: { wait: { type: 'wait', duration: 'P30D', next: 'send' }, ...oneStep.steps }, start: 'wait' });
    const critical = runtime.dispatcher.concurrency.critical;
    const tomorrow = weddingInDays(1, 'Pacific/Auckland');
    const js = jetstream(nc);
    await Promise.all(
      Array.from({ length: 90 }, (_, i) =>
        js.publish(`${prefix}.cmd.start`, JSON.stringify({ supplierId: 'cal', clientId: `w${i}`, journeyId: 'one-step', weddingDate: tomorrow, timeZone: 'Pacific/Auckland' })),
      ),
    );
    await waitFor('calendar factor in force', () => (runtime!.supervisor!.snapshot?.context.current?.factors.calendar ?? 1) > 1, 30_000);
    // 90 weddings on a day where 30 make it busy: the calendar factor alone (season and Saturday are neutral here).
    expect(runtime.supervisor!.snapshot!.context.current!.factors.calendar).toBeGreaterThan(1);
    expect(runtime.dispatcher.concurrency.critical).toBeGreaterThan(critical);
    expect(runtime.supervisor!.snapshot!.context.current!.reasons.join(' ')).toMatch(/calendar|busy|wedding/i);
  });
});

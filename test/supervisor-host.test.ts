import { afterAll, describe, expect, it } from 'vitest';
import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { startRuntime, type Runtime } from '../runtime/runtime.ts';
import type { DecisionRecord } from '../actors/supervisor.ts';
import { localDate, addDaysToDate } from '../actors/time.ts';
import { useNats, uniqueName, waitFor } from './harness/nats.ts';
import { readAll } from './harness/streams.ts';
import { oneStep } from './fixtures.ts';

let nc: NatsConnection;
useNats((_server, c) => (nc = c));
let runtime: Runtime | undefined;
afterAll(async () => {
  await runtime?.stop();
});

describe('supervisor in the runtime', () => {
  it('supervisor - a burst of starts raises the backlog tier\'s concurrency within 30 s, lowers it after, and records every decision', async () => {
    const prefix = uniqueName('sv');
    const decisions: (DecisionRecord & { instance: string })[] = [];
    nc.subscribe(`${prefix}.supervisor.decisions`, { callback: (_e, m) => void decisions.push(m.json()) });
    runtime = await startRuntime({
      nc,
      prefix,
      logger: pino({ level: 'silent' }),
      monitor: { intervalMs: 500 },
      // High-tier backlogs should drain within 5 s (30 s by default): a burst of slow sends cannot, at base concurrency.
      supervisor: { tickMs: 500, config: { scaleDownCooldownMs: 2_000, drainTargetSeconds: { high: 5 } } },
      handlers: { 'email.send': () => new Promise((r) => setTimeout(r, 100)) },
    });
    await runtime.definitions.deploy(oneStep);
    const before = runtime.dispatcher.concurrency.high;
    const inFourDays = addDaysToDate(localDate(Date.now(), 'UTC'), 4);
    const js = jetstream(nc);
    const burstAt = Date.now();
    await Promise.all(
      Array.from({ length: 2_000 }, (_, i) => js.publish(`${prefix}.cmd.start`, JSON.stringify({ supplierId: 'burst', clientId: `c${i}`, journeyId: 'one-step', weddingDate: inFourDays, timeZone: 'UTC' }))),
    );
    const up = await waitFor('a scale-up of the high tier', () => decisions.find((d) => d.to.concurrency.high > before), 30_000);
    expect(up.at - burstAt).toBeLessThan(30_000);
    expect(runtime.dispatcher.concurrency.high).toBeGreaterThan(before);
    expect(up.reason.length).toBeGreaterThan(0);

    // Once the backlog is gone, it comes back down after the cooldown.
    const down = await waitFor('a scale-down after the burst', () => decisions.find((d) => d.seq > up.seq && d.to.concurrency.high < up.to.concurrency.high), 60_000);
    expect(down.from?.concurrency.high).toBeGreaterThan(down.to.concurrency.high);
    // Every decision is in the audit stream as well.
    const audit = await readAll<DecisionRecord>(nc, runtime.names.streams.audit);
    expect(audit.map((a) => a.data.seq)).toEqual(expect.arrayContaining([up.seq, down.seq]));
    expect(decisions.length).toBeLessThan(12); // no flapping
  });

  it('supervisor - weddings known for tomorrow (from the executions) pre-scale before their day starts', async () => {
    await runtime?.stop();
    const prefix = uniqueName('sv');
    runtime = await startRuntime({
      nc,
      prefix,
      logger: pino({ level: 'silent' }),
      monitor: { intervalMs: 500 },
      supervisor: { tickMs: 500, config: { busyDayWeddings: 30, preScaleLeadHours: 48 } },
      handlers: { 'email.send': async () => undefined },
    });
    await runtime.definitions.deploy({ ...oneStep, steps: { wait: { type: 'wait', duration: 'P30D', next: 'send' }, ...oneStep.steps }, start: 'wait' });
    const critical = runtime.dispatcher.concurrency.critical;
    const tomorrow = addDaysToDate(localDate(Date.now(), 'Pacific/Auckland'), 1);
    const js = jetstream(nc);
    await Promise.all(
      Array.from({ length: 90 }, (_, i) =>
        js.publish(`${prefix}.cmd.start`, JSON.stringify({ supplierId: 'cal', clientId: `w${i}`, journeyId: 'one-step', weddingDate: tomorrow, timeZone: 'Pacific/Auckland' })),
      ),
    );
    await waitFor('calendar factor in force', () => (runtime!.supervisor!.snapshot?.context.current?.factors.calendar ?? 1) > 1, 30_000);
    expect(runtime.dispatcher.concurrency.critical).toBeGreaterThan(critical);
    expect(runtime.supervisor!.snapshot!.context.current!.reasons.join(' ')).toMatch(/calendar|busy|wedding/i);
  });
});

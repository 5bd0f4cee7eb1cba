/**
 * The aggregator continues the alert state it finds in KV; a damaged one is reported and replaced by an empty state, so
 * a bad value there never stops stats or alerts (the supervisor's snapshot is covered in supervisor-override.test.ts).
 */
import { describe, expect, it } from 'vitest';
import type { NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { startRuntime } from '../runtime/runtime.ts';
import type { StatsMessage } from '../schemas/stats.ts';
import { useNats, uniqueName, waitFor } from './harness/nats.ts';

let nc: NatsConnection;
useNats((_server, c) => (nc = c));

describe('monitor state in KV', () => {
  it('monitor - a damaged alert state in KV is replaced, and the aggregator goes on publishing', async () => {
    const prefix = uniqueName('ms');
    const seeded = await startRuntime({ nc, prefix, logger: pino({ level: 'silent' }), monitor: false, supervisor: false });
    await seeded.topology.runtime.put('alerts.state', '{"rules": {"x": {"rule": 1}}, "samples": "none"}');
    await seeded.stop();

    const errors: string[] = [];
    const logger = pino({ level: 'error' }, { write: (line: string) => void errors.push(line) });
    const rt = await startRuntime({ nc, prefix, logger, monitor: { intervalMs: 200 }, supervisor: false });
    try {
      const cluster: StatsMessage[] = [];
      const sub = nc.subscribe(rt.names.statsCluster, { callback: (_e, m) => void cluster.push(m.json<StatsMessage>()) });
      await waitFor('cluster stats after the damaged state was read', () => cluster.length >= 3, 20_000);
      sub.unsubscribe();
      expect(errors.join('\n')).toMatch(/alert state in KV is unusable, starting with none: rules\.x/);
      expect(rt.monitor!.aggregating).toBe(true);
    } finally {
      await rt.stop();
    }
  });
});

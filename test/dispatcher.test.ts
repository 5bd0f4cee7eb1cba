import { describe, expect, it } from 'vitest';
import type { Consumer, ConsumerMessages, JetStreamClient, JsMsg } from '@nats-io/jetstream';
import type { Tier } from '../actors/priority.ts';
import { Dispatcher } from '../runtime/engine/dispatcher.ts';
import { waitFor } from './harness/nats.ts';

/**
 * The pull loop's reaction to how a fetch ends, with stand-in consumers (what a server does with pulls is the
 * integration tests' business): the critical tier's fetches play the given scripts in turn, the last one repeating;
 * the other tiers' pulls stay idle.
 */
type Script = 'heartbeats missed' | 'one message' | 'idle';

function scriptedJs(critical: Script[]): { js: JetStreamClient; fetches: () => number } {
  let fetches = 0;
  const consumerOf = (scripts: Script[], counted: boolean): Consumer => ({
    async fetch(): Promise<ConsumerMessages> {
      const script = scripts[Math.min(counted ? fetches : 0, scripts.length - 1)]!;
      if (counted) fetches++;
      let closed: () => void = () => undefined;
      const done = new Promise<void>((r) => (closed = r));
      const messages = async function* (): AsyncGenerator<JsMsg> {
        if (script === 'heartbeats missed') throw new Error('heartbeats missed');
        if (script === 'one message') yield { subject: 'p.work.critical.s.x', info: { pending: 7 } } as unknown as JsMsg;
        await done; // a pull still open: ends when closed
      };
      return Object.assign(messages(), { close: async () => closed() }) as unknown as ConsumerMessages;
    },
  }) as unknown as Consumer;
  const get = async (_stream: string, name: string): Promise<Consumer> => (name === 'work-critical' ? consumerOf(critical, true) : consumerOf(['idle'], false));
  const js = { consumers: { get } } as unknown as JetStreamClient;
  return { js, fetches: () => fetches };
}

describe('dispatcher pulls', () => {
  it('dispatcher - a fetch ended by missed heartbeats is pulled again, not reported as an error', async () => {
    const { js, fetches } = scriptedJs(['heartbeats missed', 'one message', 'idle']);
    const errors: unknown[] = [];
    const handled: Tier[] = [];
    const d = new Dispatcher({
      js,
      stream: 'S',
      consumerOf: (t) => `work-${t}`,
      handle: async (tier) => void handled.push(tier),
      onError: (err) => void errors.push(err),
    });
    await d.start();
    try {
      await waitFor('a message handled after the missed heartbeats', () => handled.length > 0, 5_000, 10);
      expect(handled).toEqual(['critical']);
      expect(errors).toEqual([]);
      expect(fetches()).toBeGreaterThanOrEqual(2);
      // The reading the monitor and supervisor take instead of consumer info: the last delivery's pending.
      expect(d.queue('critical').pending).toBe(7);
    } finally {
      await d.stop();
    }
  });
});

/**
 * The runtime's publish path (runtime/engine/acked-publisher.ts) against a real JetStream: PubAcks matched through one inbox,
 * deduplication and compare-and-set answered as the server answers them, and every way a publish can fail surfacing as
 * an error, never as a hang.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { AckedPublisher, PublishError } from '../runtime/engine/acked-publisher.ts';
import { useNats, uniqueName } from './harness/nats.ts';

let nc: NatsConnection;
useNats((_, c) => (nc = c));
const publishers: AckedPublisher[] = [];
afterAll(() => {
  for (const p of publishers) p.close();
});

const data = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('acked publisher', () => {
  it('acked - 2,000 publishes in flight each get their own PubAck; a repeated Nats-Msg-Id is reported as a duplicate of the first', async () => {
    const stream = uniqueName('AP');
    await (await jetstreamManager(nc)).streams.add({ name: stream, subjects: [`${stream}.>`] });
    const p = new AckedPublisher(nc);
    publishers.push(p);
    const acks = await Promise.all(Array.from({ length: 2_000 }, (_, i) => p.publish(`${stream}.m`, data(`${i}`), { msgId: `m${i}` })));
    expect(acks.map((a) => a.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 2_000 }, (_, i) => i + 1));
    expect(acks.every((a) => a.stream === stream && !a.duplicate)).toBe(true);
    expect(await p.publish(`${stream}.m`, data('again'), { msgId: 'm7' })).toEqual({ stream, seq: acks[7]!.seq, duplicate: true });
  });

  it('acked - compare-and-set on the last sequence of a subject: the right one is stored, a stale one refused with its code', async () => {
    const stream = uniqueName('AC');
    await (await jetstreamManager(nc)).streams.add({ name: stream, subjects: [`${stream}.>`] });
    const p = new AckedPublisher(nc);
    publishers.push(p);
    const first = await p.publish(`${stream}.k`, data('1'), { expectedLastSubjectSequence: 0 });
    const second = await p.publish(`${stream}.k`, data('2'), { expectedLastSubjectSequence: first.seq });
    expect(second.seq).toBe(first.seq + 1);
    const stale = p.publish(`${stream}.k`, data('3'), { expectedLastSubjectSequence: first.seq });
    await expect(stale).rejects.toBeInstanceOf(PublishError);
    await expect(stale).rejects.toMatchObject({ code: 10071, message: expect.stringMatching(/wrong last sequence/) });
    await expect(p.publish(`${stream}.new`, data('x'), { expectedLastSubjectSequence: 0 })).resolves.toMatchObject({ seq: second.seq + 1 });
  });

  it('acked - no stream for the subject fails at once; a subject nobody answers fails after the timeout; close fails what still waits', async () => {
    const p = new AckedPublisher(nc, { timeoutMs: 300 });
    publishers.push(p);
    await expect(p.publish(uniqueName('nostream'), data('x'))).rejects.toMatchObject({ code: 503 });
    // A core subscriber takes the message and never answers.
    const silent = uniqueName('silent');
    const sub = nc.subscribe(silent);
    await nc.flush();
    await expect(p.publish(silent, data('x'))).rejects.toMatchObject({ code: 408 });
    const waiting = p.publish(silent, data('y'));
    p.close();
    await expect(waiting).rejects.toThrow(/closed/);
    sub.unsubscribe();
  });
});

/** Reading test observations out of JetStream. */
import { DeliverPolicy, jetstream, jetstreamManager, RetentionPolicy } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';

/** Creates a plain stream capturing `subjects` (no dedup window games: every message is kept). */
export async function createObservationStream(nc: NatsConnection, name: string, subjects: string[]): Promise<void> {
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name, subjects, retention: RetentionPolicy.Limits, duplicate_window: 100_000_000 });
}

export async function streamCount(nc: NatsConnection, stream: string): Promise<number> {
  const jsm = await jetstreamManager(nc);
  return (await jsm.streams.info(stream)).state.messages;
}

/** Every message of a stream, parsed as JSON, with its `Nats-Msg-Id` header. */
export async function readAll<T>(nc: NatsConnection, stream: string): Promise<{ data: T; msgId: string | undefined; subject: string }[]> {
  const total = await streamCount(nc, stream);
  if (total === 0) return [];
  const js = jetstream(nc);
  const consumer = await js.consumers.get(stream, { deliver_policy: DeliverPolicy.All });
  const out: { data: T; msgId: string | undefined; subject: string }[] = [];
  const messages = await consumer.consume({ max_messages: 1_000 });
  for await (const m of messages) {
    out.push({ data: m.json<T>(), msgId: m.headers?.get('Nats-Msg-Id') || undefined, subject: m.subject });
    if (m.info.pending === 0) break;
  }
  await messages.close();
  return out;
}

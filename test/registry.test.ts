import { describe, expect, it } from 'vitest';
import type { NatsConnection } from '@nats-io/transport-node';
import { createTestKit } from '../runtime/testkit.ts';
import type { ActionInvocation } from '../runtime/engine/actions.ts';
import { DefinitionInvalidError } from '../schemas/validate.ts';
import { encode } from '../runtime/codec.ts';
import type { Work } from '../runtime/engine/work.ts';
import { useNats, uniqueName } from './harness/nats.ts';

let nc: NatsConnection;
useNats((_server, c) => (nc = c));

const v1 = {
  id: 'pinned',
  version: 1,
  name: 'Pinned v1',
  vendorType: 'florist',
  trigger: { event: 'booking.created' },
  start: 'hello',
  steps: {
    hello: { type: 'action', action: 'email.send', params: { template: 'v1-hello' }, next: 'later' },
    later: { type: 'wait', duration: 'P1D', next: 'bye' },
    bye: { type: 'action', action: 'email.send', params: { template: 'v1-bye' }, next: 'done' },
    done: { type: 'end' },
  },
};
const v2 = {
  ...v1,
  version: 2,
  name: 'Pinned v2',
  steps: {
    hi: { type: 'action', action: 'email.send', params: { template: 'v2-hi' }, next: 'done' },
    done: { type: 'end' },
  },
  start: 'hi',
};

describe('definitions registry and idempotent start', () => {
  it('registry - a running execution keeps its version when a new one is deployed; new starts take the latest', async () => {
    const calls: ActionInvocation[] = [];
    const kit = await createTestKit({ nc, prefix: uniqueName('r'), now: new Date('2027-03-01T10:00:00Z'), handlers: { 'email.send': async (i) => void calls.push(i) } });
    await kit.deploy(v1);
    const old = await kit.start({ supplierId: 'f', clientId: 'a', journeyId: 'pinned' });
    await kit.deploy(v2);
    const fresh = await kit.start({ supplierId: 'f', clientId: 'b', journeyId: 'pinned' });
    await kit.advance('P1D');
    expect(calls.map((c) => [c.executionId, c.params['template']])).toEqual([
      [old, 'v1-hello'],
      [fresh, 'v2-hi'],
      [old, 'v1-bye'],
    ]);
    expect((await kit.status(old)).version).toBe(1);
    expect((await kit.status(fresh)).version).toBe(2);

    // Versions are immutable; invalid definitions never deploy.
    await expect(kit.runtime.definitions.deploy({ ...v1, name: 'changed' })).rejects.toThrow(/already deployed/);
    await expect(kit.runtime.definitions.deploy({ ...v1, version: 3, start: 'nowhere' })).rejects.toThrow(DefinitionInvalidError);
    expect(await kit.runtime.definitions.latestVersion('pinned')).toBe(2);
    await kit.stop();
  });

  it('registry - starting the same journey for the same client twice runs it once; a re-entry key runs it again', async () => {
    const calls: ActionInvocation[] = [];
    const kit = await createTestKit({ nc, prefix: uniqueName('r'), now: new Date('2027-03-01T10:00:00Z'), handlers: { 'email.send': async (i) => void calls.push(i) } });
    await kit.deploy(v2);
    const cmd = { supplierId: 'f', clientId: 'twice', journeyId: 'pinned' };
    const a = await kit.start(cmd);
    const b = await kit.start(cmd);
    await kit.client.start(cmd); // a third, without waiting in between
    await kit.settle();
    expect(b).toBe(a);
    expect(calls).toHaveLength(1);
    const again = await kit.start({ ...cmd, reentryKey: 'second-wedding' });
    expect(again).not.toBe(a);
    expect(calls).toHaveLength(2);
    await kit.stop();
  });

  it('registry - a start repeated after the dedup window leaves the execution where it is; a repeated action keeps its key', async () => {
    const calls: ActionInvocation[] = [];
    const kit = await createTestKit({ nc, prefix: uniqueName('r'), now: new Date('2027-03-01T10:00:00Z'), handlers: { 'email.send': async (i) => void calls.push(i) } });
    await kit.deploy(v1);
    const cmd = { supplierId: 'f', clientId: 'late-repeat', journeyId: 'pinned' };
    const id = await kit.start(cmd);
    const before = await kit.status(id);
    expect(before.state).toBe('later');
    // The same start work again under another message id: what the stream lets through once its dedup window has passed.
    // Its first delivery creates without reading; the create finds the record, and the redelivery reads it.
    const rt = kit.runtime;
    const def = { id: v1.id, version: 1 };
    await rt.js.publish(rt.names.work('low', cmd.supplierId, id), encode({ k: 'start', cmd: { ...cmd }, def } satisfies Work), { msgID: `late:${id}` });
    await kit.settle();
    const after = await kit.status(id);
    expect(after).toMatchObject({ state: 'later', status: 'active', version: 1 });
    expect(after.dueAt).toBe(before.dueAt);
    expect(new Set(calls.map((c) => c.key))).toEqual(new Set([`${id}.hello.1`])); // at most a repeat, same key
    await kit.advance('P1D');
    expect((await kit.status(id)).status).toBe('done');
    expect(calls.filter((c) => c.params['template'] === 'v1-bye')).toHaveLength(1);
    await kit.stop();
  });
});

/**
 * The executor's stepper must give exactly what XState's own pure functions give, for any sequence of events: it reuses
 * one inert scope per machine where `transition()` builds one per call (runtime/engine/machine-stepper.ts).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { initialTransition, transition } from 'xstate';
import { journeyExecutionMachine, type ExecutionEvent, type ExecutionInput } from '../actors/journey-execution.ts';
import type { JourneyDefinition } from '../schemas/journey-definition.ts';
import { stepperFor, type ExecutionSnapshot } from '../runtime/engine/machine-stepper.ts';
import { everyStepKind } from './fixtures.ts';

const machine = journeyExecutionMachine(everyStepKind as unknown as JourneyDefinition);
const T0 = Date.parse('2027-01-10T12:00:00Z');
const input = (executionId: string, now = T0): ExecutionInput => ({
  executionId,
  supplierId: 's',
  clientId: 'c',
  journeyId: everyStepKind.id,
  version: 1,
  timeZone: 'Europe/London',
  weddingDate: '2027-06-12',
  data: { guestCount: 120 },
  now,
});
/** What the executor stores and compares: the persisted form. */
const stored = (s: ExecutionSnapshot): unknown => JSON.parse(JSON.stringify({ value: s.value, status: s.status, context: s.context }));

/** The event the execution is waiting for (or a stray one), from a choice the property draws. */
function nextEvent(s: ExecutionSnapshot, choice: number, now: number): ExecutionEvent {
  const p = s.context.pending;
  switch (choice) {
    case 0:
      return p?.kind === 'action' ? { type: 'ACTION_DONE', key: p.key, now, result: { n: choice } } : { type: 'RETRY', now };
    case 1:
      return p?.kind === 'action' ? { type: 'ACTION_FAILED', key: p.key, now, error: 'smtp 451', attempts: 3 } : { type: 'RETRY', now };
    case 2:
      return p?.kind === 'timer' ? { type: 'TIMER', id: p.timer.id, now: Math.max(now, p.timer.dueAt) } : { type: 'TIMER', id: 'stray.0.0', now };
    case 3:
      return { type: 'EVENT', name: 'form.submitted', data: { guestCount: 80 }, now };
    case 4:
      return { type: 'EVENT', name: 'wedding.rescheduled', data: { weddingDate: '2027-07-03' }, now };
    case 5:
      return { type: 'PAUSE', now };
    case 6:
      return { type: 'RESUME', now };
    default:
      return { type: 'CANCEL', now, reason: 'test' };
  }
}

describe('machine stepper', () => {
  it('stepper - initial and next equal initialTransition and transition for any sequence of events', () => {
    const stepper = stepperFor(machine);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 7 }), { maxLength: 30 }), fc.string({ minLength: 1, maxLength: 12 }), (choices, id) => {
        let ours = stepper.initial(input(id));
        let theirs = initialTransition(machine, input(id) as never)[0] as ExecutionSnapshot;
        expect(stored(ours)).toEqual(stored(theirs));
        let now = T0;
        for (const choice of choices) {
          now += 3_600_000;
          // Both go through a JSON round trip first, as the executor restores a snapshot from KV before each message.
          const event = nextEvent(theirs, choice, now);
          ours = stepper.next(machine.resolveState(stored(ours) as never), event);
          theirs = transition(machine, machine.resolveState(stored(theirs) as never), event as never)[0] as ExecutionSnapshot;
          expect(stored(ours)).toEqual(stored(theirs));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('stepper - one stepper per machine, shared by executions without leaking state between them', () => {
    expect(stepperFor(machine)).toBe(stepperFor(machine));
    const stepper = stepperFor(machine);
    const a = stepper.initial(input('a'));
    const b = stepper.initial(input('b', T0 + 1));
    expect(a.context.executionId).toBe('a');
    expect(b.context.executionId).toBe('b');
    const a2 = stepper.next(a, { type: 'ACTION_DONE', key: 'a.welcome.1', now: T0 + 2 });
    expect(a2.value).not.toBe(a.value);
    expect(stored(stepper.initial(input('a')))).toEqual(stored(a)); // the first is unchanged by what came after
    expect(b.value).toBe('welcome');
  });
});

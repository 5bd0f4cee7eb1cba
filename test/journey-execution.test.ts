import { describe, expect, it } from 'vitest';
import { initialTransition, transition } from 'xstate';
import { journeyExecutionMachine, type ExecutionEvent } from '../actors/journey-execution.ts';
import type { JourneyDefinition } from '../schemas/journey-definition.ts';
import { everyStepKind } from './fixtures.ts';

const def = everyStepKind as unknown as JourneyDefinition;
const machine = journeyExecutionMachine(def);
const input = {
  executionId: 'ex_test',
  supplierId: 's',
  clientId: 'c',
  journeyId: def.id,
  version: 1,
  timeZone: 'Europe/London',
  weddingDate: '2027-06-12',
  now: Date.parse('2027-01-10T12:00:00Z'),
};

/** Persist (JSON round trip, as KV stores it) and restore before every event: a machine that only lives per message. */
function step(snapshot: ReturnType<typeof machine.resolveState>, event: ExecutionEvent) {
  const stored = JSON.parse(JSON.stringify({ value: snapshot.value, context: snapshot.context }));
  return transition(machine, machine.resolveState(stored), event as never)[0];
}

describe('journey execution machine', () => {
  it('journey-execution - survives a persistence round trip at every step and completes', () => {
    let [s] = initialTransition(machine, input as never);
    expect(s.value).toBe('welcome');
    const p = s.context.pending!;
    expect(p).toMatchObject({ kind: 'action', key: 'ex_test.welcome.1', action: 'email.send' });
    s = step(s, { type: 'ACTION_DONE', key: 'ex_test.welcome.1', now: input.now + 10 });
    expect(s.value).toBe('sixWeeks');
    const timer = s.context.pending?.kind === 'timer' ? s.context.pending.timer : undefined;
    expect(timer).toMatchObject({ id: 'sixWeeks.1.0', dueAt: Date.parse('2027-05-01T08:00:00Z'), anchoredToWedding: true });

    // A stale or foreign timer does nothing; the right one moves on.
    s = step(s, { type: 'TIMER', id: 'sixWeeks.0.0', now: input.now + 20 });
    expect(s.value).toBe('sixWeeks');
    s = step(s, { type: 'TIMER', id: 'sixWeeks.1.0', now: timer!.dueAt });
    expect(s.value).toBe('questionnaire');
    expect(s.context.visits).toMatchObject({ welcome: 1, cohort: 1, sixWeeks: 1, questionnaire: 1 });
  });

  it('journey-execution - pause holds timers, resume re-arms them, cancel ends it', () => {
    let [s] = initialTransition(machine, input as never);
    s = step(s, { type: 'ACTION_DONE', key: 'ex_test.welcome.1', now: input.now });
    const id = s.context.pending?.kind === 'timer' ? s.context.pending.timer.id : '';
    s = step(s, { type: 'PAUSE', now: input.now + 1 });
    s = step(s, { type: 'TIMER', id, now: input.now + 2 });
    expect(s.value).toBe('sixWeeks');
    expect(s.context.paused).toBe(true);
    s = step(s, { type: 'RESUME', now: input.now + 3 });
    s = step(s, { type: 'TIMER', id, now: input.now + 4 });
    expect(s.value).toBe('questionnaire');
    s = step(s, { type: 'CANCEL', now: input.now + 5 });
    expect(s.value).toBe('cancelled');
    expect(s.status).toBe('done');
  });

  it('journey-execution - a failed action records the failure and a retry clears it', () => {
    let [s] = initialTransition(machine, input as never);
    s = step(s, { type: 'ACTION_FAILED', key: 'ex_test.welcome.1', now: input.now, error: 'boom', attempts: 3 });
    expect(s.context.failure).toMatchObject({ stepId: 'welcome', error: 'boom', attempts: 3 });
    s = step(s, { type: 'RETRY', now: input.now + 1 });
    expect(s.context.failure).toBeNull();
    expect(s.context.pending?.kind).toBe('action');
  });

  it('journey-execution - quiet hours hold an action to the end of the window, approval waits for the vendor', () => {
    const quiet = journeyExecutionMachine({
      ...def,
      id: 'quiet',
      quietHours: { start: '21:00', end: '08:00' },
      steps: { ...def.steps, welcome: { type: 'action', action: 'email.send', approval: true, next: 'cohort' } },
    } as JourneyDefinition);
    const late = Date.parse('2027-01-10T23:30:00Z');
    let [s] = initialTransition(quiet, { ...input, now: late } as never);
    expect(s.context.pending).toMatchObject({ kind: 'approval', stepId: 'welcome' });
    s = transition(quiet, s, { type: 'EVENT', name: 'approval.granted', data: { stepId: 'welcome' }, now: late + 1 } as never)[0];
    expect(s.context.pending).toMatchObject({ kind: 'timer', timer: { purpose: 'quietHours', dueAt: Date.parse('2027-01-11T08:00:00Z') } });
    const id = s.context.pending?.kind === 'timer' ? s.context.pending.timer.id : '';
    s = transition(quiet, s, { type: 'TIMER', id, now: Date.parse('2027-01-11T08:00:00Z') } as never)[0];
    expect(s.context.pending).toMatchObject({ kind: 'action', action: 'email.send' });
  });
});

/**
 * The journey execution machine: an XState v5 machine compiled from a journey definition, one state per step.
 *
 * Pure by construction: time arrives on every event (`now`), ids are derived from the execution id, and waits are not
 * XState delays (they are not durable, FINDINGS 2). A waiting step records what it waits for in `context.pending`; the
 * runtime turns that into a durable timer or an action invocation and answers with a `TIMER` or `ACTION_*` event.
 */
import { assign, setup, type AnyEventObject } from 'xstate';
import type {
  ActionStep,
  JourneyDefinition,
  Step,
  WaitUntilStep,
} from '../schemas/journey-definition.ts';
import { addDuration, parseDuration } from './duration.ts';
import { evaluate, parseExpression, truthy } from './expression.ts';
import { nextAllowedTime, resolveWaitUntil } from './time.ts';
import {
  actionKey,
  pickVariant,
  withHistory,
  type ExecutionContext,
  type ExecutionEvent,
  type ExecutionInput,
  type Pending,
  type TimerRef,
} from './execution-state.ts';

export type { ExecutionContext, ExecutionEvent, ExecutionInput, Pending, TimerRef } from './execution-state.ts';

/** Name of the external event that moves the wedding date (R14). */
export const RESCHEDULE_EVENT = 'wedding.rescheduled';
export const APPROVAL_GRANTED = 'approval.granted';
export const APPROVAL_REJECTED = 'approval.rejected';

type Ctx = ExecutionContext;
type Ev = ExecutionEvent;
/** A state node config; typed loosely because it is generated, with every guard and action typed by hand below. */
type StateConfig = Record<string, unknown>;
type Args = { context: Ctx; event: Ev };
type EvOf<T extends Ev['type']> = Extract<Ev, { type: T }>;

const nowOf = (event: AnyEventObject, context: Ctx): number => {
  const now: unknown = event['now'];
  return typeof now === 'number' ? now : context.now;
};

/** Compiles a (validated) definition into its execution machine. Cache the result per (id, version). */
export function journeyExecutionMachine(def: JourneyDefinition) {
  const exitEvents = new Set(def.exitEvents ?? []);
  const states: Record<string, StateConfig> = {};
  for (const [stepId, step] of Object.entries(def.steps)) states[stepId] = compileStep(def, stepId, step);
  states['exited'] = { type: 'final' };
  states['cancelled'] = { type: 'final' };

  return setup({ types: {} as { context: Ctx; events: Ev; input: ExecutionInput } }).createMachine({
    id: 'journey',
    context: ({ input }: { input: ExecutionInput }) => ({
      executionId: input.executionId,
      supplierId: input.supplierId,
      clientId: input.clientId,
      journeyId: input.journeyId,
      version: input.version,
      vendorType: input.vendorType ?? def.vendorType,
      timeZone: input.timeZone,
      ...(input.weddingDate ? { weddingDate: input.weddingDate } : {}),
      ...(input.bookedAt ? { bookedAt: input.bookedAt } : {}),
      data: input.data ?? {},
      now: input.now,
      step: def.start,
      visits: {},
      pending: null,
      paused: false,
      failure: null,
      cohorts: {},
      history: [],
    }),
    initial: def.start,
    on: rootHandlers(def, exitEvents),
    states,
  } as never);
}

/** Root-level handlers: cancel, pause, resume, replay, exit events, a moved wedding, and event data. */
function rootHandlers(def: JourneyDefinition, exitEvents: ReadonlySet<string>) {
  return {
    CANCEL: { target: '.cancelled', actions: assign(({ context, event }: Args) => leave(context, event, 'cancelled')) },
    PAUSE: { actions: assign(({ event }: Args) => ({ paused: true, now: event.now })) },
    RESUME: { actions: assign(({ event }: Args) => ({ paused: false, now: event.now })) },
    RETRY: { actions: assign(({ event }: Args) => ({ failure: null, now: event.now })) },
    EVENT: [
      {
        guard: ({ event }: { event: EvOf<'EVENT'> }) => exitEvents.has(event.name),
        target: '.exited',
        actions: assign(({ context, event }: Args) => leave(context, event, `exit:${(event as EvOf<'EVENT'>).name}`)),
      },
      {
        guard: ({ event }: { event: EvOf<'EVENT'> }) => event.name === RESCHEDULE_EVENT,
        actions: assign(({ context, event }: { context: Ctx; event: EvOf<'EVENT'> }) => reschedule(def, context, event)),
      },
      {
        actions: assign(({ context, event }: { context: Ctx; event: EvOf<'EVENT'> }) => ({
          data: mergeData(context.data, event.data),
          now: event.now,
        })),
      },
    ],
  };
}

export type JourneyExecutionMachine = ReturnType<typeof journeyExecutionMachine>;

function leave(context: Ctx, event: Ev, note: string): Partial<Ctx> {
  return { pending: null, now: event.now, history: withHistory(context.history, { step: context.step, at: event.now, note }) };
}

function mergeData(data: Record<string, unknown>, extra: Record<string, unknown> | undefined): Record<string, unknown> {
  return extra && Object.keys(extra).length > 0 ? { ...data, ...extra } : data;
}

function compileStep(def: JourneyDefinition, stepId: string, step: Step): StateConfig {
  const entry = assign(({ context, event }: { context: Ctx; event: AnyEventObject }) =>
    enterStep(def, stepId, step, context, nowOf(event, context)),
  );
  const timerIs = (context: Ctx, event: Ev): boolean =>
    event.type === 'TIMER' && !context.paused && timerOf(context.pending)?.id === event.id && context.step === stepId;
  switch (step.type) {
    case 'action':
      return {
        entry,
        on: {
          TIMER: {
            guard: ({ context, event }: Args) => timerIs(context, event),
            actions: assign(({ context, event }: Args) => ({ now: event.now, pending: actionPending(def, stepId, step, context, event.now, true) })),
          },
          ACTION_DONE: {
            guard: ({ context, event }: { context: Ctx; event: EvOf<'ACTION_DONE'> }) => context.pending?.kind === 'action' && context.pending.key === event.key,
            target: step.next,
            actions: assign(({ context, event }: { context: Ctx; event: EvOf<'ACTION_DONE'> }) => ({
              now: event.now,
              failure: null,
              data: event.result ? { ...context.data, [stepId]: event.result } : context.data,
            })),
          },
          ACTION_FAILED: {
            guard: ({ context, event }: { context: Ctx; event: EvOf<'ACTION_FAILED'> }) => context.pending?.kind === 'action' && context.pending.key === event.key,
            actions: assign(({ context, event }: { context: Ctx; event: EvOf<'ACTION_FAILED'> }) => ({
              now: event.now,
              failure: { stepId, visit: context.visits[stepId] ?? 1, error: event.error, attempts: event.attempts },
            })),
          },
          EVENT: [
            {
              guard: ({ context, event }: Args) => context.pending?.kind === 'approval' && isFor(event, APPROVAL_GRANTED, stepId),
              actions: assign(({ context, event }: Args) => ({ now: event.now, pending: actionPending(def, stepId, step, context, event.now, false) })),
            },
            {
              guard: ({ context, event }: Args) => context.pending?.kind === 'approval' && isFor(event, APPROVAL_REJECTED, stepId),
              target: step.next,
            },
          ],
        },
      };
    case 'wait':
      return { entry, on: { TIMER: { guard: ({ context, event }: Args) => timerIs(context, event), target: step.next } } };
    case 'waitUntil': {
      const skipTarget = skipTargetOf(def, step);
      const pastSkip = ({ context }: { context: Ctx }): boolean => timerOf(context.pending)?.skip === true;
      return {
        entry,
        always: [
          ...(skipTarget ? [{ guard: pastSkip, target: skipTarget }] : []),
          { guard: ({ context }: { context: Ctx }) => dueNow(context), target: step.next },
        ],
        on: {
          TIMER: [
            ...(skipTarget
              ? [{ guard: ({ context, event }: { context: Ctx; event: Ev }) => timerIs(context, event) && pastSkip({ context }), target: skipTarget }]
              : []),
            { guard: ({ context, event }: Args) => timerIs(context, event), target: step.next },
          ],
        },
      };
    }
    case 'waitForEvent':
      return {
        entry,
        on: {
          EVENT: {
            guard: ({ event }: { event: EvOf<'EVENT'> }) => event.name === step.event,
            target: step.onEvent,
            actions: assign(({ context, event }: { context: Ctx; event: EvOf<'EVENT'> }) => ({ data: mergeData(context.data, event.data), now: event.now })),
          },
          TIMER: { guard: ({ context, event }: Args) => timerIs(context, event), target: step.onTimeout },
        },
      };
    case 'branch': {
      const cases = step.cases.map((c) => ({ expr: parseExpression(c.when), next: c.next }));
      return {
        entry,
        always: [
          ...cases.map((c) => ({ guard: ({ context }: { context: Ctx }) => truthy(evaluate(c.expr, scopeOf(context))), target: c.next })),
          { target: step.default },
        ],
      };
    }
    case 'split':
      return {
        entry,
        always: step.variants.map((v) => ({
          guard: ({ context }: { context: Ctx }) => pickVariant(context.executionId, stepId, step.variants).name === v.name,
          target: v.next,
          actions: assign(({ context }: { context: Ctx }) => ({ cohorts: { ...context.cohorts, [stepId]: v.name } })),
        })),
      };
    case 'end':
      return { entry, type: 'final' };
  }
}

function isFor(event: Ev, name: string, stepId: string): boolean {
  if (event.type !== 'EVENT' || event.name !== name) return false;
  const target = event.data?.['stepId'];
  return target === undefined || target === stepId;
}

function timerOf(p: Pending | null): TimerRef | undefined {
  return p && (p.kind === 'timer' || p.kind === 'event') ? p.timer : undefined;
}

/** A `waitUntil` whose due time had already passed on entry continues at once (`ifPast: run`). */
function dueNow(context: Ctx): boolean {
  const t = timerOf(context.pending);
  return t !== undefined && t.purpose === 'waitUntil' && t.dueAt <= context.now && !context.paused;
}

/** State entry: counts the visit, records history and works out what the step waits for. */
function enterStep(def: JourneyDefinition, stepId: string, step: Step, context: Ctx, now: number): Partial<Ctx> {
  const visit = (context.visits[stepId] ?? 0) + 1;
  const next: Ctx = {
    ...context,
    now,
    step: stepId,
    visits: { ...context.visits, [stepId]: visit },
    history: withHistory(context.history, { step: stepId, at: now }),
    pending: null,
    failure: null,
  };
  next.pending = pendingFor(def, stepId, step, next, now);
  return next;
}

function pendingFor(def: JourneyDefinition, stepId: string, step: Step, context: Ctx, now: number): Pending | null {
  const visit = context.visits[stepId] ?? 1;
  switch (step.type) {
    case 'action':
      return step.approval ? { kind: 'approval', stepId, visit } : actionPending(def, stepId, step, context, now, false);
    case 'wait':
      return { kind: 'timer', stepId, visit, timer: newTimer(context, stepId, visit, addDuration(now, parseDuration(step.duration)!, context.timeZone), 'wait') };
    case 'waitUntil': {
      const dueAt = waitUntilDue(step, context);
      const timer = newTimer(context, stepId, visit, dueAt, 'waitUntil');
      if (step.anchor === 'weddingDate') timer.anchoredToWedding = true;
      if (dueAt <= now && (step.ifPast ?? 'run') === 'skip') timer.skip = true;
      return { kind: 'timer', stepId, visit, timer };
    }
    case 'waitForEvent':
      return {
        kind: 'event',
        stepId,
        visit,
        event: step.event,
        timer: newTimer(context, stepId, visit, addDuration(now, parseDuration(step.timeout)!, context.timeZone), 'eventTimeout'),
      };
    default:
      return null;
  }
}

/** The action invocation, held back to the end of quiet hours unless it already waited for them. */
function actionPending(def: JourneyDefinition, stepId: string, step: ActionStep, context: Ctx, now: number, quietDone: boolean): Pending {
  const visit = context.visits[stepId] ?? 1;
  if (!quietDone && step.quietHours !== false && def.quietHours) {
    const allowed = nextAllowedTime(now, def.quietHours, context.timeZone);
    if (allowed > now) return { kind: 'timer', stepId, visit, timer: newTimer(context, stepId, visit, allowed, 'quietHours') };
  }
  return {
    kind: 'action',
    stepId,
    visit,
    key: actionKey(context.executionId, stepId, visit),
    action: step.action,
    params: (step.params ?? {}) as Record<string, unknown>,
  };
}

function newTimer(context: Ctx, stepId: string, visit: number, dueAt: number, purpose: TimerRef['purpose']): TimerRef {
  // The id changes when the same step re-times (a moved wedding), so a superseded timer that fires is ignored.
  const retimes = context.pending && context.pending.stepId === stepId && timerOf(context.pending) ? Number(timerOf(context.pending)!.id.split('.').pop()) + 1 : 0;
  return { id: `${stepId}.${visit}.${retimes}`, dueAt, purpose };
}

/** Due instant of a `waitUntil` step; a missing anchor (no wedding date yet) counts as past. */
function waitUntilDue(step: WaitUntilStep, context: Ctx): number {
  const anchor = anchorValue(step.anchor, context);
  if (anchor === undefined) return Number.NEGATIVE_INFINITY;
  const offset = step.offset ? parseDuration(step.offset) : undefined;
  return resolveWaitUntil({ anchor, ...(offset ? { offset } : {}), ...(step.at ? { at: step.at } : {}) }, context.timeZone);
}

function anchorValue(anchor: string, context: Ctx): string | undefined {
  if (anchor === 'weddingDate') return context.weddingDate;
  if (anchor === 'bookedAt') return context.bookedAt;
  if (anchor.startsWith('data.')) {
    const v = context.data[anchor.slice(5)];
    return typeof v === 'string' ? v : undefined;
  }
  return anchor;
}

/** Where `ifPast: skip` goes: `skipTo`, or past the step that follows the wait. */
export function skipTargetOf(def: JourneyDefinition, step: WaitUntilStep): string | undefined {
  if ((step.ifPast ?? 'run') !== 'skip') return undefined;
  if (step.skipTo) return step.skipTo;
  const follower = def.steps[step.next];
  return follower && 'next' in follower && typeof follower.next === 'string' ? follower.next : undefined;
}

/** A moved wedding: new date, and a pending wait anchored to it is re-timed (with a new timer id). */
function reschedule(def: JourneyDefinition, context: Ctx, event: Extract<Ev, { type: 'EVENT' }>): Partial<Ctx> {
  const weddingDate = event.data?.['weddingDate'];
  if (typeof weddingDate !== 'string') return { now: event.now };
  const timeZone = typeof event.data?.['timeZone'] === 'string' ? (event.data['timeZone'] as string) : context.timeZone;
  const next: Ctx = { ...context, weddingDate, timeZone, now: event.now };
  const p = context.pending;
  const step = def.steps[context.step];
  if (p?.kind === 'timer' && p.timer.anchoredToWedding && step?.type === 'waitUntil') {
    const dueAt = waitUntilDue(step, next);
    const timer = newTimer(next, p.stepId, p.visit, dueAt, 'waitUntil');
    timer.anchoredToWedding = true;
    if (dueAt <= event.now && (step.ifPast ?? 'run') === 'skip') timer.skip = true;
    next.pending = { ...p, timer };
  }
  next.history = withHistory(context.history, { step: context.step, at: event.now, note: `rescheduled:${weddingDate}` });
  return next;
}

function scopeOf(context: Ctx): Record<string, unknown> {
  return {
    data: context.data,
    weddingDate: context.weddingDate,
    bookedAt: context.bookedAt,
    vendorType: context.vendorType,
    supplierId: context.supplierId,
    timeZone: context.timeZone,
    cohorts: context.cohorts,
  };
}

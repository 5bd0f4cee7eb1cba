/**
 * The executor's way into a journey machine: the initial snapshot and the next one, as XState's pure `initialTransition`
 * and `transition` compute them, without their cost. Each of those calls builds a fresh inert actor scope, and building
 * one creates an actor that computes the machine's whole initial snapshot: about a quarter of a single-step execution's
 * CPU (FINDINGS 17). The scope is inert (never started, hooks that do nothing, actions dropped: the runtime performs the
 * effects a snapshot asks for, not XState), so one per machine serves every call.
 *
 * It leans on the shape of that scope in xstate 5.33 (`package.json` pins the version); `test/machine-stepper.test.ts`
 * checks that every result equals XState's own functions, so an upgrade that changes the shape fails there first.
 */
import { createActor, type AnyActorScope, type AnyStateMachine } from 'xstate';
import type { ExecutionEvent, ExecutionInput, JourneyExecutionMachine } from '../../actors/journey-execution.ts';

export type ExecutionSnapshot = ReturnType<JourneyExecutionMachine['resolveState']>;

export interface MachineStepper {
  /** What `initialTransition(machine, input)[0]` returns. */
  initial(input: ExecutionInput): ExecutionSnapshot;
  /** What `transition(machine, snapshot, event)[0]` returns. */
  next(snapshot: ExecutionSnapshot, event: ExecutionEvent): ExecutionSnapshot;
}

const steppers = new WeakMap<JourneyExecutionMachine, MachineStepper>();

/** The stepper of `machine`, made on first use and kept as long as the machine is. */
export function stepperFor(machine: JourneyExecutionMachine): MachineStepper {
  let stepper = steppers.get(machine);
  if (!stepper) {
    stepper = makeStepper(machine);
    steppers.set(machine, stepper);
  }
  return stepper;
}

function makeStepper(machine: JourneyExecutionMachine): MachineStepper {
  // As xstate's createInertActorScope builds it, once. Journey machines spawn no children, so its system stays empty.
  const self = createActor(machine as unknown as AnyStateMachine); // no input, as xstate does: this snapshot is never used
  const noop = (): void => undefined;
  const scope = {
    self,
    defer: noop,
    id: '',
    logger: noop,
    sessionId: '',
    stopChild: noop,
    system: self.system,
    emit: noop,
    actionExecutor: noop,
  } as unknown as AnyActorScope;
  return {
    initial: (input) => machine.getInitialSnapshot(scope as never, input as never) as ExecutionSnapshot,
    next: (snapshot, event) => machine.transition(snapshot as never, event as never, scope as never) as ExecutionSnapshot,
  };
}

/**
 * The journey runtime for embedding: start an instance on your NATS connection, talk to one as a client, run journeys
 * under a simulated clock in tests. Operators use the `journeys` CLI (`runtime/cli/main.ts`) instead.
 */
export { startRuntime } from './runtime.ts';
export type { Runtime, RuntimeOptions } from './runtime.ts';
export { serve } from './serve.ts';
export type { ServeOptions, Served } from './serve.ts';
export { JourneyClient, statusOf } from './client.ts';
export type { ExecutionStatus } from './client.ts';
export { createTestKit } from './testkit.ts';
export type { TestKit, TestKitOptions } from './testkit.ts';
export { connectFromEnv, connectionOptionsFromEnv } from './connection.ts';
export { SimulatedClock, systemClock } from './clock.ts';
export type { Clock } from './clock.ts';
export { ActionError, ErrorCodes, RejectedError, RuntimeError } from './errors.ts';
export type { ErrorCode } from './errors.ts';
export type { ActionHandler, ActionInvocation, ResolvedAction } from './engine/actions.ts';
export type { ActionCommand, ActionResult, ActionsFile, ActionConfig, ActionMode } from '../schemas/actions.ts';
export { executionIdOf } from './engine/execution-record.ts';
export { createLogger } from './logger.ts';
export { validateJourneyConfiguration, DefinitionInvalidError } from '../schemas/validate.ts';
export type { JourneyDefinition } from '../schemas/journey-definition.ts';
export type { StartCommand, EventCommand, ControlCommand } from '../schemas/commands.ts';
export type { StatsMessage } from '../schemas/stats.ts';

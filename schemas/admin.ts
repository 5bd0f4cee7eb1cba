/**
 * Admin requests (JSON on `<prefix>.admin.<action>`), from operators with the plain `nats` CLI. Like the commands, one
 * TypeBox source gives the types, the runtime validation and the published JSON Schema files. Unknown properties are
 * refused: a typo in an operator's request should say so, not be ignored.
 */
import { Type, type Static } from '@sinclair/typebox';
import { ExecutionId, Who } from './commands.ts';

const ID = 'urn:wedsync:journey:admin:';

/** `executions.status`: one execution's state. */
export const ExecutionStatusRequestSchema = Type.Object(
  { executionId: ExecutionId },
  { $id: `${ID}executions.status`, additionalProperties: false, title: 'execution status request' },
);
export type ExecutionStatusRequest = Static<typeof ExecutionStatusRequestSchema>;

/** `dlq.replay` and `dlq.discard`: one dead letter, by its stream sequence. */
export const DeadLetterRequestSchema = Type.Object(
  {
    seq: Type.Integer({
      minimum: 1,
      maximum: Number.MAX_SAFE_INTEGER,
      description: 'Stream sequence of the dead letter.',
    }),
    by: Type.Optional(Who),
  },
  { $id: `${ID}dlq`, additionalProperties: false, title: 'dead-letter replay / discard request' },
);
export type DeadLetterRequest = Static<typeof DeadLetterRequestSchema>;

/**
 * `definitions.deploy` with who deploys: `{ definition, by }`. A bare journey definition is accepted as well (it has no
 * `definition` property); either way the definition is checked against `journey-definition.schema.json`.
 */
export const DeployRequestSchema = Type.Object(
  {
    definition: Type.Record(Type.String(), Type.Unknown(), {
      description: 'A journey definition (journey-definition.schema.json).',
    }),
    by: Type.Optional(Who),
  },
  { $id: `${ID}definitions.deploy`, additionalProperties: false, title: 'definition deploy request' },
);
export type DeployRequest = Static<typeof DeployRequestSchema>;

/** Actions answered on `<prefix>.admin.<action>`. */
export const ADMIN_ACTIONS = ['executions.status', 'dlq.replay', 'dlq.discard', 'definitions.deploy'] as const;
export type AdminAction = (typeof ADMIN_ACTIONS)[number];

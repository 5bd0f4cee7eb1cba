/**
 * Writes the published JSON Schema files from their TypeBox sources.
 *
 *   npx tsx schemas/generate.ts          # (re)write the files
 *   npx tsx schemas/generate.ts --check  # CI: exit 1 if a file on disk is stale
 *
 * To publish another schema, add it to {@link GENERATED_SCHEMAS}.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { TSchema } from '@sinclair/typebox';
import { ActionCommandSchema, ActionResultSchema, ActionsFileSchema } from './actions.ts';
import {
  DeadLetterRequestSchema,
  DeployRequestSchema,
  ExecutionStatusReplySchema,
  ExecutionStatusRequestSchema,
} from './admin.ts';
import { ControlCommandSchema, EventCommandSchema, ScaleOverrideSchema, StartCommandSchema } from './commands.ts';
import { JourneyDefinitionSchema } from './journey-definition.ts';
import { StatsMessageSchema } from './stats.ts';

/** A generated file, relative to this directory, and the schema it is rendered from. */
export interface GeneratedSchema {
  file: string;
  schema: TSchema;
}

export const GENERATED_SCHEMAS: readonly GeneratedSchema[] = [
  { file: 'journey-definition.schema.json', schema: JourneyDefinitionSchema },
  { file: 'start-command.schema.json', schema: StartCommandSchema },
  { file: 'event-command.schema.json', schema: EventCommandSchema },
  { file: 'control-command.schema.json', schema: ControlCommandSchema },
  { file: 'scale-override.schema.json', schema: ScaleOverrideSchema },
  { file: 'admin-executions-status.schema.json', schema: ExecutionStatusRequestSchema },
  { file: 'admin-executions-status-reply.schema.json', schema: ExecutionStatusReplySchema },
  { file: 'admin-dlq.schema.json', schema: DeadLetterRequestSchema },
  { file: 'admin-definitions-deploy.schema.json', schema: DeployRequestSchema },
  { file: 'stats.schema.json', schema: StatsMessageSchema },
  { file: 'action-command.schema.json', schema: ActionCommandSchema },
  { file: 'action-result.schema.json', schema: ActionResultSchema },
  { file: 'actions-config.schema.json', schema: ActionsFileSchema },
];

/**
 * File contents for a schema: draft-07 first, then the schema. A JSON round trip drops TypeBox's
 * symbol-keyed metadata (`Kind`, `OptionalKind`), leaving plain JSON Schema.
 */
export function renderSchema(schema: TSchema): string {
  const plain = JSON.parse(JSON.stringify(schema)) as Record<string, unknown>;
  return `${JSON.stringify({ $schema: 'http://json-schema.org/draft-07/schema#', ...plain }, null, 2)}\n`;
}

function readOrEmpty(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

function main(argv: readonly string[]): number {
  const check = argv.includes('--check');
  const stale: string[] = [];
  for (const { file, schema } of GENERATED_SCHEMAS) {
    const path = fileURLToPath(new URL(file, import.meta.url));
    const content = renderSchema(schema);
    if (readOrEmpty(path) === content) continue;
    if (check) stale.push(file);
    else {
      writeFileSync(path, content);
      console.log(`wrote schemas/${file}`);
    }
  }
  if (stale.length > 0) {
    console.error(
      `schemas out of date: ${stale.join(', ')}; run \`npx tsx schemas/generate.ts\` and commit the result`,
    );
    return 1;
  }
  return 0;
}

// Only when run as a script: the test suite imports `renderSchema` and `GENERATED_SCHEMAS`.
if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.exitCode = main(process.argv.slice(2));
}

/**
 * The start intake (R6): a service publishes a start straight into its tier's work stream, on
 * `<prefix>.work.<tier>.<supplier>.<execution>.start`, as the same JSON as `<prefix>.cmd.start` with
 * `Nats-Msg-Id: start:<execution>`. A start then costs one stored message, not a command, a router hop and a work
 * message, and never waits behind other commands. `JourneyClient.publishStart` computes the execution id and the tier.
 *
 * Nothing on the subject is trusted (R30): the command is validated like any other, must be the start of the execution
 * its subject names, and its tier is computed again from the wedding date in the definition's time zone; a start filed
 * under another tier is moved to its own. It carries no flags (a `reserved` field is refused by the closed schema).
 */
import { TIERS, tierAt, type Tier } from '../../actors/priority.ts';
import type { StartCommand } from '../../schemas/commands.ts';
import { RejectedError } from '../errors.ts';
import { executionIdOf } from './execution-record.ts';
import { parseCommand } from '../inbound.ts';
import { seal } from '../sealed.ts';
import { isExecutionId, isSupplierId, type Work } from './work.ts';

export interface IntakeStart {
  /** The tier it was filed under (the publisher's word, not trusted). */
  filedTier: Tier;
  supplierId: string;
  executionId: string;
  cmd: StartCommand;
}

/** True for a start intake subject: six tokens, the last `start` (internal work subjects have five). */
export function isIntakeSubject(subject: string): boolean {
  return subject.endsWith('.start') && subject.split('.').length === 6;
}

/** Parses and checks a start read from the intake. Throws `RejectedError` (BAD_COMMAND, BAD_JSON, PAYLOAD_TOO_LARGE, INVALID_PAYLOAD). */
export function parseIntake(subject: string, data: Uint8Array, maxBytes: number): IntakeStart {
  const parts = subject.split('.');
  const [, branch, tier, supplierId, executionId, last] = parts;
  if (parts.length !== 6 || branch !== 'work' || last !== 'start' || !(TIERS as readonly (string | undefined)[]).includes(tier)) {
    throw new RejectedError('BAD_COMMAND', 'subject: not <prefix>.work.<tier>.<supplier>.<execution>.start');
  }
  if (!isSupplierId(supplierId) || !isExecutionId(executionId)) {
    throw new RejectedError('BAD_COMMAND', 'subject: supplier or execution token is not an id');
  }
  const cmd = parseCommand('start', data, maxBytes).body as StartCommand;
  if (cmd.supplierId !== supplierId || executionIdOf(cmd) !== executionId) {
    throw new RejectedError('BAD_COMMAND', `subject: names execution ${executionId}, the start is ${cmd.supplierId}'s ${executionIdOf(cmd)}`);
  }
  return { filedTier: tier as Tier, supplierId, executionId, cmd };
}

/** The tier a start belongs in at `now`: its wedding date in its zone, else the definition's zone, else UTC. */
export function startTier(now: number, cmd: StartCommand, def: { timeZone?: string | undefined }): Tier {
  return tierAt(now, cmd.weddingDate, cmd.timeZone ?? def.timeZone ?? 'UTC').tier;
}

/** The work message of a start: personal data sealed apart from the rest (R32), the definition's version pinned. */
export function startWork(cmd: StartCommand, def: { id: string; version: number }): Work {
  const { client, ...rest } = cmd;
  return { k: 'start', cmd: rest, ...(client ? { pii: seal(client) } : {}), def: { id: def.id, version: def.version } };
}

/** The reason a start names no deployed definition. */
export function unknownJourney(id: string, version: number | undefined): string {
  return version === undefined ? `journey ${id} is not deployed` : `journey ${id} version ${version} is not deployed`;
}

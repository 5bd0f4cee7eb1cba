/** Internal work messages on `<prefix>.work.<tier>.<supplier>.<execution>` (msgpack). Only the runtime reads them. */
import type { StartCommand } from '../schemas/commands.ts';
import type { Sealed } from './sealed.ts';
import type { ActionResult } from '../schemas/actions.ts';

export type Work =
  /** The command without `client`: personal data travels sealed in `pii`. `reserved`: its rate-limit slot is taken. */
  | { k: 'start'; cmd: Omit<StartCommand, 'client'>; pii?: Sealed; def: { id: string; version: number }; reserved?: boolean }
  | { k: 'event'; name: string; data?: Record<string, unknown> }
  | { k: 'timer'; id: string }
  | { k: 'retry'; key: string; attempt: number }
  /** A service's result for an outbound action (from `<prefix>.results.>`, validated). */
  | { k: 'result'; result: ActionResult }
  /** An outbound attempt's deadline passed (a durable timer). */
  | { k: 'timeout'; key: string; attempt: number; deadline: number }
  | { k: 'replay' }
  | { k: 'cancel'; reason?: string }
  | { k: 'pause' }
  | { k: 'resume' };

/** Supplier and execution id from a work subject. */
export function workTarget(subject: string): { supplierId: string; executionId: string } {
  const parts = subject.split('.');
  return { supplierId: parts[parts.length - 2] ?? '', executionId: parts[parts.length - 1] ?? '' };
}

/**
 * The stored form of one execution (one KV entry per execution, key = execution id): the machine snapshot plus what the
 * runtime needs to route and retry without decoding it. Personal data sits in its own sealed field under a key id, so it
 * can be encrypted at rest (R32) without a format change.
 */
import { createHash } from 'node:crypto';
import type { ExecutionContext } from '../actors/execution-state.ts';
import type { StartCommand } from '../schemas/commands.ts';
import { decode, encode } from './codec.ts';
import type { Sealed } from './sealed.ts';

export interface ExecutionRecord {
  v: 1;
  /** The client's personal data (`StartCommand.client`), sealed under a key id. */
  pii: Sealed | null;
  def: { id: string; version: number };
  status: 'active' | 'done';
  snap: { value: unknown; context: ExecutionContext };
  /** An action retry waiting on its backoff timer. */
  retry?: { key: string; attempt: number; dueAt: number };
  /** Id of the last timer handed to the timer service, so it is scheduled once. */
  scheduled?: string;
  startedAt: number;
  updatedAt: number;
}

export function encodeRecord(r: ExecutionRecord): Uint8Array {
  return encode(r);
}

export function decodeRecord(bytes: Uint8Array): ExecutionRecord {
  return decode<ExecutionRecord>(bytes);
}

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

/** Deterministic execution id from (supplier, client, journey, re-entry key): starting twice finds the same id (R6). */
export function executionIdOf(cmd: Pick<StartCommand, 'supplierId' | 'clientId' | 'journeyId' | 'reentryKey'>): string {
  const digest = createHash('sha256')
    .update(`${cmd.supplierId}\u0000${cmd.clientId}\u0000${cmd.journeyId}\u0000${cmd.reentryKey ?? ''}`)
    .digest();
  let out = 'ex_';
  let bits = 0;
  let acc = 0;
  for (const byte of digest) {
    acc = (acc << 8) | byte;
    bits += 8;
    while (bits >= 5 && out.length < 29) {
      out += BASE32[(acc >>> (bits - 5)) & 31];
      bits -= 5;
    }
    if (out.length >= 29) break;
  }
  return out;
}

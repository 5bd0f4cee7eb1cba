/**
 * Personal data of clients (names, emails, phones) is stored sealed: a key id next to the bytes. Today the only key id is
 * `plain` (not encrypted); AES-256-GCM with rotating key ids (R32) slots in here without changing any stored format.
 */
import { decode, encode } from './codec.ts';

export interface Sealed {
  /** Key id; `plain` means the bytes are not encrypted. */
  kid: 'plain';
  data: Uint8Array;
}

export function seal(value: unknown): Sealed {
  return { kid: 'plain', data: encode(value) };
}

export function unseal<T>(sealed: Sealed): T {
  return decode<T>(sealed.data);
}

/** Binary encoding of internal messages and KV values (msgpack): smaller and faster than JSON on the hot path. */
import { Packr } from 'msgpackr';

const packr = new Packr({ useRecords: false, moreTypes: false });

export function encode(value: unknown): Uint8Array {
  return packr.pack(value);
}

export function decode<T>(bytes: Uint8Array): T {
  return packr.unpack(bytes) as T;
}

const utf8 = new TextDecoder();
const utf8Encoder = new TextEncoder();

export function encodeJson(value: unknown): Uint8Array {
  return utf8Encoder.encode(JSON.stringify(value));
}

export function decodeText(bytes: Uint8Array): string {
  return utf8.decode(bytes);
}

import { Buffer } from 'node:buffer';

/** A Buffer view over the same memory as `bytes` (no copy), so Buffer methods such as `toString('utf8')` are available. */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

type WellFormedCheck = { isWellFormed(): boolean };

/** False when `s` contains a lone (unpaired) UTF-16 surrogate, which UTF-8 cannot represent. */
export function isWellFormed(s: string): boolean {
  // String.prototype.isWellFormed exists on Node 20 but is not in the ES2023 type library.
  return (s as unknown as WellFormedCheck).isWellFormed();
}

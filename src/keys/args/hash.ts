import { Buffer } from 'node:buffer';
import * as crypto from 'node:crypto';

/** Length in characters of a key produced by {@link hashText}: 128 bits in base64url. */
export const HASH_LENGTH = 22;

// One-shot `crypto.hash` (Node >= 20.12) skips the Hash object and the Buffer; older 20.x falls back to createHash.
const oneShot: ((algorithm: string, data: string, outputEncoding: 'base64url') => string) | undefined =
  typeof crypto.hash === 'function' ? crypto.hash : undefined;

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

// Never produced by UTF-8, so the UTF-16 fallback below cannot hash to the same bytes as any UTF-8 input.
const ILL_FORMED_MARK = Buffer.from([0xff]);

type WellFormedCheck = { isWellFormed(): boolean };

/**
 * Hashes text to a short, stable key part: SHA-256 of the text, truncated to its first 128 bits and
 * written as base64url ({@link HASH_LENGTH} = 22 characters, alphabet `A-Z a-z 0-9 - _`).
 *
 * The hashed bytes are the UTF-8 encoding of `text`. Text containing lone surrogates (which UTF-8
 * would replace with U+FFFD, merging distinct inputs) is hashed as the byte 0xFF followed by its raw
 * UTF-16LE code units instead, so distinct strings always hash distinct byte sequences.
 */
export function hashText(text: string): string {
  if (!(text as unknown as WellFormedCheck).isWellFormed()) {
    return crypto.createHash('sha256').update(ILL_FORMED_MARK).update(text, 'utf16le').digest().toString('base64url', 0, 16);
  }
  if (oneShot === undefined) return crypto.createHash('sha256').update(text, 'utf8').digest().toString('base64url', 0, 16);
  // Characters 0-20 carry bits 0-125; the 22nd keeps bits 126-127 (its top two of six) and zeroes the rest,
  // exactly what encoding the first 16 bytes gives, without allocating a Buffer.
  const full = oneShot('sha256', text, 'base64url');
  return full.slice(0, 21) + BASE64URL[BASE64URL.indexOf(full[21]!) & 0b110000];
}

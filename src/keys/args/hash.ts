import * as crypto from 'node:crypto';

/** Length in characters of a key produced by {@link hashText}: 128 bits in base64url. */
export const HASH_LENGTH = 22;

// One-shot `crypto.hash` (Node >= 20.12) skips the Hash object; older 20.x falls back to createHash.
const oneShot: ((algorithm: string, data: string, outputEncoding: 'buffer') => Buffer) | undefined =
  typeof crypto.hash === 'function' ? crypto.hash : undefined;

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
  let digest: Buffer;
  if ((text as unknown as WellFormedCheck).isWellFormed()) {
    digest = oneShot !== undefined ? oneShot('sha256', text, 'buffer') : crypto.createHash('sha256').update(text, 'utf8').digest();
  } else {
    digest = crypto.createHash('sha256').update(ILL_FORMED_MARK).update(text, 'utf16le').digest();
  }
  return digest.toString('base64url', 0, 16);
}

import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HASH_LENGTH, hashText } from '../../../src/keys/args/index.js';
import { anyCodeUnit } from './support.js';

/** SHA-256 truncated to 16 bytes, computed the straightforward way. */
function reference(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest().subarray(0, 16).toString('base64url');
}

describe('hashText', () => {
  it('is the first 128 bits of SHA-256 of the UTF-8 text, in base64url', () => {
    // SHA-256("abc") = ba7816bf 8f01cfea 414140de 5dae2223 b00361a3 ...
    expect(hashText('abc')).toBe(Buffer.from('ba7816bf8f01cfea414140de5dae2223', 'hex').toString('base64url'));
    expect(hashText('abc')).toBe('ungWv48Bz-pBQUDeXa4iIw');
    expect(hashText('')).toBe('47DEQpj8HBSa-_TImW-5JA');
    expect(HASH_LENGTH).toBe(22);
  });

  it('matches the reference for arbitrary well-formed text', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (text) => hashText(text) === reference(Buffer.from(text, 'utf8'))),
      { numRuns: 2_000 },
    );
  });

  it('keeps only two bits in the last character (128 bits, not 132)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 10 }), (text) => {
        const h = hashText(text);
        return h.length === HASH_LENGTH && 'AQgw'.includes(h[21]!);
      }),
      { numRuns: 1_000 },
    );
  });

  it('hashes text with lone surrogates as 0xFF + UTF-16LE, so they do not collapse to U+FFFD', () => {
    expect(hashText('\uD800')).toBe(reference(Buffer.concat([Buffer.from([0xff]), Buffer.from('\uD800', 'utf16le')])));
    const keys = new Set(['\uD800', '\uDBFF', '\uDFFF', '\uFFFD', 'a\uD800', '\uD800a'].map(hashText));
    expect(keys.size).toBe(6);
    // UTF-8 would have merged them: the replacement character is what Buffer.from makes of each.
    expect(Buffer.from('\uD800', 'utf8').equals(Buffer.from('\uDBFF', 'utf8'))).toBe(true);
  });

  it('is injective on a sample of arbitrary UTF-16 strings', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: anyCodeUnit, maxLength: 3 }),
        fc.string({ unit: anyCodeUnit, maxLength: 3 }),
        (a, b) => (hashText(a) === hashText(b)) === (a === b),
      ),
      { numRuns: 2_000 },
    );
  });
});

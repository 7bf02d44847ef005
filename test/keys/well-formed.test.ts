/**
 * Well-formed UTF-16 for everything that becomes part of a Redis key: UTF-8 (what Redis receives)
 * turns a lone surrogate into U+FFFD, so two different strings would name one key.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../../src/errors.js';
import { checkWellFormed, keyToken, loneSurrogateAt } from '../../src/keys/index.js';
import { anyCodeUnit } from './args/support.js';

/** Reference: a string survives a UTF-8 round trip exactly when it has no lone surrogate. */
function utf8RoundTrips(s: string): boolean {
  return Buffer.from(s, 'utf8').toString('utf8') === s;
}

describe('loneSurrogateAt', () => {
  it('finds the first lone surrogate, skipping pairs', () => {
    expect(loneSurrogateAt('')).toBe(-1);
    expect(loneSurrogateAt('abc')).toBe(-1);
    expect(loneSurrogateAt('\uD83D\uDE00')).toBe(-1);
    expect(loneSurrogateAt('\uFFFD')).toBe(-1);
    expect(loneSurrogateAt('\uD800')).toBe(0);
    expect(loneSurrogateAt('\uDC00')).toBe(0);
    expect(loneSurrogateAt('a\uDC00\uD800')).toBe(1); // reversed pair: both lone
    expect(loneSurrogateAt('\uD83D\uDE00\uD83D')).toBe(2);
    expect(loneSurrogateAt('\uD800\uD800\uDC00')).toBe(0);
  });

  it('property: -1 exactly for strings UTF-8 keeps, else the index of an unpaired surrogate', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.oneof(anyCodeUnit, fc.constantFrom('\uD800', '\uDBFF', '\uDC00', '\uDFFF', 'a')), maxLength: 8 }), (s) => {
        const at = loneSurrogateAt(s);
        if (at === -1) return utf8RoundTrips(s);
        const c = s.charCodeAt(at);
        const lead = c >= 0xd800 && c <= 0xdbff;
        const trail = c >= 0xdc00 && c <= 0xdfff;
        const paired = lead ? s.charCodeAt(at + 1) >= 0xdc00 && s.charCodeAt(at + 1) <= 0xdfff : false;
        // Everything before it is well-formed, so it is the first one.
        return !utf8RoundTrips(s) && (lead || trail) && !paired && utf8RoundTrips(s.slice(0, at));
      }),
      { numRuns: 5_000 },
    );
  });
});

describe('checkWellFormed', () => {
  it('returns well-formed text and names the option, the surrogate and its index otherwise', () => {
    expect(checkWellFormed('a\uD83D\uDE00', 'key', 'the key')).toBe('a\uD83D\uDE00');
    let err: unknown;
    try {
      checkWellFormed('ab\uDFFF', 'key', 'the key');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvalidOptionError);
    expect((err as InvalidOptionError).option).toBe('key');
    expect((err as InvalidOptionError).message).toBe(
      'Invalid option "key": the key "ab\\udfff" has a lone surrogate at index 2 (U+DFFF): Redis stores keys as UTF-8, which would turn it into U+FFFD and merge it with other keys',
    );
    // The message itself is well-formed, even when the value is cut short inside a pair.
    try {
      checkWellFormed(`${'x'.repeat(63)}\uD83D\uDE00\uD800`, 'key', 'the key');
    } catch (e) {
      err = e;
    }
    expect((err as InvalidOptionError).message).toContain('"xxx');
    expect((err as InvalidOptionError).message).toContain('\\ud83d…" has a lone surrogate at index 65 (U+D800)');
    expect(utf8RoundTrips((err as InvalidOptionError).message)).toBe(true);
  });
});

describe('keyToken', () => {
  it('rejects a lone surrogate in a prefix, version or name', () => {
    for (const [value, option, at] of [
      ['app\uD800', 'prefix', 3],
      ['\uDC00', 'version', 0],
      ['load\uDBFF', 'name', 4],
    ] as const) {
      expect(() => keyToken(value, option)).toThrow(InvalidOptionError);
      expect(() => keyToken(value, option)).toThrow(`Invalid option "${option}"`);
      expect(() => keyToken(value, option)).toThrow(`lone surrogate at index ${at}`);
    }
    expect(keyToken('v\uD83D\uDE00', 'version')).toBe('v\uD83D\uDE00');
  });
});

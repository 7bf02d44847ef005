/**
 * The quick first check of `scanValue`: whatever it calls plain data must pass the careful walk
 * under the strictest profile it is used for (strings and property names native, everything else
 * rejected), so skipping the careful walk never lets through a value the codec cannot store.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PLAIN_PROFILE } from '../../src/codec/json.js';
import { isPlainData, scanCarefully, scanValue } from '../../src/codec/scan.js';
import { SerializationError } from '../../src/errors.js';
import { extendedArb, nest, plainJsonArb, v8Arb } from './values.js';

/** Plain JSON's profile: strings and property names native, everything else rejected. */
const STRICTEST = PLAIN_PROFILE;

/** Whether the careful walk accepts `v` as stored as-is. */
function carefullyPlain(v: unknown): boolean {
  try {
    return !scanCarefully(v, STRICTEST);
  } catch (err) {
    if (err instanceof SerializationError) return false;
    throw err;
  }
}

describe('scanValue: the quick check of plain data', () => {
  it('property: what the quick check calls plain, the careful walk accepts; on plain JSON they agree', () => {
    fc.assert(
      fc.property(fc.oneof(plainJsonArb, extendedArb, v8Arb), (v) => {
        if (isPlainData(v, 0)) expect(carefullyPlain(v)).toBe(true);
      }),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(plainJsonArb, (v) => {
        expect(isPlainData(v, 0)).toBe(carefullyPlain(v));
      }),
      { numRuns: 1000 },
    );
  });

  const symbolKeyed = { a: 1, [Symbol('s')]: 2 };
  const hiddenSymbol = Object.defineProperty({ a: 1 }, Symbol('hidden'), { value: 2, enumerable: false });
  const cyclic: Record<string, unknown> = { a: 1 };
  cyclic.self = cyclic;
  const sparse: number[] = [];
  sparse[0] = 1;
  sparse[2] = 3;
  class Point {
    x = 1;
  }
  it.each<[string, unknown]>([
    ['-0', -0],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['undefined', undefined],
    ['an undefined element', [1, undefined]],
    ['a hole', sparse],
    ['a Date', { at: new Date(0) }],
    ['a Map', new Map()],
    ['a Buffer', Buffer.from('x')],
    ['a BigInt', 1n],
    ['a function', { f: () => 1 }],
    ['an enumerable symbol key', symbolKeyed],
    ['a non-enumerable symbol key', hiddenSymbol],
    ['a class instance', new Point()],
    ['a cycle', cyclic],
    ['plain data nested deeper than the quick check looks', nest(100, 'object')],
  ])('leaves %s to the careful walk', (_name, v) => {
    expect(isPlainData(v, 0)).toBe(false);
  });

  it('the careful walk still decides what the quick check leaves to it: a cycle is refused with its path, a deep tree and a hidden symbol key pass', () => {
    expect(() => scanValue(cyclic, STRICTEST)).toThrow(expect.objectContaining({ path: ['self'] }));
    expect(scanValue(nest(100, 'object'), STRICTEST)).toBe(false);
    expect(scanValue(hiddenSymbol, STRICTEST)).toBe(false);
    expect(() => scanValue(symbolKeyed, STRICTEST)).toThrow(SerializationError);
  });

  it('an enumerable property added to Object.prototype (pollution) never makes a value look plainer: a plain value stays plain, a Date under it still goes the careful way', () => {
    const proto = Object.prototype as Record<string, unknown>;
    proto.polluted = new Date(0);
    try {
      expect(isPlainData({ a: 1, b: ['x'] }, 0)).toBe(false);
      expect(isPlainData({ at: new Date(0) }, 0)).toBe(false);
    } finally {
      delete proto.polluted;
    }
    expect(isPlainData({ a: 1, b: ['x'] }, 0)).toBe(true);
  });

  it('a getter that throws goes the careful way, which reports it', () => {
    const o = {
      get bad(): never {
        throw new Error('getter');
      },
    };
    expect(() => scanValue(o, STRICTEST)).toThrow('getter');
  });
});

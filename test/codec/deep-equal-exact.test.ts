import { describe, expect, it } from 'vitest';
import { diffExact } from './deep-equal-exact.js';

// The round-trip tests rely on this helper, so it must itself catch every difference they care about.
describe('diffExact', () => {
  it('accepts equal values of every supported kind', () => {
    const make = () => ({
      a: [1, undefined, -0, Number.NaN],
      b: new Map<unknown, unknown>([[{ k: 1 }, new Set([1n])]]),
      c: new Date(Number.NaN),
      d: Buffer.from([1]),
      e: new Uint8Array([2]),
    });
    expect(diffExact(make(), make())).toBeUndefined();
    expect(diffExact(Object.assign(Object.create(null) as object, { x: 1 }), { x: 1 })).toBeUndefined();
  });

  it.each<[string, unknown, unknown]>([
    ['-0 vs 0', -0, 0],
    ['NaN vs null', Number.NaN, null],
    ['bigint vs number', 1n, 1],
    ['missing vs undefined property', {}, { a: undefined }],
    ['key order', { a: 1, b: 2 }, { b: 2, a: 1 }],
    // biome-ignore lint/suspicious/noSparseArray: the hole is what is being compared
    ['hole vs undefined', [, 1], [undefined, 1]],
    ['array length', [1], [1, undefined]],
    ['Map vs object', new Map([['a', 1]]), { a: 1 }],
    ['Set vs array', new Set([1]), [1]],
    [
      'Map order',
      new Map([
        ['a', 1],
        ['b', 2],
      ]),
      new Map([
        ['b', 2],
        ['a', 1],
      ]),
    ],
    ['Buffer vs Uint8Array', Buffer.from([1]), new Uint8Array([1])],
    ['bytes', Buffer.from([1]), Buffer.from([2])],
    ['date value', new Date(1), new Date(2)],
    ['invalid date vs epoch', new Date(Number.NaN), new Date(0)],
    ['date vs number', new Date(1), 1],
    ['nested difference', { a: [{ b: new Map([[1, -0]]) }] }, { a: [{ b: new Map([[1, 0]]) }] }],
  ])('reports %s', (_name, actual, expected) => {
    expect(diffExact(actual, expected)).toEqual(expect.any(String));
  });
});

import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { createJsonCodec, jsonCodec, plainJsonCodec } from '../../src/codec/index.js';
import { DecodeError, SerializationError } from '../../src/errors.js';
import { diffExact } from './deep-equal-exact.js';
import { allBytes, extendedArb, loneSurrogates, nest, plainEdgeValues, plainJsonArb, protoKeyObject } from './values.js';

const roundTrip = (value: unknown, codec = jsonCodec): unknown => codec.decode(codec.encode(value));
const text = (bytes: Uint8Array): string => Buffer.from(bytes).toString('utf8');

describe('json codec: plain JSON values', () => {
  it.each(plainEdgeValues())('round-trips %s as plain JSON text', (_name, value) => {
    for (const codec of [jsonCodec, plainJsonCodec]) {
      const bytes = codec.encode(value);
      expect(Buffer.from(bytes).equals(Buffer.from(JSON.stringify(value), 'utf8'))).toBe(true);
      const decoded = codec.decode(bytes);
      expect(decoded).toEqual(value);
      expect(diffExact(decoded, value)).toBeUndefined();
    }
  });

  it('decodes a plain payload with exactly one JSON.parse and no other work', () => {
    const value = { list: [1, 'two', { three: [3] }], flag: true, none: null };
    const bytes = jsonCodec.encode(value);
    const parse = vi.spyOn(JSON, 'parse');
    try {
      const decoded = jsonCodec.decode(bytes);
      expect(parse).toHaveBeenCalledTimes(1);
      expect(parse.mock.results[0]!.value).toBe(decoded);
    } finally {
      parse.mockRestore();
    }
  });

  it('round-trips lone surrogates: JSON.stringify escapes them and JSON.parse restores them', () => {
    const bytes = jsonCodec.encode(loneSurrogates);
    expect(text(bytes)).toContain('\\ud800');
    // the bytes are valid UTF-8 (re-encoding the decoded text reproduces them exactly)
    expect(Buffer.from(Buffer.from(bytes).toString('utf8'), 'utf8').equals(Buffer.from(bytes))).toBe(true);
    expect(diffExact(jsonCodec.decode(bytes), loneSurrogates)).toBeUndefined();
    expect(diffExact(plainJsonCodec.decode(plainJsonCodec.encode(loneSurrogates)), loneSurrogates)).toBeUndefined();
  });

  it('keeps an own "__proto__" key as data without touching prototypes', () => {
    const value = protoKeyObject();
    for (const codec of [jsonCodec, plainJsonCodec]) {
      const decoded = roundTrip(value, codec) as Record<string, unknown>;
      expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype);
      expect(Object.hasOwn(decoded, '__proto__')).toBe(true);
      expect(diffExact(decoded, value)).toBeUndefined();
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('decodes null-prototype objects as plain objects with the same data', () => {
    const value = Object.assign(Object.create(null) as object, { a: 1 });
    const decoded = roundTrip(value) as object;
    expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype);
    expect(decoded).toEqual({ a: 1 });
  });

  it('property: plain JSON round-trips exactly and is stored as JSON.stringify output', () => {
    fc.assert(
      fc.property(plainJsonArb, (value) => {
        for (const codec of [jsonCodec, plainJsonCodec]) {
          const bytes = codec.encode(value);
          expect(text(bytes)).toBe(JSON.stringify(value));
          expect(diffExact(codec.decode(bytes), value)).toBeUndefined();
        }
      }),
      { numRuns: 1000 },
    );
  });
});

describe('json codec: extended values', () => {
  it('round-trips each extended type with its exact type', () => {
    const value = {
      date: new Date(Date.UTC(2024, 1, 29, 12, 30, 45, 678)),
      invalidDate: new Date(Number.NaN),
      big: 12345678901234567890123456789n,
      negBig: -(2n ** 64n),
      map: new Map<unknown, unknown>([
        [1, 'one'],
        ['1', 'string one'],
        [{ k: true }, 'object key'],
        [null, undefined],
      ]),
      set: new Set<unknown>(['a', 1, 1n]),
      undef: undefined,
      nan: Number.NaN,
      inf: Number.POSITIVE_INFINITY,
      negInf: Number.NEGATIVE_INFINITY,
      negZero: -0,
      buffer: Buffer.from('buffer bytes'),
      u8: new Uint8Array([0, 127, 128, 255]),
      array: [undefined, 1, undefined],
    };
    const decoded = roundTrip(value) as typeof value;
    expect(decoded).toEqual(value);
    expect(diffExact(decoded, value)).toBeUndefined();
    expect(decoded.date).toBeInstanceOf(Date);
    expect(decoded.date.getTime()).toBe(value.date.getTime());
    expect(decoded.invalidDate).toBeInstanceOf(Date);
    expect(Number.isNaN(decoded.invalidDate.getTime())).toBe(true);
    expect(typeof decoded.big).toBe('bigint');
    expect(decoded.big).toBe(12345678901234567890123456789n);
    expect(decoded.negBig).toBe(-(2n ** 64n));
    expect(decoded.map).toBeInstanceOf(Map);
    expect([...decoded.map.keys()]).toEqual([1, '1', { k: true }, null]);
    expect(decoded.map.has(null)).toBe(true);
    expect(decoded.map.get(null)).toBeUndefined();
    expect(decoded.set).toBeInstanceOf(Set);
    expect([...decoded.set]).toEqual(['a', 1, 1n]);
    expect('undef' in decoded).toBe(true);
    expect(decoded.undef).toBeUndefined();
    expect(Number.isNaN(decoded.nan)).toBe(true);
    expect(decoded.inf).toBe(Number.POSITIVE_INFINITY);
    expect(decoded.negInf).toBe(Number.NEGATIVE_INFINITY);
    expect(Object.is(decoded.negZero, -0)).toBe(true);
    expect(Buffer.isBuffer(decoded.buffer)).toBe(true);
    expect(decoded.buffer.toString()).toBe('buffer bytes');
    expect(Buffer.isBuffer(decoded.u8)).toBe(false);
    expect(Object.getPrototypeOf(decoded.u8)).toBe(Uint8Array.prototype);
    expect([...decoded.u8]).toEqual([0, 127, 128, 255]);
    expect(decoded.array).toHaveLength(3);
    expect(0 in decoded.array && 2 in decoded.array).toBe(true);
  });

  it.each<[string, unknown]>([
    ['undefined', undefined],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['-Infinity', Number.NEGATIVE_INFINITY],
    ['-0', -0],
    ['a Date', new Date(0)],
    ['an Invalid Date', new Date(Number.NaN)],
    ['a BigInt', -5n],
    ['a Map', new Map([[new Date(1), new Map([[2n, 'x']])]])],
    ['a Set', new Set([new Set([undefined])])],
    ['a Buffer', Buffer.from(allBytes)],
    ['a Uint8Array', new Uint8Array(allBytes)],
  ])('round-trips %s as the whole value', (_name, value) => {
    const decoded = roundTrip(value);
    expect(diffExact(decoded, value)).toBeUndefined();
  });

  it('round-trips a Buffer holding all 256 byte values', () => {
    const decoded = roundTrip({ bytes: allBytes }) as { bytes: Buffer };
    expect(Buffer.isBuffer(decoded.bytes)).toBe(true);
    expect(decoded.bytes.equals(allBytes)).toBe(true);
  });

  it('round-trips a Buffer that is a view into a larger buffer (only the view is stored)', () => {
    const view = Buffer.from([9, 1, 2, 3, 9]).subarray(1, 4);
    const decoded = roundTrip(view) as Buffer;
    expect([...decoded]).toEqual([1, 2, 3]);
  });

  it('round-trips arbitrary nesting: Dates in a Map in an array in a Set', () => {
    const value = new Set([
      [
        new Map<unknown, unknown>([
          ['when', new Date(5)],
          [new Date(6), [undefined, -0, 7n]],
        ]),
      ],
      { deep: new Map([[1, new Set([Number.NaN])]]) },
    ]);
    const decoded = roundTrip(value) as typeof value;
    expect(diffExact(decoded, value)).toBeUndefined();
    const inner = ([...decoded][0] as [Map<unknown, unknown>])[0];
    expect(inner).toBeInstanceOf(Map);
    expect(inner.get('when')).toBeInstanceOf(Date);
  });

  it('stores an extended value as 0x00 + JSON [safe value, type tags] and leaves user data untouched', () => {
    const bytes = jsonCodec.encode({ $type: 'Date', v: 'NaN', m: [], when: new Date(10) });
    expect(bytes[0]).toBe(0x00);
    expect(JSON.parse(Buffer.from(bytes).toString('utf8', 1))).toEqual([{ $type: 'Date', v: 'NaN', m: [], when: 10 }, [[['when'], 'date']]]);
  });

  it('does not mistake user data that mimics the tag format for tags', () => {
    const value = { v: { when: 10 }, m: [[['when'], 'date']], nested: [{ a: 'NaN' }, [[['a'], 'num']]], '\u0000': '\u0000[1,[]]', real: undefined };
    const decoded = roundTrip(value) as typeof value;
    expect(diffExact(decoded, value)).toBeUndefined();
    expect(decoded.v.when).toBe(10);
    expect(decoded.nested[0]).toEqual({ a: 'NaN' });
  });

  it('round-trips deeply nested extended values (1000 levels)', () => {
    const value = nest(1000, 'object', new Map([[1, new Date(1)]]));
    expect(diffExact(roundTrip(value), value)).toBeUndefined();
  });

  it('does not modify the value it encodes', () => {
    const value = { a: [undefined, new Date(1)], b: { c: -0 } };
    jsonCodec.encode(value);
    expect(Object.is(value.b.c, -0)).toBe(true);
    expect(value.a[1]).toBeInstanceOf(Date);
    expect(value.a).toHaveLength(2);
  });

  it('property: every supported value round-trips exactly', () => {
    fc.assert(
      fc.property(extendedArb, (value) => {
        expect(diffExact(roundTrip(value), value)).toBeUndefined();
      }),
      { numRuns: 2000 },
    );
  });
});

describe('json codec: rejections', () => {
  it('converts a throwing getter into a SerializationError with the cause attached', () => {
    const withGetterThatThrows = Object.defineProperty({}, 'boom', {
      enumerable: true,
      get() {
        throw new Error('getter failed');
      },
    });
    const error = (() => {
      try {
        jsonCodec.encode({ x: withGetterThatThrows });
      } catch (e) {
        return e as SerializationError;
      }
    })();
    expect(error).toBeInstanceOf(SerializationError);
    expect((error!.cause as Error).message).toBe('getter failed');
  });

  it('rejects a value nested too deeply for the stack with a SerializationError', () => {
    expect(() => jsonCodec.encode(nest(200_000, 'array'))).toThrow(/nested too deeply/);
  });

  it('plain json rejects every extended type, suggesting another codec', () => {
    const extended: [string, unknown][] = [
      ['undefined', { a: undefined }],
      ['NaN', [Number.NaN]],
      ['Infinity', { a: Number.POSITIVE_INFINITY }],
      ['-0', { a: -0 }],
      ['a BigInt', { a: 1n }],
      ['a Date', { a: new Date() }],
      ['a Map', { a: new Map() }],
      ['a Set', { a: new Set() }],
      ['a Buffer', { a: Buffer.alloc(1) }],
      ['a Uint8Array', { a: new Uint8Array(1) }],
    ];
    for (const [what, value] of extended) {
      let caught: unknown;
      try {
        plainJsonCodec.encode(value);
      } catch (error) {
        caught = error;
      }
      expect(caught, what).toBeInstanceOf(SerializationError);
      expect((caught as SerializationError).message).toContain(`${what} cannot be serialized by the plain json codec`);
      expect((caught as SerializationError).message).toContain("'msgpack' or 'v8'");
      expect((caught as SerializationError).path).toEqual(Array.isArray(value) ? [0] : ['a']);
    }
  });

  it('createJsonCodec({ extended: false }) behaves like plainJsonCodec', () => {
    const codec = createJsonCodec({ extended: false });
    expect(codec.name).toBe('json');
    expect(() => codec.encode(new Date())).toThrow(SerializationError);
    expect(codec.decode(codec.encode({ a: [1] }))).toEqual({ a: [1] });
  });
});

describe('json codec: decoding bad bytes', () => {
  it.each<[string, string]>([
    ['empty input', ''],
    ['truncated JSON', '{"a":'],
    ['text that is not JSON', 'hello'],
    ['extended marker without a body', '\u0000'],
    ['extended body that is not a pair', '\u0000{"v":1}'],
    ['unknown tag', '\u0000[1,[[[],"nope"]]]'],
    ['tag that does not fit the value', '\u0000[{"a":"x"},[[["a"],"date"]]]'],
    ['path to a missing key', '\u0000[{"a":1},[[["b"],"undef"]]]'],
    ['path through a prototype', '\u0000[{"a":1},[[["__proto__","polluted"],"undef"]]]'],
    ['path through "constructor"', '\u0000[{},[[["constructor","prototype","x"],"undef"]]]'],
    ['index out of range', '\u0000[[1],[[[5],"undef"]]]'],
    ['string index into an array', '\u0000[[1],[[["0"],"undef"]]]'],
    ['bad BigInt text', '\u0000["12a",[[[],"big"]]]'],
    ['Map pairs of the wrong shape', '\u0000[[[1,2,3]],[[[],"map"]]]'],
    ['path through a revived Map', '\u0000[[["k",null]],[[[],"map"],[[0,1],"undef"]]]'],
  ])('throws for %s, without polluting prototypes', (_name, input) => {
    expect(() => jsonCodec.decode(Buffer.from(input, 'utf8'))).toThrow();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('x');
  });

  it('reports malformed tags as DecodeError', () => {
    expect(() => jsonCodec.decode(Buffer.from('\u0000[{"a":1},[[["__proto__","polluted"],"undef"]]]'))).toThrow(DecodeError);
  });

  it('plain json does not interpret the extended form', () => {
    expect(() => plainJsonCodec.decode(jsonCodec.encode(new Date(1)))).toThrow(SyntaxError);
  });
});

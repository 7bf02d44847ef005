import fc from 'fast-check';
import { unpack } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { createMsgpackCodec, msgpackCodec, portableMsgpackCodec } from '../../src/codec/index.js';
import { SerializationError } from '../../src/errors.js';
import { diffExact } from './deep-equal-exact.js';
import { allBytes, extendedArb, loneSurrogates, nest, plainEdgeValues, portableMsgpackArb, protoKeyObject } from './values.js';

const roundTrip = (value: unknown, codec = msgpackCodec): unknown => codec.decode(codec.encode(value));

describe('msgpack codec: plain values', () => {
  it.each(plainEdgeValues())('round-trips %s as standard MessagePack', (_name, value) => {
    for (const codec of [msgpackCodec, portableMsgpackCodec]) {
      const bytes = codec.encode(value);
      expect(bytes[0]).not.toBe(0xc1);
      const decoded = codec.decode(bytes);
      expect(decoded).toEqual(value);
      expect(diffExact(decoded, value)).toBeUndefined();
      // any MessagePack reader (here msgpackr's default decoder) gets the same data
      expect(diffExact(unpack(bytes), value)).toBeUndefined();
    }
  });

  it('writes objects as MessagePack maps, not msgpackr records', () => {
    expect(Buffer.from(msgpackCodec.encode({ a: 1 })).toString('hex')).toBe('81a16101');
  });

  it('stores integers beyond 32 bits as numbers and BigInts as BigInts', () => {
    const value = { n: 2 ** 40, big: 2n ** 40n, small: 5n };
    const decoded = roundTrip(value) as typeof value;
    expect(typeof decoded.n).toBe('number');
    expect(decoded.big).toBe(2n ** 40n);
    expect(decoded.small).toBe(5n);
  });

  it('encodes objects with more than 65535 keys', () => {
    const value = Object.fromEntries(Array.from({ length: 66_000 }, (_, i) => [`k${i}`, i]));
    expect(diffExact(roundTrip(value), value)).toBeUndefined();
  });
});

describe('msgpack codec: extended values', () => {
  it('round-trips each extended type with its exact type', () => {
    const value = {
      date: new Date(Date.UTC(1969, 6, 20, 20, 17, 40, 123)),
      farDate: new Date(8.64e15),
      invalidDate: new Date(Number.NaN),
      int64: -(2n ** 63n),
      uint64: 2n ** 64n - 1n,
      huge: 2n ** 300n + 1n,
      negHuge: -(2n ** 300n),
      map: new Map<unknown, unknown>([
        [1, 'one'],
        ['1', 'string one'],
        [{ k: [1] }, 'object key'],
        [new Date(3), new Set([2])],
      ]),
      set: new Set<unknown>(['a', 1, { o: 1 }]),
      undef: undefined,
      nan: Number.NaN,
      inf: Number.POSITIVE_INFINITY,
      negZero: -0,
      buffer: Buffer.from(allBytes),
      u8: new Uint8Array([0, 127, 128, 255]),
      array: [undefined, -0, undefined],
      ['__proto__']: 'own key',
      lone: '\ud800x',
    };
    const decoded = roundTrip(value) as typeof value;
    expect(decoded).toEqual(value);
    expect(diffExact(decoded, value)).toBeUndefined();
    expect(decoded.date).toBeInstanceOf(Date);
    expect(decoded.farDate.getTime()).toBe(8.64e15);
    expect(Number.isNaN(decoded.invalidDate.getTime())).toBe(true);
    expect(typeof decoded.int64).toBe('bigint');
    expect(decoded.uint64).toBe(2n ** 64n - 1n);
    expect(decoded.huge).toBe(2n ** 300n + 1n);
    expect(decoded.map).toBeInstanceOf(Map);
    expect(decoded.map.get(1)).toBe('one');
    expect(decoded.map.get('1')).toBe('string one');
    expect(decoded.set).toBeInstanceOf(Set);
    expect('undef' in decoded).toBe(true);
    expect(Object.is(decoded.negZero, -0)).toBe(true);
    expect(Object.is(decoded.array[1], -0)).toBe(true);
    expect(decoded.array).toHaveLength(3);
    expect(Buffer.isBuffer(decoded.buffer)).toBe(true);
    expect(decoded.buffer.equals(allBytes)).toBe(true);
    expect(Buffer.isBuffer(decoded.u8)).toBe(false);
    expect(Object.getPrototypeOf(decoded.u8)).toBe(Uint8Array.prototype);
    expect(Object.hasOwn(decoded, '__proto__')).toBe(true);
    expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype);
    expect(decoded.lone).toBe('\ud800x');
  });

  it.each<[string, unknown]>([
    ['undefined', undefined],
    ['-0', -0],
    ['NaN', Number.NaN],
    ['a Map', new Map([[new Date(1), new Map([[2n, 'x']])]])],
    ['a Set', new Set([new Set([undefined])])],
    ['a lone surrogate', '\udfff'],
    ['a Uint8Array', new Uint8Array(allBytes)],
  ])('round-trips %s as the whole value', (_name, value) => {
    expect(diffExact(roundTrip(value), value)).toBeUndefined();
  });

  it('round-trips lone surrogates in values and keys (UTF-8 alone would turn them into U+FFFD)', () => {
    expect(diffExact(roundTrip(loneSurrogates), loneSurrogates)).toBeUndefined();
  });

  it('round-trips an own "__proto__" key (msgpackr alone renames it)', () => {
    const value = protoKeyObject();
    const decoded = roundTrip(value) as Record<string, unknown>;
    expect(Object.hasOwn(decoded, '__proto__')).toBe(true);
    expect(diffExact(decoded, value)).toBeUndefined();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('uses the tagged form (0xC1 prefix) only when needed', () => {
    expect(msgpackCodec.encode({ d: new Date(1), b: 1n, u: undefined, n: Number.NaN })[0]).not.toBe(0xc1);
    expect(msgpackCodec.encode({ m: new Map() })[0]).toBe(0xc1);
    expect(msgpackCodec.encode([-0])[0]).toBe(0xc1);
  });

  it('round-trips Dates in a Map in an array in a Set, nested 500 levels deep', () => {
    const value = nest(
      500,
      'array',
      new Set([
        [
          new Map<unknown, unknown>([
            ['when', new Date(5)],
            [new Date(6), [undefined, -0, 7n]],
          ]),
        ],
      ]),
    );
    expect(diffExact(roundTrip(value), value)).toBeUndefined();
  });

  it('decodes binary values into their own memory, not views of the input', () => {
    const bytes = msgpackCodec.encode({ b: Buffer.from([1, 2, 3]), u: new Uint8Array([4, 5]) });
    const decoded = msgpackCodec.decode(bytes) as { b: Buffer; u: Uint8Array };
    Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).fill(0);
    expect([...decoded.b]).toEqual([1, 2, 3]);
    expect([...decoded.u]).toEqual([4, 5]);
  });

  it('returns encoded bytes that later encodes do not overwrite', () => {
    const first = Buffer.from(msgpackCodec.encode({ a: 'first' }));
    const firstView = msgpackCodec.encode({ a: 'first' });
    for (let i = 0; i < 2000; i++) msgpackCodec.encode({ filler: 'x'.repeat(i) });
    expect(Buffer.from(firstView).equals(first)).toBe(true);
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

describe('portable msgpack codec (raw mode)', () => {
  it('round-trips Date, Buffer, 64-bit BigInt, NaN and ±Infinity as standard MessagePack', () => {
    const value = {
      date: new Date(12345),
      buf: Buffer.from(allBytes),
      big: -(2n ** 63n),
      ubig: 2n ** 64n - 1n,
      nan: Number.NaN,
      inf: Number.NEGATIVE_INFINITY,
    };
    const bytes = portableMsgpackCodec.encode(value);
    expect(diffExact(portableMsgpackCodec.decode(bytes), value)).toBeUndefined();
    expect(diffExact(unpack(bytes), value)).toBeUndefined();
  });

  it.each<[string, unknown, (string | number)[], RegExp]>([
    ['undefined', { a: undefined }, ['a'], /undefined cannot/],
    ['-0', { a: [-0] }, ['a', 0], /-0 cannot/],
    ['a BigInt wider than 64 bits', { a: 2n ** 64n }, ['a'], /BigInt wider than 64 bits/],
    ['a Map', { a: new Map() }, ['a'], /a Map cannot/],
    ['a Set', { a: new Set() }, ['a'], /a Set cannot/],
    ['a Uint8Array', { a: new Uint8Array(1) }, ['a'], /a Uint8Array cannot/],
    ['an Invalid Date', { a: [new Date(Number.NaN)] }, ['a', 0], /an Invalid Date cannot/],
    ['a lone surrogate', { a: 'x\ud800' }, ['a'], /lone surrogate/],
    ['a lone surrogate in a key', { 'k\udc00': 1 }, ['k\udc00'], /property name containing a lone surrogate/],
    ['a "__proto__" key', protoKeyObject(), ['__proto__'], /"__proto__"/],
  ])('rejects %s, pointing to the msgpack codec outside raw mode', (_name, value, path, message) => {
    let caught: unknown;
    try {
      portableMsgpackCodec.encode(value);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(SerializationError);
    expect((caught as SerializationError).path).toEqual(path);
    expect((caught as SerializationError).message).toMatch(message);
    expect((caught as SerializationError).message).toContain('portable msgpack');
  });

  it('createMsgpackCodec({ extended: false }) behaves like portableMsgpackCodec', () => {
    const codec = createMsgpackCodec({ extended: false });
    expect(codec.name).toBe('msgpack');
    expect(() => codec.encode(new Map())).toThrow(SerializationError);
    expect(codec.decode(codec.encode({ a: [1] }))).toEqual({ a: [1] });
  });

  it('property: standard MessagePack values round-trip exactly, also through a default decoder', () => {
    fc.assert(
      fc.property(portableMsgpackArb, (value) => {
        const bytes = portableMsgpackCodec.encode(value);
        expect(diffExact(portableMsgpackCodec.decode(bytes), value)).toBeUndefined();
        expect(diffExact(unpack(bytes), value)).toBeUndefined();
      }),
      { numRuns: 1000 },
    );
  });
});

describe('msgpack codec: decoding bad bytes', () => {
  it.each<[string, number[]]>([
    ['empty input', []],
    ['truncated array', [0x92, 0x01]],
    ['trailing bytes', [0x01, 0x02]],
    ['unknown extension', [0xc7, 0x01, 0x99, 0x00]],
    ['tagged marker alone', [0xc1]],
    ['tagged body that is not a pair', [0xc1, 0x01]],
    ['tag path through a prototype', [0xc1, ...msgpackTaggedBody({ a: 1 }, [[['__proto__', 'polluted'], 'undef']])]],
    ['unknown tag', [0xc1, ...msgpackTaggedBody(1, [[[], 'nope']])]],
  ])('throws for %s', (_name, bytes) => {
    expect(() => msgpackCodec.decode(Buffer.from(bytes))).toThrow();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

function msgpackTaggedBody(safe: unknown, meta: unknown): number[] {
  return [...portableMsgpackCodec.encode([safe, meta])];
}

import { serialize } from 'node:v8';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { v8Codec } from '../../src/codec/index.js';
import { SerializationError } from '../../src/errors.js';
import { diffExact } from './deep-equal-exact.js';
import { allBytes, loneSurrogates, nest, plainEdgeValues, protoKeyObject, v8Arb } from './values.js';

const roundTrip = (value: unknown): unknown => v8Codec.decode(v8Codec.encode(value));

describe('v8 codec', () => {
  it.each(plainEdgeValues())('round-trips %s', (_name, value) => {
    const decoded = roundTrip(value);
    expect(decoded).toEqual(value);
    expect(diffExact(decoded, value)).toBeUndefined();
  });

  it('produces exactly what v8.serialize produces', () => {
    const value = { a: [1, 'x'], d: new Date(1), m: new Map([[1, 2]]) };
    expect(Buffer.from(v8Codec.encode(value)).equals(serialize(value))).toBe(true);
  });

  it('round-trips each extended type with its exact type', () => {
    const value = {
      date: new Date(7),
      invalidDate: new Date(Number.NaN),
      big: -(2n ** 300n),
      map: new Map<unknown, unknown>([
        [{ k: 1 }, new Set([1n])],
        [Number.NaN, 'nan key'],
      ]),
      set: new Set<unknown>([undefined, null]),
      undef: undefined,
      nan: Number.NaN,
      inf: Number.POSITIVE_INFINITY,
      negZero: -0,
      buffer: Buffer.from(allBytes),
      u8: new Uint8Array([1, 2, 3]),
      array: [undefined, undefined],
      lone: loneSurrogates,
      proto: protoKeyObject(),
    };
    const decoded = roundTrip(value) as typeof value;
    expect(decoded).toEqual(value);
    expect(diffExact(decoded, value)).toBeUndefined();
    expect(decoded.map).toBeInstanceOf(Map);
    expect(decoded.map.get(Number.NaN)).toBe('nan key');
    expect(decoded.set).toBeInstanceOf(Set);
    expect(decoded.date).toBeInstanceOf(Date);
    expect(typeof decoded.big).toBe('bigint');
    expect('undef' in decoded).toBe(true);
    expect(Object.is(decoded.negZero, -0)).toBe(true);
    expect(Buffer.isBuffer(decoded.buffer)).toBe(true);
    expect(Buffer.isBuffer(decoded.u8)).toBe(false);
    expect(decoded.u8).toBeInstanceOf(Uint8Array);
    expect(decoded.array).toHaveLength(2);
    expect(Object.hasOwn(decoded.proto, '__proto__')).toBe(true);
  });

  it('keeps sparse array holes', () => {
    // biome-ignore lint/suspicious/noSparseArray: holes are what is being tested
    const value = [1, , 3, , undefined];
    const decoded = roundTrip(value) as unknown[];
    expect(decoded).toHaveLength(5);
    expect(1 in decoded).toBe(false);
    expect(4 in decoded).toBe(true);
  });

  it('keeps cycles and shared references (object identity within the value)', () => {
    const shared = { n: 1 };
    const value: Record<string, unknown> = { a: shared, b: shared, list: [shared] };
    value.self = value;
    const decoded = roundTrip(value) as typeof value;
    expect(decoded.self).toBe(decoded);
    expect(decoded.a).toBe(decoded.b);
    expect((decoded.list as unknown[])[0]).toBe(decoded.a);
    expect(decoded.a).toEqual({ n: 1 });
  });

  it('still rejects a class instance reachable only through a shared reference', () => {
    const shared = { inner: new (class Hidden {})() };
    let caught: unknown;
    try {
      v8Codec.encode({ a: shared, b: shared });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(SerializationError);
    expect((caught as SerializationError).path).toEqual(['a', 'inner']);
  });

  it('rejects class instances instead of letting v8.serialize turn them into plain objects', () => {
    class Point {
      constructor(
        readonly x: number,
        readonly y: number,
      ) {}
    }
    expect(Object.getPrototypeOf(v8Codec.decode(serialize(new Point(1, 2))))).toBe(Object.prototype);
    expect(() => v8Codec.encode({ p: new Point(1, 2) })).toThrow(/an instance of Point cannot be serialized by the v8 codec/);
  });

  it('decodes binary values into their own memory, not views of the input', () => {
    const bytes = Buffer.from(v8Codec.encode({ b: Buffer.from([1, 2, 3]), u: new Uint8Array([4, 5]) }));
    const decoded = v8Codec.decode(bytes) as { b: Buffer; u: Uint8Array };
    bytes.fill(0);
    expect([...decoded.b]).toEqual([1, 2, 3]);
    expect([...decoded.u]).toEqual([4, 5]);
  });

  it('rejects a value nested too deeply for the stack with a SerializationError', () => {
    expect(() => v8Codec.encode(nest(200_000, 'object'))).toThrow(/nested too deeply/);
  });

  it('throws on bytes that are not v8 serialization data', () => {
    expect(() => v8Codec.decode(Buffer.from('hello'))).toThrow();
    expect(() => v8Codec.decode(Buffer.alloc(0))).toThrow();
    expect(() => v8Codec.decode(serialize({ a: 'x'.repeat(100) }).subarray(0, 20))).toThrow();
  });

  it('property: every supported value round-trips exactly, holes included', () => {
    fc.assert(
      fc.property(v8Arb, (value) => {
        expect(diffExact(roundTrip(value), value)).toBeUndefined();
      }),
      { numRuns: 2000 },
    );
  });
});

import { describe, expect, it } from 'vitest';
import { type Codec, jsonCodec, msgpackCodec, plainJsonCodec, portableMsgpackCodec, v8Codec } from '../../src/codec/index.js';
import { SerializationError } from '../../src/errors.js';

class Foo {
  x = 1;
}

function cyclicValue(): Record<string, unknown> {
  const value: Record<string, unknown> = { a: { b: [1] } };
  ((value.a as Record<string, unknown>).b as unknown[]).push(value);
  return value;
}

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return undefined;
}

const allCodecs: [string, Codec][] = [
  ['json', jsonCodec],
  ['plain json', plainJsonCodec],
  ['msgpack', msgpackCodec],
  ['portable msgpack', portableMsgpackCodec],
  ['v8', v8Codec],
];
const treeCodecs = allCodecs.filter(([name]) => name !== 'v8');
const mapCodecs = allCodecs.filter(([name]) => name === 'json' || name === 'msgpack' || name === 'v8');

describe.each(allCodecs)('%s codec rejects unsupported values', (label, codec) => {
  it.each<[string, () => unknown, (string | number)[], RegExp]>([
    ['a function', () => ({ a: { fn: () => 1 } }), ['a', 'fn'], /a function cannot be serialized/],
    ['a top-level function', () => () => 1, [], /a function cannot be serialized/],
    ['a symbol value', () => [1, Symbol('s')], [1], /a symbol cannot be serialized/],
    ['a symbol key', () => ({ outer: { ok: 1, [Symbol('hidden')]: 2 } }), ['outer', 'Symbol(hidden)'], /symbol-keyed property/],
    ['a class instance', () => ({ list: [new Foo()] }), ['list', 0], /an instance of Foo cannot be serialized/],
    ['a RegExp', () => ({ re: /x/g }), ['re'], /an instance of RegExp/],
    ['an Error', () => ({ err: new Error('x') }), ['err'], /an instance of Error/],
    ['a WeakMap', () => ({ wm: new WeakMap() }), ['wm'], /an instance of WeakMap/],
    ['a Promise', () => ({ p: Promise.resolve(1) }), ['p'], /an instance of Promise/],
    ['a Float64Array', () => ({ f: new Float64Array(1) }), ['f'], /an instance of Float64Array/],
    ['an ArrayBuffer', () => ({ ab: new ArrayBuffer(1) }), ['ab'], /an instance of ArrayBuffer/],
    ['a boxed primitive', () => ({ n: new Number(1) }), ['n'], /an instance of Number/],
    ['a Date subclass', () => ({ d: new (class MyDate extends Date {})() }), ['d'], /an instance of MyDate/],
    ['an array subclass', () => ({ a: new (class MyArray extends Array {})() }), ['a'], /an instance of MyArray/],
    ['an object with a custom prototype', () => ({ o: Object.create({ inherited: 1 }) as object }), ['o'], /an object with a non-plain prototype/],
  ])(`rejects %s with a SerializationError at the right path`, (_name, make, path, message) => {
    const error = thrown(() => codec.encode(make()));
    expect(error).toBeInstanceOf(SerializationError);
    expect((error as SerializationError).path).toEqual(path);
    expect((error as SerializationError).message).toMatch(message);
    expect((error as SerializationError).message).toContain(`the ${label} codec`);
  });
});

describe.each(treeCodecs)('%s codec rejects cycles and holes', (_label, codec) => {
  it('rejects a cycle, naming it cyclic, at the path of the back reference', () => {
    const error = thrown(() => codec.encode(cyclicValue()));
    expect(error).toBeInstanceOf(SerializationError);
    expect((error as SerializationError).path).toEqual(['a', 'b', 1]);
    expect((error as SerializationError).message).toMatch(/cyclic/);
  });

  it('rejects a self-reference at the top level', () => {
    const self: unknown[] = [];
    self.push(self);
    expect((thrown(() => codec.encode(self)) as SerializationError).path).toEqual([0]);
  });

  it('accepts a repeated (non-cyclic) reference and decodes it as two equal copies', () => {
    const shared = { n: 1 };
    const decoded = codec.decode(codec.encode({ a: shared, b: shared })) as { a: unknown; b: unknown };
    expect(decoded).toEqual({ a: { n: 1 }, b: { n: 1 } });
    expect(decoded.a).not.toBe(decoded.b);
  });

  it('rejects a sparse array hole', () => {
    // biome-ignore lint/suspicious/noSparseArray: the hole is the point of the test
    const error = thrown(() => codec.encode({ arr: [1, , 3] }));
    expect(error).toBeInstanceOf(SerializationError);
    expect((error as SerializationError).path).toEqual(['arr', 1]);
    expect((error as SerializationError).message).toMatch(/hole/);
  });
});

describe.each(mapCodecs)('%s codec names paths inside Maps and Sets', (_label, codec) => {
  it.each<[string, () => unknown, (string | number)[]]>([
    ['a function under a string Map key', () => ({ m: new Map([['k', () => 1]]) }), ['m', 'k']],
    ['a function under a number Map key', () => ({ m: new Map([[7, () => 1]]) }), ['m', 7]],
    ['a class instance under an object Map key', () => ({ m: new Map([[{}, new Foo()]]) }), ['m', '{entry 0}']],
    [
      'a function as a Map key',
      () => ({
        m: new Map<unknown, unknown>([
          ['ok', 1],
          [() => 1, 'v'],
        ]),
      }),
      ['m', '{key 1}'],
    ],
    ['a symbol inside a Set', () => ({ s: new Set([1, Symbol('s')]) }), ['s', 1]],
  ])('rejects %s', (_name, make, path) => {
    const error = thrown(() => codec.encode(make()));
    expect(error).toBeInstanceOf(SerializationError);
    expect((error as SerializationError).path).toEqual(path);
  });
});

describe('symbol keys', () => {
  it('ignores non-enumerable symbol keys like non-enumerable string keys', () => {
    const value = { a: 1 };
    Object.defineProperty(value, Symbol('hidden'), { value: 2, enumerable: false });
    Object.defineProperty(value, 'hidden', { value: 3, enumerable: false });
    for (const [, codec] of allCodecs) expect(codec.decode(codec.encode(value))).toEqual({ a: 1 });
  });
});

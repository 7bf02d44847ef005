import fc from 'fast-check';

/** Builds `[[[...[leaf]]]]` (arrays) or `{ a: { a: ... leaf } }` (objects) nested `depth` levels deep, without recursion. */
export function nest(depth: number, kind: 'array' | 'object', leaf: unknown = 'bottom'): unknown {
  let value = leaf;
  for (let i = 0; i < depth; i++) value = kind === 'array' ? [value] : { a: value };
  return value;
}

/** Every byte value 0..255 once. */
export const allBytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

/** Plain JSON values with well-formed strings: every codec round-trips these. */
export function plainEdgeValues(): [string, unknown][] {
  return [
    ['empty string', ''],
    ['empty object', {}],
    ['empty array', []],
    ['null', null],
    ['booleans', [true, false]],
    [
      'numbers',
      [0, 1, -1, 0.1 + 0.2, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, Number.MAX_VALUE, Number.MIN_VALUE, 2 ** 32, -(2 ** 31) - 1, 1e21, 5e-324],
    ],
    [
      'unicode',
      { emoji: '😀👍🏽👨‍👩‍👧', astral: '𝄞𝌆', rtl: 'مرحبا بالعالم', hebrew: 'שלום', cjk: '漢字かな', combining: 'e\u0301', nul: 'a\u0000b', bom: '\ufeff' },
    ],
    ['unicode keys', { '😀': 1, مفتاح: 2, '': 3, 'a\u0000': 4 }],
    ['tricky keys', { v: 1, m: [[['v'], 'date']], $type: 'Date', constructor: 'x', toJSON: 5, hasOwnProperty: 1, '0': 'zero', '-1': 'minus' }],
    ['looks like an extended payload', [{ a: 1 }, [[['a'], 'date']]]],
    ['1 MB string', 'x'.repeat(1 << 20)],
    ['100k-element array', Array.from({ length: 100_000 }, (_, i) => (i % 10 === 0 ? { i } : i % 2 === 0 ? i : `s${i}`))],
    ['nested arrays (1000 levels)', nest(1000, 'array')],
    ['nested objects (1000 levels)', nest(1000, 'object')],
    ['null-prototype object', Object.assign(Object.create(null) as object, { a: 1, b: { c: 2 } })],
  ];
}

/** An object with an own property named "__proto__" (as JSON.parse creates it). */
export function protoKeyObject(): Record<string, unknown> {
  return JSON.parse('{"a": 1, "__proto__": {"polluted": true}, "b": [2]}') as Record<string, unknown>;
}

/** Strings with unpaired UTF-16 surrogates, as values and as keys. */
export const loneSurrogates = { high: '\ud800', low: 'a\udc00b', reversed: '\udc00\ud800', last: 'x\udbff', 'k\ud800': 1 };

/** Strings of any UTF-16 code units, so lone surrogates appear (fc's 'binary' unit only yields well-formed text). */
export const utf16StringArb = fc.oneof(
  fc.string({ unit: 'binary' }),
  fc.string({ unit: fc.integer({ min: 0xd700, max: 0xe000 }).map((code) => String.fromCharCode(code)), maxLength: 4 }),
);

/** Special numbers, which fc.double() yields too rarely to rely on. */
const specialNumberArb = fc.constantFrom(-0, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY);

/** A fresh Invalid Date each time (a shared instance would be a repeated reference). */
const invalidDateArb = fc.constant(null).map(() => new Date(Number.NaN));

/** Object keys, biased towards names a careless format would treat specially. */
export const keyArb = fc.oneof(
  { weight: 4, arbitrary: utf16StringArb },
  { weight: 1, arbitrary: fc.constantFrom('__proto__', 'constructor', 'toJSON', 'hasOwnProperty', 'v', 'm', '$type', '', '0') },
);

const wellFormedKeyArb = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: 'grapheme' }).filter((key) => key !== '__proto__') },
  { weight: 1, arbitrary: fc.constantFrom('constructor', 'toJSON', 'hasOwnProperty', 'v', 'm', '$type', '', '0') },
);

const shape = { maxDepth: 4, maxKeys: 5, withNullPrototype: true } as const;

/** Plain JSON: finite numbers except -0, strings (lone surrogates included), null, arrays, objects. */
export const plainJsonArb = fc.anything({
  ...shape,
  key: keyArb,
  values: [fc.boolean(), fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }).filter((d) => !Object.is(d, -0)), utf16StringArb, fc.constant(null)],
});

const bytesArb = fc.uint8Array({ maxLength: 24 });

/** Every type the extended json and msgpack codecs support. */
export const extendedArb = fc.anything({
  ...shape,
  key: keyArb,
  withMap: true,
  withSet: true,
  values: [
    fc.boolean(),
    fc.integer(),
    fc.double(),
    specialNumberArb,
    utf16StringArb,
    fc.constant(null),
    fc.constant(undefined),
    fc.bigInt(),
    fc.bigInt({ min: -(2n ** 300n), max: 2n ** 300n }),
    fc.date(),
    invalidDateArb,
    bytesArb.map((bytes) => Buffer.from(bytes)),
    bytesArb,
  ],
});

/** Everything the v8 codec supports: the extended types plus sparse arrays. */
export const v8Arb = fc.anything({
  ...shape,
  key: keyArb,
  withMap: true,
  withSet: true,
  withSparseArray: true,
  values: [
    fc.boolean(),
    fc.integer(),
    fc.double(),
    specialNumberArb,
    utf16StringArb,
    fc.constant(null),
    fc.constant(undefined),
    fc.bigInt({ min: -(2n ** 300n), max: 2n ** 300n }),
    fc.date(),
    invalidDateArb,
    bytesArb.map((bytes) => Buffer.from(bytes)),
    bytesArb,
  ],
});

/** Standard MessagePack: plain data plus Date, Buffer, 64-bit BigInt, NaN and ±Infinity; well-formed strings. */
export const portableMsgpackArb = fc.anything({
  ...shape,
  key: wellFormedKeyArb,
  values: [
    fc.boolean(),
    fc.integer(),
    fc.double().filter((d) => !Object.is(d, -0)),
    fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY),
    fc.string({ unit: 'grapheme' }),
    fc.constant(null),
    fc.bigInt({ min: -(2n ** 63n), max: 2n ** 64n - 1n }),
    fc.date({ noInvalidDate: true }),
    bytesArb.map((bytes) => Buffer.from(bytes)),
  ],
});

import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type Codec,
  createJsonCodec,
  type DecodeOptions,
  decodeEntry,
  type EncodeOptions,
  encodeEntry,
  jsonCodec,
  MAX_FRESH_UNTIL,
  msgpackCodec,
  plainJsonCodec,
  portableMsgpackCodec,
  resolveCodec,
  v8Codec,
  withFreshUntil,
} from '../../src/codec/index.js';
import { DecodeError, InvalidOptionError, SerializationError } from '../../src/errors.js';
import { claimMarker } from '../../src/store/claims.js';
import { diffExact } from './deep-equal-exact.js';
import { extendedArb, plainJsonArb } from './values.js';

const customCodec = resolveCodec({ name: 'text', encode: (v) => String(v), decode: (b) => Buffer.from(b).toString('utf8') });
const codecs: [string, Codec][] = [
  ['json', jsonCodec],
  ['msgpack', msgpackCodec],
  ['v8', v8Codec],
  ['custom', customCodec],
];

const options = (codec: Codec, overrides: Partial<EncodeOptions> = {}): EncodeOptions => ({
  codec,
  compression: false,
  compressThreshold: 1024,
  raw: false,
  ...overrides,
});
/** What an envelope's header may carry besides the codec: a freshness deadline, a hard expiry, tags with their tokens. */
const headerFields = {
  freshUntil: fc.option(fc.integer({ min: 0, max: MAX_FRESH_UNTIL }), { nil: undefined }),
  expiresAt: fc.option(fc.integer({ min: 0, max: MAX_FRESH_UNTIL }), { nil: undefined }),
  tags: fc.option(fc.array(fc.tuple(fc.string({ minLength: 1, maxLength: 8 }), fc.string({ maxLength: 4 })), { minLength: 1, maxLength: 3 }), {
    nil: undefined,
  }),
};
const decodeOptions = (codec: Codec, overrides: Partial<DecodeOptions> = {}): DecodeOptions => ({ codec, raw: false, ...overrides });

function decodeError(bytes: Uint8Array, opts: DecodeOptions): DecodeError {
  let caught: unknown;
  try {
    decodeEntry(bytes, opts);
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(DecodeError);
  return caught as DecodeError;
}

describe('envelope layout', () => {
  it('writes magic+version, flags, then the payload', () => {
    const bytes = encodeEntry({ a: 1 }, undefined, options(jsonCodec));
    expect([...bytes.subarray(0, 2)]).toEqual([0xb1, 0x01]);
    expect(bytes.subarray(2).toString('utf8')).toBe('{"a":1}');
  });

  it('property: a json payload written as text in place is byte for byte what the codec encodes, whatever the header and wherever the compression threshold falls', () => {
    const header = fc.record({ ...headerFields, threshold: fc.integer({ min: 0, max: 200 }) });
    fc.assert(
      fc.property(fc.oneof(plainJsonArb, extendedArb), header, fc.constantFrom(jsonCodec, createJsonCodec({ extended: false })), (value, h, codec) => {
        let expected: Buffer;
        try {
          expected = Buffer.from(codec.encode(value));
        } catch (err) {
          expect(() => encodeEntry(value, h.freshUntil, options(codec), h.tags, h.expiresAt)).toThrow((err as Error).message);
          return;
        }
        const plain = encodeEntry(value, h.freshUntil, options(codec), h.tags, h.expiresAt);
        expect(plain.subarray(plain.length - expected.length).equals(expected)).toBe(true);
        expect(decodeEntry(plain, decodeOptions(codec)).value).toEqual(value);
        // Compressed or not, depending on where the threshold falls: it reads back the same.
        const compressed = encodeEntry(value, h.freshUntil, options(codec, { compression: 'deflate', compressThreshold: h.threshold }), h.tags, h.expiresAt);
        if (expected.length < h.threshold) expect(compressed.equals(plain)).toBe(true);
        expect(decodeEntry(compressed, decodeOptions(codec)).value).toEqual(value);
      }),
      { numRuns: 500 },
    );
  });

  it('writes freshUntil as 6 big-endian bytes and sets the flag', () => {
    const bytes = encodeEntry('x', 0x0102_0304_0506, options(msgpackCodec));
    expect([...bytes.subarray(0, 8)]).toEqual([0xb1, 0x42, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06]);
    expect(bytes.subarray(8).equals(Buffer.from(msgpackCodec.encode('x')))).toBe(true);
  });

  it.each(codecs)('stores the %s codec id in the low nibble of the flags', (_name, codec) => {
    const expected = { json: 1, msgpack: 2, v8: 3, text: 15 }[codec.name as 'json'];
    expect(encodeEntry('v', undefined, options(codec))[1]).toBe(expected);
  });

  it.each([
    ['deflate', 1],
    ['gzip', 2],
    ['brotli', 3],
  ] as const)('stores the %s compression id in bits 4-5 and round-trips', (compression, id) => {
    const value = { rows: Array.from({ length: 300 }, (_, i) => ({ i, label: `row ${i}`, when: new Date(i) })) };
    const bytes = encodeEntry(value, 1234, options(jsonCodec, { compression, compressThreshold: 1024 }));
    expect(bytes[1]).toBe(0x01 | (id << 4) | 0x40);
    expect(bytes.length).toBeLessThan(jsonCodec.encode(value).length / 3);
    const decoded = decodeEntry(bytes, decodeOptions(jsonCodec));
    expect(decoded.freshUntil).toBe(1234);
    expect(diffExact(decoded.value, value)).toBeUndefined();
  });

  it('does not compress below the threshold', () => {
    const value = 'a'.repeat(1000);
    const bytes = encodeEntry(value, undefined, options(jsonCodec, { compression: 'brotli', compressThreshold: 1024 }));
    expect(bytes[1]! & 0x30).toBe(0);
    expect(bytes.subarray(2).toString('utf8')).toBe(JSON.stringify(value));
    const compressed = encodeEntry('a'.repeat(1100), undefined, options(jsonCodec, { compression: 'brotli', compressThreshold: 1024 }));
    expect(compressed[1]! & 0x30).toBe(0x30);
  });

  it('does not compress incompressible data', () => {
    const value = randomBytes(16 * 1024);
    const bytes = encodeEntry(value, undefined, options(msgpackCodec, { compression: 'gzip', compressThreshold: 0 }));
    expect(bytes[1]! & 0x30).toBe(0);
    expect((decodeEntry(bytes, decodeOptions(msgpackCodec)).value as Buffer).equals(value)).toBe(true);
  });
});

describe('freshUntil', () => {
  it.each([
    ['zero', 0],
    ['now', Date.now()],
    ['a far-future date', Date.UTC(9999, 11, 31, 23, 59, 59, 999)],
    ['the largest storable value', MAX_FRESH_UNTIL],
  ])('round-trips %s', (_name, freshUntil) => {
    for (const [, codec] of codecs) {
      const bytes = encodeEntry('v', freshUntil, options(codec));
      expect(decodeEntry(bytes, decodeOptions(codec))).toEqual({ value: 'v', freshUntil });
    }
  });

  it('is undefined when not stored, and the header is then 2 bytes', () => {
    const bytes = encodeEntry(null, undefined, options(jsonCodec));
    expect(bytes.length).toBe(2 + 4);
    expect(bytes[1]! & 0x40).toBe(0);
    expect(decodeEntry(bytes, decodeOptions(jsonCodec))).toEqual({ value: null, freshUntil: undefined });
  });

  it.each([-1, 1.5, MAX_FRESH_UNTIL + 1, Number.NaN, Number.POSITIVE_INFINITY])('rejects %d with an InvalidOptionError', (freshUntil) => {
    expect(() => encodeEntry('v', freshUntil, options(jsonCodec))).toThrow(InvalidOptionError);
  });
});

describe('round trips through the envelope', () => {
  it.each(codecs.slice(0, 3))('%s: values round-trip with and without compression', (_name, codec) => {
    const value = { text: 'é😀'.repeat(500), list: Array.from({ length: 200 }, (_, i) => i), when: new Date(5), big: 10n };
    for (const compression of [false, 'deflate', 'gzip', 'brotli'] as const) {
      const bytes = encodeEntry(value, 42, options(codec, { compression, compressThreshold: 64 }));
      const decoded = decodeEntry(bytes, decodeOptions(codec));
      expect(decoded.freshUntil).toBe(42);
      expect(diffExact(decoded.value, value)).toBeUndefined();
    }
  });

  it('accepts a plain Uint8Array as input', () => {
    const bytes = new Uint8Array(encodeEntry({ a: [1] }, 7, options(jsonCodec)));
    expect(decodeEntry(bytes, decodeOptions(jsonCodec))).toEqual({ value: { a: [1] }, freshUntil: 7 });
  });

  it('decodes an entry at an offset inside a larger buffer', () => {
    const entry = encodeEntry({ a: 'b' }, 9, options(msgpackCodec));
    const big = Buffer.concat([Buffer.from('junk'), entry, Buffer.from('more')]);
    expect(decodeEntry(big.subarray(4, 4 + entry.length), decodeOptions(msgpackCodec))).toEqual({ value: { a: 'b' }, freshUntil: 9 });
  });

  it('passes SerializationError from the codec through', () => {
    expect(() => encodeEntry({ f: () => 1 }, undefined, options(jsonCodec))).toThrow(SerializationError);
  });
});

describe('raw mode', () => {
  const raw = (codec: Codec): EncodeOptions => options(codec, { raw: true, compression: 'brotli', compressThreshold: 0 });

  it('writes exactly JSON.stringify(value) for plain JSON values, with no envelope, compression or freshUntil', () => {
    for (const value of [{ a: 1, b: [true, null, 'x'] }, 'text', 0, [], 'x'.repeat(5000)]) {
      const bytes = encodeEntry(value, 123, raw(jsonCodec));
      expect(bytes.equals(Buffer.from(JSON.stringify(value)))).toBe(true);
      expect(decodeEntry(bytes, { codec: jsonCodec, raw: true })).toEqual({ value, freshUntil: undefined });
    }
  });

  it('property: raw json bytes are JSON.stringify output', () => {
    fc.assert(
      fc.property(plainJsonArb, (value) => {
        expect(encodeEntry(value, undefined, raw(jsonCodec)).equals(Buffer.from(JSON.stringify(value)))).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it.each<[string, unknown]>([
    ['a Date', { d: new Date() }],
    ['undefined', { u: undefined }],
    ['a Map', new Map()],
    ['a BigInt', [1n]],
    ['NaN', Number.NaN],
  ])('rejects %s with a SerializationError even when the region codec is extended json', (_name, value) => {
    expect(() => encodeEntry(value, undefined, raw(jsonCodec))).toThrow(SerializationError);
    expect(() => encodeEntry(value, undefined, raw(plainJsonCodec))).toThrow(/plain json/);
  });

  it('uses standard MessagePack for msgpack', () => {
    const bytes = encodeEntry({ a: [1, 'x'] }, undefined, raw(msgpackCodec));
    // fixmap(1) "a" => fixarray(2) [1, "x"]
    expect(bytes.toString('hex')).toBe('81a1619201a178');
    expect(() => encodeEntry(new Set([1]), undefined, raw(msgpackCodec))).toThrow(/portable msgpack/);
    expect(decodeEntry(bytes, { codec: portableMsgpackCodec, raw: true }).value).toEqual({ a: [1, 'x'] });
  });

  it('reads JSON written by another tool and turns bad bytes into DecodeError', () => {
    expect(decodeEntry(Buffer.from(' {"from":"python"} '), { codec: jsonCodec, raw: true }).value).toEqual({ from: 'python' });
    expect(decodeError(Buffer.from('not json'), { codec: jsonCodec, raw: true }).cause).toBeInstanceOf(SyntaxError);
    decodeError(encodeEntry(new Date(1), undefined, options(jsonCodec)), { codec: jsonCodec, raw: true });
    decodeError(Buffer.alloc(0), { codec: msgpackCodec, raw: true });
  });
});

describe('decoding garbage', () => {
  const json = decodeOptions(jsonCodec);

  it.each<[string, number[] | string, RegExp]>([
    ['an empty buffer', [], /empty entry/],
    ['a single magic byte', [0xb1], /truncated entry header/],
    ['a single other byte', [0x68], /not a trove entry \(first byte 0x68\)/],
    ['plain text', 'hello', /not a trove entry/],
    ['JSON written by another tool', '{"a":1}', /not a trove entry/],
    ['unknown version 0xB2', [0xb2, 0x01, 0x31], /unsupported envelope version 2/],
    ['version 0', [0xb0, 0x01, 0x31], /unsupported envelope version 0/],
    ['an unknown codec id', [0xb1, 0x05, 0x31], /unknown codec id 5/],
    ['the extended flag without its second byte', [0xb1, 0x81], /truncated entry header/],
    ['a reserved bit of the second flags byte', [0xb1, 0x81, 0x04, 0x31], /unknown envelope flags/],
    ['an empty second flags byte', [0xb1, 0x81, 0x00, 0x31], /unknown envelope flags/],
    ['the tags flag without a tag section', [0xb1, 0x81, 0x01], /truncated tag section/],
    ['an empty tag section', [0xb1, 0x81, 0x01, 0x00, 0x31], /empty tag section/],
    ['a truncated tag', [0xb1, 0x81, 0x01, 0x01, 0x00, 0x05, 0x61], /truncated tag section/],
    ['a truncated expiresAt', [0xb1, 0x81, 0x02, 0x00, 0x01], /truncated entry header/],
    ['a header truncated inside freshUntil', [0xb1, 0x41, 0x00, 0x00, 0x01], /truncated entry header/],
    ['a valid header without payload', [0xb1, 0x01], /json codec could not decode/],
    ['a valid header with a bad payload', [0xb1, 0x01, 0x7b], /json codec could not decode/],
    ['bad compressed data', [0xb1, 0x11, 0xff, 0xff, 0xff], /compressed payload is corrupt/],
  ])('rejects %s with a DecodeError', (_name, input, message) => {
    const bytes = typeof input === 'string' ? Buffer.from(input) : Buffer.from(input);
    expect(decodeError(bytes, json).message).toMatch(message);
  });

  it.each(['deflate', 'gzip', 'brotli'] as const)('rejects a truncated %s payload with a DecodeError that has a cause', (compression) => {
    const bytes = encodeEntry('x'.repeat(5000), undefined, options(jsonCodec, { compression, compressThreshold: 0 }));
    const error = decodeError(bytes.subarray(0, bytes.length - 10), json);
    expect(error.cause).toBeInstanceOf(Error);
  });

  it('rejects a decompression bomb larger than maxDecodedBytes', () => {
    const bytes = encodeEntry('a'.repeat(2 * 1024 * 1024), undefined, options(jsonCodec, { compression: 'gzip', compressThreshold: 0 }));
    expect(bytes.length).toBeLessThan(10_000);
    expect(decodeError(bytes, decodeOptions(jsonCodec, { maxDecodedBytes: 1024 * 1024 })).message).toMatch(/maxDecodedBytes/);
    expect(decodeEntry(bytes, decodeOptions(jsonCodec, { maxDecodedBytes: 3 * 1024 * 1024 })).value).toHaveLength(2 * 1024 * 1024);
  });

  it.each<[string, Codec, Codec, RegExp]>([
    ['json entry read as msgpack', jsonCodec, msgpackCodec, /written by the json codec, but the region's codec is "msgpack" \(msgpack\)/],
    ['msgpack entry read as v8', msgpackCodec, v8Codec, /written by the msgpack codec/],
    ['custom entry read as json', customCodec, jsonCodec, /written by the custom codec, but the region's codec is "json"/],
    ['json entry read by a custom codec', jsonCodec, customCodec, /written by the json codec, but the region's codec is "text" \(custom\)/],
  ])('rejects a codec mismatch: %s', (_name, writer, reader, message) => {
    const bytes = encodeEntry('v', undefined, options(writer));
    expect(decodeError(bytes, decodeOptions(reader)).message).toMatch(message);
  });

  it('attaches the codec failure as the cause', () => {
    const error = decodeError(Buffer.from([0xb1, 0x01, 0x7b]), json);
    expect(error.cause).toBeInstanceOf(SyntaxError);
  });

  it('turns a non-Error thrown by a custom decoder into a DecodeError', () => {
    const codec = resolveCodec({
      name: 'throws-strings',
      encode: () => 'x',
      decode: () => {
        throw 'nope';
      },
    });
    const error = decodeError(encodeEntry(1, undefined, options(codec)), decodeOptions(codec));
    expect(error.cause).toBe('nope');
    expect(error.message).toContain('nope');
  });

  const anyCodec = fc.constantFrom(...codecs.map(([, codec]) => codec), plainJsonCodec, portableMsgpackCodec);
  const garbage = fc.oneof(
    fc.uint8Array({ maxLength: 64 }),
    // a valid first byte and arbitrary flags, so codec and decompression paths are reached
    fc.tuple(fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 64 })).map(([flags, rest]) => Uint8Array.from([0xb1, flags, ...rest])),
    // a valid header for each codec with arbitrary payload bytes
    fc
      .tuple(fc.constantFrom(0x01, 0x02, 0x03, 0x0f, 0x11, 0x21, 0x31, 0x12, 0x13), fc.uint8Array({ maxLength: 64 }))
      .map(([flags, rest]) => Uint8Array.from([0xb1, flags, ...rest])),
    // the extended json and tagged msgpack markers followed by arbitrary bytes
    fc.tuple(fc.constantFrom(0x00, 0xc1), fc.uint8Array({ maxLength: 64 })).map(([marker, rest]) => Uint8Array.from([0xb1, 0x01, marker, ...rest])),
    fc.tuple(fc.constantFrom(0x00, 0xc1), fc.uint8Array({ maxLength: 64 })).map(([marker, rest]) => Uint8Array.from([0xb1, 0x02, marker, ...rest])),
  );

  it('property: arbitrary bytes either decode or throw DecodeError, never anything else', () => {
    fc.assert(
      fc.property(garbage, anyCodec, fc.boolean(), (bytes, codec, raw) => {
        try {
          decodeEntry(bytes, { codec, raw, maxDecodedBytes: 1 << 20 });
        } catch (error) {
          expect(error).toBeInstanceOf(DecodeError);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('property: flipping any byte of a valid entry decodes or throws DecodeError', () => {
    const entry = encodeEntry({ list: [1, 2, 3], when: new Date(1), map: new Map([[1, 'x']]) }, 5, options(jsonCodec));
    const compressed = encodeEntry('abc'.repeat(600), 5, options(msgpackCodec, { compression: 'deflate', compressThreshold: 0 }));
    fc.assert(
      fc.property(
        fc.constantFrom([entry, jsonCodec] as const, [compressed, msgpackCodec] as const),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        ([source, codec], position, xor) => {
          const bytes = Buffer.from(source);
          bytes[position % bytes.length]! ^= xor;
          try {
            decodeEntry(bytes, decodeOptions(codec));
          } catch (error) {
            expect(error).toBeInstanceOf(DecodeError);
          }
        },
      ),
      { numRuns: 1500 },
    );
  });
});

describe('tag stamps', () => {
  it('round-trip with freshUntil and compression, unicode tags and empty tokens included', () => {
    const tags = [
      ['org:7', ''],
      ['user:42', 'Ab3-_x9Q'],
      ['ünïcode 🏷', 'z'],
    ] as const;
    for (const compression of [false, 'gzip'] as const) {
      const bytes = encodeEntry({ a: 'v'.repeat(3000) }, 1_700_000_000_000, options(jsonCodec, { compression, compressThreshold: 100 }), tags);
      const decoded = decodeEntry(bytes, decodeOptions(jsonCodec));
      expect(decoded.tags).toEqual(tags);
      expect(decoded.freshUntil).toBe(1_700_000_000_000);
      expect(decoded.value).toEqual({ a: 'v'.repeat(3000) });
    }
  });

  it('expiresAt round-trips alone and with tags and freshUntil', () => {
    const alone = decodeEntry(encodeEntry('v', undefined, options(jsonCodec), undefined, 1_800_000_000_000), decodeOptions(jsonCodec));
    expect(alone).toEqual({ value: 'v', freshUntil: undefined, expiresAt: 1_800_000_000_000 });
    const all = decodeEntry(encodeEntry('v', 5, options(jsonCodec), [['t', 'x']], 9), decodeOptions(jsonCodec));
    expect(all).toEqual({ value: 'v', freshUntil: 5, tags: [['t', 'x']], expiresAt: 9 });
    expect(() => encodeEntry('v', undefined, options(jsonCodec), undefined, -1)).toThrow(InvalidOptionError);
  });

  it('an entry without tags has no tags field', () => {
    expect(decodeEntry(encodeEntry(1, undefined, options(jsonCodec), []), decodeOptions(jsonCodec))).toEqual({ value: 1, freshUntil: undefined });
  });

  it('rejects too many tags, empty tags, and tags in raw mode', () => {
    const many = Array.from({ length: 256 }, (_, i) => [`t${i}`, ''] as const);
    expect(() => encodeEntry(1, undefined, options(jsonCodec), many)).toThrow(/at most 255 tags/);
    expect(() => encodeEntry(1, undefined, options(jsonCodec), [['', '']])).toThrow(/non-empty/);
    expect(() => encodeEntry(1, undefined, options(jsonCodec, { raw: true }), [['t', '']])).toThrow(/raw regions/);
  });

  it('every truncation of a tagged entry is a DecodeError', () => {
    const bytes = encodeEntry('value', 5, options(jsonCodec), [['tag', 'tok']]);
    for (let n = 2; n < bytes.length - 1; n++) {
      expect(() => decodeEntry(bytes.subarray(0, n), decodeOptions(jsonCodec))).toThrow(DecodeError);
    }
  });
});

describe('entries read in place (uncompressed, without tags)', () => {
  const times = [undefined, 0, 1_800_000_000_000, MAX_FRESH_UNTIL];

  it.each(codecs)('%s: every combination of freshUntil and expiresAt decodes to the same fields as a general entry', (_name, codec) => {
    for (const freshUntil of times) {
      for (const expiresAt of times) {
        const bytes = encodeEntry('v', freshUntil, options(codec), undefined, expiresAt);
        const expected = expiresAt === undefined ? { value: 'v', freshUntil } : { value: 'v', freshUntil, expiresAt };
        expect(decodeEntry(bytes, decodeOptions(codec))).toStrictEqual(expected);
        // The same bytes inside a larger buffer, and as a plain Uint8Array.
        const big = Buffer.concat([Buffer.from('junk'), bytes, Buffer.from('more')]);
        expect(decodeEntry(big.subarray(4, 4 + bytes.length), decodeOptions(codec))).toStrictEqual(expected);
        expect(decodeEntry(new Uint8Array(bytes), decodeOptions(codec))).toStrictEqual(expected);
      }
    }
  });

  it('revives the extended JSON types of a payload read in place', () => {
    const value = { at: new Date(5), m: new Map([[1, 'a']]), n: undefined, big: 2n };
    const bytes = encodeEntry(value, 7, options(jsonCodec), undefined, 9);
    const decoded = decodeEntry(bytes, decodeOptions(jsonCodec));
    expect(diffExact(decoded.value, value)).toBeUndefined();
    expect(decoded).toMatchObject({ freshUntil: 7, expiresAt: 9 });
  });

  it('every truncation of an entry with freshUntil and expiresAt is a DecodeError', () => {
    const bytes = encodeEntry({ a: 1 }, 5, options(jsonCodec), undefined, 9);
    for (let n = 0; n < bytes.length; n++) {
      expect(() => decodeEntry(bytes.subarray(0, n), decodeOptions(jsonCodec))).toThrow(DecodeError);
    }
  });

  it('a region alternating between codecs reads each entry with its own codec', () => {
    const json = encodeEntry({ a: 1 }, undefined, options(jsonCodec), undefined, 9);
    const msgpack = encodeEntry({ a: 1 }, undefined, options(msgpackCodec), undefined, 9);
    for (let i = 0; i < 3; i++) {
      expect(decodeEntry(json, decodeOptions(jsonCodec)).value).toEqual({ a: 1 });
      expect(decodeEntry(msgpack, decodeOptions(msgpackCodec)).value).toEqual({ a: 1 });
      expect(() => decodeEntry(json, decodeOptions(msgpackCodec))).toThrow(/written by the json codec/);
      expect(() => decodeEntry(msgpack, decodeOptions(jsonCodec))).toThrow(/written by the msgpack codec/);
    }
  });
});

describe('withFreshUntil (markStale)', () => {
  it('property: the entry rewritten is byte for byte the one written with that freshness, whatever its header, codec and compression', () => {
    const header = fc.record({
      ...headerFields,
      compression: fc.constantFrom<false | 'deflate' | 'brotli'>(false, 'deflate', 'brotli'),
      threshold: fc.integer({ min: 0, max: 200 }),
    });
    fc.assert(
      fc.property(
        plainJsonArb,
        header,
        fc.constantFrom(jsonCodec, msgpackCodec, v8Codec),
        fc.integer({ min: 0, max: MAX_FRESH_UNTIL }),
        (value, h, codec, at) => {
          const opts = options(codec, { compression: h.compression, compressThreshold: h.threshold });
          const written = encodeEntry(value, h.freshUntil, opts, h.tags, h.expiresAt);
          const rewritten = withFreshUntil(written, at);
          expect(rewritten?.equals(encodeEntry(value, at, opts, h.tags, h.expiresAt))).toBe(true);
          const decoded = decodeEntry(rewritten!, decodeOptions(codec));
          expect(decoded.freshUntil).toBe(at);
          expect(decoded.expiresAt).toBe(h.expiresAt);
          expect(decoded.tags).toEqual(h.tags);
          expect(diffExact(decoded.value, value)).toBeUndefined();
          // The bytes given are left as they were.
          expect(written.equals(encodeEntry(value, h.freshUntil, opts, h.tags, h.expiresAt))).toBe(true);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('answers undefined for bytes that are not an envelope, and refuses a time out of range', () => {
    const raw = encodeEntry({ a: 1 }, undefined, options(jsonCodec, { raw: true }));
    for (const bytes of [
      raw,
      Buffer.from(claimMarker('tok')),
      Buffer.alloc(0),
      Buffer.from([0xb1]),
      Buffer.from([0xb1, 0x41, 0, 0]),
      Buffer.from([0xb2, 0x01]),
    ]) {
      expect(withFreshUntil(bytes, 0)).toBeUndefined();
    }
    const entry = encodeEntry({ a: 1 }, undefined, options(jsonCodec));
    expect(() => withFreshUntil(entry, -1)).toThrow(InvalidOptionError);
    expect(() => withFreshUntil(entry, MAX_FRESH_UNTIL + 1)).toThrow(InvalidOptionError);
    expect(() => withFreshUntil(entry, 1.5)).toThrow(InvalidOptionError);
  });
});

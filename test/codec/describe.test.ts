/**
 * Reading an entry without its region's options (what the `trove inspect` command does): the
 * envelope names the codec and compression, and a built-in codec's payload decodes to the value
 * the region's own decoder would answer.
 */
import { describe, expect, it } from 'vitest';
import {
  type Codec,
  createJsonCodec,
  decodeEntry,
  describeEntry,
  type EncodeOptions,
  encodeEntry,
  jsonCodec,
  msgpackCodec,
  plainJsonCodec,
  portableMsgpackCodec,
  readEntryHeader,
  resolveCodec,
  v8Codec,
} from '../../src/codec/index.js';
import { DecodeError } from '../../src/errors.js';

const options = (codec: Codec, overrides: Partial<EncodeOptions> = {}): EncodeOptions => ({
  codec,
  compression: false,
  compressThreshold: 1024,
  raw: false,
  ...overrides,
});
const value = { id: 7, when: new Date('2024-05-06T07:08:09.000Z'), tags: new Set(['a', 'b']), big: 12345678901234567890n, text: 'x'.repeat(3000) };

describe('describeEntry', () => {
  it.each([
    ['json', jsonCodec],
    ['msgpack', msgpackCodec],
    ['v8', v8Codec],
  ] as const)('decodes a %s entry with every compression, as the region would', (name, codec) => {
    for (const compression of [false, 'deflate', 'gzip', 'brotli'] as const) {
      const bytes = encodeEntry(value, 1_700_000_000_000, options(codec, { compression }), [['org:7', 'tok1']], 1_700_000_600_000);
      const described = describeEntry(bytes);
      expect(described).toMatchObject({
        codec: name,
        compression: compression === false ? 'none' : compression,
        storedBytes: bytes.length,
        freshUntil: 1_700_000_000_000,
        expiresAt: 1_700_000_600_000,
        tags: [['org:7', 'tok1']],
        decoded: true,
      });
      expect(described.value).toEqual(decodeEntry(bytes, { codec, raw: false }).value);
      expect(described.value).toEqual(value);
      // Compressed or not, the payload is the codec's bytes.
      expect(described.payloadBytes).toBe(described.payload.length);
      if (compression !== false) expect(described.storedBytes).toBeLessThan(described.payloadBytes);
    }
  });

  it("reads the portable variants' entries, and JSON codecs created with options", () => {
    expect(describeEntry(encodeEntry({ a: [1] }, undefined, options(plainJsonCodec))).value).toEqual({ a: [1] });
    expect(describeEntry(encodeEntry({ a: [1] }, undefined, options(portableMsgpackCodec))).value).toEqual({ a: [1] });
    expect(describeEntry(encodeEntry(new Map([[1, 2]]), undefined, options(createJsonCodec()))).value).toEqual(new Map([[1, 2]]));
  });

  it("leaves a custom codec's payload undecoded", () => {
    const custom = resolveCodec({ name: 'upper', encode: (v) => String(v).toUpperCase(), decode: (b) => Buffer.from(b).toString() });
    const described = describeEntry(encodeEntry('hello', undefined, options(custom)));
    expect(described).toMatchObject({ codec: 'custom', compression: 'none', decoded: false, freshUntil: undefined });
    expect('value' in described).toBe(false);
    expect(described.payload.toString()).toBe('HELLO');
  });

  it('throws DecodeError for bytes that are not an entry', () => {
    expect(() => describeEntry(Buffer.from('{"a":1}'))).toThrow(new DecodeError('not a trove entry (first byte 0x7b)'));
    expect(() => describeEntry(Buffer.alloc(0))).toThrow(DecodeError);
    expect(() => describeEntry(Buffer.from([0xb1, 0x0e, 1, 2]))).toThrow(new DecodeError('unknown codec id 14'));
    const truncated = encodeEntry(value, 5, options(jsonCodec, { compression: 'gzip' }), [['t', 'x']]);
    expect(() => describeEntry(truncated.subarray(0, truncated.length - 5))).toThrow(DecodeError);
  });
});

describe('readEntryHeader', () => {
  it('reads the header without decoding the payload', () => {
    const bytes = encodeEntry('v', 9, options(jsonCodec), [['a', '1']], 10);
    const garbled = Buffer.concat([bytes.subarray(0, bytes.length - 3), Buffer.from('{{{')]);
    expect(readEntryHeader(garbled)).toMatchObject({
      codecId: 1,
      compressionId: 0,
      freshUntil: 9,
      expiresAt: 10,
      tags: [['a', '1']],
      payloadAt: bytes.length - 3,
    });
    expect(() => decodeEntry(garbled, { codec: jsonCodec, raw: false })).toThrow(DecodeError);
  });
});

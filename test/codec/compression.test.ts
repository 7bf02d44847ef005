import { randomBytes } from 'node:crypto';
import { brotliDecompressSync, deflateRawSync, gunzipSync, inflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  COMPRESSION_IDS,
  compressPayload,
  DEFAULT_COMPRESS_THRESHOLD,
  DEFAULT_MAX_DECODED_BYTES,
  decompressPayload,
  resolveByteCount,
  resolveCompression,
} from '../../src/codec/index.js';
import { DecodeError, InvalidOptionError } from '../../src/errors.js';

const compressible = Buffer.from(JSON.stringify(Array.from({ length: 400 }, (_, i) => ({ id: i, name: `user ${i}`, active: i % 2 === 0 }))));

describe('compressPayload / decompressPayload', () => {
  it('has the documented defaults', () => {
    expect(DEFAULT_COMPRESS_THRESHOLD).toBe(1024);
    expect(DEFAULT_MAX_DECODED_BYTES).toBe(64 * 1024 * 1024);
    expect(COMPRESSION_IDS).toEqual({ none: 0, deflate: 1, gzip: 2, brotli: 3 });
  });

  it.each([
    ['deflate', 1, inflateRawSync],
    ['gzip', 2, gunzipSync],
    ['brotli', 3, brotliDecompressSync],
  ] as const)('%s compresses with the standard format and round-trips', (algorithm, id, standardDecompress) => {
    const { id: usedId, bytes } = compressPayload(compressible, algorithm, 1024);
    expect(usedId).toBe(id);
    expect(bytes.length).toBeLessThan(compressible.length / 3);
    expect(standardDecompress(bytes).equals(compressible)).toBe(true);
    expect(decompressPayload(bytes, id, DEFAULT_MAX_DECODED_BYTES).equals(compressible)).toBe(true);
  });

  it('leaves payloads below the threshold uncompressed', () => {
    const payload = compressible.subarray(0, 1023);
    expect(compressPayload(payload, 'brotli', 1024)).toEqual({ id: 0, bytes: payload });
    expect(compressPayload(compressible.subarray(0, 1024), 'brotli', 1024).id).toBe(3);
  });

  it('leaves payloads uncompressed when compression is off', () => {
    expect(compressPayload(compressible, false, 0)).toEqual({ id: 0, bytes: compressible });
  });

  it.each(['deflate', 'gzip', 'brotli'] as const)('%s leaves incompressible data (random bytes) uncompressed', (algorithm) => {
    const payload = randomBytes(8192);
    const result = compressPayload(payload, algorithm, 0);
    expect(result.id).toBe(0);
    expect(result.bytes).toBe(payload);
  });

  it('returns the bytes unchanged for id 0', () => {
    const bytes = Buffer.from('abc');
    expect(decompressPayload(bytes, 0, 10)).toBe(bytes);
  });

  it.each([
    ['deflate', 1],
    ['gzip', 2],
    ['brotli', 3],
  ] as const)('%s: corrupt or truncated data is a DecodeError', (algorithm, id) => {
    const { bytes } = compressPayload(compressible, algorithm, 0);
    expect(() => decompressPayload(bytes.subarray(0, bytes.length >> 1), id, DEFAULT_MAX_DECODED_BYTES)).toThrow(DecodeError);
    expect(() => decompressPayload(Buffer.alloc(64, 0xff), id, DEFAULT_MAX_DECODED_BYTES)).toThrow(DecodeError);
  });

  it.each([
    ['deflate', 1],
    ['gzip', 2],
    ['brotli', 3],
  ] as const)('%s: output beyond maxOutputLength is a DecodeError (decompression bomb)', (algorithm, id) => {
    const bomb = compressPayload(Buffer.alloc(4 * 1024 * 1024), algorithm, 0).bytes;
    expect(bomb.length).toBeLessThan(20_000);
    let caught: unknown;
    try {
      decompressPayload(bomb, id, 1024 * 1024);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(DecodeError);
    expect((caught as DecodeError).message).toMatch(/more than 1048576 bytes \(option "maxDecodedBytes"\)/);
    expect((caught as DecodeError).cause).toBeInstanceOf(RangeError);
    expect(decompressPayload(bomb, id, 4 * 1024 * 1024).length).toBe(4 * 1024 * 1024);
  });

  it('enforces the 64 MiB default against a real bomb', () => {
    const bomb = deflateRawSync(Buffer.alloc(DEFAULT_MAX_DECODED_BYTES + 1), { level: 1 });
    expect(() => decompressPayload(bomb, 1, DEFAULT_MAX_DECODED_BYTES)).toThrow(/more than 67108864 bytes/);
  });

  it('rejects an unknown compression id', () => {
    expect(() => decompressPayload(Buffer.from('x'), 4, 100)).toThrow(DecodeError);
  });
});

describe('option validation', () => {
  it('resolveCompression accepts the algorithms, false and undefined', () => {
    expect(resolveCompression('deflate')).toBe('deflate');
    expect(resolveCompression('gzip')).toBe('gzip');
    expect(resolveCompression('brotli')).toBe('brotli');
    expect(resolveCompression(false)).toBe(false);
    expect(resolveCompression(undefined)).toBe(false);
  });

  it.each([['zstd'], [true], [1], [null]])('resolveCompression rejects %j naming the option', (value) => {
    expect(() => resolveCompression(value, 'regions.a.compression')).toThrow(InvalidOptionError);
    expect(() => resolveCompression(value, 'regions.a.compression')).toThrow(/"regions\.a\.compression"/);
  });

  it('resolveByteCount validates byte counts', () => {
    expect(resolveByteCount(undefined, 'compressThreshold', 1024)).toBe(1024);
    expect(resolveByteCount(0, 'compressThreshold', 1024)).toBe(0);
    expect(resolveByteCount(5, 'maxDecodedBytes', 1, false)).toBe(5);
    for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '10', null]) {
      expect(() => resolveByteCount(bad, 'compressThreshold', 1)).toThrow(InvalidOptionError);
    }
    expect(() => resolveByteCount(0, 'maxDecodedBytes', 1, false)).toThrow(/positive integer/);
  });
});

import { brotliCompressSync, brotliDecompressSync, constants, deflateRawSync, gunzipSync, gzipSync, inflateRawSync } from 'node:zlib';
import { DecodeError, InvalidOptionError } from '../errors.js';
import { errorMessage } from './serialization-error.js';

/** Compression algorithm of a region: raw deflate, gzip, brotli, or `false` for none. */
export type Compression = 'deflate' | 'gzip' | 'brotli' | false;

/** Compression ids stored in the envelope's flags byte (2 bits). */
export const COMPRESSION_IDS = { none: 0, deflate: 1, gzip: 2, brotli: 3 } as const;

/** The name of an envelope compression id: `'none'`, an algorithm, or `'unknown (<id>)'`. */
export function compressionName(id: number): string {
  for (const [name, value] of Object.entries(COMPRESSION_IDS)) if (value === id) return name;
  return `unknown (${id})`;
}

/** Default `compressThreshold`: payloads smaller than this many bytes are stored uncompressed. */
export const DEFAULT_COMPRESS_THRESHOLD = 1024;

/** Default `maxDecodedBytes`: the most bytes decompression may produce, 64 MiB. */
export const DEFAULT_MAX_DECODED_BYTES = 64 * 1024 * 1024;

// Tuned for speed, since writes happen on request paths. On a 70 KB JSON array, zlib level 4 took ~55% of the
// time of the default level 6 for a 3% larger result; brotli quality 4 beat zlib's ratio at a fraction of the cost
// of brotli's default quality 11.
const ZLIB_LEVEL = 4;
const BROTLI_QUALITY = 4;

/**
 * Compresses `payload` when it is at least `threshold` bytes and compression actually makes it smaller.
 * @returns the envelope compression id and the bytes to store (the payload itself when not compressed).
 */
export function compressPayload(payload: Buffer, compression: Compression, threshold: number): { id: number; bytes: Buffer } {
  if (compression === false || payload.length < threshold) return { id: COMPRESSION_IDS.none, bytes: payload };
  let compressed: Buffer;
  switch (compression) {
    case 'deflate':
      compressed = deflateRawSync(payload, { level: ZLIB_LEVEL });
      break;
    case 'gzip':
      compressed = gzipSync(payload, { level: ZLIB_LEVEL });
      break;
    case 'brotli':
      compressed = brotliCompressSync(payload, {
        params: { [constants.BROTLI_PARAM_QUALITY]: BROTLI_QUALITY, [constants.BROTLI_PARAM_SIZE_HINT]: payload.length },
      });
      break;
  }
  if (compressed.length >= payload.length) return { id: COMPRESSION_IDS.none, bytes: payload };
  return { id: COMPRESSION_IDS[compression], bytes: compressed };
}

/**
 * Reverses `compressPayload`. Output is capped at `maxOutputLength` bytes so a hostile entry (a decompression bomb)
 * cannot exhaust memory.
 * @throws DecodeError when the bytes are not valid for the algorithm or inflate beyond the cap.
 */
export function decompressPayload(bytes: Buffer, id: number, maxOutputLength: number): Buffer {
  try {
    switch (id) {
      case COMPRESSION_IDS.none:
        return bytes;
      case COMPRESSION_IDS.deflate:
        return inflateRawSync(bytes, { maxOutputLength });
      case COMPRESSION_IDS.gzip:
        return gunzipSync(bytes, { maxOutputLength });
      case COMPRESSION_IDS.brotli:
        return brotliDecompressSync(bytes, { maxOutputLength });
      default:
        throw new DecodeError(`unknown compression id ${id}`);
    }
  } catch (error) {
    if (error instanceof DecodeError) throw error;
    if ((error as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new DecodeError(`the entry decompresses to more than ${maxOutputLength} bytes (option "maxDecodedBytes")`, { cause: error });
    }
    throw new DecodeError(`the entry's compressed payload is corrupt: ${errorMessage(error)}`, { cause: error });
  }
}

/**
 * Validates a `compression` option: `'deflate'`, `'gzip'`, `'brotli'` or `false`; `undefined` means `false`.
 * @throws InvalidOptionError naming `option`.
 */
export function resolveCompression(value: unknown, option = 'compression'): Compression {
  if (value === undefined || value === false) return false;
  if (value === 'deflate' || value === 'gzip' || value === 'brotli') return value;
  throw new InvalidOptionError(option, `expected 'deflate', 'gzip', 'brotli' or false, got ${describe(value)}`);
}

/**
 * Validates a byte-count option such as `compressThreshold` or `maxDecodedBytes`: a non-negative safe integer
 * (`allowZero`) or a positive one; `undefined` yields `fallback`.
 * @throws InvalidOptionError naming `option`.
 */
export function resolveByteCount(value: unknown, option: string, fallback: number, allowZero = true): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || (value === 0 && !allowZero)) {
    throw new InvalidOptionError(option, `expected a ${allowZero ? 'non-negative' : 'positive'} integer number of bytes, got ${describe(value)}`);
  }
  return value;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  return typeof value === 'string' ? JSON.stringify(value) : typeof value === 'number' || typeof value === 'boolean' ? String(value) : typeof value;
}

import { DecodeError, InvalidOptionError, SerializationError } from '../errors.js';
import { asBuffer } from './bytes.js';
import { CODEC_IDS, type Codec, codecIdName, codecIdOf, portableCodecFor } from './codec.js';
import { type Compression, compressPayload, DEFAULT_MAX_DECODED_BYTES, decompressPayload } from './compression.js';
import { errorMessage, toSerializationError } from './serialization-error.js';

/*
 * Envelope layout (version 1):
 *
 *   byte 0     0xB1: high nibble 0xB is the magic (high bit set, so text written by other tools is never taken for
 *              an envelope), low nibble the envelope version.
 *   byte 1     flags: bits 0-3 codec id, bits 4-5 compression id, bit 6 freshUntil present, bit 7 reserved (0).
 *   bytes 2-7  freshUntil, only when bit 6 is set: unsigned 48-bit big-endian epoch milliseconds.
 *   rest       the codec payload, compressed when the compression id is not 0.
 */
const MAGIC = 0xb0;
const VERSION = 1;
const FIRST_BYTE = MAGIC | VERSION;
const CODEC_MASK = 0x0f;
const COMPRESSION_SHIFT = 4;
const COMPRESSION_MASK = 0x30;
const FRESH_UNTIL_FLAG = 0x40;
const RESERVED_FLAG = 0x80;
const FRESH_UNTIL_BYTES = 6;
const KNOWN_CODEC_IDS: ReadonlySet<number> = new Set(Object.values(CODEC_IDS));
/** Largest freshUntil the header can hold (2^48 - 1 ms, in the year 10889). */
export const MAX_FRESH_UNTIL = 2 ** 48 - 1;

/** How `encodeEntry` stores a value. */
export interface EncodeOptions {
  /** Codec of the region (see `resolveCodec`). */
  codec: Codec;
  /** Compression algorithm, or `false` for none. Regions default to `false`. */
  compression: Compression;
  /**
   * Payloads smaller than this many bytes are stored uncompressed; larger ones only when compression makes them
   * smaller. Unit: bytes. Regions default to `DEFAULT_COMPRESS_THRESHOLD` (1024).
   */
  compressThreshold: number;
  /**
   * Store only the codec payload, without envelope, compression or freshUntil, so other languages can read the
   * bytes. With json (and msgpack) the portable variant of the codec is used, so values only the extended codec
   * can express are rejected with a `SerializationError`. Default in regions: `false`.
   */
  raw: boolean;
}

/** How `decodeEntry` reads bytes; `codec` and `raw` must match what the entry was encoded with. */
export interface DecodeOptions {
  /** Codec of the region; an entry written by another codec is a `DecodeError`. */
  codec: Codec;
  /** Whether entries are raw payloads (see `EncodeOptions.raw`). */
  raw: boolean;
  /**
   * The most bytes decompression may produce; a larger result is a `DecodeError` (protects against decompression
   * bombs). Unit: bytes. Default: `DEFAULT_MAX_DECODED_BYTES` (64 MiB).
   */
  maxDecodedBytes?: number;
}

/** A decoded entry. */
export interface DecodedEntry {
  value: unknown;
  /** Epoch milliseconds until which the value is fresh; `undefined` when none was stored (and always in raw mode). */
  freshUntil: number | undefined;
}

/**
 * Encodes a value into the bytes stored in Redis: envelope header plus (possibly compressed) payload, or, in raw
 * mode, the codec payload alone (freshUntil and compression are then not stored).
 * @param freshUntil epoch milliseconds, an integer from 0 to `MAX_FRESH_UNTIL`, or `undefined`.
 * @throws SerializationError when the codec cannot store the value faithfully.
 * @throws InvalidOptionError when `freshUntil` is out of range.
 */
export function encodeEntry(value: unknown, freshUntil: number | undefined, opts: EncodeOptions): Buffer {
  if (opts.raw) return encodePayload(portableCodecFor(opts.codec), value);
  const hasFreshUntil = freshUntil !== undefined;
  if (hasFreshUntil && !(Number.isInteger(freshUntil) && freshUntil >= 0 && freshUntil <= MAX_FRESH_UNTIL)) {
    throw new InvalidOptionError('freshUntil', `expected an integer number of epoch milliseconds from 0 to ${MAX_FRESH_UNTIL}, got ${freshUntil}`);
  }
  const payload = encodePayload(opts.codec, value);
  const { id: compressionId, bytes } = compressPayload(payload, opts.compression, opts.compressThreshold);
  const headerLength = hasFreshUntil ? 2 + FRESH_UNTIL_BYTES : 2;
  const out = Buffer.allocUnsafe(headerLength + bytes.length);
  out[0] = FIRST_BYTE;
  out[1] = codecIdOf(opts.codec) | (compressionId << COMPRESSION_SHIFT) | (hasFreshUntil ? FRESH_UNTIL_FLAG : 0);
  if (hasFreshUntil) out.writeUIntBE(freshUntil, 2, FRESH_UNTIL_BYTES);
  out.set(bytes, headerLength);
  return out;
}

function encodePayload(codec: Codec, value: unknown): Buffer {
  let payload: unknown;
  try {
    payload = codec.encode(value);
  } catch (error) {
    throw toSerializationError(error, codec.name);
  }
  // resolveCodec already normalizes custom codecs; this covers a codec object passed here directly.
  if (typeof payload === 'string') return Buffer.from(payload, 'utf8');
  if (!(payload instanceof Uint8Array)) {
    throw new SerializationError(`codec "${codec.name}" returned ${payload === null ? 'null' : typeof payload} from encode; expected a Uint8Array`);
  }
  return asBuffer(payload);
}

/**
 * Decodes bytes written by `encodeEntry`.
 * @throws DecodeError (with the underlying error as `cause`) for anything that is not a valid entry for this
 * codec: empty or truncated bytes, wrong magic, unknown envelope version or flags, unknown codec id, an entry
 * written by another codec, corrupt or oversized compressed data, or a payload the codec cannot decode.
 * Nothing else is thrown.
 */
export function decodeEntry(bytes: Uint8Array, opts: DecodeOptions): DecodedEntry {
  const buf = asBuffer(bytes);
  if (opts.raw) return { value: decodePayload(portableCodecFor(opts.codec), buf), freshUntil: undefined };
  if (buf.length === 0) throw new DecodeError('empty entry');
  const first = buf[0]!;
  if ((first & 0xf0) !== MAGIC) throw new DecodeError(`not a trove entry (first byte 0x${hex(first)})`);
  if (first !== FIRST_BYTE) throw new DecodeError(`unsupported envelope version ${first & 0x0f}`);
  if (buf.length < 2) throw new DecodeError('truncated entry header');
  const flags = buf[1]!;
  if ((flags & RESERVED_FLAG) !== 0) throw new DecodeError(`unknown envelope flags 0x${hex(flags)}`);
  const codecId = flags & CODEC_MASK;
  if (!KNOWN_CODEC_IDS.has(codecId)) throw new DecodeError(`unknown codec id ${codecId}`);
  const expected = codecIdOf(opts.codec);
  if (codecId !== expected) {
    throw new DecodeError(`the entry was written by the ${codecIdName(codecId)} codec, but the region's codec is "${opts.codec.name}" (${codecIdName(expected)})`);
  }
  const hasFreshUntil = (flags & FRESH_UNTIL_FLAG) !== 0;
  const headerLength = hasFreshUntil ? 2 + FRESH_UNTIL_BYTES : 2;
  if (buf.length < headerLength) throw new DecodeError('truncated entry header');
  const freshUntil = hasFreshUntil ? buf.readUIntBE(2, FRESH_UNTIL_BYTES) : undefined;
  const payload = decompressPayload(buf.subarray(headerLength), (flags & COMPRESSION_MASK) >> COMPRESSION_SHIFT, opts.maxDecodedBytes ?? DEFAULT_MAX_DECODED_BYTES);
  return { value: decodePayload(opts.codec, payload), freshUntil };
}

function decodePayload(codec: Codec, payload: Buffer): unknown {
  try {
    return codec.decode(payload);
  } catch (error) {
    throw new DecodeError(`the ${codec.name} codec could not decode the entry: ${errorMessage(error)}`, { cause: error });
  }
}

function hex(byte: number): string {
  return byte.toString(16).padStart(2, '0');
}

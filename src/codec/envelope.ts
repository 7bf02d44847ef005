import { Buffer } from 'node:buffer';
import { DecodeError, InvalidOptionError, SerializationError } from '../errors.js';
import { asBuffer } from './bytes.js';
import { CODEC_IDS, type Codec, codecIdName, codecIdOf, type OffsetDecoder, offsetDecoderOf, portableCodecFor, textEncoderOf } from './codec.js';
import { COMPRESSION_IDS, type Compression, compressionName, compressPayload, DEFAULT_MAX_DECODED_BYTES, decompressPayload } from './compression.js';
import { builtinCodecOfId } from './resolve.js';
import { errorMessage, toSerializationError } from './serialization-error.js';

/*
 * Envelope layout (version 1):
 *
 *   byte 0     0xB1: high nibble 0xB is the magic (high bit set, so text written by other tools is never taken for
 *              an envelope), low nibble the envelope version.
 *   byte 1     flags: bits 0-3 codec id, bits 4-5 compression id, bit 6 freshUntil present, bit 7 a second
 *              flags byte follows.
 *   bytes 2-7  freshUntil, only when bit 6 is set: unsigned 48-bit big-endian epoch milliseconds.
 *   flags2     only when bit 7 is set: bit 0 tags present, bit 1 expiresAt present, bits 2-7 reserved (0).
 *   expiresAt  only when flags2 bit 1 is set: 48-bit epoch milliseconds of the hard expiry (lets a process
 *              cap a local copy by the entry's remaining TTL without asking Redis).
 *   tags       only when flags2 bit 0 is set: 1 byte count (1-255), then per tag a 2-byte big-endian length and
 *              the UTF-8 tag, a 1-byte length and the ASCII token the tag had when the value was computed.
 *   rest       the codec payload, compressed when the compression id is not 0.
 *
 * Entries without tags or expiresAt keep the 2-byte header (8 with freshUntil).
 */
const MAGIC = 0xb0;
const VERSION = 1;
const FIRST_BYTE = MAGIC | VERSION;
const CODEC_MASK = 0x0f;
const COMPRESSION_SHIFT = 4;
const COMPRESSION_MASK = 0x30;
const FRESH_UNTIL_FLAG = 0x40;
const EXTENDED_FLAG = 0x80;
const TAGS_FLAG2 = 0x01;
const EXPIRES_FLAG2 = 0x02;
const RESERVED_FLAGS2 = 0xfc;
/** Most tags one entry can carry. */
export const MAX_TAGS = 255;
const TIME_BYTES = 6;
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

/** A tag of an entry and the tag's invalidation token when the value was computed (`''`: never invalidated). */
export type TagStamp = readonly [tag: string, token: string];

/** A decoded entry. */
export interface DecodedEntry {
  value: unknown;
  /** Epoch milliseconds until which the value is fresh; `undefined` when none was stored (and always in raw mode). */
  freshUntil: number | undefined;
  /** The entry's tags with their tokens at write time; `undefined` when it has none. */
  tags?: readonly TagStamp[];
  /** Epoch milliseconds of the entry's hard expiry, when the writer recorded it. */
  expiresAt?: number;
}

/**
 * Encodes a value into the bytes stored in Redis: envelope header plus (possibly compressed) payload, or, in raw
 * mode, the codec payload alone (freshUntil and compression are then not stored).
 * @param freshUntil epoch milliseconds, an integer from 0 to `MAX_FRESH_UNTIL`, or `undefined`.
 * @throws SerializationError when the codec cannot store the value faithfully.
 * @throws InvalidOptionError when `freshUntil` is out of range.
 */
export function encodeEntry(value: unknown, freshUntil: number | undefined, opts: EncodeOptions, tags?: readonly TagStamp[], expiresAt?: number): Buffer {
  if (opts.raw) {
    if (tags && tags.length > 0) throw new InvalidOptionError('tags', 'raw regions store only the payload and cannot carry tags');
    return encodePayload(portableCodecFor(opts.codec), value);
  }
  checkTime(freshUntil, 'freshUntil');
  checkTime(expiresAt, 'expiresAt');
  const hasFreshUntil = freshUntil !== undefined;
  const encodeText = textEncoderOf(opts.codec);
  let text: string | undefined;
  let compressionId: number = COMPRESSION_IDS.none;
  let bytes: Buffer | undefined;
  let payloadLength: number;
  if (encodeText !== undefined) {
    // Text is written straight into the entry's bytes when it is not compressed (one copy, not two).
    text = encodeText(value);
    payloadLength = Buffer.byteLength(text);
    if (opts.compression !== false && payloadLength >= opts.compressThreshold) {
      ({ id: compressionId, bytes } = compressPayload(Buffer.from(text, 'utf8'), opts.compression, opts.compressThreshold));
      payloadLength = bytes.length;
    }
  } else {
    ({ id: compressionId, bytes } = compressPayload(encodePayload(opts.codec, value), opts.compression, opts.compressThreshold));
    payloadLength = bytes.length;
  }
  const tagBytes = tags && tags.length > 0 ? encodeTags(tags) : undefined;
  const extended = tagBytes !== undefined || expiresAt !== undefined;
  let headerLength = hasFreshUntil ? 2 + TIME_BYTES : 2;
  if (extended) headerLength += 1 + (expiresAt !== undefined ? TIME_BYTES : 0) + (tagBytes?.length ?? 0);
  const out = Buffer.allocUnsafe(headerLength + payloadLength);
  out[0] = FIRST_BYTE;
  out[1] = codecIdOf(opts.codec) | (compressionId << COMPRESSION_SHIFT) | (hasFreshUntil ? FRESH_UNTIL_FLAG : 0) | (extended ? EXTENDED_FLAG : 0);
  let pos = 2;
  if (hasFreshUntil) {
    out.writeUIntBE(freshUntil, pos, TIME_BYTES);
    pos += TIME_BYTES;
  }
  if (extended) {
    out[pos++] = (tagBytes ? TAGS_FLAG2 : 0) | (expiresAt !== undefined ? EXPIRES_FLAG2 : 0);
    if (expiresAt !== undefined) {
      out.writeUIntBE(expiresAt, pos, TIME_BYTES);
      pos += TIME_BYTES;
    }
    if (tagBytes) out.set(tagBytes, pos);
  }
  if (bytes !== undefined) out.set(bytes, headerLength);
  else out.write(text!, headerLength, 'utf8');
  return out;
}

function checkTime(t: number | undefined, option: string): asserts t is number | undefined {
  if (t !== undefined && !(Number.isInteger(t) && t >= 0 && t <= MAX_FRESH_UNTIL)) {
    throw new InvalidOptionError(option, `expected an integer number of epoch milliseconds from 0 to ${MAX_FRESH_UNTIL}, got ${t}`);
  }
}

function encodeTags(tags: readonly TagStamp[]): Buffer {
  if (tags.length > MAX_TAGS) throw new InvalidOptionError('tags', `at most ${MAX_TAGS} tags per entry (got ${tags.length})`);
  const parts: Buffer[] = [Buffer.from([tags.length])];
  for (const [tag, token] of tags) {
    const t = Buffer.from(tag, 'utf8');
    if (t.length === 0 || t.length > 0xffff) throw new InvalidOptionError('tags', 'a tag must be a non-empty string of at most 65535 bytes');
    if (token.length > 255) throw new InvalidOptionError('tags', 'tag token too long');
    const head = Buffer.allocUnsafe(2);
    head.writeUInt16BE(t.length, 0);
    parts.push(head, t, Buffer.from([token.length]), Buffer.from(token, 'latin1'));
  }
  return Buffer.concat(parts);
}

/** Reads the tag section starting at `at`; returns the tags and where the payload starts. */
function decodeTags(buf: Buffer, at: number): { tags: TagStamp[]; end: number } {
  if (at >= buf.length) throw new DecodeError('truncated tag section');
  const count = buf[at]!;
  if (count === 0) throw new DecodeError('empty tag section');
  let pos = at + 1;
  const tags: TagStamp[] = [];
  for (let i = 0; i < count; i++) {
    if (pos + 2 > buf.length) throw new DecodeError('truncated tag section');
    const len = buf.readUInt16BE(pos);
    pos += 2;
    if (len === 0 || pos + len + 1 > buf.length) throw new DecodeError('truncated tag section');
    const tag = buf.toString('utf8', pos, pos + len);
    pos += len;
    const tokenLength = buf[pos]!;
    pos += 1;
    if (pos + tokenLength > buf.length) throw new DecodeError('truncated tag section');
    tags.push([tag, buf.toString('latin1', pos, pos + tokenLength)]);
    pos += tokenLength;
  }
  return { tags, end: pos };
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

/** The envelope of an entry, read without decoding its payload. */
export interface EnvelopeHeader {
  /** Envelope codec id (see `CODEC_IDS`). */
  codecId: number;
  /** Envelope compression id (see `COMPRESSION_IDS`). */
  compressionId: number;
  freshUntil: number | undefined;
  tags?: TagStamp[];
  expiresAt?: number;
  /** Where the (possibly compressed) payload starts. */
  payloadAt: number;
}

/**
 * Reads the header of an entry without decoding its payload.
 * @throws DecodeError for anything that is not a valid envelope.
 */
export function readEntryHeader(bytes: Uint8Array): EnvelopeHeader {
  return readHeader(asBuffer(bytes));
}

/** Reads the header of an entry; with `expectedCodec`, an entry written by another codec is refused before the rest is read. */
function readHeader(buf: Buffer, expectedCodec?: Codec): EnvelopeHeader {
  if (buf.length === 0) throw new DecodeError('empty entry');
  const first = buf[0]!;
  if ((first & 0xf0) !== MAGIC) throw new DecodeError(`not a trove entry (first byte 0x${hex(first)})`);
  if (first !== FIRST_BYTE) throw new DecodeError(`unsupported envelope version ${first & 0x0f}`);
  if (buf.length < 2) throw new DecodeError('truncated entry header');
  const flags = buf[1]!;
  const codecId = flags & CODEC_MASK;
  if (!KNOWN_CODEC_IDS.has(codecId)) throw new DecodeError(`unknown codec id ${codecId}`);
  if (expectedCodec !== undefined) {
    const expected = codecIdOf(expectedCodec);
    if (codecId !== expected) {
      throw new DecodeError(
        `the entry was written by the ${codecIdName(codecId)} codec, but the region's codec is "${expectedCodec.name}" (${codecIdName(expected)})`,
      );
    }
  }
  const hasFreshUntil = (flags & FRESH_UNTIL_FLAG) !== 0;
  let headerLength = hasFreshUntil ? 2 + TIME_BYTES : 2;
  if (buf.length < headerLength) throw new DecodeError('truncated entry header');
  const header: EnvelopeHeader = {
    codecId,
    compressionId: (flags & COMPRESSION_MASK) >> COMPRESSION_SHIFT,
    freshUntil: hasFreshUntil ? buf.readUIntBE(2, TIME_BYTES) : undefined,
    payloadAt: 0,
  };
  if ((flags & EXTENDED_FLAG) !== 0) {
    if (buf.length < headerLength + 1) throw new DecodeError('truncated entry header');
    const flags2 = buf[headerLength]!;
    headerLength += 1;
    if ((flags2 & RESERVED_FLAGS2) !== 0 || flags2 === 0) throw new DecodeError(`unknown envelope flags 0x${hex(flags2)}`);
    if ((flags2 & EXPIRES_FLAG2) !== 0) {
      if (buf.length < headerLength + TIME_BYTES) throw new DecodeError('truncated entry header');
      header.expiresAt = buf.readUIntBE(headerLength, TIME_BYTES);
      headerLength += TIME_BYTES;
    }
    if ((flags2 & TAGS_FLAG2) !== 0) {
      const section = decodeTags(buf, headerLength);
      header.tags = section.tags;
      headerLength = section.end;
    }
  }
  header.payloadAt = headerLength;
  return header;
}

/**
 * Where an entry's recorded hard expiry sits in its bytes, or -1 (not an envelope, or none recorded).
 * Reads two or three header bytes: cheap enough for every read of hash storage, which checks each
 * entry's expiry itself (see region/hash-storage.ts).
 */
function expiresAtOffset(buf: Uint8Array): number {
  if (buf.length < 2 || buf[0] !== FIRST_BYTE) return -1;
  const flags = buf[1]!;
  if ((flags & EXTENDED_FLAG) === 0) return -1;
  const at = (flags & FRESH_UNTIL_FLAG) !== 0 ? 2 + TIME_BYTES : 2;
  if (buf.length < at + 1 + TIME_BYTES || (buf[at]! & EXPIRES_FLAG2) === 0) return -1;
  return at + 1;
}

/** The hard expiry (epoch ms) an entry records, without decoding it; undefined when it records none or is not an envelope. */
export function entryExpiresAt(bytes: Uint8Array): number | undefined {
  const at = expiresAtOffset(bytes);
  return at < 0 ? undefined : asBuffer(bytes).readUIntBE(at, TIME_BYTES);
}

/** A copy of an entry with its recorded hard expiry moved to `expiresAt` (epoch ms); undefined when it records none. */
export function withEntryExpiresAt(bytes: Uint8Array, expiresAt: number): Buffer | undefined {
  const at = expiresAtOffset(bytes);
  if (at < 0) return undefined;
  checkTime(expiresAt, 'expiresAt');
  const out = Buffer.from(bytes);
  out.writeUIntBE(expiresAt, at, TIME_BYTES);
  return out;
}

/**
 * A copy of an entry with its freshness deadline set to `freshUntil` (epoch ms): rewritten when
 * the entry records one, inserted after the flags byte when it does not (an entry fresh for its
 * whole ttl). Everything after the deadline (tags, hard expiry, payload) is copied unchanged.
 * Undefined when the bytes are not an envelope (a raw payload, a claim's marker, garbage).
 */
export function withFreshUntil(bytes: Uint8Array, freshUntil: number): Buffer | undefined {
  if (bytes.length < 2 || bytes[0] !== FIRST_BYTE) return undefined;
  checkTime(freshUntil, 'freshUntil');
  const src = asBuffer(bytes);
  const flags = src[1]!;
  if ((flags & FRESH_UNTIL_FLAG) !== 0) {
    if (src.length < 2 + TIME_BYTES) return undefined;
    const out = Buffer.from(src);
    out.writeUIntBE(freshUntil, 2, TIME_BYTES);
    return out;
  }
  const out = Buffer.allocUnsafe(src.length + TIME_BYTES);
  out[0] = FIRST_BYTE;
  out[1] = flags | FRESH_UNTIL_FLAG;
  out.writeUIntBE(freshUntil, 2, TIME_BYTES);
  src.copy(out, 2 + TIME_BYTES, 2);
  return out;
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
  const common = decodeCommon(buf, opts.codec);
  if (common !== undefined) return common;
  const header = readHeader(buf, opts.codec);
  const payload = decompressPayload(buf.subarray(header.payloadAt), header.compressionId, opts.maxDecodedBytes ?? DEFAULT_MAX_DECODED_BYTES);
  const entry: DecodedEntry = { value: decodePayload(opts.codec, payload), freshUntil: header.freshUntil };
  if (header.tags) entry.tags = header.tags;
  if (header.expiresAt !== undefined) entry.expiresAt = header.expiresAt;
  return entry;
}

// The codec of the last entry read in place, with its envelope id and offset decoder: a region reads
// with one codec, so most reads skip both lookups.
let lastCodec: Codec | undefined;
let lastCodecId = -1;
let lastDecodeAt: OffsetDecoder | undefined;

/**
 * The common entry (written by `codec`, uncompressed, without tags) read in place: no header
 * object, no view of the payload. Undefined for anything else, which `readHeader` reads or refuses
 * with the precise reason.
 */
function decodeCommon(buf: Buffer, codec: Codec): DecodedEntry | undefined {
  const n = buf.length;
  if (n < 2 || buf[0] !== FIRST_BYTE) return undefined;
  if (codec !== lastCodec) {
    lastCodecId = codecIdOf(codec);
    lastDecodeAt = offsetDecoderOf(codec);
    lastCodec = codec;
  }
  const flags = buf[1]!;
  // The codec's id with compression id 0 (none).
  if ((flags & (CODEC_MASK | COMPRESSION_MASK)) !== lastCodecId) return undefined;
  let at = 2;
  let freshUntil: number | undefined;
  if ((flags & FRESH_UNTIL_FLAG) !== 0) {
    if (n < 2 + TIME_BYTES) return undefined;
    freshUntil = buf.readUIntBE(2, TIME_BYTES);
    at += TIME_BYTES;
  }
  if ((flags & EXTENDED_FLAG) === 0) return { value: decodePayloadAt(codec, lastDecodeAt, buf, at), freshUntil };
  // Extended: only expiresAt (tags and unknown flags take the general path).
  if (n < at + 1 + TIME_BYTES || buf[at] !== EXPIRES_FLAG2) return undefined;
  const expiresAt = buf.readUIntBE(at + 1, TIME_BYTES);
  return { value: decodePayloadAt(codec, lastDecodeAt, buf, at + 1 + TIME_BYTES), freshUntil, expiresAt };
}

/** The payload starting at `start`, decoded in place when the codec can (`decodeAt`), else from a view of it. */
function decodePayloadAt(codec: Codec, decodeAt: OffsetDecoder | undefined, buf: Buffer, start: number): unknown {
  if (decodeAt === undefined) return decodePayload(codec, buf.subarray(start));
  try {
    return decodeAt(buf, start);
  } catch (error) {
    throw new DecodeError(`the ${codec.name} codec could not decode the entry: ${errorMessage(error)}`, { cause: error });
  }
}

/** An entry as tooling shows it: what its envelope says, and its value when a built-in codec wrote it. */
export interface DescribedEntry {
  /** The codec named by the envelope: `'json'`, `'msgpack'`, `'v8'` or `'custom'`. */
  codec: string;
  /** The compression of the payload: `'none'`, `'deflate'`, `'gzip'` or `'brotli'`. */
  compression: string;
  /** Size of the stored bytes (envelope included). */
  storedBytes: number;
  /** Size of the payload once decompressed. */
  payloadBytes: number;
  freshUntil: number | undefined;
  expiresAt?: number;
  tags?: readonly TagStamp[];
  /** The decompressed payload (the only view of a custom codec's value). */
  payload: Buffer;
  /** Whether `value` holds the decoded value: false for a custom codec. */
  decoded: boolean;
  value?: unknown;
}

/**
 * Reads an entry without knowing the region it belongs to: the envelope names its codec and
 * compression, and a built-in codec's payload is decoded with that codec (a custom codec's is not:
 * only the region that wrote it knows it).
 * @throws DecodeError for anything that is not a valid entry, as `decodeEntry`.
 */
export function describeEntry(bytes: Uint8Array, maxDecodedBytes = DEFAULT_MAX_DECODED_BYTES): DescribedEntry {
  const buf = asBuffer(bytes);
  const header = readHeader(buf);
  const payload = decompressPayload(buf.subarray(header.payloadAt), header.compressionId, maxDecodedBytes);
  const codec = builtinCodecOfId(header.codecId);
  const out: DescribedEntry = {
    codec: codecIdName(header.codecId),
    compression: compressionName(header.compressionId),
    storedBytes: buf.length,
    payloadBytes: payload.length,
    freshUntil: header.freshUntil,
    payload,
    decoded: codec !== undefined,
  };
  if (header.expiresAt !== undefined) out.expiresAt = header.expiresAt;
  if (header.tags) out.tags = header.tags;
  if (codec !== undefined) out.value = decodePayload(codec, payload);
  return out;
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

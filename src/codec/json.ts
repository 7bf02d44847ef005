import { Buffer } from 'node:buffer';
import { DecodeError } from '../errors.js';
import { asBuffer } from './bytes.js';
import { CODEC_IDS, type Codec, registerCodec } from './codec.js';
import { type ValueProfile, scanValue } from './scan.js';
import { toSerializationError } from './serialization-error.js';
import { reviveTagged, toTagged } from './tags.js';

/** Options of `createJsonCodec`. */
export interface JsonCodecOptions {
  /**
   * Whether values JSON cannot express are stored faithfully: Date (including Invalid Date), BigInt, Map (any
   * keys, insertion order kept), Set, `undefined` (as a property value, array element or the whole value), NaN,
   * Infinity, -Infinity, -0, Buffer and Uint8Array, nested in any combination.
   *
   * - `true`: such values are encoded as a 0x00 byte followed by the JSON text `[safeValue, typeTags]` (see
   *   `tags.ts`). Values made only of plain JSON are still stored as plain JSON text.
   * - `false`: the bytes are always plain JSON text any language can read (used in raw mode); such values are
   *   rejected with a `SerializationError` naming their path.
   *
   * Default: `true`.
   */
  readonly extended?: boolean;
}

/** First byte of an extended payload. JSON text never starts with 0x00, so both forms are self-describing. */
const EXTENDED_MARKER = 0x00;

/** What plain JSON stores as-is: strings (lone surrogates escaped) and own "__proto__" keys; every other extended kind is refused. */
export const PLAIN_PROFILE: ValueProfile = {
  label: 'plain json',
  hint: "use the 'msgpack' or 'v8' codec, or the extended 'json' codec outside raw mode",
  undefined: 'rejected',
  nonFinite: 'rejected',
  negativeZero: 'rejected',
  bigint: 'rejected',
  largeBigint: 'rejected',
  date: 'rejected',
  invalidDate: 'rejected',
  map: 'rejected',
  set: 'rejected',
  buffer: 'rejected',
  uint8Array: 'rejected',
  illFormedString: 'native', // JSON.stringify escapes lone surrogates as \udXXX, which JSON.parse restores
  protoKey: 'native', // JSON.parse creates "__proto__" as an own property
  holes: 'rejected',
  graphs: false,
};

const EXTENDED_PROFILE: ValueProfile = {
  ...PLAIN_PROFILE,
  label: 'json',
  hint: "use the 'v8' codec",
  undefined: 'tagged',
  nonFinite: 'tagged',
  negativeZero: 'tagged',
  bigint: 'tagged',
  largeBigint: 'tagged',
  date: 'tagged',
  invalidDate: 'tagged',
  map: 'tagged',
  set: 'tagged',
  buffer: 'tagged',
  uint8Array: 'tagged',
};

/**
 * Creates a JSON codec. Values must round-trip faithfully or are rejected with a `SerializationError` naming the
 * path; nothing is silently changed.
 *
 * Accepted: null, booleans, numbers, strings (lone surrogates included), dense arrays, plain and null-prototype
 * objects with string keys (both decode as plain objects), plus the extended types of `JsonCodecOptions.extended`.
 * Only own enumerable string-keyed properties are stored. Accessor properties are read like data properties (as
 * `JSON.stringify` does; a getter must return the same value each time) and come back as data properties.
 * Non-index properties of arrays and extra properties of Dates, Maps, Sets and binary values are not stored.
 * A value referenced twice is stored twice (decoded as two equal copies).
 *
 * Rejected: functions, symbols (as values or as keys), cyclic references, sparse array holes, and instances of any
 * other class (RegExp, Error, Promise, WeakMap, typed arrays other than Uint8Array, boxed primitives, user
 * classes; subclasses of the supported built-ins included).
 */
export function createJsonCodec(options: JsonCodecOptions = {}): Codec {
  const extended = options.extended ?? true;
  const profile = extended ? EXTENDED_PROFILE : PLAIN_PROFILE;
  const encodeText = (value: unknown): string => {
    try {
      if (!scanValue(value, profile)) return JSON.stringify(value);
      const { safe, meta } = toTagged(value, profile);
      // '\u0000' encodes to the single byte 0x00, so the marker costs no extra copy.
      return `\u0000${JSON.stringify([safe, meta])}`;
    } catch (error) {
      throw toSerializationError(error, 'json');
    }
  };
  const codec: Codec = {
    name: 'json',
    encode: (value: unknown): Uint8Array => Buffer.from(encodeText(value), 'utf8'),
    decode: extended ? decodeExtended : decodePlain,
  };
  Object.freeze(codec);
  registerCodec(codec, CODEC_IDS.json, extended ? plainJsonCodec : undefined, extended ? decodeExtendedAt : decodePlainAt, encodeText);
  return codec;
}

function decodePlain(bytes: Uint8Array): unknown {
  return decodePlainAt(asBuffer(bytes), 0);
}

function decodeExtended(bytes: Uint8Array): unknown {
  return decodeExtendedAt(asBuffer(bytes), 0);
}

// The hot path: exactly one JSON.parse on the bytes, no walk afterwards; reading from `start`
// needs no view of the payload.
function decodePlainAt(buf: Buffer, start: number): unknown {
  return JSON.parse(utf8From(buf, start));
}

function decodeExtendedAt(buf: Buffer, start: number): unknown {
  if (buf[start] !== EXTENDED_MARKER) return JSON.parse(utf8From(buf, start));
  const parsed: unknown = JSON.parse(utf8From(buf, start + 1));
  if (!Array.isArray(parsed) || parsed.length !== 2) throw new DecodeError('malformed extended JSON payload');
  return reviveTagged(parsed[0], parsed[1]);
}

type Utf8Slicing = { utf8Slice(start: number, end: number): string };

/**
 * The UTF-8 text of `buf` from `start` on. Buffer's own decoder when it has one (every Node
 * version, though undocumented) skips `toString`'s argument handling, a noticeable share of a
 * small entry's decoding.
 */
const utf8From: (buf: Buffer, start: number) => string =
  typeof (Buffer.prototype as Partial<Utf8Slicing>).utf8Slice === 'function'
    ? (buf, start) => (buf as unknown as Utf8Slicing).utf8Slice(start, buf.length)
    : (buf, start) => buf.toString('utf8', start);

/** JSON restricted to plain JSON values: the bytes are always standard JSON text. Used in raw mode. */
export const plainJsonCodec: Codec = createJsonCodec({ extended: false });

/** The default codec: JSON with the extended types (see `createJsonCodec`). */
export const jsonCodec: Codec = createJsonCodec();

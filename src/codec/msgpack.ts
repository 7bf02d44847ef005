import { Buffer } from 'node:buffer';
import { createRequire } from 'node:module';
import type { Packr } from 'msgpackr';
import { DecodeError } from '../errors.js';
import { CODEC_IDS, type Codec, registerCodec } from './codec.js';
import { type ValueProfile, scanValue } from './scan.js';
import { toSerializationError } from './serialization-error.js';
import { reviveTagged, toTagged } from './tags.js';

/** Options of `createMsgpackCodec`. */
export interface MsgpackCodecOptions {
  /**
   * Whether JavaScript-specific values are stored faithfully.
   *
   * - `true`: everything listed on `createMsgpackCodec` round-trips. Map, Set, -0, lone surrogates and a
   *   `"__proto__"` key, which MessagePack cannot tell apart from other values, are stored through out-of-band
   *   type tags: the payload is then a 0xC1 byte (a code MessagePack never uses) followed by the MessagePack
   *   array `[safeValue, typeTags]` (see `tags.ts`).
   * - `false` (portable; used in raw mode): only standard MessagePack is written, so any MessagePack library can
   *   read the bytes. Accepted beyond plain data: valid Dates (timestamp extension -1), Buffer (bin), BigInt within
   *   64 bits (int64/uint64), NaN and ±Infinity (float64). Everything else is rejected with a
   *   `SerializationError`.
   *
   * Default: `true`.
   */
  readonly extended?: boolean;
}

/** First byte of a tagged payload; 0xC1 is the one byte the MessagePack spec marks as never used. */
const TAGGED_MARKER = 0xc1;

const EXTENDED_PROFILE: ValueProfile = {
  label: 'msgpack',
  hint: "use the 'v8' codec",
  undefined: 'native', // msgpackr extension 0 (the notepack convention)
  nonFinite: 'native', // float64
  negativeZero: 'tagged', // msgpackr writes -0 as the integer 0
  bigint: 'native', // int64 / uint64
  largeBigint: 'native', // msgpackr extension 0x42
  date: 'native', // timestamp extension -1
  invalidDate: 'native', // msgpackr's 1-byte timestamp, which other libraries reject
  map: 'tagged', // a MessagePack map decodes either always as an object or always as a Map
  set: 'tagged', // tagged rather than msgpackr's Set extension, so Sets containing tagged values work
  buffer: 'native', // bin
  uint8Array: 'native', // msgpackr typed-array extension 0x74
  illFormedString: 'tagged', // UTF-8 cannot hold a lone surrogate; msgpackr would decode U+FFFD
  protoKey: 'tagged', // msgpackr renames a "__proto__" key to "__proto_" when decoding
  holes: 'rejected',
  graphs: false,
};

const PORTABLE_PROFILE: ValueProfile = {
  ...EXTENDED_PROFILE,
  label: 'portable msgpack',
  hint: "raw mode writes only standard MessagePack; use the 'msgpack' codec outside raw mode",
  undefined: 'rejected',
  negativeZero: 'rejected',
  largeBigint: 'rejected',
  invalidDate: 'rejected',
  map: 'rejected',
  set: 'rejected',
  uint8Array: 'rejected',
  illFormedString: 'rejected',
  protoKey: 'rejected',
};

// One Packr for every msgpack codec, made on first use: loading msgpackr (and the native extension it
// looks for) took about 25 ms of the 130 that `import 'trove-cache'` took, in every process, most of
// which never use this codec. The options below make it write only standard MessagePack for plain data
// and decode without surprises:
// - useRecords: false: objects are MessagePack maps (msgpackr records are a private extension), which also
//   makes mapsAsObjects default to true: maps decode as plain objects (JS Maps are tagged instead).
// - moreTypes / useBigIntExtension: Uint8Array and BigInts wider than 64 bits (extended mode only).
// - int64AsType 'bigint': int64/uint64 decode as BigInt. msgpackr writes numbers as int32 or float64, never as
//   int64, so numbers stay numbers and BigInts stay BigInts.
// - variableMapSize: objects with more than 65535 keys (and smaller output for small objects).
// - copyBuffers: decoded binary values own their memory instead of keeping the whole input alive (an ioredis
//   reply is a slice of a socket chunk that a cached value would otherwise pin).
// - useToJSON: false: plain objects are stored as they are, even with a "toJSON" key.
let loaded: Packr | undefined;
function packr(): Packr {
  if (loaded !== undefined) return loaded;
  const { Packr: PackrClass } = createRequire(import.meta.url)('msgpackr') as typeof import('msgpackr');
  loaded = new PackrClass({
    useRecords: false,
    mapsAsObjects: true,
    moreTypes: true,
    useBigIntExtension: true,
    int64AsType: 'bigint',
    variableMapSize: true,
    copyBuffers: true,
    useToJSON: false,
    encodeUndefinedAsNil: false,
    useTimestamp32: false,
  });
  return loaded;
}

/**
 * Creates a MessagePack codec (msgpackr, without records, so other MessagePack libraries can read plain data).
 *
 * Round-trips faithfully: null, booleans, all numbers (NaN, ±Infinity and -0 included), strings (lone surrogates
 * included), dense arrays, plain and null-prototype objects (both decode as plain objects; any keys, "__proto__"
 * included), `undefined` (property value, array element, whole value), Date (Invalid Date included), BigInt (any
 * size), Map (any keys, insertion order kept), Set, Buffer, Uint8Array, nested in any combination. In portable
 * mode see `MsgpackCodecOptions.extended`.
 *
 * Rejected with a `SerializationError` naming the path: functions, symbols (values or keys), cyclic references
 * (a value referenced twice is stored twice), sparse array holes, instances of any other class (RegExp, Error,
 * other typed arrays, user classes, subclasses of the supported built-ins). Only own enumerable string-keyed
 * properties are stored; accessor properties are read like data properties (a getter must return the same value
 * each time); non-index properties of arrays are not stored.
 */
export function createMsgpackCodec(options: MsgpackCodecOptions = {}): Codec {
  const extended = options.extended ?? true;
  const profile = extended ? EXTENDED_PROFILE : PORTABLE_PROFILE;
  const codec: Codec = {
    name: 'msgpack',
    encode(value: unknown): Uint8Array {
      try {
        if (!scanValue(value, profile)) return packr().pack(value);
        const { safe, meta } = toTagged(value, profile);
        const body = packr().pack([safe, meta]);
        const out = Buffer.allocUnsafe(body.length + 1);
        out[0] = TAGGED_MARKER;
        out.set(body, 1);
        return out;
      } catch (error) {
        throw toSerializationError(error, 'msgpack');
      }
    },
    decode: extended ? decodeExtended : decodePortable,
  };
  Object.freeze(codec);
  registerCodec(codec, CODEC_IDS.msgpack, extended ? portableMsgpackCodec : undefined);
  return codec;
}

function decodePortable(bytes: Uint8Array): unknown {
  return packr().unpack(bytes);
}

function decodeExtended(bytes: Uint8Array): unknown {
  if (bytes[0] !== TAGGED_MARKER) return packr().unpack(bytes);
  const parsed: unknown = packr().unpack(bytes.subarray(1));
  if (!Array.isArray(parsed) || parsed.length !== 2) throw new DecodeError('malformed tagged MessagePack payload');
  return reviveTagged(parsed[0], parsed[1]);
}

/** MessagePack restricted to standard MessagePack types (see `MsgpackCodecOptions.extended`). Used in raw mode. */
export const portableMsgpackCodec: Codec = createMsgpackCodec({ extended: false });

/** MessagePack with every supported JavaScript type (see `createMsgpackCodec`). */
export const msgpackCodec: Codec = createMsgpackCodec();

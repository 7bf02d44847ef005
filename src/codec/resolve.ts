import { Buffer } from 'node:buffer';
import { InvalidOptionError, SerializationError } from '../errors.js';
import { CODEC_IDS, type Codec, type CodecOption, type CustomCodec, isRegisteredCodec, portableCodecFor, registerCodec } from './codec.js';
import { jsonCodec, plainJsonCodec } from './json.js';
import { msgpackCodec, portableMsgpackCodec } from './msgpack.js';
import { toSerializationError } from './serialization-error.js';
import { v8Codec } from './v8.js';

// Resolving the same custom codec twice yields the same wrapper, so codecs can be compared by identity.
const wrappers = new WeakMap<CustomCodec, Codec>();

/**
 * Turns a `codec` option into a codec.
 *
 * - `undefined` or `'json'`: the extended json codec; in raw mode the plain json codec.
 * - `'msgpack'`: the msgpack codec; in raw mode the portable msgpack codec.
 * - `'v8'`: the v8 codec (raw mode included: its bytes are readable by Node.js only).
 * - a built-in codec instance: itself; in raw mode its portable variant.
 * - any other `{ name, encode, decode }`: a custom codec, wrapped so that `encode` always returns bytes (a string
 *   result is stored as UTF-8) and any encode failure is a `SerializationError`.
 *
 * @param option the option's name for error messages, e.g. `'regions.users.codec'`.
 * @param raw whether the region stores raw payloads (no envelope), which other languages must be able to read.
 * @throws InvalidOptionError naming `option` for unknown names and objects without a name or encode/decode functions.
 */
export function resolveCodec(opt: CodecOption | undefined, option = 'codec', raw = false): Codec {
  switch (opt) {
    case undefined:
    case 'json':
      return raw ? plainJsonCodec : jsonCodec;
    case 'msgpack':
      return raw ? portableMsgpackCodec : msgpackCodec;
    case 'v8':
      return v8Codec;
  }
  if (typeof opt === 'string') {
    throw new InvalidOptionError(option, `unknown codec ${JSON.stringify(opt)}; expected 'json', 'msgpack', 'v8' or a codec object { name, encode, decode }`);
  }
  if (typeof opt !== 'object' || opt === null) {
    throw new InvalidOptionError(
      option,
      `expected 'json', 'msgpack', 'v8' or a codec object { name, encode, decode }, got ${opt === null ? 'null' : typeof opt}`,
    );
  }
  if (isRegisteredCodec(opt)) return raw ? portableCodecFor(opt) : opt;
  const existing = wrappers.get(opt);
  if (existing !== undefined) return existing;
  if (typeof opt.name !== 'string' || opt.name === '') {
    throw new InvalidOptionError(option, 'a custom codec needs a non-empty string "name"');
  }
  if (typeof opt.encode !== 'function' || typeof opt.decode !== 'function') {
    throw new InvalidOptionError(option, `custom codec "${opt.name}" needs "encode" and "decode" functions`);
  }
  return wrapCustomCodec(opt);
}

/**
 * The built-in codec that decodes payloads written under envelope codec id `id`: the extended
 * variant, which also reads its portable variant's payloads. Undefined for the custom id.
 */
export function builtinCodecOfId(id: number): Codec | undefined {
  switch (id) {
    case CODEC_IDS.json:
      return jsonCodec;
    case CODEC_IDS.msgpack:
      return msgpackCodec;
    case CODEC_IDS.v8:
      return v8Codec;
    default:
      return undefined;
  }
}

function wrapCustomCodec(custom: CustomCodec): Codec {
  const name = custom.name;
  const codec: Codec = {
    name,
    encode(value: unknown): Uint8Array {
      let out: unknown;
      try {
        out = custom.encode(value);
      } catch (error) {
        throw toSerializationError(error, name);
      }
      if (typeof out === 'string') return Buffer.from(out, 'utf8');
      if (out instanceof Uint8Array) return out;
      throw new SerializationError(
        `custom codec "${name}" returned ${out === null ? 'null' : typeof out} from encode; expected a Uint8Array, Buffer or string`,
      );
    },
    decode(bytes: Uint8Array): unknown {
      return custom.decode(bytes);
    },
  };
  Object.freeze(codec);
  registerCodec(codec, CODEC_IDS.custom);
  wrappers.set(custom, codec);
  return codec;
}

import { Buffer } from 'node:buffer';
import { DefaultDeserializer, serialize } from 'node:v8';
import { CODEC_IDS, type Codec, registerCodec } from './codec.js';
import { type ValueProfile, scanValue } from './scan.js';
import { toSerializationError } from './serialization-error.js';

const V8_PROFILE: ValueProfile = {
  label: 'v8',
  hint: '',
  undefined: 'native',
  nonFinite: 'native',
  negativeZero: 'native',
  bigint: 'native',
  largeBigint: 'native',
  date: 'native',
  invalidDate: 'native',
  map: 'native',
  set: 'native',
  buffer: 'native',
  uint8Array: 'native',
  illFormedString: 'native',
  protoKey: 'native',
  holes: 'native',
  graphs: true,
};

type HostObjectReader = { _readHostObject(this: DefaultDeserializer): unknown };
const readHostObject = (DefaultDeserializer.prototype as unknown as HostObjectReader)._readHostObject;

/**
 * Node's default deserializer returns binary values as views into the input; copying makes them own their memory,
 * so a cached value does not pin the (possibly much larger) buffer it was read from.
 */
class CopyingDeserializer extends DefaultDeserializer {
  _readHostObject(): unknown {
    const view = readHostObject.call(this);
    if (Buffer.isBuffer(view)) return Buffer.from(view);
    if (view instanceof Uint8Array) return view.slice();
    return view;
  }
}

/**
 * The `node:v8` structured-serialization codec. Only Node.js can read its bytes, and the format may change between
 * major Node versions (entries written by another version that fail to decode become misses).
 *
 * Round-trips faithfully: everything the msgpack codec does (all numbers including -0, NaN and ±Infinity, BigInt,
 * Date, Map, Set, `undefined`, Buffer, Uint8Array, strings with lone surrogates, "__proto__" keys), plus sparse
 * arrays (holes are kept), shared references and cycles (object identity is kept within the value).
 * Null-prototype objects decode as plain objects.
 *
 * Rejected with a `SerializationError` naming the path: functions, symbols (values or keys), and instances of any
 * other class. `v8.serialize` would silently turn a class instance into a plain object; it is rejected instead,
 * as are RegExp, Error and typed arrays other than Uint8Array, to keep the accepted types the same as the other
 * built-in codecs.
 */
export const v8Codec: Codec = Object.freeze({
  name: 'v8',
  encode(value: unknown): Uint8Array {
    try {
      scanValue(value, V8_PROFILE);
      return serialize(value);
    } catch (error) {
      throw toSerializationError(error, 'v8');
    }
  },
  decode(bytes: Uint8Array): unknown {
    const deserializer = new CopyingDeserializer(bytes);
    deserializer.readHeader();
    return deserializer.readValue();
  },
});
registerCodec(v8Codec, CODEC_IDS.v8);

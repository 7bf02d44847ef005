/**
 * Canonical argument encoding.
 *
 * `encodeArgs(args)` turns an argument tuple into text that is equal for two tuples exactly when
 * they are equal under the rules below, and is the same in every process, after restarts and on
 * every Node version (it depends only on ECMAScript-specified conversions, never on insertion
 * order, hash seeds, locale or platform byte order). `argsKey` hashes that text to a short key.
 *
 * ## Grammar
 *
 * Every value starts with a character that fixes its kind, and every production either has a fixed
 * length, ends with a terminator that cannot occur inside it, or carries its length. The grammar is
 * therefore prefix-free (LL(1)): a text decodes in exactly one way, so two values that are not
 * equal under the rules can never produce the same text.
 *
 * ```text
 * args     = "(" value* ")"                     the argument tuple is encoded as an array
 * value    = "u"                                undefined (also an array hole)
 *          | "n"                                null
 *          | "t" | "f"                          true, false
 *          | number                             starts with a digit, "-", "I" or "N"
 *          | "b" decimal ";"                    bigint, e.g. b-12;
 *          | "s" len ":" text                   string; len = UTF-16 code units, decimal;
 *                                               text = its code units verbatim, lone surrogates too
 *          | "(" value* ")"                     array, in index order
 *          | "<" (len ":" key value)* ">"       object, keys sorted by UTF-16 code units
 *          | "M(" (value value)* ")"            Map entries (key then value), sorted by their text
 *          | "S(" value* ")"                    Set elements, sorted by their text
 *          | "D" time ";"                       Date: its time value in ms, "DNaN;" when invalid
 *          | "B" kind ":" base64url ";"         bytes, kind below
 *          | "K" value                          result of toCacheKey()
 *          | "J" value                          result of toJSON()
 * number   = String(n) ";"                      e.g. 1;  -2.5;  1e+21;  NaN;  -Infinity;
 * kind     = "u8" Uint8Array and Buffer | "u8c" Uint8ClampedArray | "i8" | "i16" | "u16" | "i32"
 *          | "u32" | "f16" | "f32" | "f64" | "i64" BigInt64Array | "u64" BigUint64Array
 *          | "dv" DataView | "ab" ArrayBuffer
 * ```
 *
 * Examples: `f(1, 'héllo')` → `(1;s5:héllo)`; `f({ b: [1n], a: null })` → `(<1:an1:b(b1;)>)`;
 * `f()` → `()`.
 *
 * ## Decisions
 *
 * - **Arguments are an array**: tuples of different lengths differ, so `f(1)` and `f(1, undefined)`
 *   get different keys. Callers that want them to share a key trim trailing `undefined` first.
 * - **undefined, null and a missing property are three different things**: `{a: undefined}`,
 *   `{a: null}` and `{}` all differ. Array holes read as `undefined` (`[, 1]` equals `[undefined, 1]`).
 * - **Numbers** use `String(n)`, the shortest text that round-trips exactly. `-0` and `0` give the
 *   same key (they compare equal, and callers expect `f(0)` and `f(-0)` to share); every NaN gives
 *   `NaN;`. `1`, `'1'`, `1n` and `true` all differ.
 * - **Objects**: plain objects and null-prototype objects are the same kind; only own enumerable
 *   string keys count (non-enumerable properties are ignored), in sorted order. An own enumerable
 *   symbol-keyed property is rejected. Arrays encode their indices only (other properties ignored).
 * - **Strings are UTF-16 code units**, copied verbatim, so the encoding (a JS string) tells apart
 *   every two strings, even ill-formed ones such as `'\uD800'` and `'\uDC00'`. Bytes only appear
 *   when the encoding is hashed: `hashText` hashes well-formed text as UTF-8 and text with a lone
 *   surrogate (which UTF-8 would turn into U+FFFD, merging the two) as the byte 0xFF, which never
 *   occurs in UTF-8, followed by its UTF-16LE code units. Ill-formed strings thus keep distinct
 *   keys while every well-formed encoding keeps its UTF-8 hash (the golden keys); readable keys are
 *   printable ASCII, so an ill-formed encoding is always hashed.
 * - **Map and Set** are order-insensitive; a Map never equals a plain object with the same entries.
 * - **Bytes** compare by kind and bytes: a Buffer equals a Uint8Array with the same bytes (Buffer is
 *   a Uint8Array), but a Uint16Array or ArrayBuffer with the same bytes differs. Multi-byte element
 *   arrays are encoded little-endian on every platform, so a Float64Array holding `-0` differs from
 *   one holding `0` (bytes, not numbers).
 * - **Boxed primitives** (`new String('a')`, `Object(1n)`, …) are unwrapped: they equal the primitive.
 *   A boxed Symbol is rejected like a symbol.
 * - **Hooks**: an object (not an array) whose `toCacheKey` property is a function is encoded as
 *   `K` + the encoding of what it returns. Otherwise, Date, Map, Set, bytes and boxed primitives use
 *   their built-in encoding, and any other object whose `toJSON` property is a function is encoded as
 *   `J` + the encoding of its result (called with no argument). The tags keep a hooked instance from
 *   equalling the plain value it returns, and keep the two hooks apart; two classes returning the same
 *   value share a key, so include a discriminator in the returned value when that matters.
 * - **Rejected** with {@link KeyDerivationError} (its `path` points at the offending value; `path[0]` is
 *   the argument index): functions, symbols, symbol-keyed properties, class instances without a hook
 *   (the message names the class), WeakMap, WeakSet, Promise, cyclic structures (the message says
 *   "cyclic"), nesting deeper than {@link MAX_DEPTH}, and any error thrown by a getter or hook. A value
 *   reached twice without a cycle (a DAG) is fine and is encoded at each place it occurs. Path
 *   segments: an array index (number); an object key; for the i-th Map entry (insertion order)
 *   `<key #i>` inside its key, and inside its value the key itself when it is a string, number,
 *   boolean or bigint (`3n`), else `<value #i>`; `<element #i>` for the i-th Set element;
 *   `toCacheKey()` / `toJSON()` inside a hook's result.
 * - **Cycles cost nothing on success**: the encoder does not track ancestors. A cycle makes the walk
 *   run into {@link MAX_DEPTH} (or the end of the call stack, which is also reported as a
 *   {@link KeyDerivationError}); only then a second walk that tracks ancestors tells a cycle from a
 *   value that is merely too deep.
 * - **Readable keys** (`argsKey(args, { readable: true })`) are the encoding itself, so every
 *   structural character above is printable ASCII and none of them is special to Redis SCAN MATCH
 *   (`* ? [ ] \`) or to Redis Cluster hash tags (`{ }`).
 *
 * @module
 */
import { Buffer } from 'node:buffer';
import { endianness } from 'node:os';
import { types } from 'node:util';
import { KeyDerivationError } from '../../errors.js';

/**
 * Deepest nesting of containers (arrays, objects, Maps, Sets, hook results) inside one argument that
 * {@link encodeArgs} accepts; deeper values are rejected with a {@link KeyDerivationError}. Unit: levels.
 */
export const MAX_DEPTH = 1000;

type Segment = string | number;
/** Containers currently being encoded, indexed by depth; only tracked by the pass that looks for a cycle. */
type Ancestors = unknown[] | undefined;

/** Failure travelling up the recursion; each container on the way adds its path segment (innermost first). */
class Failure {
  readonly path: Segment[] = [];
  constructor(
    readonly kind: 'reject' | 'cycle' | 'depth',
    readonly message: string,
    readonly cause?: unknown,
  ) {}
}

const BIG_ENDIAN = endianness() === 'BE';
const objectProto = Object.prototype;
const isEnumerable = Object.prototype.propertyIsEnumerable;
const getTime = Date.prototype.getTime;
// The %TypedArray%.prototype[@@toStringTag] getter, called directly, reads the internal kind (a Buffer reports
// Uint8Array) whatever a subclass overrides; it returns undefined for a DataView.
const typedArrayName = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype), Symbol.toStringTag)!.get as (
  this: unknown,
) => string | undefined;

const VIEW_KINDS: Readonly<Record<string, string>> = {
  Int8Array: 'i8',
  Uint8Array: 'u8',
  Uint8ClampedArray: 'u8c',
  Int16Array: 'i16',
  Uint16Array: 'u16',
  Int32Array: 'i32',
  Uint32Array: 'u32',
  Float16Array: 'f16',
  Float32Array: 'f32',
  Float64Array: 'f64',
  BigInt64Array: 'i64',
  BigUint64Array: 'u64',
};

/**
 * Canonical text encoding of an argument tuple. Deterministic across processes, restarts and Node
 * versions; equal exactly for argument tuples that are equal under the rules of this module's
 * documentation (object key order and Map/Set order do not matter, array order does).
 *
 * @param args - The arguments, in call order. Tuples of different lengths never share an encoding.
 * @returns The encoding, starting with `(` and ending with `)`; `()` for no arguments.
 * @throws KeyDerivationError when some part cannot be part of a key (function, symbol, cycle, class
 *   instance without `toCacheKey`/`toJSON`, …); its `path` locates the part, starting at the argument index.
 */
export function encodeArgs(args: readonly unknown[]): string {
  if (!Array.isArray(args)) throw new KeyDerivationError('Cannot derive a cache key: arguments must be an array');
  try {
    return encodeArray(args, 0, undefined);
  } catch (err) {
    let failure = toFailure(err);
    // The fast pass does not track ancestors; a cycle shows up as runaway depth. Re-walk with tracking to name it.
    if (failure.kind === 'depth') failure = findCycle(args) ?? failure;
    throw toError(failure);
  }
}

function findCycle(args: readonly unknown[]): Failure | undefined {
  try {
    encodeArray(args, 0, []);
  } catch (err) {
    const failure = toFailure(err);
    if (failure.kind === 'cycle') return failure;
  }
  return undefined;
}

function encodeValue(v: unknown, depth: number, seen: Ancestors): string {
  switch (typeof v) {
    case 'number':
      // Template conversion is String(v): shortest round-trip text, "0" for -0, "NaN" for every NaN.
      return `${v};`;
    case 'string':
      return `s${v.length}:${v}`;
    case 'boolean':
      return v ? 't' : 'f';
    case 'undefined':
      return 'u';
    case 'bigint':
      return `b${v};`;
    case 'object':
      return v === null ? 'n' : encodeObject(v, depth, seen);
    case 'function':
      throw new Failure('reject', 'Cannot derive a cache key from a function');
    default:
      throw new Failure('reject', `Cannot derive a cache key from a ${typeof v}`);
  }
}

function encodeObject(v: object, depth: number, seen: Ancestors): string {
  if (depth >= MAX_DEPTH) {
    throw new Failure('depth', `Cannot derive a cache key: values nested deeper than ${MAX_DEPTH} levels`);
  }
  if (seen !== undefined) {
    // Only ancestors count, so a value reached twice side by side (a DAG) is not a cycle.
    const at = seen.indexOf(v);
    if (at !== -1 && at < depth) {
      throw new Failure('cycle', 'Cannot derive a cache key from a cyclic structure: this value contains itself');
    }
    seen[depth] = v;
  }
  depth++;
  // One frame per nesting level plus the container's own: keeps deep values well inside the default stack.
  if (Array.isArray(v)) return encodeArray(v, depth, seen);
  const toCacheKey = (v as { toCacheKey?: unknown }).toCacheKey;
  if (typeof toCacheKey === 'function') return `K${encodeHook(v, toCacheKey, 'toCacheKey', depth, seen)}`;
  const proto: unknown = Object.getPrototypeOf(v);
  if (proto === objectProto || proto === null) {
    const toJSON = (v as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') return `J${encodeHook(v, toJSON, 'toJSON', depth, seen)}`;
    return encodePlainObject(v as Record<string, unknown>, depth, seen);
  }
  if (ArrayBuffer.isView(v)) return encodeView(v);
  if (types.isDate(v)) return `D${getTime.call(v)};`;
  if (types.isMap(v)) return encodeMap(v as Map<unknown, unknown>, depth, seen);
  if (types.isSet(v)) return encodeSet(v as Set<unknown>, depth, seen);
  if (types.isArrayBuffer(v)) return `Bab:${Buffer.from(v).toString('base64url')};`;
  if (types.isBoxedPrimitive(v)) return encodeValue(unbox(v), depth, seen);
  if (types.isPromise(v)) throw new Failure('reject', 'Cannot derive a cache key from a Promise (await it first)');
  if (types.isWeakMap(v) || types.isWeakSet(v)) {
    throw new Failure('reject', `Cannot derive a cache key from a ${types.isWeakMap(v) ? 'WeakMap' : 'WeakSet'}: its entries cannot be enumerated`);
  }
  const toJSON = (v as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === 'function') return `J${encodeHook(v, toJSON, 'toJSON', depth, seen)}`;
  throw new Failure(
    'reject',
    `Cannot derive a cache key from an instance of ${className(proto)}: give the class a toCacheKey() (or toJSON()) method, or leave the argument out of the key`,
  );
}

function encodeArray(a: readonly unknown[], depth: number, seen: Ancestors): string {
  let out = '(';
  let i = 0;
  try {
    for (const n = a.length; i < n; i++) {
      const x = a[i];
      out += typeof x === 'object' && x !== null ? encodeObject(x, depth, seen) : encodeValue(x, depth, seen);
    }
  } catch (err) {
    throw withSegment(err, i);
  }
  return `${out})`;
}

function encodePlainObject(o: Record<string, unknown>, depth: number, seen: Ancestors): string {
  const keys = Object.keys(o);
  const symbols = Object.getOwnPropertySymbols(o);
  for (let i = 0; i < symbols.length; i++) {
    const sym = symbols[i]!;
    if (isEnumerable.call(o, sym)) {
      throw new Failure('reject', `Cannot derive a cache key from an object with a symbol-keyed property (${String(sym)})`);
    }
  }
  if (keys.length > 1) sortStrings(keys);
  let out = '<';
  let key = '';
  try {
    for (let i = 0; i < keys.length; i++) {
      key = keys[i]!;
      const x = o[key];
      out += `${key.length}:${key}${typeof x === 'object' && x !== null ? encodeObject(x, depth, seen) : encodeValue(x, depth, seen)}`;
    }
  } catch (err) {
    throw withSegment(err, key);
  }
  return `${out}>`;
}

function encodeMap(m: Map<unknown, unknown>, depth: number, seen: Ancestors): string {
  const entries: string[] = [];
  let i = 0;
  for (const [k, v] of m) {
    let text: string;
    try {
      text = encodeValue(k, depth, seen);
    } catch (err) {
      throw withSegment(err, `<key #${i}>`);
    }
    try {
      entries.push(text + encodeValue(v, depth, seen));
    } catch (err) {
      throw withSegment(err, mapValueSegment(k, i));
    }
    i++;
  }
  // Each entry is self-delimiting, so sorting the texts gives one order per multiset of entries.
  if (entries.length > 1) sortStrings(entries);
  return `M(${entries.join('')})`;
}

function encodeSet(s: Set<unknown>, depth: number, seen: Ancestors): string {
  const elements: string[] = [];
  let i = 0;
  for (const v of s) {
    try {
      elements.push(encodeValue(v, depth, seen));
    } catch (err) {
      throw withSegment(err, `<element #${i}>`);
    }
    i++;
  }
  if (elements.length > 1) sortStrings(elements);
  return `S(${elements.join('')})`;
}

/**
 * Sorts by UTF-16 code units (what `<` and the default `sort()` compare): locale-independent and the
 * same on every engine. Insertion sort for the usual handful of keys, where it is several times
 * faster than the generic sort.
 */
function sortStrings(list: string[]): void {
  const n = list.length;
  if (n > 16) {
    list.sort();
    return;
  }
  for (let i = 1; i < n; i++) {
    const item = list[i]!;
    let j = i - 1;
    while (j >= 0 && list[j]! > item) {
      list[j + 1] = list[j]!;
      j--;
    }
    list[j + 1] = item;
  }
}

function encodeView(v: ArrayBufferView): string {
  const name = typedArrayName.call(v);
  let bytes = Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  if (name === undefined) return `Bdv:${bytes.toString('base64url')};`;
  if (BIG_ENDIAN) bytes = toLittleEndian(bytes, (v as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT);
  return `B${VIEW_KINDS[name] ?? name}:${bytes.toString('base64url')};`;
}

function toLittleEndian(bytes: Buffer, width: number): Buffer {
  if (width === 2) return Buffer.from(bytes).swap16();
  if (width === 4) return Buffer.from(bytes).swap32();
  if (width === 8) return Buffer.from(bytes).swap64();
  return bytes;
}

function encodeHook(v: object, hook: Function, name: 'toCacheKey' | 'toJSON', depth: number, seen: Ancestors): string {
  let result: unknown;
  try {
    result = hook.call(v);
  } catch (err) {
    throw new Failure('reject', `Cannot derive a cache key: ${name}() threw: ${describe(err)}`, err);
  }
  try {
    return encodeValue(result, depth, seen);
  } catch (err) {
    throw withSegment(err, `${name}()`);
  }
}

function unbox(v: object): unknown {
  if (types.isNumberObject(v)) return Number.prototype.valueOf.call(v);
  if (types.isStringObject(v)) return String.prototype.valueOf.call(v);
  if (types.isBooleanObject(v)) return Boolean.prototype.valueOf.call(v);
  if (types.isBigIntObject(v)) return BigInt.prototype.valueOf.call(v);
  throw new Failure('reject', 'Cannot derive a cache key from a symbol (boxed Symbol object)');
}

function mapValueSegment(key: unknown, index: number): Segment {
  switch (typeof key) {
    case 'string':
      return key;
    case 'number':
    case 'boolean':
      return String(key);
    case 'bigint':
      return `${key}n`;
    default:
      return `<value #${index}>`;
  }
}

function className(proto: unknown): string {
  try {
    const ctor = (proto as { constructor?: unknown }).constructor;
    const name = typeof ctor === 'function' ? ctor.name : '';
    return name !== '' ? `class ${name}` : 'an anonymous class';
  } catch {
    return 'an unknown class';
  }
}

function withSegment(err: unknown, segment: Segment): Failure {
  const failure = toFailure(err);
  failure.path.push(segment);
  return failure;
}

function toFailure(err: unknown): Failure {
  if (err instanceof Failure) return err;
  // V8 reports an exhausted stack as a RangeError, or as another error when a built-in (e.g. the regexp
  // compiler) runs out first; the message is the same. Plain string search: no regexp to compile here.
  if (err instanceof Error && err.message.includes('Maximum call stack size exceeded')) {
    return new Failure('depth', 'Cannot derive a cache key: values nested too deeply for the call stack', err);
  }
  return new Failure('reject', `Cannot derive a cache key: reading the value threw: ${describe(err)}`, err);
}

function toError(failure: Failure): KeyDerivationError {
  const error = new KeyDerivationError(failure.message, failure.path.reverse());
  if (failure.cause !== undefined) {
    Object.defineProperty(error, 'cause', { value: failure.cause, writable: true, configurable: true });
  }
  return error;
}

function describe(err: unknown): string {
  try {
    return err instanceof Error ? err.message : String(err);
  } catch {
    return 'an unprintable value';
  }
}

import { Buffer } from 'node:buffer';
import { types } from 'node:util';
import { SerializationError } from '../errors.js';
import { isWellFormed } from './bytes.js';

/** How a codec stores one kind of value: as-is by the underlying format, through an out-of-band tag, or not at all. */
export type Handling = 'native' | 'tagged' | 'rejected';

/**
 * What a codec accepts. Plain data (null, booleans, finite numbers, well-formed strings, dense arrays and plain or
 * null-prototype objects with string keys) is always accepted. Functions, symbols, symbol-keyed properties and
 * instances of any other class are always rejected.
 */
export interface ValueProfile {
  /** Codec name used in error messages. */
  readonly label: string;
  /** Appended to the message when an extended kind is rejected (e.g. which codec would accept it). */
  readonly hint: string;
  /** `undefined` as a property value, array element or the whole value. */
  readonly undefined: Handling;
  /** NaN, Infinity, -Infinity. */
  readonly nonFinite: Handling;
  /** -0 (as distinct from 0). */
  readonly negativeZero: Handling;
  /** BigInts that fit in a signed or unsigned 64-bit integer. */
  readonly bigint: Handling;
  /** BigInts outside the 64-bit range. */
  readonly largeBigint: Handling;
  /** Dates, valid or not. */
  readonly date: Handling;
  /** Invalid Dates, checked in addition to `date`. */
  readonly invalidDate: Handling;
  /** Maps with any keys. */
  readonly map: Handling;
  /** Sets. */
  readonly set: Handling;
  /** Buffers (decoded as Buffers). */
  readonly buffer: Handling;
  /** Uint8Arrays that are not Buffers (decoded as Uint8Arrays). */
  readonly uint8Array: Handling;
  /** Strings (values or property names) containing a lone UTF-16 surrogate. */
  readonly illFormedString: Handling;
  /** An own property named `"__proto__"`. */
  readonly protoKey: Handling;
  /** Holes in sparse arrays. */
  readonly holes: Handling;
  /** When true, repeated and cyclic references are accepted (the format preserves identity); otherwise cycles are rejected. */
  readonly graphs: boolean;
}

type Feature = Exclude<keyof ValueProfile, 'label' | 'hint' | 'graphs'>;

/** BigInts in [MIN_INT64, MAX_UINT64] fit a MessagePack int64 or uint64. */
export const MIN_INT64 = -(2n ** 63n);
export const MAX_UINT64 = 2n ** 64n - 1n;

interface ScanState {
  readonly profile: ValueProfile;
  /** Route to the value being visited; copied only when an error is thrown. */
  readonly path: (string | number)[];
  /** Ancestors of the current value (trees) or every object seen so far (graphs); created on first use. */
  objects: Set<object> | undefined;
  tagged: boolean;
}

/**
 * Checks that `value` can be stored faithfully under `profile`, walking it once.
 * @returns true when some part needs an out-of-band tag (see `tags.ts`), false when the format stores it as-is.
 * @throws SerializationError naming the path of the first part that cannot be stored.
 */
export function scanValue(value: unknown, profile: ValueProfile): boolean {
  // Most values are plain data that the format stores as-is: checked first without recording the
  // path and the ancestors, which only an error message or a cycle needs. Anything else (or a
  // value nested too deep to tell a cycle from depth) is walked again the careful way.
  if (profile.illFormedString === 'native' && profile.protoKey === 'native' && quicklyPlain(value)) return false;
  return scanCarefully(value, profile);
}

/** `isPlainData` of a whole value; a getter that throws leaves it to the careful walk, which reports where. */
function quicklyPlain(value: unknown): boolean {
  try {
    return isPlainData(value, 0);
  } catch {
    return false;
  }
}

/** `scanValue` without the quick first check: every part visited with its path and ancestors. */
export function scanCarefully(value: unknown, profile: ValueProfile): boolean {
  const state: ScanState = { profile, path: [], objects: undefined, tagged: false };
  visit(value, state);
  return state.tagged;
}

/** How deep `isPlainData` looks before leaving a value to the careful walk (which detects cycles). */
const QUICK_DEPTH = 64;

/**
 * Whether `v` is plain data that every profile stores as-is once strings and property names are
 * native: null, booleans, strings, finite numbers other than -0, arrays without holes or
 * `undefined`, plain or null-prototype objects without symbol keys, nested at most QUICK_DEPTH
 * deep. False does not mean rejected, only that the careful walk must decide.
 */
export function isPlainData(v: unknown, depth: number): boolean {
  return typeof v === 'object' && v !== null ? plainContainer(v, depth) : plainMember(v, depth);
}

/**
 * A property value or element as `isPlainData` judges it, a primitive decided here: most members
 * of a record are primitives, and a call only for the objects among them saves about a tenth of the
 * walk (counted with callgrind on the bench's ~300 B record).
 */
function plainMember(v: unknown, depth: number): boolean {
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return v === 0 ? 1 / v > 0 : Number.isFinite(v);
    case 'object':
      return v === null || plainContainer(v, depth + 1);
    default:
      return false;
  }
}

/** `isPlainData` of an object (not null) at `depth`. */
function plainContainer(v: object, depth: number): boolean {
  if (depth >= QUICK_DEPTH) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  if (proto === Array.prototype && Array.isArray(v)) {
    // A hole reads as undefined, which is not plain: both go the careful way.
    for (let i = 0; i < v.length; i++) if (!plainMember(v[i], depth)) return false;
    return true;
  }
  if (proto !== Object.prototype && proto !== null) return false;
  const o = v as Record<string, unknown>;
  // for-in rather than Object.keys: no array per object (a third faster on a typical record).
  // It would also visit enumerable properties inherited from Object.prototype (pollution):
  // checking more values can only send the value the careful way.
  for (const key in o) if (!plainMember(o[key], depth)) return false;
  // Any symbol key, even a non-enumerable one the careful walk accepts, goes that way.
  return Object.getOwnPropertySymbols(o).length === 0;
}

function visit(v: unknown, s: ScanState): void {
  switch (typeof v) {
    case 'string':
      if (s.profile.illFormedString !== 'native' && !isWellFormed(v)) {
        handle(s, 'illFormedString', 'a string containing a lone surrogate');
      }
      return;
    case 'number':
      if (v === 0) {
        if (1 / v < 0) handle(s, 'negativeZero', '-0');
      } else if (!Number.isFinite(v)) {
        handle(s, 'nonFinite', String(v));
      }
      return;
    case 'boolean':
      return;
    case 'undefined':
      handle(s, 'undefined', 'undefined');
      return;
    case 'bigint':
      if (v >= MIN_INT64 && v <= MAX_UINT64) handle(s, 'bigint', 'a BigInt');
      else handle(s, 'largeBigint', 'a BigInt wider than 64 bits');
      return;
    case 'function':
      fail(s, 'a function');
      return;
    case 'symbol':
      fail(s, 'a symbol');
      return;
    default:
      if (v !== null) visitObject(v as object, s);
  }
}

function visitObject(o: object, s: ScanState): void {
  const proto: unknown = Object.getPrototypeOf(o);
  if (proto === Object.prototype || proto === null) {
    if (enter(o, s)) {
      visitPlainObject(o as Record<string, unknown>, s);
      leave(o, s);
    }
  } else if (proto === Array.prototype && Array.isArray(o)) {
    if (enter(o, s)) {
      visitArray(o, s);
      leave(o, s);
    }
  } else if (proto === Date.prototype && types.isDate(o)) {
    handle(s, 'date', 'a Date');
    if (s.profile.invalidDate !== 'native' && Number.isNaN(o.getTime())) handle(s, 'invalidDate', 'an Invalid Date');
  } else if (proto === Buffer.prototype && types.isUint8Array(o)) {
    handle(s, 'buffer', 'a Buffer');
  } else if (proto === Uint8Array.prototype && types.isUint8Array(o)) {
    handle(s, 'uint8Array', 'a Uint8Array');
  } else if (proto === Map.prototype && types.isMap(o)) {
    handle(s, 'map', 'a Map');
    if (enter(o, s)) {
      visitMap(o as Map<unknown, unknown>, s);
      leave(o, s);
    }
  } else if (proto === Set.prototype && types.isSet(o)) {
    handle(s, 'set', 'a Set');
    if (enter(o, s)) {
      visitSet(o as Set<unknown>, s);
      leave(o, s);
    }
  } else {
    fail(s, describeInstance(o, proto), 'only plain objects, arrays and the built-in types the codec documents can be stored; convert it to plain data first');
  }
}

/** Marks `o` as being visited; false when its contents were already checked (a shared reference in a graph). */
function enter(o: object, s: ScanState): boolean {
  let objects = s.objects;
  if (objects === undefined) {
    objects = new Set();
    s.objects = objects;
  }
  if (objects.has(o)) {
    if (s.profile.graphs) return false;
    fail(s, 'a cyclic reference');
  }
  objects.add(o);
  return true;
}

function leave(o: object, s: ScanState): void {
  // With graphs, objects stay in the set so shared references are walked once.
  if (!s.profile.graphs) s.objects!.delete(o);
}

function visitPlainObject(o: Record<string, unknown>, s: ScanState): void {
  const checkKeys = s.profile.illFormedString !== 'native' || s.profile.protoKey !== 'native';
  for (const key of Object.keys(o)) {
    s.path.push(key);
    if (checkKeys) {
      if (key === '__proto__') handle(s, 'protoKey', 'a property named "__proto__"');
      if (!isWellFormed(key)) handle(s, 'illFormedString', 'a property name containing a lone surrogate');
    }
    visit(o[key], s);
    s.path.pop();
  }
  const symbols = Object.getOwnPropertySymbols(o);
  for (const symbol of symbols) {
    if (Object.prototype.propertyIsEnumerable.call(o, symbol)) {
      s.path.push(symbol.toString());
      fail(s, 'a symbol-keyed property');
    }
  }
}

function visitArray(a: unknown[], s: ScanState): void {
  for (let i = 0; i < a.length; i++) {
    const element = a[i];
    s.path.push(i);
    if (element === undefined && !(i in a)) handle(s, 'holes', 'a hole in a sparse array');
    else visit(element, s);
    s.path.pop();
  }
}

function visitMap(m: Map<unknown, unknown>, s: ScanState): void {
  let i = 0;
  for (const [key, value] of m) {
    s.path.push(`{key ${i}}`);
    visit(key, s);
    s.path.pop();
    s.path.push(mapEntryLabel(key, i));
    visit(value, s);
    s.path.pop();
    i++;
  }
}

function visitSet(set: Set<unknown>, s: ScanState): void {
  let i = 0;
  for (const element of set) {
    s.path.push(i++);
    visit(element, s);
    s.path.pop();
  }
}

/** Path element for the value stored under a Map key (see `Codec` for the convention). */
export function mapEntryLabel(key: unknown, index: number): string | number {
  return typeof key === 'string' || typeof key === 'number' ? key : `{entry ${index}}`;
}

function handle(s: ScanState, feature: Feature, what: string): void {
  const handling = s.profile[feature];
  if (handling === 'tagged') s.tagged = true;
  else if (handling === 'rejected') fail(s, what, s.profile.hint);
}

function fail(s: ScanState, what: string, hint = ''): never {
  throw new SerializationError(`${what} cannot be serialized by the ${s.profile.label} codec${hint ? ` (${hint})` : ''}`, s.path.slice());
}

function describeInstance(o: object, proto: unknown): string {
  // Read the descriptor rather than `.constructor`, which could run a getter or be an own data property of `o`.
  const ctor: unknown = typeof proto === 'object' && proto !== null ? Object.getOwnPropertyDescriptor(proto, 'constructor')?.value : undefined;
  if (typeof ctor === 'function' && ctor.name) return `an instance of ${ctor.name}`;
  return `an object with a non-plain prototype (${Object.prototype.toString.call(o)})`;
}

import { Buffer } from 'node:buffer';
import { types } from 'node:util';
import { DecodeError, SerializationError } from '../errors.js';
import { asBuffer, isWellFormed } from './bytes.js';
import { MAX_UINT64, MIN_INT64, type ValueProfile } from './scan.js';

/**
 * Out-of-band type tags: how the extended json and msgpack codecs store values their format cannot express.
 *
 * The value is rewritten into a "safe" form the format stores natively, and every rewritten position is listed
 * in a separate `meta` array as `[path, tag]`, where `path` indexes the safe form (object keys as strings, array
 * positions as numbers). User data is never inspected for markers, so an object with keys such as `"$type"`,
 * `"v"` or `"m"` is ordinary data and cannot be confused with a tag.
 *
 * | tag     | original value                  | safe form                                     |
 * |---------|---------------------------------|-----------------------------------------------|
 * | `undef` | `undefined`                     | `null`                                        |
 * | `num`   | NaN, Infinity, -Infinity, -0    | `'NaN'`, `'Infinity'`, `'-Infinity'`, `'-0'`  |
 * | `date`  | Date                            | epoch milliseconds, or `null` for Invalid Date |
 * | `big`   | BigInt                          | decimal string                                |
 * | `buf`   | Buffer                          | base64 string                                 |
 * | `u8`    | Uint8Array                      | base64 string                                 |
 * | `map`   | Map                             | array of `[key, value]` pairs                 |
 * | `set`   | Set                             | array of elements                             |
 * | `obj`   | object the format cannot key    | array of `[key, value]` pairs                 |
 * | `utf16` | string with a lone surrogate    | its UTF-16LE code units as binary             |
 *
 * Tags are listed children first (post-order), so decoding applies them in order: when a Map or Set is rebuilt,
 * its contents are already revived, and no later path goes through a rebuilt node.
 */
export type Tag = 'undef' | 'num' | 'date' | 'big' | 'buf' | 'u8' | 'map' | 'set' | 'obj' | 'utf16';

type Path = (string | number)[];
export type TagList = [Path, Tag][];

interface DescribeState {
  readonly profile: ValueProfile;
  readonly path: Path;
  readonly meta: TagList;
}

/**
 * Rewrites `value` into its safe form and the tag list. `value` must already have passed `scanValue` with the
 * same profile, and the profile must tag Maps and Sets (their contents are addressed through the safe arrays).
 * Unchanged subtrees are shared with `value`, not copied.
 */
export function toTagged(value: unknown, profile: ValueProfile): { safe: unknown; meta: TagList } {
  const state: DescribeState = { profile, path: [], meta: [] };
  const safe = describe(value, state);
  return { safe, meta: state.meta };
}

function tag(s: DescribeState, name: Tag): void {
  s.meta.push([s.path.slice(), name]);
}

function describe(v: unknown, s: DescribeState): unknown {
  const p = s.profile;
  switch (typeof v) {
    case 'string':
      if (p.illFormedString === 'tagged' && !isWellFormed(v)) {
        tag(s, 'utf16');
        return Buffer.from(v, 'utf16le');
      }
      return v;
    case 'number':
      if (v === 0) {
        if (1 / v < 0 && p.negativeZero === 'tagged') {
          tag(s, 'num');
          return '-0';
        }
      } else if (!Number.isFinite(v) && p.nonFinite === 'tagged') {
        tag(s, 'num');
        return String(v);
      }
      return v;
    case 'undefined':
      if (p.undefined !== 'tagged') return v;
      tag(s, 'undef');
      return null;
    case 'bigint': {
      const wide = v < MIN_INT64 || v > MAX_UINT64;
      if ((wide ? p.largeBigint : p.bigint) !== 'tagged') return v;
      tag(s, 'big');
      return v.toString();
    }
    case 'object':
      return v === null ? null : describeObject(v, s);
    default:
      return v;
  }
}

function describeObject(o: object, s: DescribeState): unknown {
  const p = s.profile;
  const proto: unknown = Object.getPrototypeOf(o);
  if (proto === Object.prototype || proto === null) {
    const record = o as Record<string, unknown>;
    return needsPairs(record, p) ? describePairs(record, s) : describePlainObject(record, s);
  }
  if (Array.isArray(o)) return describeArray(o, s);
  if (types.isDate(o)) {
    if (p.date !== 'tagged') return o;
    tag(s, 'date');
    const ms = o.getTime();
    return Number.isNaN(ms) ? null : ms;
  }
  if (types.isUint8Array(o)) {
    const isBuffer = Buffer.isBuffer(o);
    if ((isBuffer ? p.buffer : p.uint8Array) !== 'tagged') return o;
    tag(s, isBuffer ? 'buf' : 'u8');
    return asBuffer(o).toString('base64');
  }
  if (types.isMap(o)) {
    const pairs: unknown[] = [];
    let i = 0;
    for (const [key, value] of o) pairs.push(describePair(key, value, i++, s));
    tag(s, 'map');
    return pairs;
  }
  if (types.isSet(o)) {
    const elements: unknown[] = [];
    let i = 0;
    for (const element of o) {
      s.path.push(i++);
      elements.push(describe(element, s));
      s.path.pop();
    }
    tag(s, 'set');
    return elements;
  }
  // scanValue rejects everything else; reaching this means the value changed between the two walks (e.g. a getter).
  throw new SerializationError('the value changed while it was being serialized', s.path.slice());
}

/** True when an object's keys cannot be stored as keys of the format (msgpack renames "__proto__", and UTF-8 loses lone surrogates). */
function needsPairs(o: Record<string, unknown>, p: ValueProfile): boolean {
  if (p.protoKey === 'tagged' && Object.hasOwn(o, '__proto__')) return true;
  if (p.illFormedString === 'tagged') {
    for (const key of Object.keys(o)) if (!isWellFormed(key)) return true;
  }
  return false;
}

function describePairs(o: Record<string, unknown>, s: DescribeState): unknown[] {
  const pairs: unknown[] = [];
  const keys = Object.keys(o);
  for (let i = 0; i < keys.length; i++) pairs.push(describePair(keys[i], o[keys[i]!], i, s));
  tag(s, 'obj');
  return pairs;
}

function describePair(key: unknown, value: unknown, i: number, s: DescribeState): [unknown, unknown] {
  s.path.push(i, 0);
  const safeKey = describe(key, s);
  s.path[s.path.length - 1] = 1;
  const safeValue = describe(value, s);
  s.path.pop();
  s.path.pop();
  return [safeKey, safeValue];
}

function describePlainObject(o: Record<string, unknown>, s: DescribeState): unknown {
  const keys = Object.keys(o);
  let copy: Record<string, unknown> | undefined;
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    const value = o[key];
    s.path.push(key);
    const safe = describe(value, s);
    s.path.pop();
    if (copy === undefined && !Object.is(safe, value)) {
      // Copy-on-write; a null prototype makes a "__proto__" key an ordinary property.
      copy = Object.create(null) as Record<string, unknown>;
      for (let j = 0; j < i; j++) copy[keys[j]!] = o[keys[j]!];
    }
    if (copy !== undefined) copy[key] = safe;
  }
  return copy ?? o;
}

function describeArray(a: unknown[], s: DescribeState): unknown[] {
  let copy: unknown[] | undefined;
  for (let i = 0; i < a.length; i++) {
    const value = a[i];
    s.path.push(i);
    const safe = describe(value, s);
    s.path.pop();
    if (copy === undefined && !Object.is(safe, value)) copy = a.slice(0, i);
    if (copy !== undefined) copy.push(safe);
  }
  return copy ?? a;
}

/**
 * Applies a tag list to a decoded safe form, returning the original value. The input may come from anywhere
 * (a corrupted or hostile cache entry), so every step is checked: paths may only go through own properties of
 * plain objects and indices of arrays, and each tag must find the safe form it expects.
 * @throws DecodeError when the tag list does not fit the safe form.
 */
export function reviveTagged(safe: unknown, meta: unknown): unknown {
  if (!Array.isArray(meta)) throw new DecodeError('malformed type tags: expected an array');
  let root = safe;
  for (const entry of meta) {
    if (!Array.isArray(entry) || entry.length !== 2 || !Array.isArray(entry[0])) {
      throw new DecodeError('malformed type tags: expected [path, tag] pairs');
    }
    const path = entry[0] as unknown[];
    const name: unknown = entry[1];
    if (path.length === 0) {
      root = revive(root, name);
      continue;
    }
    let parent = root;
    for (let i = 0; i < path.length - 1; i++) parent = child(parent, path[i]);
    const key = path[path.length - 1];
    const revived = revive(child(parent, key), name);
    // child() has checked that `key` is an own property or an index, so this assignment cannot reach a prototype.
    (parent as Record<string | number, unknown>)[key as string | number] = revived;
  }
  return root;
}

function child(node: unknown, key: unknown): unknown {
  if (Array.isArray(node)) {
    if (typeof key === 'number' && Number.isInteger(key) && key >= 0 && key < node.length) return node[key];
  } else if (typeof key === 'string' && isPlainRecord(node) && Object.hasOwn(node, key)) {
    return node[key];
  }
  throw new DecodeError('malformed type tags: path does not match the value');
}

function isPlainRecord(node: unknown): node is Record<string, unknown> {
  return typeof node === 'object' && node !== null && Object.getPrototypeOf(node) === Object.prototype;
}

const SPECIAL_NUMBERS: Record<string, number> = { NaN: Number.NaN, Infinity: Number.POSITIVE_INFINITY, '-Infinity': Number.NEGATIVE_INFINITY, '-0': -0 };
const INTEGER = /^-?\d+$/;

function revive(safe: unknown, name: unknown): unknown {
  switch (name) {
    case 'undef':
      if (safe === null) return undefined;
      break;
    case 'num':
      if (typeof safe === 'string' && Object.hasOwn(SPECIAL_NUMBERS, safe)) return SPECIAL_NUMBERS[safe];
      break;
    case 'date':
      if (safe === null) return new Date(Number.NaN);
      if (typeof safe === 'number') return new Date(safe);
      break;
    case 'big':
      if (typeof safe === 'string' && INTEGER.test(safe)) return BigInt(safe);
      break;
    case 'buf':
      if (typeof safe === 'string') return Buffer.from(safe, 'base64');
      break;
    case 'u8':
      // Copy into a Uint8Array that owns its memory (small Buffers are slices of a shared pool).
      if (typeof safe === 'string') return new Uint8Array(Buffer.from(safe, 'base64'));
      break;
    case 'map':
      if (isPairList(safe)) return new Map(safe);
      break;
    case 'set':
      if (Array.isArray(safe)) return new Set(safe);
      break;
    case 'obj':
      if (isPairList(safe) && safe.every(([key]) => typeof key === 'string')) {
        const o: Record<string, unknown> = {};
        // defineProperty so that a "__proto__" key becomes an own property instead of changing the prototype.
        for (const [key, value] of safe) Object.defineProperty(o, key as string, { value, writable: true, enumerable: true, configurable: true });
        return o;
      }
      break;
    case 'utf16':
      if (types.isUint8Array(safe) && safe.byteLength % 2 === 0) return asBuffer(safe).toString('utf16le');
      break;
    default:
      throw new DecodeError(`malformed type tags: unknown tag ${typeof name === 'string' ? JSON.stringify(name) : typeof name}`);
  }
  throw new DecodeError(`malformed type tags: tag "${name}" does not match the stored value`);
}

function isPairList(v: unknown): v is [unknown, unknown][] {
  return Array.isArray(v) && v.every((pair) => Array.isArray(pair) && pair.length === 2);
}

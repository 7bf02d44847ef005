/**
 * Test support for the argument-encoding tests: an independent reference equality, copies that keep
 * the value equal while changing everything the encoding must ignore, and value generators.
 */
import fc from 'fast-check';
import { prng } from '../../helpers/prng.js';

type Rng = () => number;

/** Small deterministic PRNG, so copies are reproducible from a fast-check seed. */
export const rngFrom: (seed: number) => Rng = prng;

function shuffle<T>(items: T[], rng: Rng): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    const t = items[i]!;
    items[i] = items[j]!;
    items[j] = t;
  }
  return items;
}

function unboxed(v: unknown): unknown {
  if (v instanceof Number || v instanceof String || v instanceof Boolean || v instanceof BigInt) return v.valueOf();
  return v;
}

function isPlainObject(v: object): boolean {
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** Kind of an object for equality purposes; Buffer counts as Uint8Array (documented decision). */
function kindOf(v: object): string {
  if (Array.isArray(v)) return 'array';
  if (v instanceof Date) return 'date';
  if (v instanceof Map) return 'map';
  if (v instanceof Set) return 'set';
  if (ArrayBuffer.isView(v)) return `view:${Object.prototype.toString.call(v)}`;
  if (v instanceof ArrayBuffer) return 'arraybuffer';
  if (isPlainObject(v)) return 'object';
  throw new Error(`reference equality does not handle ${Object.prototype.toString.call(v)}`);
}

function bytesOf(v: ArrayBufferView | ArrayBuffer): Uint8Array {
  return ArrayBuffer.isView(v) ? new Uint8Array(v.buffer, v.byteOffset, v.byteLength) : new Uint8Array(v);
}

/** Matches every element of `as` with a distinct equal element of `bs`; greedy is exact because `eq` is an equivalence. */
function sameMultiset<T>(as: T[], bs: T[], eq: (x: T, y: T) => boolean): boolean {
  if (as.length !== bs.length) return false;
  const used = new Array<boolean>(bs.length).fill(false);
  for (const x of as) {
    let found = false;
    for (let j = 0; j < bs.length; j++) {
      if (!used[j] && eq(x, bs[j]!)) {
        used[j] = true;
        found = true;
        break;
      }
    }
    if (!found) return false;
  }
  return true;
}

/**
 * Reference equality for cache-key purposes, written independently of the encoder: structural;
 * object keys, Map entries and Set elements unordered; -0 equals 0; NaN equals NaN; array holes equal
 * undefined; boxed primitives equal their primitive; byte containers compare kind and bytes.
 */
export function refEqual(a: unknown, b: unknown): boolean {
  a = unboxed(a);
  b = unboxed(b);
  if (typeof a !== typeof b) return false;
  if (typeof a === 'number') return a === b || (Number.isNaN(a) && Number.isNaN(b));
  if (typeof a !== 'object' || a === null || b === null) return a === b;
  const bo = b as object;
  const kind = kindOf(a);
  if (kind !== kindOf(bo)) return false;
  switch (kind) {
    case 'array': {
      const x = a as unknown[];
      const y = bo as unknown[];
      if (x.length !== y.length) return false;
      for (let i = 0; i < x.length; i++) if (!refEqual(x[i], y[i])) return false;
      return true;
    }
    case 'object': {
      const x = a as Record<string, unknown>;
      const y = bo as Record<string, unknown>;
      const kx = Object.keys(x);
      const ky = new Set(Object.keys(y));
      if (kx.length !== ky.size) return false;
      for (const k of kx) if (!ky.has(k) || !refEqual(x[k], y[k])) return false;
      return true;
    }
    case 'date': {
      const x = (a as Date).getTime();
      const y = (bo as Date).getTime();
      return x === y || (Number.isNaN(x) && Number.isNaN(y));
    }
    case 'map':
      return sameMultiset([...(a as Map<unknown, unknown>)], [...(bo as Map<unknown, unknown>)], (p, q) => refEqual(p[0], q[0]) && refEqual(p[1], q[1]));
    case 'set':
      return sameMultiset([...(a as Set<unknown>)], [...(bo as Set<unknown>)], refEqual);
    default: {
      const x = bytesOf(a as ArrayBufferView);
      const y = bytesOf(bo as ArrayBufferView);
      return x.length === y.length && x.every((byte, i) => byte === y[i]);
    }
  }
}

type TypedArrayCtor = new (buffer: ArrayBuffer, byteOffset: number, length: number) => ArrayBufferView & { length: number };

function copyView(v: ArrayBufferView, rng: Rng): ArrayBufferView {
  const bytes = bytesOf(v);
  if (v instanceof DataView) return new DataView(bytes.slice().buffer);
  if (v instanceof Uint8Array && Object.getPrototypeOf(v) !== Uint8ClampedArray.prototype && rng() < 0.5) {
    return rng() < 0.5 ? Buffer.from(bytes) : new Uint8Array(bytes);
  }
  // A view at an offset into a larger buffer: only the viewed bytes may count.
  const ctor = v.constructor as TypedArrayCtor & { BYTES_PER_ELEMENT: number };
  const backing = new Uint8Array(bytes.length + 16).fill(0xee);
  backing.set(bytes, 8);
  return new ctor(backing.buffer, 8, bytes.length / ctor.BYTES_PER_ELEMENT);
}

/**
 * Deep copy that must encode identically: object keys, Map entries and Set elements reshuffled,
 * 0/-0 swapped, holes filled with undefined or kept, boxed values unwrapped or boxed, Buffer and
 * Uint8Array swapped, typed arrays moved to an offset inside a larger buffer.
 */
export function equivalentCopy(v: unknown, rng: Rng, asMember = false): unknown {
  if (typeof v === 'number') return v === 0 ? (rng() < 0.5 ? 0 : -0) : v;
  if (typeof v !== 'object' || v === null) {
    // Boxing changes identity; a Map key or Set element keeps it so that members neither merge nor split.
    if (!asMember && (typeof v === 'string' || typeof v === 'bigint' || typeof v === 'boolean') && rng() < 0.1) return Object(v);
    return v;
  }
  if (v instanceof Number || v instanceof String || v instanceof Boolean || v instanceof BigInt) {
    return asMember || rng() < 0.5 ? Object(v.valueOf()) : v.valueOf();
  }
  if (Array.isArray(v)) {
    const out = new Array<unknown>(v.length);
    for (let i = 0; i < v.length; i++) {
      if (i in v) out[i] = equivalentCopy(v[i], rng);
      else if (rng() < 0.5) out[i] = undefined;
    }
    return out;
  }
  if (v instanceof Date) return new Date(v.getTime());
  if (v instanceof Map)
    return new Map(
      shuffle(
        [...v].map(([k, x]) => [equivalentCopy(k, rng, true), equivalentCopy(x, rng)] as const),
        rng,
      ),
    );
  if (v instanceof Set)
    return new Set(
      shuffle(
        [...v].map((x) => equivalentCopy(x, rng, true)),
        rng,
      ),
    );
  if (ArrayBuffer.isView(v)) return copyView(v, rng);
  if (v instanceof ArrayBuffer) return v.slice(0);
  const out: Record<string, unknown> = Object.getPrototypeOf(v) === null || rng() < 0.2 ? Object.create(null) : {};
  for (const k of shuffle(Object.keys(v), rng)) {
    // defineProperty so an own "__proto__" key stays an own data property.
    Object.defineProperty(out, k, { value: equivalentCopy((v as Record<string, unknown>)[k], rng), enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/**
 * Copy of `v` with one node (chosen by `target` in walk order) changed: replaced by `replacement`, or,
 * for containers, one key removed / an undefined-valued key added / an element appended or dropped.
 * Whether the result is still equal is left to {@link refEqual}.
 */
export function tweakedCopy(v: unknown, rng: Rng, target: number, replacement: unknown): unknown {
  let counter = 0;
  const walk = (x: unknown): unknown => {
    if (counter++ === target) return tweakNode(x, rng, replacement);
    if (typeof x !== 'object' || x === null) return x;
    if (Array.isArray(x)) return Array.from(x, walk);
    if (x instanceof Map) return new Map([...x].map(([k, y]) => [k, walk(y)] as const));
    if (x instanceof Set) return new Set([...x].map(walk));
    if (!isPlainObject(x)) return x;
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(x)) {
      Object.defineProperty(out, k, { value: walk((x as Record<string, unknown>)[k]), enumerable: true, writable: true, configurable: true });
    }
    return out;
  };
  return walk(v);
}

function tweakNode(x: unknown, rng: Rng, replacement: unknown): unknown {
  const r = rng();
  if (typeof x === 'object' && x !== null && r < 0.5) {
    if (Array.isArray(x)) return r < 0.25 ? [...x, undefined] : x.slice(0, -1);
    if (isPlainObject(x)) {
      const copy: Record<string, unknown> = { ...(x as Record<string, unknown>) };
      const keys = Object.keys(copy);
      if (r < 0.25 && keys.length > 0) delete copy[keys[0]!];
      else copy.zz = undefined;
      return copy;
    }
    if (x instanceof Map) return new Map([...x, [replacement, undefined]]);
    if (x instanceof Set) return new Set([...x, replacement]);
  }
  return replacement;
}

/** Tricky string units: grammar characters, digits, the hash prefix, non-ASCII, astral and lone surrogates. */
const trickyUnit = fc.constantFrom('a', 'b', 's', 'u', 'n', 'h', '1', '0', ';', ':', '(', ')', '<', '>', 'M', 'é', '😀', '\uD800', '\uDFFF', ' ');

const byteKinds = [
  'Buffer',
  'Uint8Array',
  'Uint8ClampedArray',
  'Int8Array',
  'Uint16Array',
  'Int32Array',
  'Float64Array',
  'BigInt64Array',
  'ArrayBuffer',
  'DataView',
] as const;

const viewCtors: Record<string, new (buffer: ArrayBuffer) => unknown> = {
  Uint8Array,
  Uint8ClampedArray,
  Int8Array,
  Uint16Array,
  Int32Array,
  Float64Array,
  BigInt64Array,
  DataView,
};

function makeBytes(kind: (typeof byteKinds)[number], raw: Uint8Array): unknown {
  const size = ({ Uint16Array: 2, Int32Array: 4, Float64Array: 8, BigInt64Array: 8 } as Record<string, number>)[kind] ?? 1;
  const bytes = raw.slice(0, raw.length - (raw.length % size));
  if (kind === 'Buffer') return Buffer.from(bytes);
  if (kind === 'ArrayBuffer') return bytes.buffer;
  return new viewCtors[kind]!(bytes.buffer);
}

/** Leaves from a deliberately small domain, so that generated pairs are often equal or nearly so. */
export const leafArb: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom<unknown>(
    undefined,
    null,
    true,
    false,
    0,
    -0,
    Number.NaN,
    1,
    -1,
    0.5,
    1e21,
    Number.POSITIVE_INFINITY,
    Number.NEGATIVE_INFINITY,
    '',
    '0',
    '1',
    'NaN',
    'u',
    'n',
    0n,
    1n,
    -1n,
  ),
  fc.integer({ min: -3, max: 3 }),
  fc.string({ unit: trickyUnit, maxLength: 3 }),
  fc.bigInt({ min: -3n, max: 3n }),
  fc.constantFrom(0, 1, -1, Number.NaN).map((t) => new Date(t)),
  fc.tuple(fc.constantFrom(...byteKinds), fc.uint8Array({ maxLength: 9, min: 0, max: 2 })).map(([kind, raw]) => makeBytes(kind, raw)),
  fc.constantFrom<unknown>('a', 1, 1n, true, 0).map((p) => Object(p)),
);

/** Nested values mixing every supported kind, small enough that equal pairs are common. */
export const valueArb: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leafArb,
    fc.array(tie('value'), { maxLength: 3 }),
    fc.sparseArray(tie('value'), { maxLength: 3 }),
    fc.dictionary(fc.string({ unit: trickyUnit, maxLength: 2 }), tie('value'), { maxKeys: 3 }),
    fc.dictionary(fc.constantFrom('a', 'b'), tie('value'), { maxKeys: 2, noNullPrototype: false }),
    fc.array(fc.tuple(tie('value'), tie('value')), { maxLength: 3 }).map((entries) => new Map(entries)),
    fc.array(tie('value'), { maxLength: 3 }).map((items) => new Set(items)),
  ),
})).value;

/** Argument tuples of 0–3 values from {@link valueArb}. */
export const argsArb: fc.Arbitrary<unknown[]> = fc.array(valueArb, { maxLength: 3 });

/** String unit covering all UTF-16 code units, lone surrogates included. */
export const anyCodeUnit: fc.Arbitrary<string> = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));

/** `fc.anything` with every option turned on. */
export const anythingArb: fc.Arbitrary<unknown> = fc.anything({
  maxDepth: 3,
  maxKeys: 4,
  withBoxedValues: true,
  withMap: true,
  withSet: true,
  withObjectString: true,
  withNullPrototype: true,
  withBigInt: true,
  withDate: true,
  withTypedArray: true,
  withSparseArray: true,
  stringUnit: fc.oneof(anyCodeUnit, fc.string({ unit: 'binary', minLength: 1, maxLength: 1 })),
});

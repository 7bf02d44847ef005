import type { Codec, CodecOption } from '../codec/index.js';
import { DEFAULT_COMPRESS_THRESHOLD, resolveByteCount, resolveCodec, resolveCompression } from '../codec/index.js';
import { type Duration, toMs } from '../duration.js';
import { InvalidOptionError } from '../errors.js';
import { checkJitter } from './jitter.js';
import { applyReadThrough, DEFAULT_READ_THROUGH, READ_THROUGH_KEYS, type ReadThroughOptions, type ResolvedReadThrough } from '../load/index.js';

/** Compression applied to encoded values at or above `compressThreshold` bytes. */
export type CompressionOption = 'deflate' | 'gzip' | 'brotli' | false;

/** Defaults of a region; every option is inherited from the parent region, then the trove. */
export interface RegionOptions extends ReadThroughOptions {
  /**
   * Hard expiry in Redis: milliseconds or a string like `'10m'`. `Infinity` stores without expiry.
   * @defaultValue `'1h'`
   */
  ttl?: Duration;
  /**
   * How long a value is served without recomputing in `getOrSet`; after it the value is stale
   * (but still present until `ttl`). Milliseconds or a string. Must not exceed `ttl`.
   * @defaultValue the `ttl` (values are fresh until they expire)
   */
  freshFor?: Duration;
  /**
   * Spreads expiries: each value written gets its `ttl` and `freshFor` shortened by one random
   * fraction of up to this much (a fraction from 0 up to, not including, 1; `0.1`: up to 10 %
   * sooner), so values written together (a warm-up, a deploy, a burst of misses) do not all go
   * stale and expire together and send their recomputations to the backend at once. Never
   * lengthens them. Applies to every write of the region, per-call `ttl` and `freshFor`
   * included, and to the expiry a sliding `refreshTtlOnHit` pushes back.
   * @defaultValue `0` (every value lives exactly its `ttl`)
   */
  jitter?: number;
  /**
   * How values are serialized: `'json'` (safe; Date, BigInt, Map, Set, undefined round-trip or are
   * rejected), `'msgpack'`, `'v8'`, or a custom `{ name, encode, decode }`.
   * @defaultValue `'json'`
   */
  codec?: CodecOption;
  /**
   * Compression for large values: `'deflate'`, `'gzip'`, `'brotli'` or `false`.
   * @defaultValue `false`
   */
  compression?: CompressionOption;
  /**
   * Smallest encoded size, in bytes, that gets compressed (when `compression` is set and the result is smaller).
   * @defaultValue `1024`
   */
  compressThreshold?: number;
  /**
   * Store only the codec's payload, without Trove's envelope, so other languages can read it
   * (with `'json'`, plain JSON text). No freshness deadline or compression is stored in raw mode,
   * so `freshFor` is rejected (`InvalidOptionError`) where both apply to a region, or per call.
   * @defaultValue `false`
   */
  raw?: boolean;
  /**
   * Largest encoded value, in bytes, that is stored; a larger one throws `ValueTooLargeError` from
   * `set` (and is returned uncached, with an `error` event, from `getOrSet`).
   * @defaultValue `8 MiB` (8,388,608)
   */
  maxValueBytes?: number;
  /**
   * Keep this region's values in the near cache (the in-process tier), when the trove has one.
   * Turn it off for values that change too often to be worth tracking, or that are huge.
   * @defaultValue `true`
   */
  nearCache?: boolean;
  /**
   * How entries are kept in Redis. `'string'`: one key per entry. `'hash'`: entries are fields of
   * Redis hashes ("buckets", `hashBuckets` of them, chosen by a hash of the key), which Redis
   * stores in its compact encoding while small: about a sixth of the memory for small values (see
   * the README's "Compact storage"). Every region operation behaves the same; a write drops the
   * near-cache copies of the other entries of its bucket in every process.
   * @defaultValue `'string'`
   */
  storage?: StorageOption;
  /**
   * Buckets of a `storage: 'hash'` region: a power of two from 1 to 65,536. Redis keeps a bucket
   * compact up to 128 fields (`hash-max-listpack-entries`), so about 64 entries per bucket is the
   * target: regions of up to ~64 × this many entries stay compact. Part of every bucket key, so
   * processes configured differently never read each other's buckets; changing it starts the
   * region afresh, like an invalidation.
   * @defaultValue `1024`
   */
  hashBuckets?: number;
  /**
   * How the entries of a `storage: 'hash'` region expire on Redis 7.4+, which can expire a hash's
   * fields one by one. `'redis'`: each field also gets its own expiry (HPEXPIRE), and Redis
   * reclaims it on time, at about 12 B more per entry (~43 B instead of ~31 B for a small one).
   * `'lazy'`: no field expiry, as before 7.4: an entry past the expiry its envelope records reads
   * as a miss and is deleted when read, by `trove.sweep()`, or with its bucket. Before 7.4 both
   * behave as `'lazy'`; string storage ignores it.
   * @defaultValue `'redis'`
   */
  hashFieldExpiry?: HashFieldExpiryOption;
}

/** How a region keeps its entries in Redis (see `RegionOptions.storage`). */
export type StorageOption = 'string' | 'hash';

/** How the entries of a hash-storage region expire on Redis 7.4+ (see `RegionOptions.hashFieldExpiry`). */
export type HashFieldExpiryOption = 'redis' | 'lazy';

/** Region options after validation, with every default applied. */
export interface ResolvedRegionOptions {
  /** Hard expiry of entries, in ms (`Infinity`: none). */
  ttlMs: number;
  /** How long an entry is served without recomputing, in ms (equal to `ttlMs` when `freshFor` is not set). */
  freshForMs: number;
  /** The largest fraction each write's ttl and freshFor are shortened by, at random (0: none). */
  jitter: number;
  /** The codec entries are encoded with. */
  codec: Codec;
  /** Compression of encoded values at or above `compressThreshold` bytes (`false`: none). */
  compression: CompressionOption;
  /** Smallest encoded size that gets compressed, in bytes. */
  compressThreshold: number;
  /** Whether entries are stored as the bare payload, without an envelope. */
  raw: boolean;
  /** Largest encoded value accepted, in bytes. */
  maxValueBytes: number;
  /** Whether entries of this region are kept in the near cache. */
  nearCache: boolean;
  /** How entries are kept in Redis: one key each, or as fields of `hashBuckets` hashes. */
  storage: StorageOption;
  /** Buckets of a hash-storage region. */
  hashBuckets: number;
  /** Whether a hash-storage region's fields get their own expiry where Redis can (7.4+). */
  hashFieldExpiry: HashFieldExpiryOption;
  /** The read-through options in effect, durations in ms. */
  readThrough: ResolvedReadThrough;
}

export const DEFAULT_REGION_OPTIONS: Readonly<Required<Pick<RegionOptions, 'ttl' | 'codec' | 'compression' | 'compressThreshold' | 'raw' | 'maxValueBytes'>>> =
  {
    ttl: '1h',
    codec: 'json',
    compression: false,
    compressThreshold: DEFAULT_COMPRESS_THRESHOLD,
    raw: false,
    maxValueBytes: 8 * 1024 * 1024,
  };

/** Buckets of a hash-storage region by default: compact up to ~64k entries. */
export const DEFAULT_HASH_BUCKETS = 1024;

const KNOWN = new Set<string>([
  'ttl',
  'freshFor',
  'jitter',
  'codec',
  'compression',
  'compressThreshold',
  'raw',
  'maxValueBytes',
  'nearCache',
  'storage',
  'hashBuckets',
  'hashFieldExpiry',
  ...READ_THROUGH_KEYS,
]);

/** Validates one layer of options (so a bad option is reported where it was given). */
export function checkRegionOptions(opts: RegionOptions | undefined, where: string): void {
  if (opts === undefined) return;
  if (typeof opts !== 'object' || opts === null) throw new InvalidOptionError(where, 'expected an options object');
  for (const k of Object.keys(opts)) {
    if (!KNOWN.has(k)) throw new InvalidOptionError(`${prefix(where)}${k}`, 'unknown option');
  }
  const p = prefix(where);
  if (opts.ttl !== undefined) toMs(opts.ttl, `${p}ttl`, { allowInfinite: true });
  if (opts.freshFor !== undefined) toMs(opts.freshFor, `${p}freshFor`, { allowZero: true, allowInfinite: true });
  if (opts.jitter !== undefined) checkJitter(opts.jitter, `${p}jitter`);
  if (opts.codec !== undefined) resolveCodec(opts.codec, `${p}codec`, opts.raw ?? false);
  // Compression and byte counts are the codec's options: it owns their validation.
  resolveCompression(opts.compression, `${p}compression`);
  resolveByteCount(opts.compressThreshold, `${p}compressThreshold`, DEFAULT_COMPRESS_THRESHOLD);
  if (opts.raw !== undefined && typeof opts.raw !== 'boolean') throw new InvalidOptionError(`${p}raw`, 'expected a boolean');
  if (opts.nearCache !== undefined && typeof opts.nearCache !== 'boolean') throw new InvalidOptionError(`${p}nearCache`, 'expected a boolean');
  if (opts.storage !== undefined && opts.storage !== 'string' && opts.storage !== 'hash') {
    throw new InvalidOptionError(`${p}storage`, `expected 'string' or 'hash' (got ${JSON.stringify(opts.storage)})`);
  }
  if (opts.hashBuckets !== undefined) {
    const n = opts.hashBuckets;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 65_536 || (n & (n - 1)) !== 0) {
      throw new InvalidOptionError(`${p}hashBuckets`, `expected a power of two from 1 to 65536 (got ${String(n)})`);
    }
  }
  if (opts.hashFieldExpiry !== undefined && opts.hashFieldExpiry !== 'redis' && opts.hashFieldExpiry !== 'lazy') {
    throw new InvalidOptionError(`${p}hashFieldExpiry`, `expected 'redis' or 'lazy' (got ${JSON.stringify(opts.hashFieldExpiry)})`);
  }
  resolveByteCount(opts.maxValueBytes, `${p}maxValueBytes`, DEFAULT_REGION_OPTIONS.maxValueBytes, false);
  applyReadThrough(DEFAULT_READ_THROUGH, opts, where);
}

/** Merges option layers (outermost first) and resolves them. */
export function resolveRegionOptions(layers: readonly (RegionOptions | undefined)[], where: string): ResolvedRegionOptions {
  const merged: RegionOptions = { ...DEFAULT_REGION_OPTIONS };
  let freshFor: Duration | undefined;
  let readThrough = DEFAULT_READ_THROUGH;
  for (const layer of layers) {
    if (!layer) continue;
    readThrough = applyReadThrough(readThrough, layer, where);
    for (const [k, v] of Object.entries(layer)) if (v !== undefined) (merged as Record<string, unknown>)[k] = v;
    // A layer that sets ttl without freshFor resets freshFor to "fresh until expiry".
    if (layer.freshFor !== undefined) freshFor = layer.freshFor;
    else if (layer.ttl !== undefined) freshFor = undefined;
  }
  const p = prefix(where);
  const ttlMs = toMs(merged.ttl!, `${p}ttl`, { allowInfinite: true });
  const freshForMs = freshFor === undefined ? ttlMs : toMs(freshFor, `${p}freshFor`, { allowZero: true, allowInfinite: true });
  if (freshForMs > ttlMs) throw new InvalidOptionError(`${p}freshFor`, `must not exceed ttl (${freshForMs} ms > ${ttlMs} ms)`);
  const raw = merged.raw!;
  // A raw entry is just the payload: there is no room for a freshness deadline, so freshFor would
  // be silently ignored (every value fresh until ttl). Said at whichever layer it came from.
  if (raw && freshFor !== undefined) throw new InvalidOptionError(`${p}freshFor`, RAW_FRESH_FOR);
  return {
    ttlMs,
    freshForMs,
    jitter: merged.jitter ?? 0,
    codec: resolveCodec(merged.codec, `${p}codec`, raw),
    compression: merged.compression!,
    compressThreshold: merged.compressThreshold!,
    raw,
    maxValueBytes: merged.maxValueBytes!,
    nearCache: merged.nearCache ?? true,
    storage: merged.storage ?? 'string',
    hashBuckets: merged.hashBuckets ?? DEFAULT_HASH_BUCKETS,
    hashFieldExpiry: merged.hashFieldExpiry ?? 'redis',
    readThrough,
  };
}

/** Why `freshFor` is rejected with `raw` (at region level and per call). */
export const RAW_FRESH_FOR =
  'cannot be used with raw: true (a raw entry stores no freshness deadline); remove freshFor, or set ttl on the raw region, which resets an inherited freshFor';

/** Per-call write options. */
export interface WriteOptions {
  /**
   * Hard expiry for this value (overrides the region's `ttl`). Milliseconds or a string like `'10m'`; `Infinity` for none.
   * @defaultValue the region's `ttl`
   */
  ttl?: Duration;
  /**
   * Freshness for this value (overrides the region's `freshFor`), in milliseconds or a string. Must not exceed the ttl.
   * With only `ttl` given, the region's `freshFor` capped by that ttl.
   * @defaultValue the region's `freshFor`
   */
  freshFor?: Duration;
}

/** Resolves per-call ttl/freshFor over the region's. */
export function resolveWrite(region: ResolvedRegionOptions, opts: WriteOptions | undefined): { ttlMs: number; freshForMs: number } {
  if (!opts || (opts.ttl === undefined && opts.freshFor === undefined)) return { ttlMs: region.ttlMs, freshForMs: region.freshForMs };
  const ttlMs = opts.ttl === undefined ? region.ttlMs : callDuration(opts.ttl, 'ttl');
  let freshForMs: number;
  if (opts.freshFor !== undefined) freshForMs = callDuration(opts.freshFor, 'freshFor');
  else freshForMs = opts.ttl === undefined ? region.freshForMs : Math.min(region.freshForMs === region.ttlMs ? ttlMs : region.freshForMs, ttlMs);
  if (freshForMs > ttlMs) throw new InvalidOptionError('freshFor', `must not exceed ttl (${freshForMs} ms > ${ttlMs} ms)`);
  return { ttlMs, freshForMs };
}

/**
 * Per-call durations by their text. Per-call options are validated on every call that passes a
 * new options object (`getOrSet(k, f, { ttl: '10m' })`), hits included: parsing '10m' costs
 * ~0.2 µs, a lookup ~20 ns. Bounded: cleared past 1,000 distinct strings. Only valid texts are kept.
 */
const parsedDurations = { ttl: new Map<string, number>(), freshFor: new Map<string, number>() };

function callDuration(value: Duration, option: 'ttl' | 'freshFor'): number {
  if (typeof value !== 'string') return toMs(value, option, { allowZero: option === 'freshFor', allowInfinite: true });
  const memo = parsedDurations[option];
  let ms = memo.get(value);
  if (ms === undefined) {
    ms = toMs(value, option, { allowZero: option === 'freshFor', allowInfinite: true });
    if (memo.size >= 1000) memo.clear();
    memo.set(value, ms);
  }
  return ms;
}

function prefix(where: string): string {
  return where === '' ? '' : `${where}.`;
}

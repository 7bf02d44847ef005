/**
 * Validation of per-call options (`getOrSet`, `set`, `setMany`, batch writes), held to the same
 * standard as region options: an unknown name throws `InvalidOptionError` naming it (so `tag`
 * for `tags` does not pass silently), and a bad value throws before anything runs, where it used
 * to surface after the factory (an `error` event, the value answered uncached and recomputed on
 * every call).
 *
 * Cost: getOrSet's near-cache fast path (no options object) never comes here. With options, a
 * call pays a check of the names present and their values (~0.1 µs for `{ ttl: '10m', onCold }`:
 * duration texts are parsed once, see `resolveWrite`). The options object last checked is
 * remembered with the region options it was checked against, so a hoisted object used in a loop
 * (as `cached()` passes on every call) costs one comparison. Not a WeakMap/WeakSet of every object
 * seen: inserting a fresh inline object into one cost ~1 µs per call (measured), as much as the
 * whole hit on the embedded store. An options object mutated after it was checked may not be
 * checked again; a bad duration then still throws where it is parsed, as before.
 */
import { InvalidOptionError } from '../errors.js';
import { applyReadThrough, READ_THROUGH_KEYS, type ResolvedReadThrough } from '../load/index.js';
import { RAW_FRESH_FOR, type ResolvedRegionOptions, resolveWrite } from './options.js';
import type { GetOrSetOptions, SetOptions } from './region.js';
import { checkTags } from './tag-tokens.js';

/** Every option name of `getOrSet`. */
const KNOWN = new Set<string>(['ttl', 'freshFor', 'tags', 'refreshTtlOnHit', 'shouldCache', 'signal', ...READ_THROUGH_KEYS]);

/** The option names of `set`, `setMany` and batch writes: a read-through option there would do nothing, so it is a mistake. */
const WRITE_KNOWN = new Set<string>(['ttl', 'freshFor', 'tags']);

/** The options object checked last, the region options it was checked against, and its read-through result there. */
let lastOpts: object | undefined;
let lastRegion: ResolvedRegionOptions | undefined;
let lastRt: ResolvedReadThrough | undefined;
/** Likewise for writes, apart: an object checked as getOrSet options may hold names a write refuses. */
let lastWriteOpts: object | undefined;
let lastWriteRegion: ResolvedRegionOptions | undefined;

/**
 * Checks per-call options against a region's options; returns the read-through options in
 * effect for the call. Throws `InvalidOptionError` naming the offending option.
 */
export function checkCallOptions(opts: GetOrSetOptions | undefined, region: ResolvedRegionOptions): ResolvedReadThrough {
  if (opts === undefined) return region.readThrough;
  if (opts === lastOpts && region === lastRegion) return lastRt!;
  checkShape(opts, KNOWN);
  if (region.raw && opts.freshFor !== undefined) throw new InvalidOptionError('freshFor', RAW_FRESH_FOR);
  // ttl and freshFor against each other and against the region's (freshFor must not exceed ttl).
  resolveWrite(region, opts);
  const rt = hasReadThrough(opts) ? applyReadThrough(region.readThrough, opts, '') : region.readThrough;
  lastOpts = opts;
  lastRegion = region;
  lastRt = rt;
  return rt;
}

/** Checks the options of a write (`set`, `setMany`, a batch's `set`): names and values, as for getOrSet. */
export function checkWriteOptions(opts: SetOptions, region: ResolvedRegionOptions): void {
  if (opts === lastWriteOpts && region === lastWriteRegion) return;
  checkShape(opts, WRITE_KNOWN);
  if (region.raw && opts.freshFor !== undefined) throw new InvalidOptionError('freshFor', RAW_FRESH_FOR);
  resolveWrite(region, opts);
  lastWriteOpts = opts;
  lastWriteRegion = region;
}

function checkShape(opts: object, known: ReadonlySet<string>): void {
  if (typeof opts !== 'object' || opts === null || Array.isArray(opts)) {
    throw new InvalidOptionError('options', `expected an options object, got ${opts === null ? 'null' : Array.isArray(opts) ? 'an array' : typeof opts}`);
  }
  for (const name of Object.keys(opts)) {
    if (!known.has(name)) throw new InvalidOptionError(name, KNOWN.has(name) ? 'a read-through option, accepted by getOrSet only' : 'unknown option');
  }
  const o = opts as GetOrSetOptions;
  if (o.tags !== undefined) checkTags(o.tags);
  if (o.refreshTtlOnHit !== undefined && typeof o.refreshTtlOnHit !== 'boolean') throw new InvalidOptionError('refreshTtlOnHit', 'expected a boolean');
  if (o.shouldCache !== undefined && typeof o.shouldCache !== 'function') throw new InvalidOptionError('shouldCache', 'expected a function');
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) throw new InvalidOptionError('signal', 'expected an AbortSignal');
  // Durations and read-through values are parsed against the region's options, in checkCallOptions.
}

function hasReadThrough(opts: GetOrSetOptions): boolean {
  for (const name of READ_THROUGH_KEYS) if (opts[name] !== undefined) return true;
  return false;
}

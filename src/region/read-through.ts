import type { TagStamp } from '../codec/index.js';
import { InvalidOptionError, StoreError } from '../errors.js';
import type { EntryAccess, FactoryOverrides, ResolvedReadThrough } from '../load/index.js';
import { untilAborted } from './abortable.js';
import { checkCallOptions } from './call-options.js';
import { live } from './entry-decoding.js';
import { encodeValue } from './entry-encoding.js';
import { emitCompute, emitError, emitHit, emitMiss, emitSet, emitStale, readStarted } from './event-emission.js';
import { jittered } from './jitter.js';
import { checkKey } from './key-base.js';
import { fastNearAnswer, fastNearHit, handOut, keptHit, nearFor, nearHit, storeAnswered } from './near-fast-path.js';
import { asOperation } from './operation-errors.js';
import { resolveWrite } from './options.js';
import { keptAfterError, readEntry } from './read-path.js';
import type { Factory, GetOrSetOptions, Key } from './region.js';
import type { RegionCore } from './region-core.js';
import { checkTags } from './tag-tokens.js';
import { sharedLater } from './value-sharing.js';
import { beginWrite, endWrite } from './write-tickets.js';

/*
 * getOrSet: the region's side of read-through. The region reads (near cache, then store) and
 * hands misses, stale values and eager refreshes to the trove's Loader, which computes and stores
 * through the region's EntryAccess.
 */

/** Write options with the tag stamps captured when the computation started. */
export type StampedWrite = GetOrSetOptions & { stamps?: readonly TagStamp[] };

export function getOrSet<T>(core: RegionCore, key: Key, factory: Factory<T>, opts: GetOrSetOptions | undefined): Promise<T> {
  if (opts === undefined) {
    // The common call, a near hit most of the time: nothing more on its way than before.
    if (typeof factory === 'function') {
      const answer = fastNearAnswer<T>(core, key);
      if (answer !== undefined) return answer;
    }
    return readOrCompute(core, key, factory, opts);
  }
  // A signal that is not an AbortSignal, or options that are not an object (null from a JS
  // caller), are refused by the option check on the general path.
  const signal = opts?.signal;
  if (signal instanceof AbortSignal) {
    // Aborted already: nothing starts (as `fetch` and Node's own APIs do).
    if (signal.aborted) return Promise.reject(signal.reason);
    return untilAborted(signal, withOptions(core, key, factory, opts));
  }
  return withOptions(core, key, factory, opts);
}

/** `getOrSet` with options, without their signal. */
function withOptions<T>(core: RegionCore, key: Key, factory: Factory<T>, opts: GetOrSetOptions): Promise<T> {
  if (typeof factory === 'function' && answersHitUnchanged(opts)) {
    const fast = fastNearHit(core, key);
    if (fast !== undefined) {
      // Options only shape a write, which a fresh hit does not make; still checked, so a bad one
      // is refused on a hit as on a miss.
      try {
        checkCallOptions(opts, core.options);
      } catch (err) {
        return Promise.reject(err);
      }
      return core.ctx.near!.answer(fast) as Promise<T>;
    }
  }
  return readOrCompute(core, key, factory, opts);
}

/** getOrSet past the fast near hit: checks its arguments, then reads (near cache, store) and computes on a miss. */
function readOrCompute<T>(core: RegionCore, key: Key, factory: Factory<T>, opts: GetOrSetOptions | undefined): Promise<T> {
  let k: string;
  let rt: ResolvedReadThrough;
  try {
    k = checkKey(key);
    core.ctx.assertOpen();
    if (typeof factory !== 'function') throw new InvalidOptionError('factory', 'getOrSet needs a function');
    rt = readThroughFor(core, opts);
  } catch (err) {
    return Promise.reject(err);
  }
  if (core.ctx.bypassed()) return core.ctx.loader.uncached(job(core, k, k, factory, opts, rt));
  const started = readStarted(core);
  const base = core.keyBase.now();
  // Values answered here may be the near cache's shared copy, or become it (see value-sharing.ts).
  if (base === undefined || opts?.tags !== undefined) return sharedLater(core, getOrSetSlow(core, k, factory, opts, rt, started));
  return sharedLater(core, readThrough(core, k, base + k + core.keyBase.tail, factory, opts, rt, started));
}

/**
 * Whether a fresh near hit answers the same with these options as without: true unless they ask
 * something of a hit (sliding expiry, an early refresh). Tags, TTLs, freshness and the lock
 * options only matter when the value is computed and written.
 */
function answersHitUnchanged(opts: GetOrSetOptions): boolean {
  // Anything but an object (a caller's mistake) takes the general path, which refuses it.
  return typeof opts === 'object' && opts !== null && opts.refreshTtlOnHit !== true && opts.eagerRefresh === undefined;
}

/** getOrSet when the generations are not read yet, or tags must be stamped before the key is fixed. */
async function getOrSetSlow<T>(
  core: RegionCore,
  k: string,
  factory: Factory<T>,
  opts: GetOrSetOptions | undefined,
  rt: ResolvedReadThrough,
  started: number,
): Promise<T> {
  let base: string;
  let write: StampedWrite | undefined = opts;
  try {
    base = await core.keyBase.load('getOrSet');
    // Stamps are taken before the read, so a value computed from data older than an
    // invalidation of its tags carries the old tokens and is never served after it.
    if (opts?.tags !== undefined) write = { ...opts, stamps: await asOperation('getOrSet', 'the tags could not be read', core.ctx.tags.stamp(opts.tags)) };
  } catch (err) {
    if (!(err instanceof StoreError)) throw err;
    // Reported as the read step of getOrSet, like a failed read of the entry itself.
    emitError(core, err, 'get', k);
    const full = core.keyBase.keyOf(k);
    const kept = core.keyBase.now() === undefined ? undefined : keptHit(core, k, full, started);
    if (kept !== undefined) return handOut(core.ctx.near!, kept.value) as T;
    emitMiss(core, k, started);
    return core.ctx.loader.direct(job(core, k, full, factory, opts, rt));
  }
  return readThrough(core, k, base + k + core.keyBase.tail, factory, write, rt, started);
}

function readThrough<T>(
  core: RegionCore,
  k: string,
  full: string,
  factory: Factory<T>,
  write: StampedWrite | undefined,
  rt: ResolvedReadThrough,
  started: number,
): Promise<T> {
  const near = nearFor(core);
  if (near !== undefined) {
    const local = nearHit(core, near, full);
    if (local !== undefined) {
      const value = afterRead(core, k, full, factory, write, rt, started, local, 'near');
      return value instanceof Promise ? value : Promise.resolve(handOut(near, value) as T);
    }
  }
  if (core.reads.mostlyMiss) {
    const j = job(core, k, full, factory, write, rt);
    if (core.ctx.loader.readsFirst(j)) return readOrMiss(core, j, started);
  }
  // Strict: a tag check that timed out must not look like a miss, which would take the lock and
  // wait out a second deadline; the error branch computes directly instead.
  return readEntry(
    core,
    near,
    k,
    full,
    'getOrSet',
    true,
    (entry, bytes) => afterRead(core, k, full, factory, write, rt, started, entry, 'store', bytes),
    (err: unknown) => readFailed<T>(core, job(core, k, full, factory, write, rt), started, err),
  );
}

/**
 * readThrough where the region's reads mostly miss: the read and the lock attempt go as one step
 * (see `Loader.readOrMiss`). A value that was present is decoded and answered as a read's; it is
 * not kept in the near cache (the step's read is not tracked).
 */
function readOrMiss<T>(core: RegionCore, j: ReadThroughJob<T>, started: number): Promise<T> {
  const { key: k, full, factory, write, rt } = j;
  const failed = (err: unknown) => readFailed<T>(core, j, started, err);
  return core.ctx.loader.readOrMiss<T, StampedWrite>(
    j,
    (bytes) => {
      storeAnswered(core, full);
      // Strict, as in readThrough.
      const entry = live(core, k, bytes, 'getOrSet', true);
      if (!(entry instanceof Promise)) return afterRead(core, k, full, factory, write, rt, started, entry, 'store');
      return entry.then((e) => afterRead(core, k, full, factory, write, rt, started, e, 'store'), failed);
    },
    () => {
      storeAnswered(core, full);
      core.reads.record(true);
      emitMiss(core, k, started);
    },
    failed,
  );
}

/** The store failed getOrSet's read: an entry kept through the outage is answered, else the value is computed here. */
function readFailed<T>(core: RegionCore, j: ReadThroughJob<T>, started: number, err: unknown): T | Promise<T> {
  // Redis is unreachable: an entry kept through the outage is answered instead of computing.
  const kept = keptAfterError(core, err, 'get', j.key, j.full, started);
  if (kept !== undefined) return handOut(core.ctx.near!, kept.value) as T;
  // The store just failed this read; a write now would most likely wait out a second deadline.
  return core.ctx.loader.direct(j);
}

/** A read's outcome handed on: a miss to the loader, a fresh hit answered (and maybe refreshed early), a stale one to the loader. */
function afterRead<T>(
  core: RegionCore,
  k: string,
  full: string,
  factory: Factory<T>,
  write: StampedWrite | undefined,
  rt: ResolvedReadThrough,
  started: number,
  entry: { value: unknown; freshUntil: number | undefined } | undefined,
  tier: 'near' | 'store',
  bytes?: Buffer,
): T | Promise<T> {
  if (tier === 'store') core.reads.record(entry === undefined);
  if (entry === undefined) {
    emitMiss(core, k, started);
    return core.ctx.loader.miss(job(core, k, full, factory, write, rt, bytes));
  }
  emitHit(core, k, started, entry, tier);
  if (entry.freshUntil === undefined || entry.freshUntil > Date.now()) {
    if (write?.refreshTtlOnHit) touch(core, k, full, write);
    if (rt.eagerRefresh !== undefined) core.ctx.loader.eager(job(core, k, full, factory, write, rt), entry);
    return entry.value as T;
  }
  return core.ctx.loader.stale(job(core, k, full, factory, write, rt), entry);
}

/** The read-through options of a call, after validating all its options (see call-options.ts). */
function readThroughFor(core: RegionCore, opts: GetOrSetOptions | undefined): ResolvedReadThrough {
  return opts === undefined ? core.options.readThrough : checkCallOptions(opts, core.options);
}

/** What the loader needs of one getOrSet call. */
type ReadThroughJob<T> = ReturnType<typeof job<T>>;

/** A call's computation as the loader runs it; `readBytes`: what its read found and could not use (see `EntryAccess.fromBytes`). */
function job<T>(core: RegionCore, k: string, full: string, factory: Factory<T>, write: StampedWrite | undefined, rt: ResolvedReadThrough, readBytes?: Buffer) {
  return { key: k, full, factory, write, rt, access: core.access, readBytes };
}

/** How the loader reads, writes and reports for a region. */
export function entryAccess(core: RegionCore): EntryAccess<StampedWrite> {
  const access: EntryAccess<StampedWrite> = {
    read: (full, k) => core.entries.get(full, false).then((buf) => (buf === null ? undefined : access.fromBytes(k, buf))),
    // Strict, unlike a plain read: a tag check the store fails rejects, so the loader stops waiting on the store.
    fromBytes: (k, bytes, reported) => Promise.resolve(live(core, k, bytes, 'getOrSet', true, reported?.equals(bytes) === true)),
    encode: (value, write, freshForMs) => {
      const options = core.options;
      if (freshForMs === undefined) return encodeValue(value, options, write, write?.stamps);
      // Fail-safe: keep the value alive at least as long as it is to be served.
      const { ttlMs } = resolveWrite(options, write);
      return encodeValue(value, options, { ttl: Math.max(ttlMs, freshForMs), freshFor: freshForMs }, write?.stamps);
    },
    store: (full, bytes, ttlMs, track) => core.entries.set(full, bytes, Number.isFinite(ttlMs) ? ttlMs : undefined, track),
    beginWrite: (full) => beginWrite(core, full),
    endWrite: (full, ticket, written) => endWrite(core, full, ticket, written),
    freshForMs: (write) => resolveWrite(core.options, write).freshForMs,
    shouldCache: (value, write) => !write?.shouldCache || write.shouldCache(value),
    region: core.path,
    function: core.fn,
    checkTags,
    tagClock: () => core.ctx.tags.clock,
    adapt: (write, overrides, since) => adaptWrite(core, write, overrides, since),
    meanComputeMs: () => meanComputeMs(core),
    onSet: (k, bytes, ttlMs, startedAt) => emitSet(core, k, bytes, ttlMs, startedAt),
    onCompute: (k, durationMs, failed) => emitCompute(core, k, durationMs, failed),
    onStale: (k, reason) => emitStale(core, k, reason),
    onError: (err, operation, k) => emitError(core, err, operation, k),
    get locks() {
      return core.entries.locks;
    },
    // Raw payloads may start with any byte, so a marker could not be told from one; buckets keep
    // their locks. Values the near cache keeps are written tracked, and the claim's own write would
    // be announced too (when a read of the miss had tracked the key), an invalidation the near
    // cache cannot tell from another process's change: it would drop the computed value.
    get claimable() {
      return !core.options.raw && core.entries.locks === undefined && !(core.ctx.near !== undefined && core.options.nearCache);
    },
  };
  return access;
}

/**
 * The write options of a computed value with what its factory set: ttl and freshFor replace the
 * call's, tags add to them and are stamped now. Undefined (do not store) when one of those tags
 * was invalidated after the computation started, as far as this process knows.
 */
async function adaptWrite(core: RegionCore, write: StampedWrite | undefined, o: FactoryOverrides, since: number): Promise<StampedWrite | undefined> {
  const out: StampedWrite = { ...write };
  if (o.ttlMs !== undefined) {
    out.ttl = o.ttlMs;
    // A freshFor of the call is kept only when the factory sets none: resolveWrite caps the region's by the new ttl.
    if (o.freshForMs === undefined && write?.freshFor === undefined) delete out.freshFor;
  }
  if (o.freshForMs !== undefined) out.freshFor = o.freshForMs;
  if (o.tags !== undefined) {
    const stamps = await asOperation('getOrSet', 'the tags could not be read', core.ctx.tags.stamp(o.tags));
    if (core.ctx.tags.changedSince(o.tags, since)) return undefined;
    const known = new Set((write?.stamps ?? []).map(([t]) => t));
    out.tags = [...(write?.tags ?? []), ...o.tags];
    out.stamps = [...(write?.stamps ?? []), ...stamps.filter(([t]) => !known.has(t))];
  }
  return out;
}

/** Mean factory time of this region or cached function in this process (runs that failed included), in ms. */
function meanComputeMs(core: RegionCore): number | undefined {
  const summary = core.stats?.computeSummary();
  return summary === undefined || summary.count === 0 ? undefined : summary.meanMs;
}

/** Sliding expiry: resets the hard expiry of an entry that was just read. */
function touch(core: RegionCore, k: string, full: string, opts: GetOrSetOptions): void {
  const { ttlMs } = jittered(resolveWrite(core.options, opts), core.options.jitter);
  if (!Number.isFinite(ttlMs)) return;
  // A TTL change is announced like a write: a local copy must expect it, or it would drop itself.
  const near = nearFor(core);
  // Hash storage: Redis announces the bucket, not the entry; its writes are untracked (see hash-storage.ts).
  const ticket = near === undefined || core.options.storage === 'hash' ? -1 : near.expectOwnChange(full);
  core.entries.expire(full, ttlMs, ticket !== -1).catch((err: unknown) => {
    near?.ownChangeFailed(full, ticket);
    emitError(core, err, 'refreshTtlOnHit', k);
  });
}

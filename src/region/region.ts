import type { FactoryContext, ReadThroughOptions } from '../load/index.js';
import type { RegionOptions, ResolvedRegionOptions, WriteOptions } from './options.js';

/** A user key: a string (numbers are converted with `String`). */
export type Key = string | number;

/** Options of `set`, `setMany` and batch writes: ttl, freshness and tags. */
export interface SetOptions extends WriteOptions {
  /** Tags of the entry: `trove.invalidateTags([tag])` invalidates every entry carrying it, in any region. @defaultValue none */
  tags?: readonly string[];
}

/**
 * Options of `getOrSet`: write options, read-through options (overriding the region's), and these.
 * `T` is the factory's value type.
 */
export interface GetOrSetOptions<T = unknown> extends SetOptions, ReadThroughOptions {
  /** On a hit, push the hard expiry back to a full `ttl` (sliding expiry; one extra pipelined command). @defaultValue `false` */
  refreshTtlOnHit?: boolean;
  /**
   * Return false to answer a computed value without storing it (e.g. an empty result); receives
   * the factory's value. The factory can decide as well, with `ctx.skip()`.
   * @defaultValue store everything
   */
  shouldCache?: (value: T) => boolean;
  /**
   * Stops this call's wait: once the signal aborts, the call rejects with its reason (an
   * `AbortError` unless `abort(reason)` gave one), at once; a signal aborted already rejects
   * before anything runs. The computation the call started or joined goes on for the process's
   * other callers and is stored as usual (its factory's `ctx.signal` is not aborted), and so does
   * a wait for another process's value. Hits answer as without it.
   * @defaultValue none (the call waits for its value, within `waitTimeout` and `hardTimeout`)
   */
  signal?: AbortSignal;
}

/**
 * A computation whose result is cached. It receives its context: `ctx.setTtl`, `ctx.setFreshFor`,
 * `ctx.setTags`, `ctx.skip()`, the previous value `ctx.stale` (typed `S`: the region's value type
 * in `getOrSet`, so that `T` is inferred from what the factory returns), `ctx.signal`, `ctx.key`,
 * `ctx.region`.
 */
export type Factory<T, S = T> = {
  // A method's parameter is checked bivariantly: a factory written for a narrower context (its own
  // value type, on an untyped region) is accepted, while an inline factory's context is still `S`.
  bivariant(ctx: FactoryContext<S>): T | Promise<T>;
}['bivariant'];

/**
 * The factory of `getOrSetMany`: given the keys this process computes (never one found in the
 * cache or computed by another process), answers their values, as an array in the order of the
 * keys given or as a Map by key (a key it has no value for fails with `FactoryResultError`: answer
 * `null` to cache that nothing exists). Its context gives each key's own `FactoryContext`
 * (`ctx.of(key)`: its previous value, `setTtl`, `setFreshFor`, `setTags`, `skip`) and one signal for
 * the call. `S` is the type of the previous values (the region's value type).
 */
export type ManyFactory<T, K extends Key = Key, S = T> = {
  // Bivariant in the context, as `Factory` is.
  bivariant(keys: K[], ctx: ManyFactoryContext<K, S>): readonly T[] | ReadonlyMap<K, T> | Promise<readonly T[] | ReadonlyMap<K, T>>;
}['bivariant'];

/** What a `getOrSetMany` factory may read and adapt: each key's computation context, and a signal for the call. */
export interface ManyFactoryContext<K extends Key = Key, S = unknown> {
  /**
   * Aborted once every key of this call is aborted (each key's `ctx.signal`: on its `hardTimeout`,
   * on `trove.close()`), with the last key's reason: the work is then of no use to anyone. While
   * one key is still awaited it stays unaborted; a key's own signal is `of(key).signal`.
   */
  readonly signal: AbortSignal;
  /**
   * The context of one key's computation, as `getOrSet`'s factory receives it: the key's previous
   * value (`stale`), and `setTtl`, `setFreshFor`, `setTags` and `skip()` for that key's value alone.
   * Throws `InvalidOptionError` (option `key`) for a key not handed to this call.
   */
  of(key: K): FactoryContext<S>;
}

/** Remaining lifetimes of an entry (see `Region.ttlOf`). */
export interface EntryTtl {
  /** Milliseconds until the entry expires from the store; `Infinity` when it has no expiry. */
  ttlMs: number;
  /**
   * Milliseconds during which it is still served without recomputing: 0 once stale, equal to
   * `ttlMs` when the entry records no freshness (fresh until it expires, as in raw regions).
   */
  freshForMs: number;
}

/** The writes of `region.batch()`: collected, then applied as one MULTI/EXEC. */
export interface BatchWriter<V> {
  set(key: Key, value: V, opts?: SetOptions): void;
  delete(key: Key): void;
}

/** Something that emits events: a Node EventEmitter or a DOM-style EventTarget. */
export type EventSource =
  | { on(event: string, listener: (...args: unknown[]) => void): unknown; off(event: string, listener: (...args: unknown[]) => void): unknown }
  | { addEventListener(event: string, listener: () => void): unknown; removeEventListener(event: string, listener: () => void): unknown };

/**
 * A named namespace of cache entries with its own defaults. Regions nest:
 * `trove.region('users').region('profiles')` and `trove.region('users.profiles')` are the same region.
 * It behaves like an async map over its live entries.
 *
 * `V` is the type of its values: writes (`set`, `setMany`, `batch`, `getOrSet`'s factory) must
 * give a `V` (or a subtype, which the call then answers), and reads answer `V`. The type is not
 * checked at run time: a region shared by modules that disagree is the caller's mistake.
 */
export interface Region<V = unknown> {
  /** Full dotted path of the region, e.g. `'users.profiles'`. */
  readonly path: string;

  /** The region's effective options (defaults applied; durations in milliseconds, sizes in bytes). */
  readonly options: ResolvedRegionOptions;

  /** A region nested below this one; `name` may itself be dotted. Options configure it as in `trove.region`. */
  region<C = V>(name: string, opts?: RegionOptions): Region<C>;

  /** The Redis key of an entry in the region's current generation (for debugging and for readers in other languages). */
  keyOf(key: Key): string;

  /** Reads a value; `undefined` when absent, expired, invalidated, undecodable, or when the store is unreachable (with an `error` event). */
  get<T extends V = V>(key: Key): Promise<T | undefined>;

  /**
   * Returns the cached value while fresh. On a miss, one process computes it (a Redis lock; the
   * others wait for its notification, or follow `onCold`); a stale value is answered at once while
   * one process refreshes it; a failing factory is answered by the stale value (fail-safe).
   * Store failures never fail the call: the factory's result is returned regardless.
   *
   * The factory receives its context (see `FactoryContext`): it can set this value's `ttl`,
   * `freshFor` and tags, skip caching it, read the previous value, and stop on `ctx.signal`.
   * `ttl: Infinity` (per call, or set by the factory) stores the value without expiry.
   */
  getOrSet<T extends V = V>(key: Key, factory: Factory<T, V>, opts?: GetOrSetOptions<NoInfer<T>>): Promise<T>;

  /**
   * `getOrSet` for several keys at once, answering their values in the order of `keys`: each key
   * is a hit, a wait for another process, or computed here, as by `getOrSet` (exactly once across
   * processes, freshness, fail-safe and `opts` per key), but the keys computed here go to
   * `factory` together, in one call per turn of the event loop in which their computations start
   * (the lock replies of one batch arrive together: usually one call), as a DataLoader batches.
   * Rejects as `Promise.all` does, with the first key's failure; the other keys' computations go
   * on and are stored. A key given twice is computed once. The factory's second argument adapts
   * each key's value (`ctx.of(key).setTtl(...)`, `.skip()`, ...; see `ManyFactoryContext`).
   */
  getOrSetMany<T extends V = V, K extends Key = Key>(keys: readonly K[], factory: ManyFactory<T, K, V>, opts?: GetOrSetOptions<NoInfer<T>>): Promise<T[]>;

  /**
   * Stores a value. Throws `SerializationError` when the codec cannot store it faithfully and
   * `ValueTooLargeError` above `maxValueBytes`; a store failure is reported as an `error` event
   * (a cache write is best-effort) and the call resolves.
   */
  set<T extends V = V>(key: Key, value: T, opts?: SetOptions): Promise<void>;

  /**
   * Deletes a value; resolves to whether it existed. A value being computed (its key claimed by a
   * miss elsewhere) did not exist: the claim goes, and the value computed is not stored. Throws
   * `StoreError` when the store cannot be reached (the caller relies on the delete).
   */
  delete(key: Key): Promise<boolean>;

  /**
   * Deletes several values in one round trip (one script per 1,000 keys; on Redis Cluster per
   * slot, sent together); resolves to how many existed, as `delete` counts them. Throws
   * `StoreError` when the store cannot be reached.
   */
  deleteMany(keys: readonly Key[]): Promise<number>;

  /**
   * Makes a value stale now, as if its `freshFor` had just ended, keeping the value, its tags and
   * its `ttl`: the next `getOrSet` answers it while one process refreshes it (with `staleRefresh:
   * 'blocking'` the first caller waits for the refresh), and fail-safe answers it if the refresh
   * fails. A soft `delete`, for data known to have changed when the old value is still better
   * than none. `get` answers stale values as before. Resolves to whether a live value was there;
   * when none was (absent, being computed, invalidated by its tags, undecodable), the key is
   * deleted as by `delete`, so a computation under way is not stored. Throws
   * `InvalidOptionError` in a raw region (its entries record no freshness: use `delete`), and
   * `StoreError` when the store cannot be reached.
   */
  markStale(key: Key): Promise<boolean>;

  /**
   * How long an entry has left: `ttlMs` until it expires from the store (`Infinity`: never) and
   * `freshForMs` until it goes stale (0: stale already); `undefined` when there is no live entry.
   * One round trip (the value and its PTTL). Throws `StoreError` when the store cannot be reached.
   */
  ttlOf(key: Key): Promise<EntryTtl | undefined>;

  /** Whether a live value is stored under the key; `false` when the store is unreachable (with an `error` event). */
  has(key: Key): Promise<boolean>;

  /** Reads several values in one round trip; `undefined` for each one absent or unreadable (with an `error` event when the store failed). */
  getMany<T extends V = V>(keys: readonly Key[]): Promise<(T | undefined)[]>;

  /**
   * Stores several values in one atomic round trip (on Redis Cluster, atomic per slot only: see
   * `batch`). Every value is encoded before anything is written, so a value the codec rejects
   * throws and nothing is stored. A store failure is reported as an `error` event, like `set`.
   */
  setMany<T extends V = V>(entries: Iterable<readonly [Key, T]>, opts?: SetOptions): Promise<void>;

  /**
   * Applies several writes and deletes as one MULTI/EXEC: all or none. The callback collects
   * them; if it throws (or a value cannot be encoded), nothing is applied. A store failure is
   * reported as an `error` event, like `set`. On Redis Cluster, as one MULTI/EXEC per slot, sent
   * together: all or none within each slot, not across slots.
   */
  batch<T extends V = V>(fn: (tx: BatchWriter<T>) => void | Promise<void>): Promise<void>;

  /**
   * Invalidates this region and every region below it, in every process, in O(1): one atomic
   * write of a new generation (old entries are never read again and are reclaimed by their TTL or
   * the sweep). Throws `StoreError` when the store cannot be reached.
   */
  invalidate(): Promise<void>;

  /** Empties the region (and the regions below it): the same O(1) operation as `invalidate()`. */
  clear(): Promise<void>;

  /**
   * Invalidates this region whenever `source` emits `event` (a Node EventEmitter or an
   * EventTarget); a failed invalidation is reported as an `error` event. Returns a function that
   * stops listening.
   */
  invalidateOn(source: EventSource, event: string): () => void;

  /**
   * The live entries of this region (not of regions below it), read in batches with SCAN and
   * MGET: never a blocking call. Entries written or removed during the iteration may or may not
   * be seen; every entry seen is live when read, and none is seen twice. Throws `StoreError` when
   * the store cannot be reached. `batchSize`: keys asked for per SCAN step (a hint to Redis), then
   * read with one MGET; default `500`.
   */
  entries<T extends V = V>(opts?: { batchSize?: number }): AsyncIterableIterator<[string, T]>;

  /** The keys of the live entries of this region (see `entries()`). */
  keys(opts?: { batchSize?: number }): AsyncIterableIterator<string>;

  /** The values of the live entries of this region (see `entries()`). */
  values<T extends V = V>(opts?: { batchSize?: number }): AsyncIterableIterator<T>;

  /** The number of live entries of this region; reads every entry (O(n)), so meant for tooling, not hot paths. */
  size(): Promise<number>;

  /** Iterates `[key, value]` of the live entries, as `entries()`. */
  [Symbol.asyncIterator](): AsyncIterableIterator<[string, V]>;
}

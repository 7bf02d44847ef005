import type { FactoryContext, FactoryWrapper } from '../load/index.js';
import type { Region, RegionOptions, SweepResult, TroveEventMap, TroveEventName } from '../region/index.js';
import type { CachedFunction, CachedOptions } from './cached.js';
import type { FleetStats } from '../stats/index.js';
import type { TroveHealth } from './health.js';
import type { CachedMethodDecorator, CachedMethodOptions, FleetStatsOptions, ReadyOptions, TroveStats } from './trove.js';
import type { CachedCommandOptions } from './cached-command.js';

/**
 * A cache: regions of entries over one store, with events. Create it with `createTrove`.
 *
 * An interface rather than the implementing class, so the published declarations carry only the
 * public surface and none of the store, loader or invalidation machinery behind it.
 */
export interface Trove {
  /** Where values live: `'redis'` (the `redis` option was given) or `'memory'` (the embedded store, when it was omitted). */
  readonly storeKind: 'redis' | 'memory';
  /** The first part of every key (the `prefix` option). @defaultValue `'trove'` */
  readonly prefix: string;
  /** The version part of every key (the `version` option). @defaultValue `'0'` */
  readonly version: string;
  /** Whether `close()` has been called; its regions, `invalidateTags` and `sweep` then throw `ClosedError`. @defaultValue `false` */
  readonly isClosed: boolean;

  /**
   * Adds a listener of an event (`hit`, `miss`, `set`, `delete`, `compute`, `stale`, `invalidate`,
   * `error`). Listeners run synchronously where the event happens. Returns the trove, for chaining.
   */
  on<E extends TroveEventName>(name: E, listener: (event: TroveEventMap[E]) => void): this;

  /** Adds a listener called for the next event of that name only. Returns the trove, for chaining. */
  once<E extends TroveEventName>(name: E, listener: (event: TroveEventMap[E]) => void): this;

  /** Removes a listener added with `on` or `once`; a listener not added is ignored. Returns the trove, for chaining. */
  off<E extends TroveEventName>(name: E, listener: (event: TroveEventMap[E]) => void): this;

  /** How many listeners an event has (0 when none). */
  listenerCount(name: TroveEventName): number;

  /**
   * Runs `fn` with caching skipped for every read-through inside it (cached functions and
   * getOrSet call their function directly, reading and writing nothing), across awaits.
   * Returns what `fn` returns. For integration tests and profiling.
   */
  bypass<T>(fn: () => T): T;

  /**
   * Caches a function: its result is stored under a key derived from its arguments, in the region
   * named by `options.region` (default `'fn'`), for `options.ttl` (default: the region's `ttl`).
   * `const topBooks = trove.cached(loadTopBooks, { ttl: '4h', skipArgs: [1] })`.
   */
  cached<A extends unknown[], R>(fn: (...args: A) => R, options?: CachedOptions<A, R>): CachedFunction<A, R>;
  /**
   * Called with only options, a decorator for async methods, standard or legacy
   * (`experimentalDecorators`): `@trove.cached({ ttl: '1h' }) async topBooks() {}`. The key name
   * defaults to `Class.method`. `key`, `thisKey`, `shouldCache` and `tags` are typed from the
   * decorated method and its class.
   */
  cached<This, A extends unknown[], R>(options?: CachedMethodOptions<This, A, R>): CachedMethodDecorator<This, A, R>;

  /**
   * The context of the computation running now (see `FactoryContext`): a cached function's, or a
   * getOrSet factory's; undefined outside one, and for a cached function called inside `bypass()`
   * (a getOrSet factory there gets a context whose settings have no effect). Reachable during the
   * function's synchronous part, i.e. before its first `await` (`const ctx = trove.context()` first
   * thing), at no cost, and after awaits too for cached functions given `context: true`.
   */
  context(): FactoryContext | undefined;

  /**
   * Runs every factory whose value this trove caches (a getOrSet miss or refresh, a cached
   * function's computation, `refresh()`) through `wrapper`, which must call `run` once and return
   * what it returns (a value or a promise of it). For tracing: run the factory inside a span's
   * context (`context.with(…, run)`), so that the spans it starts are that span's children
   * (`instrumentTrove` of `trove-cache/otel` does this with its `tracer`). A factory run inside
   * `bypass()` is not wrapped. Wrappers added first are outermost. Returns the function that
   * removes this one.
   */
  wrapFactories(wrapper: FactoryWrapper): () => void;

  /**
   * This process's counters: the near cache's (hits, misses, evictions, invalidations received,
   * channel resets; undefined without a near cache), and figures per region and cached function
   * since the trove was created (undefined with `stats: false`).
   */
  stats(): TroveStats;

  /**
   * Every process's statistics over the last `since` (default `'1h'`), merged from Redis: one row
   * per region and cached function with hits by tier, misses, stale answers, factory runs and
   * errors, factory time and value size (exact count, mean and standard deviation; percentiles
   * from fixed log-scale buckets). This process's pending counts are added first. Throws
   * `StoreError` when the store cannot be reached, `InvalidOptionError` with `stats: false`.
   */
  fleetStats(opts?: FleetStatsOptions): Promise<FleetStats>;

  /**
   * Runs a read-only Redis command on the application's own keys (sent as given: no `prefix` or
   * `version` of Trove's; an ioredis or node-redis `keyPrefix` of the client is added to the keys,
   * as ioredis's `call` adds it) and keeps its reply in the near cache until Redis announces a
   * change of any key the command read, or `opts.ttl` passes:
   * `await trove.cachedCommand('HGETALL', ['user:1'])`. The reply is what ioredis's
   * `call(name, ...args)` answers (strings, or Buffers with `opts.buffers`; integers; arrays, flat
   * for HGETALL; null), whichever driver runs.
   *
   * Concurrent identical calls share one command, and the commands of one tick leave in one
   * socket write. A reply whose keys change while it is in flight is answered but not kept. The
   * keys are found from COMMAND INFO (asked once per command name) or, for commands whose keys
   * move with their arguments, COMMAND GETKEYS. Answers are `hit` events of region `'(command)'`
   * (tier `'near'` or `'store'`), counted in `stats()`.
   *
   * Without a near cache (`nearCache: false`, tracking not live, inside `bypass()`) every call
   * runs on Redis. Rejects with `InvalidOptionError` naming the command when it is not flagged
   * read-only, reads no key, may block, answers differently without a write (TTL, SRANDMEMBER) or
   * reads keys Redis cannot name; on the embedded store (no `redis`) with `InvalidOptionError`
   * (option `redis`); with `StoreError` when Redis fails or answers an error (WRONGTYPE).
   */
  cachedCommand<T = unknown>(name: string, args: readonly (string | number | Buffer)[], opts?: CachedCommandOptions): Promise<T>;

  /**
   * A region: a named namespace with its own defaults. Dotted names nest (`'users.profiles'`);
   * options given here configure the region (once: other options for a configured region throw
   * `InvalidOptionError`) and are inherited by the regions below it. Without options the region
   * uses those configured earlier, or the trove's defaults. Asking again returns the same handle.
   */
  region<V = unknown>(name: string, opts?: RegionOptions): Region<V>;

  /**
   * Resolves once the trove's notification channel is subscribed (or subscribing failed, which is
   * reported as an `error` event), so the first cold key already wakes its waiters. Optional:
   * every call works before it too. With `{ required: true }`, rejects with a `StoreError` (whose
   * `cause` is the driver's error: refused, authentication, timeout) when Redis cannot be used,
   * instead of resolving and degrading: for a service's start-up.
   */
  ready(opts?: ReadyOptions): Promise<void>;

  /**
   * The state of the store and the near cache, for readiness probes: `status` `'ok'`,
   * `'degraded'` (near cache not live) or `'down'` (Redis unreachable), and the last error.
   */
  health(): TroveHealth;

  /**
   * Invalidates every entry carrying any of the tags, in every region and every process, with
   * one atomic write per call whatever the number of entries. An empty list does nothing.
   * Throws `StoreError` when the store cannot be reached, `ClosedError` after `close()`.
   */
  invalidateTags(tags: readonly string[]): Promise<void>;

  /**
   * Removes the entries of invalidated regions now, walking the keyspace with SCAN. Entries with
   * a TTL expire on their own; this reclaims those without one. Safe to run in several processes
   * at once. Resolves to the number of keys scanned and removed.
   *
   * @param opts - `count`: keys per SCAN step (default `200`); `pauseMs`: pause between steps, in
   * milliseconds (default `0`), to spread the load on Redis.
   */
  sweep(opts?: { count?: number; pauseMs?: number }): Promise<SweepResult>;

  /**
   * Releases every connection and timer this trove owns; the process can then exit on its own.
   * An ioredis instance passed as `redis` is left open (its owner closes it). Calling it again
   * returns the same promise.
   */
  close(): Promise<void>;
}

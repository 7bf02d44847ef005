import { type Duration, toMs } from '../duration.js';
import { ClosedError, InvalidOptionError, type KeyDerivationError, StoreError } from '../errors.js';
import { KeyLayout, keyToken, regionSegments } from '../keys/index.js';
import {
  checkRegionOptions,
  type Region,
  RegionHandle,
  type RegionContext,
  type RegionOptions,
  type ResolvedRegionOptions,
  resolveRegionOptions,
  Generations,
  TagTokens,
  InvalidationBus,
  Sweeper,
  type SweepResult,
  checkTags,
  type TroveEventMap,
  type TroveEventName,
  type EventSink,
  type ErrorEvent,
} from '../region/index.js';
import { addFactoryWrapper, currentContext, type FactoryContext, type FactoryWrapper, Loader, Notifier } from '../load/index.js';
import { checkNearCacheOptions, CommandReplies, type CommandReplyStats, NearCache, type NearCacheOptions, type NearStats } from '../near/index.js';
import { type FleetStats, type Series, StatsRecorder, type StatsRow } from '../stats/index.js';
import { checkStoreOptions, createStore, type MemoryStoreOptions, type RedisOption, type Store } from '../store/index.js';
import { BypassContext } from './bypass.js';
import { type CachedCommandOptions, COMMAND_REGION, CommandRunner } from './cached-command.js';
import { type CachedFunction, type CachedMethodDecorator, type CachedMethodOptions, type CachedOptions, makeCached, makeDecorator } from './cached.js';
import { TypedEmitter } from './emitter.js';
import { Health, type TroveHealth } from './health.js';
import { checkLogger, ErrorLog, type TroveLogger } from './logger.js';
import type { Trove } from './public.js';

export type { CachedMethodDecorator, CachedMethodOptions } from './cached.js';

/** Options of `createTrove`. Region options given here are the defaults of every region. */
export interface TroveOptions extends Omit<RegionOptions, 'nearCache'> {
  /**
   * The shared cache: a URL such as `'redis://127.0.0.1:6379'`, an ioredis `Redis` or `Cluster`
   * instance (left open by `close()`: its owner closes it), ioredis options (Sentinel's too),
   * Redis Cluster as `{ cluster: ['redis://host:port', …], ...ioredis ClusterOptions }`, or a
   * connected node-redis client (`createClient()` of `redis` or `@redis/client`, v5 and later;
   * left open by `close()`; not a node-redis cluster, pool or sentinel). Omitted:
   * the embedded in-memory store (single process, same semantics minus cross-process features).
   * A connection Trove creates has auto-pipelining off (Trove batches reads and coalesces each
   * tick's writes itself), a Cluster it creates has it on (one write per node per tick); an
   * instance given here is used with its own settings. On Redis Cluster the near cache tracks
   * each master through connections of its own (see the README's Topologies).
   * @defaultValue none: the embedded in-memory store
   */
  redis?: RedisOption;
  /**
   * `redis://` or `rediss://` URLs of read replicas of the standalone primary given in `redis`
   * (a URL, ioredis options or a `Redis` instance; not Sentinel's or a cluster's, which name their
   * own), e.g. `['redis://10.0.0.2:6379', 'redis://10.0.0.3:6379']`. Read from only with
   * `readFrom: 'replica'` (without it the list is refused, not ignored). Each gets a connection of
   * its own, with Trove's connection settings plus the primary's `keyPrefix`, `db`, `username`,
   * `password` and `tls` (from ioredis options or an instance) unless its URL sets them.
   * @defaultValue none
   */
  replicas?: string[];
  /**
   * Where entry reads (`get`, `getMany`, `getOrSet`'s read, iteration's values) go: `'primary'`, or
   * `'replica'`: the `replicas` of a standalone primary, one replica Sentinel names (with Sentinel
   * options or an instance built with them), or each shard's replicas on a cluster. Writes, locks,
   * scripts and the generation and tag tables always use the primary. A replica may lag: a value
   * written elsewhere can read as a miss or an older value for a moment (a process's own writes
   * are in its near cache). Reads a replica fails are answered by the primary within
   * `commandTimeout` (one `error` event per outage, never a rejected read), and the replica is read
   * from again once it is back in sync.
   * @defaultValue `'primary'`
   */
  readFrom?: 'primary' | 'replica';
  /**
   * First part of every key, so several applications can share one Redis.
   * @defaultValue `'trove'`
   */
  prefix?: string;
  /**
   * Part of every key: change it (a git commit, a config hash) and a deploy never reads values
   * written by another.
   * @defaultValue `'0'`
   */
  version?: string;
  /**
   * Deadline of every Redis operation, in milliseconds or a string like `'300ms'`. Past it the
   * operation counts as failed: reads answer a miss, getOrSet computes.
   * @defaultValue `300`
   */
  commandTimeout?: Duration;
  /**
   * Where a miss keeps the cross-process lock that makes one process compute the value.
   * `'value'`: in the missing value's own key, as a marker the value replaces (a claim: two plain
   * commands per miss, as hand-written cache-aside), on Redis 7.0 and later; an older server
   * refuses the claim and Trove uses lock keys with it. `'key'`: in a lock key beside the value,
   * taken and released by scripts. Both exclude each other, so processes may differ; choose
   * `'key'` while some processes sharing the `prefix` still run a Trove release before 0.2, which
   * knows lock keys only. Regions whose values the near cache keeps, raw and `storage: 'hash'`
   * regions, and refreshes of present values always use lock keys.
   * @defaultValue `'value'`
   */
  lockIn?: 'value' | 'key';
  /**
   * Bounds of the embedded in-memory store (only used when `redis` is omitted): `maxEntries` and
   * `maxBytes` (bytes of encoded values plus keys).
   * @defaultValue `{ maxEntries: 100_000, maxBytes: 256 MiB }`
   */
  memory?: MemoryStoreOptions;
  /**
   * Options of named regions, e.g. `{ users: { ttl: '10m' }, 'users.profiles': { codec: 'msgpack' } }`.
   * @defaultValue `{}`
   */
  regions?: Record<string, RegionOptions>;
  /**
   * How often each process checks region generations and tag tokens (ms or a string), on top of
   * the broadcast every invalidation sends. It bounds how long a process that missed a broadcast
   * (its subscriber connection was down) can serve invalidated values. A check reads each table's
   * epoch and change count alone, and the table itself only when a change did not arrive (and at
   * every 60th check). `Infinity` turns it off.
   * @defaultValue `'1s'`
   */
  syncInterval?: Duration;
  /**
   * The near cache: a bounded in-process map of decoded values in front of Redis, kept correct by
   * Redis's client-side-caching invalidations (CLIENT TRACKING). `false` turns it off. Only with
   * Redis: the embedded store is in-process already.
   * @defaultValue `{ maxEntries: 10_000, maxBytes: 64 MiB }`
   */
  nearCache?: NearCacheOptions | false;
  /**
   * Statistics per region and cached function (hits by tier, misses, stale answers, factory runs,
   * errors, factory-time and value-size histograms), counted in-process and added every
   * `flushInterval` into per-minute hashes in Redis that every process adds to (see
   * `fleetStats()`). `false` turns them off (`stats()` then has no `regions`).
   * @defaultValue `{ flushInterval: '10s', retention: '24h' }`
   */
  stats?: StatsOptions | false;
  /**
   * Where errors are logged: any logger with pino's call shape (`{ error, warn, info, debug }`
   * taking `(object, message)`). Rate-limited per error code: the first at once, then one line
   * every 10 s with how many more came. Without a logger and without an `error` listener, the
   * first error of each code is written once with `process.emitWarning`.
   * @defaultValue none
   */
  logger?: TroveLogger;
  /**
   * Deep-freeze every value that passes through the trove (read, written, computed), so that code
   * mutating a cached value throws (a TypeError) instead of silently changing the copy the near
   * cache shares with every other caller of the process. On by default outside production, where
   * it costs a walk of each value as it enters the trove (near hits cost nothing more), so tests
   * catch the mutation whatever the store. Ignored with `nearCache: { clone: true }`, whose
   * callers get copies of their own.
   * @defaultValue `process.env.NODE_ENV !== 'production'`
   */
  freezeValues?: boolean;
}

/** What `trove.ready()` waits for. */
export interface ReadyOptions {
  /**
   * Reject (with a `StoreError` whose `cause` is the driver's error: refused, authentication,
   * timeout) when Redis cannot be used, instead of resolving and degrading. For a service's
   * start-up or readiness probe.
   * @defaultValue `false`
   */
  required?: boolean;
  /**
   * With `required`: how long to wait for the first connection, in ms or a string like `'5s'`.
   * @defaultValue `'5s'`
   */
  timeout?: Duration;
}

/** What `fleetStats()` reads. */
export interface FleetStatsOptions {
  /**
   * How far back, in ms or a string like `'1h'`: every minute that overlaps it is read.
   * @defaultValue `'1h'`
   */
  since?: Duration;
  /**
   * Also answer each minute's own rows (`minutes`), e.g. for a hit ratio over time.
   * @defaultValue `false`
   */
  perMinute?: boolean;
}

/** Where and how long statistics are kept. */
export interface StatsOptions {
  /**
   * How often this process adds its counts to Redis (one atomic batch of HINCRBY), in ms or a
   * string like `'10s'`; also on `close()` and before `fleetStats()`.
   * @defaultValue `'10s'`
   */
  flushInterval?: Duration;
  /**
   * How long each minute's statistics are kept in Redis after the minute ends, in ms or a string
   * like `'24h'`.
   * @defaultValue `'24h'`
   */
  retention?: Duration;
}

/** Counters of a trove, in this process. */
export interface TroveStats {
  /** The near cache's counters; undefined when the trove has none. */
  near: NearStats | undefined;
  /**
   * Store failures counted instead of reported as `error` events while Redis was disconnected
   * (the first after each loss is reported), since the trove was created.
   */
  suppressedErrors: number;
  /**
   * This process's figures per region and cached function since the trove was created (rows that
   * recorded something); undefined with `stats: false`. A region's own row counts calls made on
   * the region; each cached function in it has a row of its own.
   */
  regions: StatsRow[] | undefined;
  /**
   * The counters of the replies `cachedCommand` keeps (also counted in `near`'s hits and misses);
   * undefined without a near cache.
   */
  commands: CommandReplyStats | undefined;
}

const TOP_LEVEL = new Set([
  'redis',
  'replicas',
  'readFrom',
  'prefix',
  'version',
  'commandTimeout',
  'lockIn',
  'memory',
  'regions',
  'syncInterval',
  'nearCache',
  'stats',
  'logger',
  'freezeValues',
]);

/** The implementation of `Trove`; only the interface is published. */
export class TroveImpl implements Trove {
  /** Listeners of the trove's events: only `on`, `once` and `off` are public, so nobody outside can emit. */
  private readonly events = new TypedEmitter();
  /** Where values live: `'redis'` or `'memory'`. */
  readonly storeKind: 'redis' | 'memory';
  /** The first part of every key. */
  readonly prefix: string;
  /** The version part of every key. */
  readonly version: string;
  private readonly store: Store;
  private readonly ctx: RegionContext;
  private readonly defaults: RegionOptions;
  private readonly configured = new Map<string, RegionOptions>();
  /** Handles of top-level region names, so asking for a region again (e.g. per request) costs a map lookup. */
  private readonly handles = new Map<string, Region<unknown>>();
  /** Handles of cached functions (see `functionRegion`). */
  private readonly functionHandles = new Map<string, Region<unknown>>();
  private readonly recorder: StatsRecorder | undefined;
  private readonly healthState: Health;
  private readonly errorLog: ErrorLog;
  private readonly resolved = new Map<string, ResolvedRegionOptions>();
  private readonly configVersion = { value: 0 };
  private closed = false;
  private closing: Promise<void> | undefined;
  private readonly bypassContext = new BypassContext();
  private readonly notifier: Notifier;
  private readonly generations: Generations;
  private readonly tags: TagTokens;
  private readonly bus: InvalidationBus;
  private readonly sweeper: Sweeper;
  private readonly near: NearCache | undefined;
  /** Replies of `cachedCommand` kept in process, invalidated with the near cache; undefined when it has none. */
  private commandReplies: CommandReplies | undefined;
  private readonly commands: CommandRunner;

  constructor(options: TroveOptions = {}) {
    // Every option is checked before the store is created: a throw after it would leave its
    // connections open and reconnecting, and the process would never exit.
    if (typeof options !== 'object' || options === null) throw new InvalidOptionError('options', 'expected an options object');
    const regionDefaults: RegionOptions = {};
    for (const [k, v] of Object.entries(options)) {
      if (TOP_LEVEL.has(k)) continue;
      (regionDefaults as Record<string, unknown>)[k] = v;
    }
    checkRegionOptions(regionDefaults, '');
    this.defaults = regionDefaults;
    resolveRegionOptions([regionDefaults], '');
    this.prefix = keyToken(options.prefix ?? 'trove', 'prefix');
    this.version = keyToken(options.version ?? '0', 'version');
    const commandTimeoutMs = toMs(options.commandTimeout ?? 300, 'commandTimeout');
    const regions: unknown = options.regions ?? {};
    if (typeof regions !== 'object' || regions === null || Array.isArray(regions))
      throw new InvalidOptionError('regions', 'expected an object of region options by name');
    for (const [name, opts] of Object.entries(regions as Record<string, RegionOptions>)) {
      regionSegments(name, `regions.${name}`);
      this.configure(name, opts, `regions.${name}`);
    }
    const syncIntervalMs = toMs(options.syncInterval ?? '1s', 'syncInterval', { allowInfinite: true });
    const nearCache = options.nearCache === false ? false : checkNearCacheOptions(options.nearCache);
    const statsOptions = checkStatsOptions(options.stats);
    if (options.freezeValues !== undefined && typeof options.freezeValues !== 'boolean') throw new InvalidOptionError('freezeValues', 'expected a boolean');
    // Clones are their callers' own: nothing is shared, so nothing needs freezing.
    const freezeValues = (options.freezeValues ?? process.env.NODE_ENV !== 'production') && !(nearCache !== false && nearCache.clone === true);
    checkStoreOptions({ redis: options.redis, memory: options.memory, replicas: options.replicas, readFrom: options.readFrom });
    if (options.lockIn !== undefined && options.lockIn !== 'value' && options.lockIn !== 'key')
      throw new InvalidOptionError('lockIn', `expected 'value' or 'key' (got ${JSON.stringify(options.lockIn)})`);
    this.store = createStore({
      redis: options.redis,
      memory: options.memory,
      replicas: options.replicas,
      readFrom: options.readFrom,
      commandTimeoutMs,
      claims: options.lockIn !== 'key',
      ...(nearCache !== false && nearCache.pingInterval !== undefined
        ? { trackingCheckIntervalMs: toMs(nearCache.pingInterval, 'nearCache.pingInterval') }
        : {}),
      listener: {
        onConnectionError: (err) => {
          this.healthState.connectionFailed(err);
          this.reportStoreError(err, 'connection');
        },
        onReady: () => this.healthState.connectedNow(),
        onDisconnect: () => this.healthState.disconnectedNow(),
        // A replica that cannot be used leaves its reads to the primary: Redis is still usable.
        onReplicaError: (err) => this.reportStoreError(err, 'replica'),
      },
    });
    this.storeKind = this.store.kind;
    this.errorLog = new ErrorLog(checkLogger(options.logger));
    this.healthState = new Health(this.store.kind === 'memory', () => (this.near === undefined ? undefined : this.near.isLive), {
      onDisconnected: () => {
        if (this.events.wants('disconnected')) this.events.emit('disconnected', { at: Date.now() });
      },
      onReconnected: (downMs, suppressedErrors) => {
        if (this.events.wants('reconnected')) this.events.emit('reconnected', { downMs, suppressedErrors });
      },
    });
    const layout = new KeyLayout(this.prefix, this.version, this.store.hashTags);
    this.notifier = new Notifier(this.store, layout.channel, (err) => this.reportStoreError(err, 'subscribe'));
    // Subscribe from the start, so the first cold key already has its waiters notified.
    void this.notifier.start();
    // The bus is built below; the tables announce new epochs through it once it exists.
    let bus: InvalidationBus | undefined;
    this.generations = new Generations(
      this.store,
      layout.generationsKey,
      (epoch) => bus?.announceEpoch('ge', epoch),
      () => this.store.delivered(),
    );
    this.tags = new TagTokens(
      this.store,
      layout.tagsKey,
      (epoch) => bus?.announceEpoch('te', epoch),
      undefined,
      () => this.store.delivered(),
    );
    this.bus = new InvalidationBus(
      this.store,
      layout.busChannel,
      this.generations,
      this.tags,
      syncIntervalMs,
      (err) => this.reportStoreError(err, 'sync'),
      (inv) => {
        if (this.events.wants('invalidate')) this.events.emit('invalidate', { ...inv, origin: 'remote' });
      },
    );
    bus = this.bus;
    this.bus.start();
    this.generations.load().catch((err: unknown) => this.reportStoreError(err, 'sync'));
    this.sweeper = new Sweeper(this.store, layout.keyspace, this.generations);
    this.near = this.createNearCache(nearCache, layout, freezeValues);
    let commandSeries: Series | undefined;
    this.commands = new CommandRunner({
      store: this.store,
      replies: this.commandReplies,
      defaultTtlMs: nearCache === false ? 60_000 : (nearCache.maxTtlMs ?? 60_000),
      events: this.sink,
      series: () => {
        commandSeries ??= this.recorder?.seriesOf(COMMAND_REGION, undefined);
        return commandSeries;
      },
      bypassed: () => this.bypassContext.active(),
    });
    this.recorder =
      statsOptions === false
        ? undefined
        : new StatsRecorder(this.store, {
            keyPrefix: layout.statsKeyPrefix,
            ...statsOptions,
            onError: (err) => this.reportStoreError(err, 'stats'),
          });
    this.ctx = {
      stats: this.recorder,
      store: this.store,
      layout,
      events: this.sink,
      generations: this.generations,
      tags: this.tags,
      near: this.near,
      busChannel: layout.busChannel,
      origin: this.bus.origin,
      loader: new Loader({ store: this.store, notifier: this.notifier, lockKey: (full) => layout.lockKey(full) }),
      optionsFor: (path) => this.optionsFor(path),
      configVersion: this.configVersion,
      configure: (path, opts) => this.configure(path, opts, path),
      assertOpen: () => {
        if (this.closed) throw new ClosedError();
      },
      bypassed: () => this.bypassContext.active(),
      isClosed: () => this.closed,
      freezeValues,
    };
  }

  /** Adds a listener of an event (`hit`, `miss`, `set`, `delete`, `compute`, `stale`, `invalidate`, `error`). */
  on<E extends TroveEventName>(name: E, listener: (event: TroveEventMap[E]) => void): this {
    this.events.on(name, listener);
    return this;
  }

  /** Adds a listener called for the next event of that name only. */
  once<E extends TroveEventName>(name: E, listener: (event: TroveEventMap[E]) => void): this {
    this.events.once(name, listener);
    return this;
  }

  /** Removes a listener added with `on` or `once`. */
  off<E extends TroveEventName>(name: E, listener: (event: TroveEventMap[E]) => void): this {
    this.events.off(name, listener);
    return this;
  }

  /** How many listeners an event has. */
  listenerCount(name: TroveEventName): number {
    return this.events.listenerCount(name);
  }

  /**
   * Runs `fn` with caching skipped for every read-through inside it (cached functions and
   * getOrSet call their function directly, reading and writing nothing), across awaits.
   * For integration tests and profiling.
   */
  bypass<T>(fn: () => T): T {
    return this.bypassContext.run(fn);
  }

  /**
   * Caches a function: its result is stored under a key derived from its arguments.
   * `const topBooks = trove.cached(loadTopBooks, { ttl: '4h', skipArgs: [1] })`.
   *
   * Called with only options, it is a decorator for async methods, standard or legacy
   * (`experimentalDecorators`): `@trove.cached({ ttl: '1h' }) async topBooks() {}`.
   */
  cached<A extends unknown[], R>(fn: (...args: A) => R, options?: CachedOptions<A, R>): CachedFunction<A, R>;
  cached<This, A extends unknown[], R>(options?: CachedMethodOptions<This, A, R>): CachedMethodDecorator<This, A, R>;
  cached<A extends unknown[], R>(
    fnOrOptions?: ((...args: A) => R) | CachedMethodOptions,
    options?: CachedOptions<A, R>,
  ): CachedFunction<A, R> | CachedMethodDecorator {
    const host = {
      region: (name: string, opts?: RegionOptions) => this.region(name, opts),
      functionRegion: (path: string, fn: string) => this.functionRegion(path, fn),
      bypassed: () => this.bypassContext.active(),
      reportError: (error: KeyDerivationError, operation: string, region: string) => this.sink.emit('error', { error, operation, region }),
      contextOwner: this.ctx.loader,
    };
    if (typeof fnOrOptions === 'function') return makeCached(host, fnOrOptions, options ?? {});
    return makeDecorator(host, (fnOrOptions ?? {}) as CachedOptions<unknown[], unknown, unknown>);
  }

  /**
   * The context of the computation running now (a cached function's or a getOrSet factory's), or
   * undefined outside one. Reachable before the function's first `await`, and after it for cached
   * functions with `context: true`.
   */
  context(): FactoryContext | undefined {
    return currentContext(this.ctx.loader);
  }

  /** Runs every cached factory run through `wrapper` (see `Trove.wrapFactories`); returns its remover. */
  wrapFactories(wrapper: FactoryWrapper): () => void {
    if (typeof wrapper !== 'function') throw new InvalidOptionError('wrapper', 'wrapFactories needs a function');
    return addFactoryWrapper(this.ctx.loader, wrapper);
  }

  /**
   * Runs a read-only Redis command on the application's own keys and keeps its reply in process
   * until Redis announces a change of a key it read (see `Trove.cachedCommand`).
   */
  cachedCommand<T = unknown>(name: string, args: readonly (string | number | Buffer)[], opts?: CachedCommandOptions): Promise<T> {
    if (this.closed) return Promise.reject(new ClosedError());
    try {
      return this.commands.run(name, args, opts) as Promise<T>;
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** `opt` has been checked by `checkNearCacheOptions`. */
  private createNearCache(opt: NearCacheOptions | false, layout: KeyLayout, freezeValues: boolean): NearCache | undefined {
    if (opt === false) return undefined;
    const near = new NearCache(opt, { freeze: freezeValues });
    const replies = new CommandReplies({
      maxEntries: opt.maxEntries ?? 10_000,
      maxBytes: opt.maxBytes ?? 64 * 1024 * 1024,
      freeze: freezeValues && opt.clone !== true,
      clone: opt.clone === true,
    });
    const enabled = this.store.enableTracking({
      onInvalidate: (keys) => {
        near.invalidate(keys);
        replies.invalidate(keys);
        // The generation and tag tables are read on the tracked connection too: their changes
        // arrive here within milliseconds, even when a broadcast was missed.
        if (keys === null || keys.includes(layout.generationsKey)) this.generations.sync().catch((err: unknown) => this.reportStoreError(err, 'sync'));
        if (keys === null || keys.includes(layout.tagsKey)) this.tags.sync().catch((err: unknown) => this.reportStoreError(err, 'sync'));
      },
      onTrackingChange: (live) => {
        // Lost: invalidations may be missed, so the near cache empties itself (or, with
        // serveWhileDisconnected, sets its entries aside for reads Redis fails). Back: it starts over.
        near.setLive(live);
        replies.setLive(live);
        // Re-read the tables on the tracked connection, so their next change is announced.
        if (live) void this.bus.resync();
      },
    });
    // A store that cannot track (the embedded store) gets no near cache:
    // without Redis's invalidations a local copy could outlive a change made by another process.
    if (enabled) this.commandReplies = replies;
    return enabled ? near : undefined;
  }

  /** This process's counters: the near cache's, and figures per region and cached function. */
  stats(): TroveStats {
    const commands = this.commandReplies?.stats();
    const near = this.near?.stats();
    // Command hits are near hits too: answered in process, with no I/O.
    if (near !== undefined && commands !== undefined) {
      near.hits += commands.hits;
      near.misses += commands.misses;
    }
    return { near, suppressedErrors: this.healthState.suppressed, regions: this.recorder?.rows(), commands };
  }

  /** The state of the store and the near cache, for readiness probes. */
  health(): TroveHealth {
    return this.healthState.snapshot();
  }

  /**
   * Every error goes through here: counted as the health's last error, left out while Redis is
   * disconnected (after the first), logged or warned about, then emitted. Always "wanted", so that
   * an error nobody listens to still reaches the logger or a process warning.
   */
  private readonly sink: EventSink = {
    wants: (name) => name === 'error' || this.events.wants(name),
    emit: (name, event) => {
      if (name === 'error') {
        const e = event as ErrorEvent;
        if (!this.healthState.admit(e.error, e.region !== undefined)) return;
        this.errorLog.write(e, this.events.wants('error'));
      }
      this.events.emit(name, event);
    },
  };

  /**
   * Every process's statistics over the last `since` (default `'1h'`), merged from Redis: whole
   * minutes, the current one included, after adding this process's pending counts. With
   * `perMinute`, each minute's rows too. Throws `StoreError` when the store cannot be reached, and
   * `InvalidOptionError` with `stats: false`.
   */
  async fleetStats(opts: FleetStatsOptions = {}): Promise<FleetStats> {
    if (this.closed) throw new ClosedError();
    if (this.recorder === undefined) throw new InvalidOptionError('stats', 'statistics are off (stats: false)');
    const sinceMs = toMs(opts.since ?? '1h', 'since');
    return this.recorder.fleet(sinceMs, opts.perMinute === true);
  }

  /** The handle through which a cached function's calls go: its region, counted and reported under the function's name. */
  private functionRegion(path: string, fn: string): Region<unknown> {
    const id = `${path}\u0000${fn}`;
    let handle = this.functionHandles.get(id);
    if (handle === undefined) {
      handle = new RegionHandle(this.ctx, path, fn);
      this.functionHandles.set(id, handle);
    }
    return handle;
  }

  /**
   * A region: a named namespace with its own defaults. Dotted names nest (`'users.profiles'`);
   * options given here configure the region (once: other options for a configured region throw
   * `InvalidOptionError`) and are inherited by the regions below it. Asking again returns the same handle.
   */
  region<V = unknown>(name: string, opts?: RegionOptions): Region<V> {
    const known = this.handles.get(name);
    if (known !== undefined && opts === undefined) return known as Region<V>;
    regionSegments(name);
    this.configure(name, opts, name);
    if (known !== undefined) return known as Region<V>;
    const handle = new RegionHandle<V>(this.ctx, name);
    this.handles.set(name, handle as Region<unknown>);
    return handle;
  }

  /**
   * Records a region's options. A region is configured once: asking again with the same options
   * is a no-op, with other options an error, since the region (its keys, codec, expiry) is shared
   * by every holder and silently reconfiguring it under another module would change their entries.
   */
  private configure(path: string, opts: RegionOptions | undefined, where: string): void {
    if (opts === undefined) return;
    checkRegionOptions(opts, where);
    const existing = this.configured.get(path);
    if (existing !== undefined) {
      if (sameOptions(existing, opts)) return;
      throw new InvalidOptionError(
        where,
        `region '${path}' is already configured with other options; configure a region once (in createTrove's regions or its first trove.region call) and share the handle`,
      );
    }
    this.configured.set(path, { ...opts });
    this.resolved.clear();
    this.configVersion.value++;
    // Resolve now so an inconsistent combination (freshFor > ttl) throws where it was written,
    // and is not kept: the region stays unconfigured.
    try {
      this.optionsFor(path, where);
    } catch (err) {
      this.configured.delete(path);
      this.resolved.clear();
      throw err;
    }
  }

  private optionsFor(path: string, where = path): ResolvedRegionOptions {
    const hit = this.resolved.get(path);
    if (hit) return hit;
    const layers: (RegionOptions | undefined)[] = [this.defaults];
    let prefix = '';
    for (const seg of path.split('.')) {
      prefix = prefix === '' ? seg : `${prefix}.${seg}`;
      layers.push(this.configured.get(prefix));
    }
    const resolved = resolveRegionOptions(layers, where);
    this.resolved.set(path, resolved);
    return resolved;
  }

  private reportStoreError(err: unknown, operation: string): void {
    // Background work cut short by close() ("Store is closed") is not a failure worth reporting.
    if (this.closed) return;
    const error = err instanceof StoreError ? err : new StoreError(`Redis ${operation}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    this.sink.emit('error', { error, operation });
  }

  /**
   * Resolves once the trove's notification channel is subscribed (or its deadline passed), so
   * the first cold key already wakes its waiters. Optional: every call works before it too.
   */
  async ready(opts: ReadyOptions = {}): Promise<void> {
    if (opts.required === true) {
      const timeoutMs = toMs(opts.timeout ?? '5s', 'timeout');
      if (this.closed) throw new ClosedError();
      await this.healthState.whenConnected(timeoutMs);
    }
    await Promise.all([this.notifier.start(), this.generations.load().catch(() => {})]);
  }

  /**
   * Invalidates every entry carrying any of the tags, in every region and every process, with
   * one atomic write per call whatever the number of entries. Throws `StoreError` when the store
   * cannot be reached.
   */
  async invalidateTags(tags: readonly string[]): Promise<void> {
    if (this.closed) throw new ClosedError();
    checkTags(tags);
    if (tags.length === 0) return;
    await this.tags.invalidate(tags, this.bus.channel, this.bus.origin);
    if (this.events.wants('invalidate')) this.events.emit('invalidate', { tags: [...new Set(tags)], origin: 'local' });
  }

  /**
   * Removes the entries of invalidated regions now, walking the keyspace with SCAN in steps of
   * `count` keys (optionally pausing `pauseMs` between steps). Entries with a TTL expire on their
   * own; this reclaims those without one. Safe to run in several processes at once.
   */
  sweep(opts: { count?: number; pauseMs?: number } = {}): Promise<SweepResult> {
    if (this.closed) return Promise.reject(new ClosedError());
    return this.sweeper.sweep(opts);
  }

  /** Whether `close()` has been called. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** Releases every connection and timer this trove owns; the process can then exit on its own. */
  close(): Promise<void> {
    if (!this.closing) {
      this.closed = true;
      this.notifier.close();
      this.ctx.loader.close();
      this.bus.close();
      this.near?.clear();
      this.commandReplies?.clear();
      this.commands.clear();
      this.errorLog.close();
      // The last counts are added before the connection goes (bounded by the store's deadline).
      const flushed = this.recorder?.close().catch((err: unknown) => this.reportStoreError(err, 'stats')) ?? Promise.resolve();
      this.closing = flushed.then(() => this.store.close());
    }
    return this.closing;
  }
}

/** Whether two option objects say the same: same names, values equal (plain objects and arrays compared by content, anything else by identity). */
function sameOptions(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const plain = (o: object) => Array.isArray(o) || Object.getPrototypeOf(o) === Object.prototype || Object.getPrototypeOf(o) === null;
  if (!plain(a) || !plain(b)) return false;
  const ka = Object.keys(a).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
  const kb = Object.keys(b).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => sameOptions((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

/** Creates a trove. See `TroveOptions`. */
export function createTrove(options: TroveOptions = {}): Trove {
  return new TroveImpl(options);
}

/** The statistics options, resolved to ms; `false` when they are off. Checked before anything connects. */
function checkStatsOptions(opt: unknown): false | { flushIntervalMs: number; retentionMs: number } {
  if (opt === false) return false;
  if (opt === undefined) opt = {};
  if (typeof opt !== 'object' || opt === null || Array.isArray(opt)) throw new InvalidOptionError('stats', 'expected { flushInterval, retention } or false');
  for (const k of Object.keys(opt)) if (k !== 'flushInterval' && k !== 'retention') throw new InvalidOptionError(`stats.${k}`, 'unknown option');
  const o = opt as StatsOptions;
  return {
    flushIntervalMs: toMs(o.flushInterval ?? '10s', 'stats.flushInterval'),
    retentionMs: toMs(o.retention ?? '24h', 'stats.retention'),
  };
}

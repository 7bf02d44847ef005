import { performance } from 'node:perf_hooks';
import { type DecodedEntry, decodeEntry, encodeEntry, type TagStamp } from '../codec/index.js';
import { DecodeError, InvalidOptionError, StoreError, TroveError, ValueTooLargeError } from '../errors.js';
import type { KeyLayout } from '../keys/index.js';
import { checkWellFormed, regionSegments } from '../keys/index.js';
import type { Encoded, EntryAccess, Loader, ReadThroughOptions, ResolvedReadThrough } from '../load/index.js';
import type { NearCache, NearEntry } from '../near/index.js';
import { escapeGlob, type Store, type WriteOp } from '../store/index.js';
import { checkCallOptions } from './call-options.js';
import type { EventSink } from './events.js';
import type { Generations } from './generations.js';
import { type RegionOptions, type ResolvedRegionOptions, resolveWrite, type WriteOptions } from './options.js';
import type { TagTokens } from './tag-tokens.js';

/** What a region needs from the trove that owns it. */
export interface RegionContext {
  readonly store: Store;
  readonly layout: KeyLayout;
  readonly events: EventSink;
  readonly loader: Loader;
  readonly generations: Generations;
  readonly tags: TagTokens;
  /** The in-process tier, when the trove has one. */
  readonly near: NearCache | undefined;
  /** Channel on which invalidations are broadcast to every process. */
  readonly busChannel: string;
  /** This trove's id in broadcasts. */
  readonly origin: string;
  /** Effective options of a region path (trove defaults, then each ancestor's, then its own). */
  optionsFor(path: string): ResolvedRegionOptions;
  /** Bumped whenever region options change anywhere, so regions can cache theirs. */
  readonly configVersion: { value: number };
  /** Records options given for a region path. */
  configure(path: string, opts: RegionOptions | undefined): void;
  /** Throws ClosedError once the trove is closed. */
  assertOpen(): void;
  isClosed(): boolean;
  /** Whether the current call runs inside `trove.bypass()`: read-through then computes directly. */
  bypassed(): boolean;
}

/** A user key: a string (numbers are converted with `String`). */
export type Key = string | number;

/** Options of `set`, `setMany` and batch writes: ttl, freshness and tags. */
export interface SetOptions extends WriteOptions {
  /** Tags of the entry: `trove.invalidateTags([tag])` invalidates every entry carrying it, in any region. @defaultValue none */
  tags?: readonly string[];
}

/** Options of `getOrSet`: write options, read-through options (overriding the region's), and these. */
export interface GetOrSetOptions extends SetOptions, ReadThroughOptions {
  /** On a hit, push the hard expiry back to a full `ttl` (sliding expiry; one extra pipelined command). @defaultValue `false` */
  refreshTtlOnHit?: boolean;
  /** Return false to answer a computed value without storing it (e.g. an empty result). @defaultValue store everything */
  shouldCache?: (value: unknown) => boolean;
}

/** A computation whose result is cached. */
export type Factory<T> = () => T | Promise<T>;

/** The writes of `region.batch()`: collected, then applied as one MULTI/EXEC. */
export interface BatchWriter<V> {
  set(key: Key, value: V, opts?: SetOptions): void;
  delete(key: Key): void;
}

/** Something that emits events: a Node EventEmitter or a DOM-style EventTarget. */
export type EventSource =
  | { on(event: string, listener: (...args: unknown[]) => void): unknown; off(event: string, listener: (...args: unknown[]) => void): unknown }
  | { addEventListener(event: string, listener: () => void): unknown; removeEventListener(event: string, listener: () => void): unknown };

/** Write options with the tag stamps captured when the computation started. */
type StampedWrite = GetOrSetOptions & { stamps?: readonly TagStamp[] };

/**
 * A named namespace of cache entries with its own defaults. Regions nest:
 * `trove.region('users').region('profiles')` and `trove.region('users.profiles')` are the same region.
 * It behaves like an async map over its live entries.
 */
export class Region<V = unknown> {
  /** Full dotted path of the region, e.g. `'users.profiles'`. */
  readonly path: string;
  private cachedBase = '';
  private cachedVersion = -1;
  private cachedOptions: ResolvedRegionOptions | undefined;
  private cachedOptionsVersion = -1;

  constructor(
    private readonly ctx: RegionContext,
    path: string,
  ) {
    this.path = path;
  }

  /** The region's effective options (defaults applied). */
  get options(): ResolvedRegionOptions {
    if (this.cachedOptionsVersion !== this.ctx.configVersion.value || this.cachedOptions === undefined) {
      this.cachedOptions = this.ctx.optionsFor(this.path);
      this.cachedOptionsVersion = this.ctx.configVersion.value;
    }
    return this.cachedOptions;
  }

  /** A region nested below this one; `name` may itself be dotted. */
  region<C = V>(name: string, opts?: RegionOptions): Region<C> {
    regionSegments(name);
    const path = `${this.path}.${name}`;
    this.ctx.configure(path, opts);
    return new Region<C>(this.ctx, path);
  }

  /**
   * The start of every key of this region in its current generation; undefined until the
   * generations have been read once. Cached, and rebuilt only when a generation changed.
   */
  private baseNow(): string | undefined {
    const g = this.ctx.generations;
    if (!g.ready) return undefined;
    if (this.cachedVersion !== g.version) {
      this.cachedBase = this.ctx.layout.regionBase(g.keyPath(this.path));
      this.cachedVersion = g.version;
    }
    return this.cachedBase;
  }

  /** The base, reading the generations first if needed (rejects with StoreError when the store is unreachable). */
  private async base(): Promise<string> {
    const now = this.baseNow();
    if (now !== undefined) return now;
    try {
      await this.ctx.generations.load();
    } catch (err) {
      throw err instanceof StoreError ? err : new StoreError(String(err), { cause: err });
    }
    return this.baseNow()!;
  }

  /** The Redis key of an entry in the region's current generation (for debugging and for readers in other languages). */
  keyOf(key: Key): string {
    return (this.baseNow() ?? this.ctx.layout.regionBase(this.path)) + checkKey(key);
  }

  /** Reads a value; `undefined` when absent, expired, invalidated, undecodable, or when the store is unreachable. */
  get<T = V>(key: Key): Promise<T | undefined> {
    const fast = this.fastNearHit(key);
    if (fast !== undefined) return Promise.resolve(this.handOut(this.ctx.near!, fast.value) as T);
    let k: string;
    try {
      k = checkKey(key);
      this.ctx.assertOpen();
    } catch (err) {
      return Promise.reject(err);
    }
    const started = this.ctx.events.wants('hit') || this.ctx.events.wants('miss') ? performance.now() : 0;
    const base = this.baseNow();
    if (base === undefined) {
      return this.base().then(
        () => this.get<T>(k),
        (err: unknown) => this.missAfterError<T | undefined>(err, 'get', k, started, undefined),
      );
    }
    const full = base + k;
    const near = this.nearFor();
    if (near !== undefined) {
      const local = this.nearHit(near, full);
      if (local !== undefined) {
        this.emitHit(k, started, local, 'near');
        return Promise.resolve(this.handOut(near, local.value) as T);
      }
    }
    return this.read(near, k, full).then(
      (entry) => this.answer<T>(k, started, entry),
      (err: unknown) => this.missAfterError<T | undefined>(err, 'get', k, started, undefined),
    );
  }

  /**
   * The common case on its own short path: a string key whose fresh value is in the near cache
   * with none of its tags invalidated (no eager refresh configured). Anything else returns
   * undefined and takes the general path, which handles it fully.
   */
  private fastNearHit(key: Key): NearEntry | undefined {
    const near = this.ctx.near;
    if (near === undefined || typeof key !== 'string' || !near.isLive || this.ctx.bypassed()) return undefined;
    const base = this.baseNow();
    const options = this.options;
    if (base === undefined || !options.nearCache || options.readThrough.eagerRefresh !== undefined) return undefined;
    const full = base + key;
    const e = near.getFresh(full);
    if (e === undefined || this.ctx.isClosed()) return undefined;
    if (e.tags !== undefined && this.ctx.tags.isLive(e.tags) !== true) {
      near.drop(full);
      return undefined;
    }
    if (this.ctx.events.wants('hit')) this.ctx.events.emit('hit', { region: this.path, key, durationMs: 0, stale: false, tier: 'near' });
    return e;
  }

  /** The near cache for this region, if it has one. */
  private nearFor(): NearCache | undefined {
    const near = this.ctx.near;
    return near?.isLive && this.options.nearCache ? near : undefined;
  }

  /** A usable local entry: present, in time, and none of its tags invalidated. */
  private nearHit(near: NearCache, full: string): NearEntry | undefined {
    const local = near.get(full);
    if (local === undefined) return undefined;
    if (local.tags !== undefined && this.ctx.tags.isLive(local.tags) !== true) {
      near.drop(full);
      return undefined;
    }
    return local;
  }

  private handOut(near: NearCache, value: unknown): unknown {
    return near.clone ? structuredClone(value) : value;
  }

  /**
   * Reads an entry from the store, keeping it in the near cache when that is race-free.
   * `strict`: a tag check that fails (the store is unreachable) rejects instead of answering a miss.
   */
  private read(near: NearCache | undefined, k: string, full: string, strict = false): Promise<DecodedEntry | undefined> {
    const ticket = near === undefined ? -1 : near.begin(full);
    return this.ctx.store.get(full, near !== undefined).then(
      (buf) => {
        const entry = buf === null ? undefined : this.live(k, buf, strict);
        if (near === undefined) return entry;
        if (entry instanceof Promise) {
          return entry.then(
            (e) => {
              near.end(full, ticket, e, buf?.length ?? 0);
              return e;
            },
            (err: unknown) => {
              near.end(full, ticket, undefined, 0);
              throw err;
            },
          );
        }
        near.end(full, ticket, entry, buf?.length ?? 0);
        return entry;
      },
      (err: unknown) => {
        near?.end(full, ticket, undefined, 0);
        throw err;
      },
    );
  }

  private answer<T>(k: string, started: number, entry: DecodedEntry | undefined): T | undefined {
    if (entry === undefined) {
      this.emitMiss(k, started);
      return undefined;
    }
    this.emitHit(k, started, entry, 'store');
    return entry.value as T;
  }

  private missAfterError<T>(err: unknown, operation: string, k: string, started: number, value: T): T {
    this.emitError(err, operation, k);
    this.emitMiss(k, started);
    return value;
  }

  /**
   * Returns the cached value while fresh. On a miss, one process computes it (a Redis lock; the
   * others wait for its notification, or follow `onCold`); a stale value is answered at once while
   * one process refreshes it; a failing factory is answered by the stale value (fail-safe).
   * Store failures never fail the call: the factory's result is returned regardless.
   */
  getOrSet<T = V>(key: Key, factory: Factory<T>, opts?: GetOrSetOptions): Promise<T> {
    if (opts === undefined && typeof factory === 'function') {
      const fast = this.fastNearHit(key);
      if (fast !== undefined) return Promise.resolve(this.handOut(this.ctx.near!, fast.value) as T);
    }
    let k: string;
    let rt: ResolvedReadThrough;
    try {
      k = checkKey(key);
      this.ctx.assertOpen();
      if (typeof factory !== 'function') throw new InvalidOptionError('factory', 'getOrSet needs a function');
      rt = this.readThroughFor(opts);
    } catch (err) {
      return Promise.reject(err);
    }
    if (this.ctx.bypassed()) return Promise.resolve().then(factory);
    const started = this.ctx.events.wants('hit') || this.ctx.events.wants('miss') ? performance.now() : 0;
    const base = this.baseNow();
    if (base === undefined || opts?.tags !== undefined) return this.getOrSetSlow(k, factory, opts, rt, started);
    return this.readThrough(k, base + k, factory, opts, rt, started);
  }

  /** getOrSet when the generations are not read yet, or tags must be stamped before the key is fixed. */
  private async getOrSetSlow<T>(k: string, factory: Factory<T>, opts: GetOrSetOptions | undefined, rt: ResolvedReadThrough, started: number): Promise<T> {
    let base: string;
    let write: StampedWrite | undefined = opts;
    try {
      base = await this.base();
      // Stamps are taken before the read, so a value computed from data older than an
      // invalidation of its tags carries the old tokens and is never served after it.
      if (opts?.tags !== undefined) write = { ...opts, stamps: await this.ctx.tags.stamp(opts.tags) };
    } catch (err) {
      if (!(err instanceof StoreError)) throw err;
      this.missAfterError(err, 'get', k, started, undefined);
      return this.ctx.loader.direct(this.job(k, this.keyOf(k), factory, opts, rt));
    }
    return this.readThrough(k, base + k, factory, write, rt, started);
  }

  private readThrough<T>(k: string, full: string, factory: Factory<T>, write: StampedWrite | undefined, rt: ResolvedReadThrough, started: number): Promise<T> {
    const near = this.nearFor();
    if (near !== undefined) {
      const local = this.nearHit(near, full);
      if (local !== undefined) {
        const value = this.afterRead(k, full, factory, write, rt, started, local, 'near');
        return value instanceof Promise ? value : Promise.resolve(this.handOut(near, value) as T);
      }
    }
    // Strict: a tag check that timed out must not look like a miss, which would take the lock and
    // wait out a second deadline; the error branch computes directly instead.
    return this.read(near, k, full, true).then(
      (entry) => this.afterRead(k, full, factory, write, rt, started, entry, 'store'),
      (err: unknown) => {
        this.missAfterError(err, 'get', k, started, undefined);
        // The store just failed this read; a write now would most likely wait out a second deadline.
        return this.ctx.loader.direct(this.job(k, full, factory, write, rt));
      },
    );
  }

  private afterRead<T>(
    k: string,
    full: string,
    factory: Factory<T>,
    write: StampedWrite | undefined,
    rt: ResolvedReadThrough,
    started: number,
    entry: { value: unknown; freshUntil: number | undefined } | undefined,
    tier: 'near' | 'store',
  ): T | Promise<T> {
    if (entry === undefined) {
      this.emitMiss(k, started);
      return this.ctx.loader.miss(this.job(k, full, factory, write, rt));
    }
    this.emitHit(k, started, entry, tier);
    if (entry.freshUntil === undefined || entry.freshUntil > Date.now()) {
      if (write?.refreshTtlOnHit) this.touch(k, full, write);
      if (rt.eagerRefresh !== undefined) this.ctx.loader.eager(this.job(k, full, factory, write, rt), entry);
      return entry.value as T;
    }
    return this.ctx.loader.stale(this.job(k, full, factory, write, rt), entry);
  }

  /** The read-through options of a call, after validating all its options (see call-options.ts). */
  private readThroughFor(opts: GetOrSetOptions | undefined): ResolvedReadThrough {
    return opts === undefined ? this.options.readThrough : checkCallOptions(opts, this.options);
  }

  private job<T>(k: string, full: string, factory: Factory<T>, write: StampedWrite | undefined, rt: ResolvedReadThrough) {
    return { key: k, full, factory, write, rt, access: this.access };
  }

  /** How the loader reads, writes and reports for this region. */
  private readonly access: EntryAccess<StampedWrite> = {
    read: (full, k) => this.ctx.store.get(full).then((buf) => (buf === null ? undefined : this.access.fromBytes(k, buf))),
    // Strict, unlike a plain read: a tag check the store fails rejects, so the loader stops waiting on the store.
    fromBytes: (k, bytes) => Promise.resolve(this.live(k, bytes, true)),
    encode: (value, write, freshForMs) => {
      const options = this.options;
      if (freshForMs === undefined) return this.encode(value, options, write, write?.stamps);
      // Fail-safe: keep the value alive at least as long as it is to be served.
      const { ttlMs } = resolveWrite(options, write);
      return this.encode(value, options, { ttl: Math.max(ttlMs, freshForMs), freshFor: freshForMs }, write?.stamps);
    },
    store: (full, bytes, ttlMs, track) => this.ctx.store.set(full, bytes, Number.isFinite(ttlMs) ? ttlMs : undefined, track),
    beginWrite: (full) => this.beginWrite(full),
    endWrite: (full, ticket, written) => this.endWrite(full, ticket, written),
    freshForMs: (write) => resolveWrite(this.options, write).freshForMs,
    shouldCache: (value, write) => !write?.shouldCache || write.shouldCache(value),
    onSet: (k, bytes, ttlMs, startedAt) => {
      if (this.ctx.events.wants('set')) this.ctx.events.emit('set', { region: this.path, key: k, bytes, ttlMs, durationMs: performance.now() - startedAt });
    },
    onCompute: (k, durationMs) => {
      if (this.ctx.events.wants('compute')) this.ctx.events.emit('compute', { region: this.path, key: k, durationMs });
    },
    onStale: (k, reason) => {
      if (this.ctx.events.wants('stale')) this.ctx.events.emit('stale', { region: this.path, key: k, reason });
    },
    onError: (err, operation, k) => this.emitError(err, operation, k),
  };

  /**
   * Before a write is sent: older reads of the key in flight must not be kept. Returns a ticket
   * when the written value is to be kept locally, and then the write must be sent tracked.
   */
  private beginWrite(full: string): number {
    const near = this.ctx.near;
    if (near === undefined) return -1;
    if (!this.options.nearCache) {
      near.drop(full);
      return -1;
    }
    return near.beginWrite(full);
  }

  /**
   * After a write: the written value becomes the local copy (unless it changed again meanwhile).
   * `undefined`: the write failed, and may or may not have reached Redis.
   */
  private endWrite(full: string, ticket: number, written: { value: unknown; encoded: Encoded } | undefined): void {
    const near = this.ctx.near;
    if (near === undefined || ticket === -1) return;
    if (written === undefined) {
      near.writeFailed(full, ticket);
      return;
    }
    const { encoded } = written;
    const entry = { value: written.value, freshUntil: encoded.freshUntil, expiresAt: encoded.expiresAt, ...(encoded.stamps ? { tags: encoded.stamps } : {}) };
    near.end(full, ticket, entry, encoded.bytes.length);
  }

  /** Sliding expiry: resets the hard expiry of an entry that was just read. */
  private touch(k: string, full: string, opts: GetOrSetOptions): void {
    const { ttlMs } = resolveWrite(this.options, opts);
    if (!Number.isFinite(ttlMs)) return;
    // A TTL change is announced like a write: a local copy must expect it, or it would drop itself.
    const near = this.nearFor();
    const ticket = near === undefined ? -1 : near.expectOwnChange(full);
    this.ctx.store.expire(full, ttlMs, ticket !== -1).catch((err: unknown) => {
      near?.ownChangeFailed(full, ticket);
      this.emitError(err, 'refreshTtlOnHit', k);
    });
  }

  /**
   * Stores a value. Throws `SerializationError` when the codec cannot store it faithfully and
   * `ValueTooLargeError` above `maxValueBytes`; a store failure is reported as an `error` event
   * (a cache write is best-effort) and the call resolves.
   */
  async set<T = V>(key: Key, value: T, opts?: SetOptions): Promise<void> {
    const k = checkKey(key);
    this.ctx.assertOpen();
    if (opts !== undefined) checkCallOptions(opts, this.options);
    const started = this.ctx.events.wants('set') ? performance.now() : 0;
    let full: string | undefined;
    let ticket = -1;
    try {
      const stamps = opts?.tags !== undefined ? await this.ctx.tags.stamp(opts.tags) : undefined;
      const encoded = this.encode(value, this.options, opts, stamps);
      full = (await this.base()) + k;
      ticket = this.beginWrite(full);
      await this.ctx.store.set(full, encoded.bytes, Number.isFinite(encoded.ttlMs) ? encoded.ttlMs : undefined, ticket !== -1);
      this.endWrite(full, ticket, { value, encoded });
      if (started !== 0)
        this.ctx.events.emit('set', { region: this.path, key: k, bytes: encoded.bytes.length, ttlMs: encoded.ttlMs, durationMs: performance.now() - started });
    } catch (err) {
      if (full !== undefined) this.endWrite(full, ticket, undefined);
      if (err instanceof StoreError) this.emitError(err, 'set', k);
      else throw err;
    }
  }

  private encode(value: unknown, options: ResolvedRegionOptions, opts: WriteOptions | undefined, stamps?: readonly TagStamp[]): Encoded {
    const { ttlMs, freshForMs } = resolveWrite(options, opts);
    const now = Date.now();
    const freshUntil = !options.raw && freshForMs < ttlMs ? now + freshForMs : undefined;
    // The hard expiry lets every process cap its local copy without asking Redis (whatever the
    // writer's own configuration, since readers may have a near cache).
    const expiresAt = !options.raw && Number.isFinite(ttlMs) ? now + Math.ceil(ttlMs) : undefined;
    const bytes = encodeEntry(value, freshUntil, options, stamps, expiresAt);
    if (bytes.length > options.maxValueBytes) throw new ValueTooLargeError(bytes.length, options.maxValueBytes);
    return { ttlMs, bytes, freshUntil, expiresAt, stamps };
  }

  /** Deletes a value; resolves to whether it existed. Throws `StoreError` when the store cannot be reached (the caller relies on the delete). */
  async delete(key: Key): Promise<boolean> {
    const k = checkKey(key);
    this.ctx.assertOpen();
    const started = this.ctx.events.wants('delete') ? performance.now() : 0;
    const full = (await this.base()) + k;
    this.ctx.near?.drop(full);
    const n = await this.ctx.store.delete([full]);
    if (started !== 0) this.ctx.events.emit('delete', { region: this.path, key: k, durationMs: performance.now() - started });
    return n > 0;
  }

  /** Whether a live value is stored under the key; `false` when the store is unreachable (with an `error` event). */
  async has(key: Key): Promise<boolean> {
    const k = checkKey(key);
    this.ctx.assertOpen();
    try {
      const full = (await this.base()) + k;
      const near = this.nearFor();
      if (near !== undefined && this.nearHit(near, full) !== undefined) return true;
      return (await this.read(near, k, full)) !== undefined;
    } catch (err) {
      this.emitError(err, 'has', k);
      return false;
    }
  }

  /** Reads several values in one round trip; `undefined` for each one absent or unreadable. */
  async getMany<T = V>(keys: readonly Key[]): Promise<(T | undefined)[]> {
    const ks = keys.map(checkKey);
    this.ctx.assertOpen();
    if (ks.length === 0) return [];
    const started = this.ctx.events.wants('hit') || this.ctx.events.wants('miss') ? performance.now() : 0;
    let base: string;
    try {
      base = await this.base();
    } catch (err) {
      this.emitError(err, 'getMany');
      for (const k of ks) this.emitMiss(k, started);
      return ks.map(() => undefined);
    }
    const near = this.nearFor();
    const out: (T | undefined)[] = new Array(ks.length);
    const remote: number[] = [];
    for (let i = 0; i < ks.length; i++) {
      const local = near === undefined ? undefined : this.nearHit(near, base + ks[i]!);
      if (local === undefined) remote.push(i);
      else {
        this.emitHit(ks[i]!, started, local, 'near');
        out[i] = this.handOut(near!, local.value) as T;
      }
    }
    if (remote.length === 0) return out;
    const fulls = remote.map((i) => base + ks[i]!);
    const tickets = near === undefined ? [] : fulls.map((f) => near.begin(f));
    let bufs: (Buffer | null)[];
    try {
      bufs = await this.ctx.store.mget(fulls, near !== undefined);
    } catch (err) {
      for (let j = 0; j < fulls.length; j++) near?.end(fulls[j]!, tickets[j]!, undefined, 0);
      this.emitError(err, 'getMany');
      for (const i of remote) this.emitMiss(ks[i]!, started);
      return out;
    }
    const entries = await Promise.all(remote.map((i, j) => (bufs[j] ? this.live(ks[i]!, bufs[j]) : undefined)));
    remote.forEach((i, j) => {
      near?.end(fulls[j]!, tickets[j]!, entries[j], bufs[j]?.length ?? 0);
      out[i] = this.answer<T>(ks[i]!, started, entries[j]);
    });
    return out;
  }

  /**
   * Stores several values in one atomic round trip. Every value is encoded before anything is
   * written, so a value the codec rejects throws and nothing is stored.
   */
  async setMany<T = V>(entries: Iterable<readonly [Key, T]>, opts?: SetOptions): Promise<void> {
    this.ctx.assertOpen();
    await this.batch<T>((tx) => {
      for (const [key, value] of entries) tx.set(key, value, opts);
    });
  }

  /**
   * Applies several writes and deletes as one MULTI/EXEC: all or none. The callback collects
   * them; if it throws (or a value cannot be encoded), nothing is applied. A store failure is
   * reported as an `error` event, like `set`.
   */
  async batch<T = V>(fn: (tx: BatchWriter<T>) => void | Promise<void>): Promise<void> {
    this.ctx.assertOpen();
    const pending: ({ type: 'set'; key: string; value: unknown; opts: SetOptions | undefined } | { type: 'delete'; key: string })[] = [];
    await fn({
      set: (key, value, opts) => {
        if (opts !== undefined) checkCallOptions(opts, this.options);
        pending.push({ type: 'set', key: checkKey(key), value, opts });
      },
      delete: (key) => {
        pending.push({ type: 'delete', key: checkKey(key) });
      },
    });
    if (pending.length === 0) return;
    const options = this.options;
    const started = this.ctx.events.wants('set') || this.ctx.events.wants('delete') ? performance.now() : 0;
    const ops: WriteOp[] = [];
    const written: { key: string; bytes: number; ttlMs: number }[] = [];
    const local: { full: string; at: number; ticket: number; value: unknown; encoded: Encoded }[] = [];
    try {
      const base = await this.base();
      const tagged = [...new Set(pending.flatMap((p) => (p.type === 'set' ? (p.opts?.tags ?? []) : [])))];
      if (tagged.length > 0) await this.ctx.tags.stamp(tagged);
      // One stamp per distinct tag list, not per entry: setMany passes the same options to
      // every entry, and an await per entry made 100k writes wait out 100k microtask turns.
      const stampsOf = new Map<string, readonly TagStamp[]>();
      for (const p of pending) {
        if (p.type === 'delete') {
          ops.push({ type: 'delete', key: base + p.key });
          continue;
        }
        let stamps: readonly TagStamp[] | undefined;
        if (p.opts?.tags !== undefined) {
          const id = JSON.stringify(p.opts.tags);
          stamps = stampsOf.get(id);
          if (stamps === undefined) {
            stamps = await this.ctx.tags.stamp(p.opts.tags);
            stampsOf.set(id, stamps);
          }
        }
        const encoded = this.encode(p.value, options, p.opts, stamps);
        const full = base + p.key;
        local.push({ full, at: ops.length, ticket: -1, value: p.value, encoded });
        ops.push({ type: 'set', key: full, value: encoded.bytes, ttlMs: Number.isFinite(encoded.ttlMs) ? encoded.ttlMs : undefined });
        written.push({ key: p.key, bytes: encoded.bytes.length, ttlMs: encoded.ttlMs });
      }
      // Only the last operation on a key decides its local copy: a key set twice keeps its last
      // value, a key set then deleted keeps none. A map from key to its last operation keeps this
      // linear (a search per entry took 10 s for 32k entries).
      const lastOp = new Map<string, number>();
      for (let i = 0; i < ops.length; i++) lastOp.set(ops[i]!.key, i);
      const kept = local.filter((l) => lastOp.get(l.full) === l.at);
      for (const op of ops) if (op.type === 'delete') this.ctx.near?.drop(op.key);
      for (const l of kept) l.ticket = this.beginWrite(l.full);
      try {
        await this.ctx.store.exec(
          ops,
          kept.some((l) => l.ticket !== -1),
        );
      } catch (err) {
        for (const l of kept) this.endWrite(l.full, l.ticket, undefined);
        throw err;
      }
      for (const l of kept) this.endWrite(l.full, l.ticket, { value: l.value, encoded: l.encoded });
    } catch (err) {
      if (err instanceof StoreError) {
        this.emitError(err, 'batch');
        return;
      }
      throw err;
    }
    if (started === 0) return;
    const durationMs = performance.now() - started;
    for (const w of written) this.ctx.events.emit('set', { region: this.path, key: w.key, bytes: w.bytes, ttlMs: w.ttlMs, durationMs });
    for (const p of pending) if (p.type === 'delete') this.ctx.events.emit('delete', { region: this.path, key: p.key, durationMs });
  }

  /**
   * Invalidates this region and every region below it, in every process, in O(1): one atomic
   * write of a new generation (old entries are never read again and are reclaimed by their TTL or
   * the sweep). Throws `StoreError` when the store cannot be reached.
   */
  async invalidate(): Promise<void> {
    this.ctx.assertOpen();
    await this.ctx.generations.invalidate(this.path, this.ctx.busChannel, this.ctx.origin);
    if (this.ctx.events.wants('invalidate')) this.ctx.events.emit('invalidate', { region: this.path, origin: 'local' });
  }

  /** Empties the region (and the regions below it): the same O(1) operation as `invalidate()`. */
  clear(): Promise<void> {
    return this.invalidate();
  }

  /**
   * Invalidates this region whenever `source` emits `event` (a Node EventEmitter or an
   * EventTarget). Returns a function that stops listening.
   */
  invalidateOn(source: EventSource, event: string): () => void {
    const listener = (): void => {
      this.invalidate().catch((err: unknown) => this.emitError(err, 'invalidate'));
    };
    if ('on' in source) {
      source.on(event, listener);
      return () => {
        source.off(event, listener);
      };
    }
    source.addEventListener(event, listener);
    return () => {
      source.removeEventListener(event, listener);
    };
  }

  /**
   * The live entries of this region (not of regions below it), read in batches with SCAN and
   * MGET: never a blocking call. Entries written or removed during the iteration may or may not
   * be seen; every entry seen is live when read, and none is seen twice.
   */
  async *entries<T = V>(opts: { batchSize?: number } = {}): AsyncIterableIterator<[string, T]> {
    this.ctx.assertOpen();
    const base = await this.base();
    const seen = new Set<string>();
    for await (const keys of this.ctx.store.scan(`${escapeGlob(base)}*`, opts.batchSize ?? 500)) {
      const fresh = keys.filter((key) => !seen.has(key));
      for (const key of fresh) seen.add(key);
      if (fresh.length === 0) continue;
      const bufs = await this.ctx.store.mget(fresh);
      for (let i = 0; i < fresh.length; i++) {
        const buf = bufs[i];
        if (!buf) continue;
        const k = fresh[i]!.slice(base.length);
        const entry = await this.live(k, buf);
        if (entry !== undefined) yield [k, entry.value as T];
      }
    }
  }

  /** The keys of the live entries of this region (see `entries()`). */
  async *keys(opts: { batchSize?: number } = {}): AsyncIterableIterator<string> {
    for await (const [k] of this.entries(opts)) yield k;
  }

  /** The values of the live entries of this region (see `entries()`). */
  async *values<T = V>(opts: { batchSize?: number } = {}): AsyncIterableIterator<T> {
    for await (const [, v] of this.entries<T>(opts)) yield v;
  }

  /** The number of live entries of this region; reads every entry (O(n)), so meant for tooling, not hot paths. */
  async size(): Promise<number> {
    let n = 0;
    for await (const _ of this.entries()) n++;
    return n;
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<[string, V]> {
    return this.entries<V>();
  }

  /**
   * Decodes an entry and checks its tags: the entry when live, undefined when absent, invalidated
   * or undecodable. When the tags cannot be checked: undefined with an error event, or with
   * `strict` a rejection.
   */
  private live(k: string, buf: Buffer, strict = false): DecodedEntry | undefined | Promise<DecodedEntry | undefined> {
    const entry = this.decode(k, buf);
    if (entry?.tags === undefined) return entry;
    const quick = this.ctx.tags.isLive(entry.tags);
    if (quick !== undefined) return quick ? entry : undefined;
    return this.ctx.tags.check(entry.tags).then(
      (ok) => (ok ? entry : undefined),
      (err: unknown) => {
        if (strict) throw err;
        // Tags cannot be checked: do not serve a possibly invalidated value.
        this.emitError(err, 'tags', k);
        return undefined;
      },
    );
  }

  private decode(k: string, buf: Buffer): DecodedEntry | undefined {
    const options = this.options;
    try {
      return decodeEntry(buf, { codec: options.codec, raw: options.raw });
    } catch (err) {
      const error = err instanceof DecodeError ? err : new DecodeError(`Cannot decode the value of ${this.keyOf(k)}`, { cause: err });
      this.emitError(error, 'decode', k);
      return undefined;
    }
  }

  private emitHit(k: string, started: number, entry: { freshUntil: number | undefined }, tier: 'near' | 'store'): void {
    if (!this.ctx.events.wants('hit')) return;
    const stale = entry.freshUntil !== undefined && entry.freshUntil <= Date.now();
    this.ctx.events.emit('hit', { region: this.path, key: k, durationMs: performance.now() - started, stale, tier });
  }

  private emitMiss(k: string, started: number): void {
    if (!this.ctx.events.wants('miss')) return;
    this.ctx.events.emit('miss', { region: this.path, key: k, durationMs: started === 0 ? 0 : performance.now() - started });
  }

  private emitError(err: unknown, operation: string, key?: string): void {
    if (!this.ctx.events.wants('error')) return;
    const error = err instanceof TroveError ? err : new StoreError(err instanceof Error ? err.message : String(err), { cause: err });
    this.ctx.events.emit('error', key === undefined ? { error, operation, region: this.path } : { error, operation, region: this.path, key });
  }
}

function checkKey(key: Key): string {
  // Ill-formed UTF-16 would reach Redis as U+FFFD: '\uD800' and '\uDC00' would share one key.
  if (typeof key === 'string') return checkWellFormed(key, 'key', 'the key');
  if (typeof key === 'number' && Number.isFinite(key)) return String(key);
  throw new InvalidOptionError('key', `expected a string or a finite number, got ${typeof key === 'number' ? String(key) : typeof key}`);
}

import { performance } from 'node:perf_hooks';
import { type DecodedEntry, decodeEntry, encodeEntry } from '../codec/index.js';
import { DecodeError, InvalidOptionError, StoreError, TroveError, ValueTooLargeError } from '../errors.js';
import type { KeyLayout } from '../keys/index.js';
import { applyReadThrough, type EntryAccess, type Loader, READ_THROUGH_KEYS, type ReadThroughOptions, type ResolvedReadThrough } from '../load/index.js';
import { regionSegments } from '../keys/index.js';
import type { Store, WriteOp } from '../store/index.js';
import type { EventSink } from './events.js';
import { type RegionOptions, type ResolvedRegionOptions, resolveWrite, type WriteOptions } from './options.js';

/** What a region needs from the trove that owns it. */
export interface RegionContext {
  readonly store: Store;
  readonly layout: KeyLayout;
  readonly events: EventSink;
  readonly loader: Loader;
  /** Effective options of a region path (trove defaults, then each ancestor's, then its own). */
  optionsFor(path: string): ResolvedRegionOptions;
  /** Records options given for a region path. */
  configure(path: string, opts: RegionOptions | undefined): void;
  /** Throws ClosedError once the trove is closed. */
  assertOpen(): void;
  /** Whether the current call runs inside `trove.bypass()`: read-through then computes directly. */
  bypassed(): boolean;
}

/** A user key: a string (numbers are converted with `String`). */
export type Key = string | number;

/** Options of `getOrSet`: write options, read-through options (overriding the region's), and these. */
export interface GetOrSetOptions extends WriteOptions, ReadThroughOptions {
  /** On a hit, push the hard expiry back to a full `ttl` (sliding expiry; one extra pipelined command). @defaultValue `false` */
  refreshTtlOnHit?: boolean;
  /** Return false to answer a computed value without storing it (e.g. an empty result). @defaultValue store everything */
  shouldCache?: (value: unknown) => boolean;
}

/** A computation whose result is cached. */
export type Factory<T> = () => T | Promise<T>;

/**
 * A named namespace of cache entries with its own defaults. Regions nest:
 * `trove.region('users').region('profiles')` and `trove.region('users.profiles')` are the same region.
 */
export class Region<V = unknown> {
  /** Full dotted path of the region, e.g. `'users.profiles'`. */
  readonly path: string;
  private readonly base: string;

  constructor(
    private readonly ctx: RegionContext,
    path: string,
  ) {
    this.path = path;
    this.base = ctx.layout.regionBase(path);
  }

  /** The region's effective options (defaults applied). */
  get options(): ResolvedRegionOptions {
    return this.ctx.optionsFor(this.path);
  }

  /** A region nested below this one; `name` may itself be dotted. */
  region<C = V>(name: string, opts?: RegionOptions): Region<C> {
    regionSegments(name);
    const path = `${this.path}.${name}`;
    this.ctx.configure(path, opts);
    return new Region<C>(this.ctx, path);
  }

  /** The Redis key of an entry (useful for debugging and for readers in other languages). */
  keyOf(key: Key): string {
    return this.base + checkKey(key);
  }

  /** Reads a value; `undefined` when absent, expired, undecodable, or when the store is unreachable. */
  get<T = V>(key: Key): Promise<T | undefined> {
    let k: string;
    try {
      k = checkKey(key);
      this.ctx.assertOpen();
    } catch (err) {
      return Promise.reject(err);
    }
    const started = this.ctx.events.wants('hit') || this.ctx.events.wants('miss') ? performance.now() : 0;
    return this.ctx.store.get(this.base + k).then(
      (buf) => {
        const entry = buf === null ? undefined : this.decode(k, buf);
        if (entry === undefined) {
          this.emitMiss(k, started);
          return undefined;
        }
        this.emitHit(k, started, entry);
        return entry.value as T;
      },
      (err: unknown) => {
        this.emitError(err, 'get', k);
        this.emitMiss(k, started);
        return undefined;
      },
    );
  }

  /**
   * Returns the cached value while fresh. On a miss, one process computes it (a Redis lock; the
   * others wait for its notification, or follow `onCold`); a stale value is answered at once while
   * one process refreshes it; a failing factory is answered by the stale value (fail-safe).
   * Store failures never fail the call: the factory's result is returned regardless.
   */
  getOrSet<T = V>(key: Key, factory: Factory<T>, opts?: GetOrSetOptions): Promise<T> {
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
    const full = this.base + k;
    return this.ctx.store.get(full).then(
      (buf) => {
        const entry = buf === null ? undefined : this.decode(k, buf);
        if (entry === undefined) {
          this.emitMiss(k, started);
          return this.ctx.loader.miss(this.job(k, full, factory, opts, rt));
        }
        this.emitHit(k, started, entry);
        if (entry.freshUntil === undefined || entry.freshUntil > Date.now()) {
          if (opts?.refreshTtlOnHit) this.touch(k, full, opts);
          if (rt.eagerRefresh !== undefined) this.ctx.loader.eager(this.job(k, full, factory, opts, rt), entry);
          return entry.value as T;
        }
        return this.ctx.loader.stale(this.job(k, full, factory, opts, rt), entry);
      },
      (err: unknown) => {
        this.emitError(err, 'get', k);
        this.emitMiss(k, started);
        // The store just failed this read; a write now would most likely wait out a second deadline.
        return this.ctx.loader.direct(this.job(k, full, factory, opts, rt));
      },
    );
  }

  private readThroughFor(opts: GetOrSetOptions | undefined): ResolvedReadThrough {
    const base = this.options.readThrough;
    if (opts === undefined) return base;
    for (const name of READ_THROUGH_KEYS) if (opts[name] !== undefined) return applyReadThrough(base, opts, '');
    return base;
  }

  private job<T>(k: string, full: string, factory: Factory<T>, write: GetOrSetOptions | undefined, rt: ResolvedReadThrough) {
    return { key: k, full, factory, write, rt, access: this.access };
  }

  /** How the loader reads, writes and reports for this region. */
  private readonly access: EntryAccess<GetOrSetOptions> = {
    read: (full, k) => this.ctx.store.get(full).then((buf) => (buf === null ? undefined : this.decode(k, buf))),
    encode: (value, write, freshForMs) => {
      const options = this.options;
      if (freshForMs === undefined) return this.encode(value, options, write);
      // Fail-safe: keep the value alive at least as long as it is to be served.
      const { ttlMs } = resolveWrite(options, write);
      return this.encode(value, options, { ttl: Math.max(ttlMs, freshForMs), freshFor: freshForMs });
    },
    store: (full, bytes, ttlMs) => this.ctx.store.set(full, bytes, Number.isFinite(ttlMs) ? ttlMs : undefined),
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

  /** Sliding expiry: resets the hard expiry of an entry that was just read. */
  private touch(k: string, full: string, opts: GetOrSetOptions): void {
    const { ttlMs } = resolveWrite(this.options, opts);
    if (!Number.isFinite(ttlMs)) return;
    this.ctx.store.expire(full, ttlMs).catch((err: unknown) => this.emitError(err, 'expire', k));
  }

  /**
   * Stores a value. Throws `SerializationError` when the codec cannot store it faithfully and
   * `ValueTooLargeError` above `maxValueBytes`; a store failure is reported as an `error` event
   * (a cache write is best-effort) and the call resolves.
   */
  async set<T = V>(key: Key, value: T, opts?: WriteOptions): Promise<void> {
    const k = checkKey(key);
    this.ctx.assertOpen();
    try {
      await this.write(k, value, opts);
    } catch (err) {
      if (err instanceof StoreError) this.emitError(err, 'set', k);
      else throw err;
    }
  }

  private async write(k: string, value: unknown, opts: WriteOptions | undefined): Promise<void> {
    const options = this.options;
    const started = this.ctx.events.wants('set') ? performance.now() : 0;
    const { ttlMs, bytes } = this.encode(value, options, opts);
    await this.ctx.store.set(this.base + k, bytes, Number.isFinite(ttlMs) ? ttlMs : undefined);
    if (started !== 0) this.ctx.events.emit('set', { region: this.path, key: k, bytes: bytes.length, ttlMs, durationMs: performance.now() - started });
  }

  private encode(value: unknown, options: ResolvedRegionOptions, opts: WriteOptions | undefined): { ttlMs: number; bytes: Buffer } {
    const { ttlMs, freshForMs } = resolveWrite(options, opts);
    const freshUntil = !options.raw && freshForMs < ttlMs ? Date.now() + freshForMs : undefined;
    const bytes = encodeEntry(value, freshUntil, options);
    if (bytes.length > options.maxValueBytes) throw new ValueTooLargeError(bytes.length, options.maxValueBytes);
    return { ttlMs, bytes };
  }

  /** Deletes a value; resolves to whether it existed. Throws `StoreError` when the store cannot be reached (the caller relies on the delete). */
  async delete(key: Key): Promise<boolean> {
    const k = checkKey(key);
    this.ctx.assertOpen();
    const started = this.ctx.events.wants('delete') ? performance.now() : 0;
    const n = await this.ctx.store.delete([this.base + k]);
    if (started !== 0) this.ctx.events.emit('delete', { region: this.path, key: k, durationMs: performance.now() - started });
    return n > 0;
  }

  /** Whether a value is stored under the key; `false` when the store is unreachable (with an `error` event). */
  async has(key: Key): Promise<boolean> {
    const k = checkKey(key);
    this.ctx.assertOpen();
    try {
      return await this.ctx.store.exists(this.base + k);
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
    let bufs: (Buffer | null)[];
    try {
      bufs = await this.ctx.store.mget(ks.map((k) => this.base + k));
    } catch (err) {
      this.emitError(err, 'getMany');
      for (const k of ks) this.emitMiss(k, started);
      return ks.map(() => undefined);
    }
    return ks.map((k, i) => {
      const buf = bufs[i] ?? null;
      const entry = buf === null ? undefined : this.decode(k, buf);
      if (entry === undefined) {
        this.emitMiss(k, started);
        return undefined;
      }
      this.emitHit(k, started, entry);
      return entry.value as T;
    });
  }

  /**
   * Stores several values in one atomic round trip. Every value is encoded before anything is
   * written, so a value the codec rejects throws and nothing is stored.
   */
  async setMany<T = V>(entries: Iterable<readonly [Key, T]>, opts?: WriteOptions): Promise<void> {
    this.ctx.assertOpen();
    const options = this.options;
    const ops: WriteOp[] = [];
    const started = this.ctx.events.wants('set') ? performance.now() : 0;
    const written: { key: string; bytes: number; ttlMs: number }[] = [];
    for (const [key, value] of entries) {
      const k = checkKey(key);
      const { ttlMs, bytes } = this.encode(value, options, opts);
      ops.push({ type: 'set', key: this.base + k, value: bytes, ttlMs: Number.isFinite(ttlMs) ? ttlMs : undefined });
      written.push({ key: k, bytes: bytes.length, ttlMs });
    }
    try {
      await this.ctx.store.exec(ops);
    } catch (err) {
      if (err instanceof StoreError) {
        this.emitError(err, 'setMany');
        return;
      }
      throw err;
    }
    if (started !== 0) {
      const durationMs = performance.now() - started;
      for (const w of written) this.ctx.events.emit('set', { region: this.path, key: w.key, bytes: w.bytes, ttlMs: w.ttlMs, durationMs });
    }
  }

  private decode(k: string, buf: Buffer): DecodedEntry | undefined {
    const options = this.options;
    try {
      return decodeEntry(buf, { codec: options.codec, raw: options.raw });
    } catch (err) {
      const error = err instanceof DecodeError ? err : new DecodeError(`Cannot decode the value of ${this.base + k}`, { cause: err });
      this.emitError(error, 'decode', k);
      return undefined;
    }
  }

  private emitHit(k: string, started: number, entry: DecodedEntry): void {
    if (!this.ctx.events.wants('hit')) return;
    const stale = entry.freshUntil !== undefined && entry.freshUntil <= Date.now();
    this.ctx.events.emit('hit', { region: this.path, key: k, durationMs: performance.now() - started, stale });
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
  if (typeof key === 'string') return key;
  if (typeof key === 'number' && Number.isFinite(key)) return String(key);
  throw new InvalidOptionError('key', `expected a string or a finite number, got ${typeof key === 'number' ? String(key) : typeof key}`);
}

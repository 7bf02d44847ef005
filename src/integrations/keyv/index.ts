/**
 * `trove-cache/keyv`: a trove region as a Keyv storage adapter, so that Keyv, cache-manager and
 * NestJS's `CacheModule` read and write through Trove (near cache, batched reads, deadlines,
 * O(1) clear).
 *
 * ```ts
 * const keyv = new Keyv({ store: new TroveKeyvStore(trove.region('kv')) });
 * const cache = createCache({ stores: [keyv] });           // cache-manager 7
 * ```
 *
 * Decisions:
 * - Values are stored as Keyv hands them over: the string its serializer made (the default), or,
 *   with Keyv's `serialize` turned off, the `{ value, expires }` object itself, encoded by the
 *   region's codec. Either way Keyv reads back what it wrote, and checks `expires` itself.
 * - `ttl` (milliseconds) becomes the entry's expiry in Redis. Without one (a Keyv without `ttl`)
 *   the region's `ttl` applies (Trove's default: one hour), not "never": a cache that keeps
 *   entries forever by default fills Redis. Give the region `ttl: Infinity` for Keyv's own default.
 * - A Keyv namespace is a region below the store's region: `new Keyv({ store, namespace: 'users' })`
 *   keeps its entries in `kv.users`, under the keys Keyv gives (`users:42`), so that `clear()` is
 *   `invalidate()` of that region: one write whatever its size, in every process, and other
 *   namespaces are left alone. Without a namespace, entries live in the store's region itself and
 *   `clear()` invalidates it with every namespace below it.
 * - As with Keyv's other adapters, the namespace is the store's (Keyv sets it when it is given the
 *   store): give each Keyv its own `TroveKeyvStore` (they are cheap: a region handle each).
 * - `disconnect()` leaves the trove open: it is shared, and its owner closes it.
 */
import { EventEmitter } from 'node:events';
import { InvalidOptionError, type Region, type WriteOptions } from 'trove-cache';

/** The options a Keyv adapter publishes (Keyv reads `dialect` to know the store can be iterated). */
export interface TroveKeyvStoreOpts {
  /** Keyv's name for the kind of store; `'redis'` makes `keyv.iterator()` available. */
  dialect: 'redis';
  /** The path of the store's region, e.g. `'kv'`. */
  region: string;
}

/** An entry of {@link TroveKeyvStore.setMany}: Keyv's `{ key, value, ttl }`. */
export interface TroveKeyvEntry {
  /** The key, as Keyv gives it (with its namespace prefix, e.g. `'keyv:42'`). */
  key: string;
  /** What Keyv stores: its serialized string, or the `{ value, expires }` object when its serializer is off. */
  value: unknown;
  /** Time to live, in milliseconds; omitted or `0`: the region's `ttl`. */
  ttl?: number;
}

/**
 * A Keyv storage adapter (Keyv 5's `KeyvStoreAdapter`) over a trove region: pass it as Keyv's
 * `store`. See the module documentation for how values, TTLs and namespaces map.
 *
 * @example
 * ```ts
 * const keyv = new Keyv({ store: new TroveKeyvStore(trove.region('kv', { ttl: '1h' })) });
 * ```
 */
export class TroveKeyvStore extends EventEmitter {
  /** The region given to the constructor; namespaces are regions below it. */
  readonly region: Region<unknown>;
  /** What Keyv reads from its adapters (see {@link TroveKeyvStoreOpts}). */
  readonly opts: TroveKeyvStoreOpts;
  private currentNamespace: string | undefined;
  /** The region entries go to: the namespace's, or `region` without one. */
  private target: Region<unknown>;

  /**
   * @param region - where entries live, e.g. `trove.region('kv')`; its options (`ttl`, `codec`,
   * `nearCache`, …) apply to them, and to the regions of namespaces below it
   */
  constructor(region: Region<unknown>) {
    super();
    if (typeof region !== 'object' || region === null || typeof region.region !== 'function' || typeof region.invalidate !== 'function') {
      throw new InvalidOptionError('region', 'expected a region, e.g. trove.region("kv")');
    }
    this.region = region;
    this.target = region;
    this.opts = { dialect: 'redis', region: region.path };
  }

  /**
   * Keyv's namespace (Keyv sets it: `'keyv'` unless told otherwise); entries go to the region of
   * that name below {@link TroveKeyvStore.region}. `undefined`: the region itself.
   * @throws InvalidOptionError when the name cannot be a region name (letters, digits, `_` and `-` only; no dots, no leading `__`)
   */
  get namespace(): string | undefined {
    return this.currentNamespace;
  }

  set namespace(namespace: string | undefined) {
    if (namespace === undefined || namespace === '') {
      this.currentNamespace = undefined;
      this.target = this.region;
      return;
    }
    if (typeof namespace !== 'string' || namespace.includes('.')) {
      throw new InvalidOptionError('namespace', `${JSON.stringify(namespace)}: a namespace is one region name (letters, digits, _ and -), without dots`);
    }
    try {
      this.target = this.region.region(namespace);
    } catch (err) {
      if (err instanceof InvalidOptionError) {
        throw new InvalidOptionError(
          'namespace',
          `${JSON.stringify(namespace)}: a namespace must be a region name (letters, digits, _ and -, not starting with __)`,
        );
      }
      throw err;
    }
    this.currentNamespace = namespace;
  }

  /** Reads an entry; `undefined` when absent or expired (or when Redis cannot be reached: Trove reports an `error` event). */
  get<Value>(key: string): Promise<Value | undefined> {
    return this.target.get<Value>(key);
  }

  /** Reads several entries in one round trip, in the order of `keys`; `undefined` for each one absent. */
  getMany<Value>(keys: string[]): Promise<(Value | undefined)[]> {
    return this.target.getMany<Value>(keys);
  }

  /**
   * Stores an entry for `ttl` milliseconds (omitted or `0`: the region's `ttl`). Resolves `true`;
   * a write Redis fails is reported as a trove `error` event, as Trove's writes are best-effort.
   * @throws InvalidOptionError for a negative or NaN `ttl`; SerializationError, ValueTooLargeError as `region.set`
   */
  async set(key: string, value: unknown, ttl?: number): Promise<boolean> {
    await this.target.set(key, value, writeOptions(ttl));
    return true;
  }

  /** Stores several entries, each with its own `ttl`, as one MULTI/EXEC (all or none; a failed write is an `error` event, as `set`). */
  async setMany(entries: TroveKeyvEntry[]): Promise<void> {
    const writes = entries.map((e) => [e.key, e.value, writeOptions(e.ttl)] as const);
    await this.target.batch((tx) => {
      for (const [key, value, opts] of writes) tx.set(key, value, opts);
    });
  }

  /** Deletes an entry; resolves to whether it existed. Rejects with `StoreError` when Redis cannot be reached. */
  delete(key: string): Promise<boolean> {
    return this.target.delete(key);
  }

  /** Deletes several entries; resolves to whether any of them existed. */
  async deleteMany(keys: string[]): Promise<boolean> {
    const deleted = await Promise.all(keys.map((k) => this.target.delete(k)));
    return deleted.some(Boolean);
  }

  /** Whether a live entry is stored under the key. */
  has(key: string): Promise<boolean> {
    return this.target.has(key);
  }

  /** Whether a live entry is stored under each key, read in one round trip. */
  async hasMany(keys: string[]): Promise<boolean[]> {
    return (await this.target.getMany(keys)).map((v) => v !== undefined);
  }

  /**
   * Empties the namespace: `invalidate()` of its region, one write whatever its size, seen by every
   * process. Without a namespace, the store's region and every namespace below it.
   */
  clear(): Promise<void> {
    return this.target.invalidate();
  }

  /**
   * The entries of a namespace (default: none, the store's region itself), as `[key, value]`,
   * read in batches with SCAN and MGET. Keyv's `iterator()` calls it with its namespace.
   */
  async *iterator<Value>(namespace?: string): AsyncGenerator<[string, Value], void> {
    const region =
      namespace === undefined || namespace === '' ? this.region : namespace === this.currentNamespace ? this.target : this.region.region(namespace);
    for await (const entry of region.entries<Value>()) yield entry;
  }

  /** Resolves at once: the trove is shared, so its owner closes it (`trove.close()`). */
  async disconnect(): Promise<void> {}
}

/** Keyv's ttl as write options: milliseconds; `undefined` or `0` (Keyv's "none") leaves the region's. */
function writeOptions(ttl: number | undefined): WriteOptions | undefined {
  if (ttl === undefined || ttl === 0) return undefined;
  if (typeof ttl !== 'number' || Number.isNaN(ttl) || ttl < 0) throw new InvalidOptionError('ttl', `expected milliseconds above 0, got ${String(ttl)}`);
  return { ttl };
}

import { regionSegments } from '../keys/index.js';
import { batch, setMany } from './batch-writer.js';
import { countEntries, liveEntries } from './iteration.js';
import { checkKey } from './key-base.js';
import { fastNearAnswer } from './near-fast-path.js';
import type { RegionOptions, ResolvedRegionOptions } from './options.js';
import { get, getMany, has } from './read-path.js';
import { getOrSet } from './read-through.js';
import { getOrSetMany } from './read-through-many.js';
import type { BatchWriter, EntryTtl, EventSource, Factory, GetOrSetOptions, Key, ManyFactory, Region, SetOptions } from './region.js';
import { ttlOf } from './entry-ttl.js';
import type { RegionContext } from './region-context.js';
import { RegionCore } from './region-core.js';
import { invalidate, invalidateOn } from './region-invalidation.js';
import { markStale } from './mark-stale.js';
import { remove, removeMany, set } from './writes.js';

/**
 * The implementation of `Region`, as `trove.region()` hands it out. Each method is the entry of one
 * module: the read path (and its near-cache fast path), read-through, writes, batches,
 * invalidation, iteration. They share the region's state through its RegionCore.
 */
export class RegionHandle<V = unknown> implements Region<V> {
  readonly path: string;
  private readonly core: RegionCore;

  /** `fn`: a handle through which a cached function's calls go, counted and reported under its name. */
  constructor(ctx: RegionContext, path: string, fn?: string) {
    this.path = path;
    this.core = new RegionCore(ctx, path, fn);
  }

  get options(): ResolvedRegionOptions {
    return this.core.options;
  }

  region<C = V>(name: string, opts?: RegionOptions): Region<C> {
    regionSegments(name);
    const path = `${this.path}.${name}`;
    this.core.ctx.configure(path, opts);
    return new RegionHandle<C>(this.core.ctx, path);
  }

  keyOf(key: Key): string {
    return this.core.keyBase.keyOf(checkKey(key));
  }

  get<T extends V = V>(key: Key): Promise<T | undefined> {
    // A fresh near hit answers with its entry's own settled promise (see NearCache.answer); anything else takes the general read.
    return fastNearAnswer<T>(this.core, key) ?? get<T>(this.core, key);
  }

  getOrSet<T extends V = V>(key: Key, factory: Factory<T, V>, opts?: GetOrSetOptions<NoInfer<T>>): Promise<T> {
    // The previous value the context carries is one of the region's values: a V, as typed.
    return getOrSet(this.core, key, factory as Factory<T>, opts as GetOrSetOptions | undefined);
  }

  getOrSetMany<T extends V = V, K extends Key = Key>(keys: readonly K[], factory: ManyFactory<T, K, V>, opts?: GetOrSetOptions<NoInfer<T>>): Promise<T[]> {
    return getOrSetMany(this.core, keys, factory, opts as GetOrSetOptions | undefined);
  }

  set<T extends V = V>(key: Key, value: T, opts?: SetOptions): Promise<void> {
    return set(this.core, key, value, opts);
  }

  delete(key: Key): Promise<boolean> {
    return remove(this.core, key);
  }

  deleteMany(keys: readonly Key[]): Promise<number> {
    return removeMany(this.core, keys);
  }

  markStale(key: Key): Promise<boolean> {
    return markStale(this.core, key);
  }

  ttlOf(key: Key): Promise<EntryTtl | undefined> {
    return ttlOf(this.core, key);
  }

  has(key: Key): Promise<boolean> {
    return has(this.core, key);
  }

  getMany<T extends V = V>(keys: readonly Key[]): Promise<(T | undefined)[]> {
    return getMany<T>(this.core, keys);
  }

  setMany<T extends V = V>(entries: Iterable<readonly [Key, T]>, opts?: SetOptions): Promise<void> {
    return setMany(this.core, entries, opts);
  }

  batch<T extends V = V>(fn: (tx: BatchWriter<T>) => void | Promise<void>): Promise<void> {
    return batch(this.core, 'batch', fn as (tx: BatchWriter<unknown>) => void | Promise<void>);
  }

  invalidate(): Promise<void> {
    return invalidate(this.core, 'invalidate');
  }

  clear(): Promise<void> {
    return invalidate(this.core, 'clear');
  }

  invalidateOn(source: EventSource, event: string): () => void {
    return invalidateOn(this.core, source, event);
  }

  entries<T extends V = V>(opts: { batchSize?: number } = {}): AsyncIterableIterator<[string, T]> {
    return liveEntries<T>(this.core, 'entries', opts);
  }

  async *keys(opts: { batchSize?: number } = {}): AsyncIterableIterator<string> {
    for await (const [k] of liveEntries(this.core, 'keys', opts)) yield k;
  }

  async *values<T extends V = V>(opts: { batchSize?: number } = {}): AsyncIterableIterator<T> {
    for await (const [, v] of liveEntries<T>(this.core, 'values', opts)) yield v;
  }

  size(): Promise<number> {
    return countEntries(this.core);
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<[string, V]> {
    return liveEntries<V>(this.core, 'entries', {});
  }
}

import { TransientMap } from './transient-map.js';

/**
 * A Map of at most `max` entries: setting a new key when full forgets the key set longest ago (a
 * key set again counts from then). Reads do not reorder, so a read costs one lookup.
 *
 * Why not lru-cache: it allocates all `max` slots up front (with three caches of 100,000 tags and
 * two of 10,000 keys, a trove held 5.0 MB of heap and 3.6 MB of ArrayBuffers before caching
 * anything), and deleting its last entry clears them all. This grows with what it holds, and every
 * operation is O(1).
 */
export class BoundedMap<K, V> {
  /** In the order set (see TransientMap for why not a plain Map). */
  private readonly entries = new TransientMap<K, V>();

  /** `max`: how many entries at most (at least 1). */
  constructor(private readonly max: number) {}

  get size(): number {
    return this.entries.size;
  }

  get(key: K): V | undefined {
    return this.entries.get(key);
  }

  has(key: K): boolean {
    return this.entries.has(key);
  }

  /** Sets `key` as the most recent, forgetting the oldest when a new key finds the map full. */
  set(key: K, value: V): void {
    if (!this.entries.delete(key) && this.entries.size >= this.max) {
      const oldest = this.entries.keys().next();
      if (oldest.done !== true) this.entries.delete(oldest.value);
    }
    this.entries.set(key, value);
  }

  delete(key: K): boolean {
    return this.entries.delete(key);
  }

  /** The keys, the oldest set first. */
  keys(): IterableIterator<K> {
    return this.entries.keys();
  }

  clear(): void {
    this.entries.clear();
  }
}

import { LRUCache } from 'lru-cache';

/**
 * lru-cache without one cost: when its last entry leaves (deleted, or read after it expired), it
 * clears every slot it allocated, O(max). At the embedded store's default of 100,000 entries that
 * took 0.9 ms per delete of a store's only key, against 8 µs with another key present. The last
 * entry is taken out by `pop()` instead, O(1), with the same outcome; `dispose` sees the reason
 * 'evict' where it would have seen 'delete' or 'expire'. For caches that never allow stale reads.
 */
export class LruEntries<V extends {}> extends LRUCache<string, V> {
  override delete(key: string): boolean {
    if (this.size === 1 && this.peek(key, { allowStale: true }) !== undefined) {
      this.pop();
      return true;
    }
    return super.delete(key);
  }

  override get(key: string, options?: LRUCache.GetOptions<string, V, unknown>): V | undefined {
    // Expired (time left below zero: lru-cache's own test), it would be deleted by the read.
    if (this.size === 1 && this.getRemainingTTL(key) < 0 && this.peek(key, { allowStale: true }) !== undefined) {
      this.pop();
      return undefined;
    }
    return super.get(key, options);
  }
}

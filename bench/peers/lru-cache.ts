import { LRUCache } from 'lru-cache';
import type { CacheAdapter } from './types.js';

/** The floor for in-memory hits: `await lru.get(key)` on a plain lru-cache, no Redis behind it. */
export function lruFloor(opts: { max: number; ttlMs: number; load: (key: string) => unknown }): CacheAdapter {
  const lru = new LRUCache<string, NonNullable<unknown>>({ max: opts.max, ttl: opts.ttlMs });
  return {
    fetch(key) {
      const hit = lru.get(key);
      if (hit !== undefined) return hit;
      const value = opts.load(key) as NonNullable<unknown>;
      lru.set(key, value);
      return value;
    },
    async set(key, value) {
      lru.set(key, value as NonNullable<unknown>);
    },
    async close() {
      lru.clear();
    },
  };
}

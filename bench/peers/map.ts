import type { CacheAdapter } from './types.js';

/** The floor for in-memory hits without eviction or expiry: `await map.get(key)` on a bare Map, no Redis behind it. */
export function mapFloor(opts: { load: (key: string) => unknown }): CacheAdapter {
  const map = new Map<string, unknown>();
  return {
    fetch(key) {
      const hit = map.get(key);
      if (hit !== undefined) return hit;
      const value = opts.load(key);
      map.set(key, value);
      return value;
    },
    async set(key, value) {
      map.set(key, value);
    },
    async close() {
      map.clear();
    },
  };
}

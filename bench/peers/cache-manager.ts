import { createCache } from 'cache-manager';
import { type CacheableMemoryOptions, createKeyv } from 'cacheable';
import { describeRedisKeyv, type RedisSerializer, redisKeyv } from './keyv.js';
import { type AdapterOptions, type CacheAdapter, type ConfigOptions, type Peer, prefixOf, showOptions } from './types.js';

/** One configuration of cache-manager: what `create` builds and `describe` prints. */
interface CacheManagerConfig {
  /** Options of its in-memory store (tier `l1`), `createKeyv(memory)` of cacheable. */
  memory: CacheableMemoryOptions;
  nonBlocking: boolean;
  serializer: RedisSerializer;
}

/**
 * Its fastest valid configuration, the `clone` variant, and the `blocking` variant (`nonBlocking:
 * false`: `wrap` resolves once its write is in Redis, as Trove's `getOrSet` does).
 *
 * Layer 1 is `createKeyv(...)` of cacheable (its README's multi-store example): a Keyv without
 * serialization over a CacheableMemory. The README's other form, `new Keyv({ store: new
 * CacheableMemory(...) })`, keeps Keyv's serializer: every hit parses JSON (with its default
 * CacheableMemory options, ~4× slower on hits). `useClone: false` and `storeHashSize: 1`: as for
 * cacheable (bench/peers/cacheable.ts).
 * `nonBlocking: true` makes `wrap` return without waiting for its write to the stores, and is off
 * where a workload reads Redis right after the writes. (On misses the `blocking` variant measured
 * as fast: the fastest configuration is kept all the same.)
 * `refreshThreshold` is unset (off).
 */
function cacheManagerConfig(opts: ConfigOptions): CacheManagerConfig {
  const nonBlocking = opts.awaitWrites !== true && opts.variant !== 'blocking';
  if (opts.variant === undefined || opts.variant === 'blocking')
    return { memory: { ttl: opts.ttlMs, lruSize: opts.l1Entries, useClone: false, storeHashSize: 1 }, nonBlocking, serializer: 'json' };
  if (opts.variant === 'clone') return { memory: { ttl: opts.ttlMs, lruSize: opts.l1Entries, storeHashSize: 1 }, nonBlocking, serializer: 'json' };
  throw new Error(`cache-manager: unknown variant '${opts.variant}'`);
}

function describeCacheManager(opts: ConfigOptions): string {
  const c = cacheManagerConfig(opts);
  const redis = describeRedisKeyv(prefixOf('cache-manager', opts.variant), c.serializer);
  const stores = opts.tier === 'l2' ? 'redis' : `createKeyv(${showOptions(c.memory)}), redis`;
  return `${redis} createCache({ stores: [${stores}], ttl: ${opts.ttlMs}, nonBlocking: ${c.nonBlocking} }) · wrap (@keyv/redis = node-redis)`;
}

/**
 * cache-manager 7 as its README sets it up: Keyv stores, `@keyv/redis` for Redis, a CacheableMemory
 * Keyv as layer 1, tuned as `cacheManagerConfig` says.
 */
export const cacheManager: Peer = {
  name: 'cache-manager',
  describe: describeCacheManager,
  async create(opts: AdapterOptions): Promise<CacheAdapter> {
    const c = cacheManagerConfig(opts);
    const redis = redisKeyv(opts.url, prefixOf('cache-manager', opts.variant), c.serializer);
    const stores = opts.tier === 'l1' ? [createKeyv(c.memory), redis] : [redis];
    const cache = createCache({ stores, ttl: opts.ttlMs, nonBlocking: c.nonBlocking });
    const { load } = opts;
    await redis.get('__probe__');
    return {
      fetch: (key) => cache.wrap(key, () => load(key)),
      async set(key, value) {
        await cache.set(key, value);
      },
      async close() {
        await cache.disconnect();
      },
    };
  },
};

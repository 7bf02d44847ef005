import { Cacheable, createKeyv, type KeyvCacheableMemoryOptions } from 'cacheable';
import { describeRedisKeyv, type RedisSerializer, redisKeyv } from './keyv.js';
import { type AdapterOptions, type CacheAdapter, type ConfigOptions, type Peer, prefixOf, showOptions } from './types.js';

/** One configuration of cacheable: what `create` builds and `describe` prints. */
interface CacheableConfig {
  /** Options of the in-memory primary, `createKeyv(primary)` of cacheable (tier `l1`). */
  primary: KeyvCacheableMemoryOptions;
  serializer: RedisSerializer;
}

/**
 * Its fastest valid configuration, and the `clone` variant.
 *
 * The primary is given explicitly: the default one, `createKeyv()`, has no capacity bound.
 * `useClone: false` hands out the stored object, as Trove's near cache does by default; the
 * default (`true`, the `clone` variant) returns a `structuredClone` per hit, like Trove with
 * `clone: true`. `storeHashSize: 1` keeps one Map, as CacheableMemory's README advises with
 * `lruSize`: the default 16 Maps hash every key to pick one, which made hits about 2× slower.
 * `nonBlocking` is left off: it only changes writes to (and refills from) the secondary, which
 * no measured operation does. Statistics are off by default (Cacheable, CacheableMemory, Keyv).
 */
function cacheableConfig(opts: ConfigOptions): CacheableConfig {
  if (opts.variant === undefined) return { primary: { lruSize: opts.l1Entries, useClone: false, storeHashSize: 1 }, serializer: 'json' };
  if (opts.variant === 'clone') return { primary: { lruSize: opts.l1Entries, storeHashSize: 1 }, serializer: 'json' };
  throw new Error(`cacheable: unknown variant '${opts.variant}'`);
}

function describeCacheable(opts: ConfigOptions): string {
  const c = cacheableConfig(opts);
  const redis = describeRedisKeyv(prefixOf('cacheable', opts.variant), c.serializer);
  if (opts.tier === 'l2') return `${redis} new Cacheable({ primary: redis, ttl: ${opts.ttlMs} }) (Redis as the only tier) · getOrSet`;
  return `${redis} new Cacheable({ primary: createKeyv(${showOptions(c.primary)}), secondary: redis, ttl: ${opts.ttlMs} }) · getOrSet`;
}

/**
 * cacheable 2 with Redis as its README sets it up, `new Cacheable({ secondary: createKeyv(url) })`
 * (`@keyv/redis`), tuned as `cacheableConfig` says. Its in-memory primary cannot be switched off,
 * so the Redis-only configuration passes the Redis Keyv as the *primary* and no secondary.
 */
export const cacheable: Peer = {
  name: 'cacheable',
  describe: describeCacheable,
  async create(opts: AdapterOptions): Promise<CacheAdapter> {
    const c = cacheableConfig(opts);
    const redis = redisKeyv(opts.url, prefixOf('cacheable', opts.variant), c.serializer);
    const cache =
      opts.tier === 'l2'
        ? new Cacheable({ primary: redis, ttl: opts.ttlMs })
        : new Cacheable({ primary: createKeyv(c.primary), secondary: redis, ttl: opts.ttlMs });
    const { load } = opts;
    await redis.get('__probe__');
    return {
      fetch: (key) => cache.getOrSet(key, async () => load(key)),
      async set(key, value) {
        await cache.set(key, value);
      },
      async close() {
        await cache.disconnect();
      },
    };
  },
};

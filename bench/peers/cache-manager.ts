import { createKeyv } from '@keyv/redis';
import { createCache } from 'cache-manager';
import { CacheableMemory } from 'cacheable';
import { Keyv } from 'keyv';
import { type AdapterOptions, type CacheAdapter, type Peer, PREFIX } from './types.js';

/**
 * cache-manager 7 as its README sets it up: Keyv stores, `@keyv/redis` for Redis (`createKeyv(url,
 * { namespace })`), and `new Keyv({ store: new CacheableMemory({ ttl, lruSize }) })` as layer 1.
 */
export const cacheManager: Peer = {
  name: 'cache-manager',
  describe: ({ tier }) =>
    tier === 'l2'
      ? 'createCache({ stores: [createKeyv(url, { namespace })] }) · wrap (@keyv/redis = node-redis)'
      : 'createCache({ stores: [Keyv(CacheableMemory({ lruSize })), createKeyv(url)] }) · wrap',
  async create(opts: AdapterOptions): Promise<CacheAdapter> {
    const redis = createKeyv(opts.url, { namespace: PREFIX['cache-manager'] });
    const stores = opts.tier === 'l1' ? [new Keyv({ store: new CacheableMemory({ ttl: opts.ttlMs, lruSize: opts.l1Entries }) }), redis] : [redis];
    const cache = createCache({ stores, ttl: opts.ttlMs });
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

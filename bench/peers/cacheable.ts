import { createKeyv } from '@keyv/redis';
import { Cacheable } from 'cacheable';
import { type AdapterOptions, type CacheAdapter, type Peer, PREFIX } from './types.js';

/**
 * cacheable 2 as its README sets it up with Redis: `new Cacheable({ secondary: createKeyv(url) })`
 * (in-memory primary + Redis secondary). Its in-memory primary cannot be switched off, so the
 * Redis-only configuration passes the Redis Keyv as the *primary* and no secondary.
 */
export const cacheable: Peer = {
  name: 'cacheable',
  describe: ({ tier }) =>
    tier === 'l2'
      ? 'new Cacheable({ primary: createKeyv(url, { namespace }) }) (Redis as the only tier) · getOrSet'
      : 'new Cacheable({ secondary: createKeyv(url, { namespace }) }) (default in-memory primary) · getOrSet',
  async create(opts: AdapterOptions): Promise<CacheAdapter> {
    const redis = createKeyv(opts.url, { namespace: PREFIX.cacheable });
    const cache = opts.tier === 'l1' ? new Cacheable({ secondary: redis, ttl: opts.ttlMs }) : new Cacheable({ primary: redis, ttl: opts.ttlMs });
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

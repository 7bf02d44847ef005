import { createCache } from 'async-cache-dedupe';
import { Redis } from 'ioredis';
import { type AdapterOptions, type CacheAdapter, type Peer, PREFIX } from './types.js';

/**
 * async-cache-dedupe 3: a memoizer. `createCache({ ttl, storage: { type: 'redis', options: { client } } })`
 * with an ioredis client as its README shows, one `define`d function whose argument is the key.
 * It has no two-tier mode: its in-memory configuration is `storage: { type: 'memory' }` alone.
 */
export const asyncCacheDedupe: Peer = {
  name: 'async-cache-dedupe',
  describe: ({ tier }) =>
    tier === 'l2'
      ? "createCache({ ttl, storage: { type: 'redis', options: { client: new Redis() } } }) · define('user', load)"
      : "createCache({ ttl, storage: { type: 'memory', options: { size } } }) (memory only, no Redis behind it)",
  async create(opts: AdapterOptions): Promise<CacheAdapter> {
    const ttl = Math.max(1, Math.round(opts.ttlMs / 1000)); // seconds
    let client: Redis | undefined;
    if (opts.tier === 'l2') {
      client = new Redis(opts.url, { keyPrefix: `${PREFIX['async-cache-dedupe']}:` });
      await client.ping();
    }
    const storage = client ? ({ type: 'redis', options: { client } } as const) : ({ type: 'memory', options: { size: opts.l1Entries } } as const);
    const { load } = opts;
    const cache = createCache({ ttl, storage }).define('user', async (key: string) => load(key));
    return {
      fetch: (key) => cache.user(key),
      // `Cache#set` takes the storage key as it is, while the defined function reads `<name>~<key>`:
      // write under that key so a later call of the function finds the value.
      set: (key, value) => cache.set('user', `user~${key}`, value, ttl),
      async close() {
        await client?.quit();
      },
    };
  },
};

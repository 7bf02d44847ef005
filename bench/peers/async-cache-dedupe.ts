import { createCache } from 'async-cache-dedupe';
import { Redis, type RedisOptions } from 'ioredis';
import { type AdapterOptions, type CacheAdapter, type ConfigOptions, type Peer, prefixOf, showOptions } from './types.js';

/**
 * The options of the ioredis client handed to async-cache-dedupe (tier `l2`). Without
 * `enableAutoPipelining`, as in its README: turning it on made no measurable difference here
 * (Redis hits and misses within 5 %, slightly slower with it).
 */
function clientOptions(opts: ConfigOptions): RedisOptions {
  return { keyPrefix: `${prefixOf('async-cache-dedupe', opts.variant)}:` };
}

/** Its `ttl` option is in seconds. */
function ttlSeconds(opts: ConfigOptions): number {
  return Math.max(1, Math.round(opts.ttlMs / 1000));
}

/**
 * async-cache-dedupe 3: a memoizer. `createCache({ ttl, storage: { type: 'redis', options: { client } } })`
 * with an ioredis client as its README shows, one `define`d function whose argument is the key.
 * It has no two-tier mode: its in-memory configuration is `storage: { type: 'memory' }` alone.
 * Its other options (`stale`, `references`, `transformer`, storage `invalidation`) add work and are off.
 */
export const asyncCacheDedupe: Peer = {
  name: 'async-cache-dedupe',
  describe: (opts) =>
    opts.tier === 'l2'
      ? `createCache({ ttl: ${ttlSeconds(opts)}, storage: { type: 'redis', options: { client: new Redis(url, ${showOptions(clientOptions(opts))}) } } }) · define('user', load)`
      : `createCache({ ttl: ${ttlSeconds(opts)}, storage: { type: 'memory', options: { size: ${opts.l1Entries} } } }) · define('user', load) (memory only, no Redis behind it)`,
  async create(opts: AdapterOptions): Promise<CacheAdapter> {
    const ttl = ttlSeconds(opts);
    let client: Redis | undefined;
    if (opts.tier === 'l2') {
      client = new Redis(opts.url, clientOptions(opts));
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

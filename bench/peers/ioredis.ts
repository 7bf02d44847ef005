import { Redis } from 'ioredis';
import { type AdapterOptions, type CacheAdapter, type Peer, PREFIX, Unsupported } from './types.js';

/**
 * The baseline: hand-written cache-aside over raw ioredis with auto-pipelining.
 * GET + JSON.parse on a hit; on a miss, compute and SET … PX (no single-flight of any kind).
 */
export const ioredis: Peer = {
  name: 'ioredis',
  describe: ({ tier }) =>
    tier === 'l2' ? 'new Redis(url, { enableAutoPipelining: true }) · GET + JSON.parse, miss: SET PX JSON.stringify' : 'no in-memory tier',
  async create(opts: AdapterOptions): Promise<CacheAdapter> {
    if (opts.tier === 'l1') throw new Unsupported('n/a (no in-memory tier)');
    const client = new Redis(opts.url, { enableAutoPipelining: true });
    await client.ping();
    const prefix = `${PREFIX.ioredis}:`;
    const { load, ttlMs } = opts;
    const fetch = async (key: string): Promise<unknown> => {
      const text = await client.get(prefix + key);
      if (text !== null) return JSON.parse(text);
      const value = await load(key);
      await client.set(prefix + key, JSON.stringify(value), 'PX', ttlMs);
      return value;
    };
    return {
      fetch,
      async set(key, value) {
        // Strings are stored as they are: the floor for the memory workload.
        await client.set(prefix + key, typeof value === 'string' ? value : JSON.stringify(value), 'PX', ttlMs);
      },
      async close() {
        await client.quit();
      },
    };
  },
};

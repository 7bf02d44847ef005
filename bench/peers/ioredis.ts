import { Redis } from 'ioredis';
import { type AdapterOptions, type CacheAdapter, type Peer, prefixOf, Unsupported } from './types.js';

/** The variant over raw node-redis (`createClient` of `redis`), the baseline of Trove's node-redis driver. */
const NODE_REDIS = 'node-redis';
/**
 * The variant with ioredis's default `enableAutoPipelining: false`: each command is written to the
 * socket at once instead of on the next tick, which may be faster for a lone awaited read.
 */
export const NO_AUTO_PIPELINING = 'no-auto-pipelining';

/**
 * The baseline: hand-written cache-aside over raw ioredis with auto-pipelining.
 * GET + JSON.parse on a hit; on a miss, compute and SET … PX (no single-flight of any kind).
 * Variant `no-auto-pipelining`: the same without auto-pipelining (ioredis's default).
 * Variant `node-redis`: the same over raw node-redis (which writes each tick's commands together).
 */
export const ioredis: Peer = {
  name: 'ioredis',
  describe: ({ tier, variant }) =>
    tier !== 'l2'
      ? 'no in-memory tier'
      : variant === NODE_REDIS
        ? 'await createClient({ url }).connect() (node-redis) · GET + JSON.parse, miss: SET PX JSON.stringify'
        : `new Redis(url, { enableAutoPipelining: ${variant !== NO_AUTO_PIPELINING} }) · GET + JSON.parse, miss: SET PX JSON.stringify`,
  async create(opts: AdapterOptions): Promise<CacheAdapter> {
    if (opts.tier === 'l1') throw new Unsupported('n/a (no in-memory tier)');
    if (opts.variant === NODE_REDIS) return nodeRedis(opts);
    if (opts.variant !== undefined && opts.variant !== NO_AUTO_PIPELINING) throw new Error(`ioredis: unknown variant '${opts.variant}'`);
    const client = new Redis(opts.url, { enableAutoPipelining: opts.variant !== NO_AUTO_PIPELINING });
    await client.ping();
    const prefix = `${prefixOf('ioredis', opts.variant)}:`;
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

/** Raw node-redis cache-aside, as the ioredis baseline. */
async function nodeRedis(opts: AdapterOptions): Promise<CacheAdapter> {
  // node-redis is a devDependency, loaded only for this variant.
  const client = await (await import('redis')).createClient({ url: opts.url }).connect();
  const prefix = `${prefixOf('ioredis', NODE_REDIS)}:`;
  const { load, ttlMs } = opts;
  return {
    async fetch(key: string): Promise<unknown> {
      const text = await client.get(prefix + key);
      if (text !== null) return JSON.parse(text);
      const value = await load(key);
      await client.set(prefix + key, JSON.stringify(value), { PX: ttlMs });
      return value;
    },
    async set(key, value) {
      await client.set(prefix + key, typeof value === 'string' ? value : JSON.stringify(value), { PX: ttlMs });
    },
    async close() {
      client.destroy();
    },
  };
}

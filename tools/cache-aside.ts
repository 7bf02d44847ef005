/**
 * Hand-written cache-aside, the reference the miss tools measure Trove against: GET, and on a miss
 * the value computed and written with SET … PX of its JSON. On ioredis (auto-pipelining) or on a
 * connected node-redis client.
 */

/** What cache-aside needs of a connected node-redis client. */
interface NodeRedisClient {
  get(key: string): Promise<string | null>;
  set(key: string, value: string, options: { PX: number }): Promise<unknown>;
  quit(): Promise<unknown>;
}

export interface CacheAside {
  get(key: string): Promise<unknown>;
  close(): Promise<unknown>;
}

const TTL_MS = 600_000;

/**
 * Cache-aside on `nodeRedis` when given (closed by `close`), else on an ioredis client of its own to
 * `url`, with auto-pipelining unless `autoPipelining` is false.
 */
export async function cacheAside(
  url: string,
  nodeRedis: NodeRedisClient | undefined,
  load: (key: string) => unknown,
  opts: { autoPipelining?: boolean } = {},
): Promise<CacheAside> {
  if (nodeRedis) {
    return {
      async get(k) {
        const hit = await nodeRedis.get(k);
        if (hit !== null) return JSON.parse(hit) as unknown;
        const value = load(k);
        await nodeRedis.set(k, JSON.stringify(value), { PX: TTL_MS });
        return value;
      },
      close: () => nodeRedis.quit(),
    };
  }
  const { Redis } = await import('ioredis');
  const c = new Redis(url, { enableAutoPipelining: opts.autoPipelining !== false });
  return {
    async get(k) {
      const hit = await c.get(k);
      if (hit !== null) return JSON.parse(hit) as unknown;
      const value = load(k);
      await c.set(k, JSON.stringify(value), 'PX', TTL_MS);
      return value;
    },
    close: () => c.quit(),
  };
}

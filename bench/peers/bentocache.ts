import { BentoCache, bentostore } from 'bentocache';
import { memoryDriver } from 'bentocache/drivers/memory';
import { redisBusDriver, redisDriver } from 'bentocache/drivers/redis';
import { type AdapterOptions, type CacheAdapter, type Peer, PREFIX } from './types.js';

/**
 * bentocache as its docs set it up for Redis: `bentostore().useL2Layer(redisDriver({ connection }))`,
 * plus `useL1Layer(memoryDriver(...))` and `useBus(redisBusDriver(...))` for the multi-tier setup.
 */
export const bentocache: Peer = {
  name: 'bentocache',
  describe: (tier) =>
    tier === 'l2'
      ? 'bentostore().useL2Layer(redisDriver({ connection })) · getOrSet({ key, factory })'
      : 'useL1Layer(memoryDriver({ maxItems })) + useL2Layer(redisDriver) + useBus(redisBusDriver) · getOrSet',
  async create(opts: AdapterOptions): Promise<CacheAdapter> {
    const connection = { host: opts.host, port: opts.port };
    const store = bentostore();
    if (opts.tier === 'l1') store.useL1Layer(memoryDriver({ maxItems: opts.l1Entries, maxSize: '256mb' }));
    store.useL2Layer(redisDriver({ connection }));
    if (opts.tier === 'l1' && opts.bus !== false) store.useBus(redisBusDriver({ connection }));
    const bento = new BentoCache({ default: 'cache', prefix: PREFIX.bentocache, ttl: opts.ttlMs, stores: { cache: store } });
    const { load } = opts;
    // Connects lazily: one round trip so connection set-up is not measured.
    await bento.has({ key: '__probe__' });
    return {
      fetch: (key) => bento.getOrSet({ key, factory: () => load(key) }),
      async set(key, value) {
        await bento.set({ key, value });
      },
      close: () => bento.disconnectAll(),
    };
  },
};

/** The bentocache instance itself, for the invalidation workload (bus events). */
export function createBento(opts: { host: string; port: number; ttlMs: number; l1Entries: number }): BentoCache<{ cache: ReturnType<typeof bentostore> }> {
  const connection = { host: opts.host, port: opts.port };
  const store = bentostore()
    .useL1Layer(memoryDriver({ maxItems: opts.l1Entries, maxSize: '256mb' }))
    .useL2Layer(redisDriver({ connection }))
    .useBus(redisBusDriver({ connection }));
  return new BentoCache({ default: 'cache', prefix: PREFIX.bentocache, ttl: opts.ttlMs, stores: { cache: store } });
}

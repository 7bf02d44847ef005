import { BentoCache, bentostore } from 'bentocache';
import { memoryDriver } from 'bentocache/drivers/memory';
import { redisBusDriver, redisDriver } from 'bentocache/drivers/redis';
import { type AdapterOptions, type CacheAdapter, type ConfigOptions, type Peer, prefixOf, showOptions } from './types.js';

/**
 * The options of bentocache's L1 `memoryDriver`. Its fastest valid configuration for hits is
 * `serialize: false`: entries are kept as objects and a hit returns the stored object (no
 * `JSON.parse`), which is what Trove's near cache does by default. bentocache refuses `maxSize` /
 * `maxEntrySize` together with `serialize: false` (it cannot size objects), so capacity is
 * `maxItems` alone. Its default (`serialize: true`, the `serialize` variant here) stores each
 * entry as a JSON string and parses it on every hit, like Trove with `nearCache: { clone: true }`
 * copies the value on every hit.
 *
 * bentocache 1.6.1 has a bug with `serialize: false` (issue Julien-R44/bentocache#111, fix in PR
 * #113, unreleased): an entry read from L2 is copied into L1 serialized, and the next L1 read of
 * it, or a bus message about it, throws `Cannot read properties of undefined (reading
 * 'deserialize')`. So `serialize: false` only works where every L1 entry comes from this process's
 * own factory or set: l1-hit (each configuration with its own key prefix), not invalidation
 * (whose reader refills its L1 from L2).
 */
export function bentoL1Options(l1Entries: number, variant?: string): { maxItems: number; serialize?: false } {
  if (variant === undefined) return { maxItems: l1Entries, serialize: false };
  if (variant === 'serialize') return { maxItems: l1Entries };
  throw new Error(`bentocache: unknown variant '${variant}'`);
}

/** The configuration `createBento` / the adapter build, as it reads in code. */
export function describeBento(opts: ConfigOptions): string {
  if (opts.tier === 'l2') return 'bentostore().useL2Layer(redisDriver({ connection })) · getOrSet({ key, factory })';
  const bus = opts.bus === false ? '' : '.useBus(redisBusDriver({ connection }))';
  return `bentostore().useL1Layer(memoryDriver(${showOptions(bentoL1Options(opts.l1Entries, opts.variant))})).useL2Layer(redisDriver({ connection }))${bus} · getOrSet({ key, factory })`;
}

/**
 * bentocache as its docs set it up for Redis: `bentostore().useL2Layer(redisDriver({ connection }))`,
 * plus `useL1Layer(memoryDriver(...))` and `useBus(redisBusDriver(...))` for the multi-tier setup.
 */
export const bentocache: Peer = {
  name: 'bentocache',
  describe: (opts) => describeBento(opts),
  async create(opts: AdapterOptions): Promise<CacheAdapter> {
    const bento = createBento(opts);
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

/** The bentocache instance itself (the invalidation workload uses it directly, for bus events). */
export function createBento(opts: ConfigOptions & { host: string; port: number }): BentoCache<{ cache: ReturnType<typeof bentostore> }> {
  const connection = { host: opts.host, port: opts.port };
  const store = bentostore();
  if (opts.tier === 'l1') store.useL1Layer(memoryDriver(bentoL1Options(opts.l1Entries, opts.variant)));
  store.useL2Layer(redisDriver({ connection }));
  if (opts.tier === 'l1' && opts.bus !== false) store.useBus(redisBusDriver({ connection }));
  return new BentoCache({ default: 'cache', prefix: prefixOf('bentocache', opts.variant), ttl: opts.ttlMs, stores: { cache: store } });
}

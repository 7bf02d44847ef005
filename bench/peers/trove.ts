import type { NearCacheOptions, NearStats, Trove, TroveOptions } from '../../src/index.js';
import { sleep } from '../driver.js';
import { troveModule } from '../trove-build.js';
import { type AdapterOptions, type CacheAdapter, type ConfigOptions, type Peer, prefixOf, showOptions, Unsupported } from './types.js';

/** The near-cache counters. */
export function nearStats(t: Trove): NearStats | undefined {
  return t.stats().near;
}

/** Waits until the near cache's invalidation channel is live (its entries are only kept then). */
export async function waitNearLive(t: Trove, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (nearStats(t)?.live !== true) {
    if (Date.now() > deadline) throw new Unsupported('near cache present but its invalidation channel never went live');
    await sleep(10);
  }
}

/** The variant that turns statistics off: its ratio to the default row is what statistics cost. */
export const STATS_OFF = 'stats-off';
/** The variant on the node-redis driver (a connected `createClient()` of `redis`), next to the default ioredis one. */
export const NODE_REDIS = 'node-redis';
/**
 * The variant with `freezeValues: true` (the default outside production): values deep-frozen as
 * they enter the near cache. Every other row runs as in production, `freezeValues: false`.
 */
export const FROZEN = 'frozen';
/** The variant whose near hits check expiry against a clock reading of up to 1 ms (`expiryResolution: '1ms'`) instead of reading the clock on each. */
export const EXPIRY_RESOLUTION = 'expiry-resolution';

/** The `nearCache` option for a tier: off for `l2`; `{ maxEntries }` (+ `clone: true` or `expiryResolution: '1ms'` for those variants) for `l1`. */
function nearOption(opts: ConfigOptions): NearCacheOptions | false {
  if (opts.tier === 'l2') return false;
  if (opts.variant === undefined || opts.variant === STATS_OFF || opts.variant === NODE_REDIS || opts.variant === FROZEN) return { maxEntries: opts.l1Entries };
  if (opts.variant === 'clone') return { maxEntries: opts.l1Entries, clone: true };
  if (opts.variant === EXPIRY_RESOLUTION) return { maxEntries: opts.l1Entries, expiryResolution: '1ms' };
  throw new Error(`trove: unknown variant '${opts.variant}'`);
}

/**
 * Trove through its public API: one region, json codec, `getOrSet`. Redis only (`nearCache:
 * false`) for tier `l2`; with its near cache for tier `l1` (variant `clone`: `clone: true`, a
 * `structuredClone` of the value on every near hit).
 */
export const trove: Peer = {
  name: 'trove',
  describe: (opts) => {
    const near = nearOption(opts);
    const stats = `${opts.variant === STATS_OFF ? ', stats: false' : ''}, freezeValues: ${opts.variant === FROZEN}`;
    const redis = opts.variant === NODE_REDIS ? 'await createClient({ url }).connect()' : 'url';
    return `createTrove({ redis: ${redis}, prefix: '${prefixOf('trove', opts.variant)}', commandTimeout: 2000, nearCache: ${near === false ? 'false' : showOptions(near)}${stats} }).region('users', { ttl: ${opts.ttlMs} }) · getOrSet · json codec`;
  },
  async create(opts: AdapterOptions): Promise<CacheAdapter> {
    // node-redis is a devDependency, loaded only for its variant.
    const client = opts.variant === NODE_REDIS ? await (await import('redis')).createClient({ url: opts.url }).connect() : undefined;
    const { createTrove } = await troveModule();
    const t = createTrove({
      redis: client ?? opts.url,
      prefix: prefixOf('trove', opts.variant),
      commandTimeout: 2000,
      nearCache: nearOption(opts),
      ...(opts.variant === STATS_OFF ? { stats: false as const } : {}),
      // As in production, unless measuring what freezing costs.
      freezeValues: opts.variant === FROZEN,
    } satisfies TroveOptions);
    const region = t.region('users', { ttl: opts.ttlMs });
    const { load } = opts;
    try {
      // Fail fast when the store is not reachable, instead of silently measuring the uncached path.
      // (A key of its own: several processes may be starting at once.)
      const probe = `__probe__${process.pid}_${Math.random().toString(36).slice(2)}`;
      await region.set(probe, 1);
      if ((await region.get(probe)) !== 1) throw new Error('trove: probe write/read failed');
      await region.delete(probe);
      if (opts.tier === 'l1') await waitNearLive(t);
    } catch (err) {
      await t.close();
      client?.destroy();
      throw err;
    }
    return {
      fetch: (key) => region.getOrSet(key, () => load(key)),
      set: (key, value) => region.set(key, value),
      async close() {
        await t.close();
        client?.destroy();
      },
    };
  },
};

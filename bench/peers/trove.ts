import { createTrove, InvalidOptionError, type Trove, type TroveOptions } from '../../src/index.js';
import { sleep } from '../driver.js';
import { type AdapterOptions, type CacheAdapter, type Peer, PREFIX, Unsupported } from './types.js';

export const NEAR_NOT_IMPLEMENTED = 'not implemented yet (near cache: later issue)';

/** The near-cache counters, when this version of Trove has a near cache. */
export function nearStats(t: Trove): { live?: boolean; hits?: number } | undefined {
  const stats = (t as unknown as { stats?: () => { near?: { live?: boolean; hits?: number } } }).stats;
  return typeof stats === 'function' ? stats.call(t).near : undefined;
}

/**
 * Creates a trove with its near cache configured as asked: `false` (off) or `{ maxEntries }`.
 * Returns undefined when this version of Trove has no `nearCache` option.
 */
export function createTroveWithNear(base: TroveOptions, near: false | { maxEntries: number }): Trove | undefined {
  const options = { ...base } as TroveOptions & Record<string, unknown>;
  options.nearCache = near;
  try {
    return createTrove(options);
  } catch (err) {
    if (err instanceof InvalidOptionError && /nearCache/.test(err.message)) return undefined;
    throw err;
  }
}

/** Waits until the near cache's invalidation channel is live (its entries are only kept then). */
export async function waitNearLive(t: Trove, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (nearStats(t)?.live !== true) {
    if (Date.now() > deadline) throw new Unsupported('near cache present but its invalidation channel never went live');
    await sleep(10);
  }
}

/**
 * Trove through its public API: one region, json codec, `getOrSet`. Redis only (`nearCache:
 * false`) for tier `l2`; with its near cache for tier `l1` when this version has one.
 */
export const trove: Peer = {
  name: 'trove',
  describe: (tier) =>
    tier === 'l2'
      ? "createTrove({ redis: url, prefix, nearCache: false }).region('users', { ttl }) · getOrSet · json codec"
      : "createTrove({ redis: url, prefix, nearCache: { maxEntries } }).region('users', { ttl }) · getOrSet",
  async create(opts: AdapterOptions): Promise<CacheAdapter> {
    const base: TroveOptions = { redis: opts.url, prefix: PREFIX.trove, commandTimeout: 2000 };
    let t = createTroveWithNear(base, opts.tier === 'l1' ? { maxEntries: opts.l1Entries } : false);
    if (!t) {
      // A version without a near cache: Redis only, which is what tier l2 asks for anyway.
      if (opts.tier === 'l1') throw new Unsupported(NEAR_NOT_IMPLEMENTED);
      t = createTrove(base);
    }
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
      throw err;
    }
    const created = t;
    return {
      fetch: (key) => region.getOrSet(key, () => load(key)),
      set: (key, value) => region.set(key, value),
      close: () => created.close(),
    };
  },
};

import { live } from './entry-decoding.js';
import type { RegionCore } from './region-core.js';

/**
 * The live entries of a region (not of regions below it), read in batches with SCAN and MGET:
 * never a blocking call. Entries written or removed meanwhile may or may not be seen; every entry
 * seen is live when read, and none is seen twice. `operation` names the caller's method in errors.
 */
export async function* liveEntries<T>(core: RegionCore, operation: string, opts: { batchSize?: number }): AsyncIterableIterator<[string, T]> {
  core.ctx.assertOpen();
  const base = await core.keyBase.load(operation);
  const seen = new Set<string>();
  // SCAN may return a key more than once.
  for await (const keys of core.ctx.store.scanPrefix(base, opts.batchSize ?? 500)) {
    const fresh = keys.filter((key) => !seen.has(key));
    for (const key of fresh) seen.add(key);
    if (fresh.length === 0) continue;
    const bufs = await core.ctx.store.mget(fresh);
    for (let i = 0; i < fresh.length; i++) {
      const buf = bufs[i];
      if (!buf) continue;
      const k = core.keyBase.userKey(fresh[i]!, base);
      const entry = await live(core, k, buf, operation);
      if (entry !== undefined) yield [k, entry.value as T];
    }
  }
}

/** The number of live entries (reads every one of them). */
export async function countEntries(core: RegionCore): Promise<number> {
  let n = 0;
  for await (const _ of liveEntries(core, 'size', {})) n++;
  return n;
}

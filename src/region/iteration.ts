import { live } from './entry-decoding.js';
import type { RegionCore } from './region-core.js';
import { shared } from './value-sharing.js';

/**
 * The live entries of a region (not of regions below it), read in batches with SCAN and MGET:
 * never a blocking call. Entries written or removed meanwhile may or may not be seen; every entry
 * seen is live when read, and none is seen twice. `operation` names the caller's method in errors.
 */
export async function* liveEntries<T>(core: RegionCore, operation: string, opts: { batchSize?: number }): AsyncIterableIterator<[string, T]> {
  core.ctx.assertOpen();
  const base = await core.keyBase.load(operation);
  const seen = new Set<string>();
  // The store's walk (SCAN) may return an entry more than once.
  for await (const batch of core.entries.scan(base, opts.batchSize ?? 500, operation)) {
    for (const [k, buf] of batch) {
      if (seen.has(k)) continue;
      seen.add(k);
      const entry = await live(core, k, buf, operation);
      if (entry !== undefined) yield [k, shared(core, entry.value as T)];
    }
  }
}

/** The number of live entries (reads every one of them). */
export async function countEntries(core: RegionCore): Promise<number> {
  let n = 0;
  for await (const _ of liveEntries(core, 'size', {})) n++;
  return n;
}

import { live } from './entry-decoding.js';
import { checkKey } from './key-base.js';
import { asOperation } from './operation-errors.js';
import type { EntryTtl, Key } from './region.js';
import type { RegionCore } from './region-core.js';

/**
 * `ttlOf`: the remaining hard and fresh time of a live entry. The value is read (to tell a live
 * entry from one whose tags were invalidated, and for its freshness deadline) together with its
 * PTTL: two commands issued in the same tick, so one socket write and one round trip. The PTTL is
 * the authority for the hard expiry, not the envelope's recorded expiry, which sliding expiry
 * (`refreshTtlOnHit`) moves without rewriting the entry.
 */
export async function ttlOf(core: RegionCore, key: Key): Promise<EntryTtl | undefined> {
  const k = checkKey(key);
  core.ctx.assertOpen();
  const full = (await core.keyBase.load('ttlOf')) + k + core.keyBase.tail;
  const store = core.entries;
  const [bytes, ttlMs] = await asOperation('ttlOf', 'the entry could not be read', Promise.all([store.get(full, false), store.remainingTtl(full)]));
  if (bytes === null || ttlMs === undefined) return undefined;
  const entry = await live(core, k, bytes, 'ttlOf', true);
  if (entry === undefined) return undefined;
  const freshForMs = entry.freshUntil === undefined ? ttlMs : Math.max(0, Math.min(ttlMs, entry.freshUntil - Date.now()));
  return { ttlMs, freshForMs };
}

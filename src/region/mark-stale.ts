import { performance } from 'node:perf_hooks';
import { withFreshUntil } from '../codec/index.js';
import { InvalidOptionError } from '../errors.js';
import { live } from './entry-decoding.js';
import { emitMarkStale } from './event-emission.js';
import { checkKey } from './key-base.js';
import { afterLocksDropped } from './lock-drop.js';
import { asOperation } from './operation-errors.js';
import type { Key } from './region.js';
import type { RegionCore } from './region-core.js';

/**
 * `markStale`: a live entry goes stale now, as if its `freshFor` had just ended, and keeps its
 * value, tags and hard expiry. Its next `getOrSet` answers it while one process refreshes it (or,
 * `staleRefresh: 'blocking'`, the first caller waits for the refresh), and fail-safe can still
 * answer it when the refresh fails: a soft `delete`, for data known to have changed.
 *
 * The entry is read, its envelope's freshness deadline set to 0 (epoch: stale on every clock,
 * whatever the skew between machines), and written back only while the key still holds the bytes
 * read (compare-and-set keeping the TTL). A write that lands in between is newer than the mark and
 * stays. A computation already running when the mark lands may have read data older than the
 * change: as with `delete`, its lock goes first (a refresh's lock key; a miss's claim is the key
 * itself), so its value is not written (see "Writes while another process computes"). Nothing to
 * keep (absent, being computed, invalidated by its tags, undecodable): deleted as by `delete`, and
 * resolves to false.
 */
export async function markStale(core: RegionCore, key: Key): Promise<boolean> {
  const k = checkKey(key);
  core.ctx.assertOpen();
  if (core.options.raw) {
    throw new InvalidOptionError('raw', `region "${core.path}" is raw: its entries record no freshness, so markStale cannot keep one as stale (use delete)`);
  }
  const started = core.ctx.events.wants('markStale') ? performance.now() : 0;
  const full = (await core.keyBase.load('markStale')) + k + core.keyBase.tail;
  const bytes = await asOperation('markStale', 'the entry could not be read', core.entries.get(full, false));
  const entry = bytes === null ? undefined : await live(core, k, bytes, 'markStale', true);
  const stale = entry === undefined ? undefined : withFreshUntil(bytes!, 0);
  core.ctx.near?.drop(full);
  // A computation under way loses its lock first, as with `delete`: the value rewritten may be the
  // very bytes a refresh read, when the entry was marked already. Nothing to keep: deleted.
  const write = stale === undefined ? () => core.entries.delete([full]) : () => core.entries.replace(full, bytes!, stale);
  await asOperation('markStale', 'the entry could not be written', afterLocksDropped<unknown>(core, [full], write));
  const marked = stale !== undefined;
  if (started !== 0) emitMarkStale(core, k, marked, performance.now() - started);
  return marked;
}

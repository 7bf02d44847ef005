import type { NearCache, NearEntry } from '../near/index.js';
import { emitFastNearHit, emitKeptHit } from './event-emission.js';
import type { Key } from './region.js';
import type { RegionCore } from './region-core.js';

/**
 * The common case on its own short path: a key whose fresh value is in the near cache
 * with none of its tags invalidated (no eager refresh configured). Anything else returns
 * undefined and takes the general path, which handles it fully. Called on every `get` and
 * option-less `getOrSet`: it allocates nothing but the hit event, and only when someone listens.
 * The entry is found by the caller's key in the region's index of the near cache, valid for the
 * current key base only: a new generation means a new base, hence a new index.
 */
export function fastNearHit(core: RegionCore, key: Key): NearEntry | undefined {
  const ctx = core.ctx;
  const near = ctx.near;
  if (near === undefined || ctx.bypassed()) return undefined;
  // A number is its decimal string, as `checkKey` makes it; anything else is checked by the general path.
  const k = typeof key === 'string' ? key : typeof key === 'number' && Number.isFinite(key) ? String(key) : undefined;
  if (k === undefined) return undefined;
  const base = core.keyBase.now();
  if (base === undefined || !core.nearFastPath) return undefined;
  let index = core.nearIndex;
  if (index === undefined || index.base !== base || index.retired) {
    index = near.indexOf(base, core.keyBase.tail);
    core.nearIndex = index;
  }
  const e = near.fresh(index, k);
  if (e === undefined || ctx.isClosed()) return undefined;
  if (e.tags !== undefined && ctx.tags.isLive(e.tags) !== true) {
    near.drop(base + k + core.keyBase.tail);
    return undefined;
  }
  emitFastNearHit(core, k);
  return e;
}

/** `fastNearHit`'s entry as `get` and `getOrSet` answer it (see `NearCache.answer`), or undefined. */
export function fastNearAnswer<T>(core: RegionCore, key: Key): Promise<T> | undefined {
  const e = fastNearHit(core, key);
  return e === undefined ? undefined : (core.ctx.near!.answer(e) as Promise<T>);
}

/** The near cache for this region, if it has one. */
export function nearFor(core: RegionCore): NearCache | undefined {
  const near = core.ctx.near;
  return near?.isLive && core.options.nearCache ? near : undefined;
}

/** A usable local entry: present, in time, and none of its tags invalidated. */
export function nearHit(core: RegionCore, near: NearCache, full: string): NearEntry | undefined {
  return withLiveTags(core, near, full, near.get(full));
}

/** `e`, unless one of its tags was invalidated: then the local copy goes. */
function withLiveTags(core: RegionCore, near: NearCache, full: string, e: NearEntry | undefined): NearEntry | undefined {
  if (e === undefined || e.tags === undefined || core.ctx.tags.isLive(e.tags) === true) return e;
  near.drop(full);
  return undefined;
}

/** A value kept locally as the caller gets it: a copy when the near cache is configured to clone. */
export function handOut(near: NearCache, value: unknown): unknown {
  return near.clone ? structuredClone(value) : value;
}

/**
 * While tracking is lost: the entry this region's near cache kept through the outage
 * (`serveWhileDisconnected`), with none of its tags invalidated as far as this process knows.
 * Only for a read that Redis just failed: one it answers wins (see `storeAnswered`).
 */
export function keptEntry(core: RegionCore, full: string): NearEntry | undefined {
  const near = core.ctx.near;
  if (near === undefined || !near.keeping || !core.options.nearCache) return undefined;
  return withLiveTags(core, near, full, near.kept(full));
}

/** A kept entry answered after a failed read: a stale near hit, with its `stale` event (reason `'disconnected'`). */
export function keptHit(core: RegionCore, k: string, full: string, started: number): NearEntry | undefined {
  const e = keptEntry(core, full);
  if (e === undefined) return undefined;
  emitKeptHit(core, k, started);
  return e;
}

/** Redis answered a read of `full` while entries are kept through an outage: its answer wins, so the kept copy goes. */
export function storeAnswered(core: RegionCore, full: string): void {
  const near = core.ctx.near;
  if (near?.keeping) near.drop(full);
}

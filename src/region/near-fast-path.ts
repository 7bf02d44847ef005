import type { NearCache, NearEntry } from '../near/index.js';
import { emitFastNearHit, emitKeptHit } from './event-emission.js';
import type { Key } from './region.js';
import type { RegionCore } from './region-core.js';

/**
 * The common case on its own short path: a string key whose fresh value is in the near cache
 * with none of its tags invalidated (no eager refresh configured). Anything else returns
 * undefined and takes the general path, which handles it fully. Called on every `get` and
 * option-less `getOrSet`: it allocates nothing but the hit event, and only when someone listens.
 */
export function fastNearHit(core: RegionCore, key: Key): NearEntry | undefined {
  const ctx = core.ctx;
  const near = ctx.near;
  if (near === undefined || typeof key !== 'string' || !near.isLive || ctx.bypassed()) return undefined;
  const base = core.keyBase.now();
  const options = core.options;
  if (base === undefined || !options.nearCache || options.readThrough.eagerRefresh !== undefined) return undefined;
  const full = base + key + core.keyBase.tail;
  const e = near.getFresh(full);
  if (e === undefined || ctx.isClosed()) return undefined;
  if (e.tags !== undefined && ctx.tags.isLive(e.tags) !== true) {
    near.drop(full);
    return undefined;
  }
  emitFastNearHit(core, key);
  return e;
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

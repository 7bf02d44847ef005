import type { NearCache, NearEntry } from '../near/index.js';
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
  if (ctx.events.wants('hit')) ctx.events.emit('hit', { region: core.path, key, durationMs: 0, stale: false, tier: 'near' });
  return e;
}

/** The near cache for this region, if it has one. */
export function nearFor(core: RegionCore): NearCache | undefined {
  const near = core.ctx.near;
  return near?.isLive && core.options.nearCache ? near : undefined;
}

/** A usable local entry: present, in time, and none of its tags invalidated. */
export function nearHit(core: RegionCore, near: NearCache, full: string): NearEntry | undefined {
  const local = near.get(full);
  if (local === undefined) return undefined;
  if (local.tags !== undefined && core.ctx.tags.isLive(local.tags) !== true) {
    near.drop(full);
    return undefined;
  }
  return local;
}

/** A value kept locally as the caller gets it: a copy when the near cache is configured to clone. */
export function handOut(near: NearCache, value: unknown): unknown {
  return near.clone ? structuredClone(value) : value;
}

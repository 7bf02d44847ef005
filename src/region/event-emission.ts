import { performance } from 'node:perf_hooks';
import { StoreError, TroveError } from '../errors.js';
import type { StaleReason } from '../stats/index.js';
import type { TroveEventMap, TroveEventName } from './events.js';
import type { RegionCore } from './region-core.js';

/*
 * The one place where a region reports what happened: each function counts it in the region's (or
 * cached function's) statistics, then emits the event if someone listens. Statistics and events
 * therefore count the same things.
 */

/** When a read starts: the time, only if someone listens to hits or misses (their `durationMs`); else 0. */
export function readStarted(core: RegionCore): number {
  const events = core.ctx.events;
  return events.wants('hit') || events.wants('miss') ? performance.now() : 0;
}

/** Emits an event of this core, naming its cached function when it has one. */
function emit<E extends TroveEventName>(core: RegionCore, name: E, event: TroveEventMap[E]): void {
  if (core.fn !== undefined) (event as { function?: string }).function = core.fn;
  core.ctx.events.emit(name, event);
}

export function emitHit(core: RegionCore, k: string, started: number, entry: { freshUntil: number | undefined }, tier: 'near' | 'store'): void {
  core.stats?.hit(tier);
  if (!core.ctx.events.wants('hit')) return;
  const stale = entry.freshUntil !== undefined && entry.freshUntil <= Date.now();
  emit(core, 'hit', { region: core.path, key: k, durationMs: performance.now() - started, stale, tier });
}

/** A fresh near hit on the fast path: no clock read unless someone listens. */
export function emitFastNearHit(core: RegionCore, k: string): void {
  core.stats?.hit('near');
  if (core.ctx.events.wants('hit')) emit(core, 'hit', { region: core.path, key: k, durationMs: 0, stale: false, tier: 'near' });
}

/** A near-cache copy kept through an outage was answered: a stale near hit. */
export function emitKeptHit(core: RegionCore, k: string, started: number): void {
  core.stats?.hit('near');
  if (core.ctx.events.wants('hit'))
    emit(core, 'hit', { region: core.path, key: k, durationMs: started === 0 ? 0 : performance.now() - started, stale: true, tier: 'near' });
  emitStale(core, k, 'disconnected');
}

export function emitMiss(core: RegionCore, k: string, started: number): void {
  core.stats?.miss();
  if (!core.ctx.events.wants('miss')) return;
  emit(core, 'miss', { region: core.path, key: k, durationMs: started === 0 ? 0 : performance.now() - started });
}

export function emitStale(core: RegionCore, k: string, reason: StaleReason): void {
  core.stats?.stale(reason);
  if (core.ctx.events.wants('stale')) emit(core, 'stale', { region: core.path, key: k, reason });
}

export function emitCompute(core: RegionCore, k: string, durationMs: number, failed: boolean): void {
  core.stats?.compute(durationMs, failed);
  if (core.ctx.events.wants('compute')) emit(core, 'compute', { region: core.path, key: k, durationMs, failed });
}

/** A value of `bytes` was written; `started` is 0 when nobody listened to `set` events as it began. */
export function emitSet(core: RegionCore, k: string, bytes: number, ttlMs: number, started: number, durationMs?: number): void {
  core.stats?.set(bytes);
  if (started === 0 || !core.ctx.events.wants('set')) return;
  emit(core, 'set', { region: core.path, key: k, bytes, ttlMs, durationMs: durationMs ?? performance.now() - started });
}

/** A key was deleted; only called when someone listens to `delete`. */
export function emitDelete(core: RegionCore, k: string, durationMs: number): void {
  emit(core, 'delete', { region: core.path, key: k, durationMs });
}

/** `markStale` wrote (`marked`) or deleted the key; only called when someone listens to `markStale`. */
export function emitMarkStale(core: RegionCore, k: string, marked: boolean, durationMs: number): void {
  emit(core, 'markStale', { region: core.path, key: k, marked, durationMs });
}

/** Reports a handled failure; anything that is not a TroveError is reported as a StoreError (its cause). */
export function emitError(core: RegionCore, err: unknown, operation: string, key?: string): void {
  const error = err instanceof TroveError ? err : new StoreError(err instanceof Error ? err.message : String(err), { cause: err });
  core.stats?.error(error.code);
  if (!core.ctx.events.wants('error')) return;
  emit(core, 'error', key === undefined ? { error, operation, region: core.path } : { error, operation, region: core.path, key });
}

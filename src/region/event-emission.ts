import { performance } from 'node:perf_hooks';
import { StoreError, TroveError } from '../errors.js';
import type { RegionCore } from './region-core.js';

/** When a read starts: the time, only if someone listens to hits or misses (their `durationMs`); else 0. */
export function readStarted(core: RegionCore): number {
  const events = core.ctx.events;
  return events.wants('hit') || events.wants('miss') ? performance.now() : 0;
}

export function emitHit(core: RegionCore, k: string, started: number, entry: { freshUntil: number | undefined }, tier: 'near' | 'store'): void {
  if (!core.ctx.events.wants('hit')) return;
  const stale = entry.freshUntil !== undefined && entry.freshUntil <= Date.now();
  core.ctx.events.emit('hit', { region: core.path, key: k, durationMs: performance.now() - started, stale, tier });
}

export function emitMiss(core: RegionCore, k: string, started: number): void {
  if (!core.ctx.events.wants('miss')) return;
  core.ctx.events.emit('miss', { region: core.path, key: k, durationMs: started === 0 ? 0 : performance.now() - started });
}

/** Reports a handled failure; anything that is not a TroveError is reported as a StoreError (its cause). */
export function emitError(core: RegionCore, err: unknown, operation: string, key?: string): void {
  if (!core.ctx.events.wants('error')) return;
  const error = err instanceof TroveError ? err : new StoreError(err instanceof Error ? err.message : String(err), { cause: err });
  core.ctx.events.emit('error', key === undefined ? { error, operation, region: core.path } : { error, operation, region: core.path, key });
}

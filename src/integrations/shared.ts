/**
 * What both exporters need from a trove: their options checked the same way, and their listeners
 * added and removed as one. Bundled into each entry point (it imports the main package by name only).
 */
import { type ComputeEvent, type ErrorEvent, type HitEvent, InvalidOptionError, type MissEvent, type SetEvent, type Trove } from 'trove-cache';

export function checkTrove(trove: Trove): void {
  if (typeof trove !== 'object' || trove === null || typeof trove.on !== 'function' || typeof trove.off !== 'function') {
    throw new InvalidOptionError('trove', 'expected a trove made by createTrove()');
  }
}

/** Validated bucket bounds: finite, positive, strictly ascending, at least one. */
export function buckets(given: readonly number[] | undefined, fallback: readonly number[], option: string): readonly number[] {
  if (given === undefined) return fallback;
  if (!Array.isArray(given) || given.length === 0) throw new InvalidOptionError(option, 'expected a non-empty array of numbers');
  given.forEach((b: unknown, i) => {
    if (typeof b !== 'number' || !Number.isFinite(b) || b <= 0)
      throw new InvalidOptionError(option, `bound ${i} is ${String(b)}: expected a finite number above 0`);
    if (i > 0 && b <= given[i - 1]!) throw new InvalidOptionError(option, `bounds must be strictly ascending (${given[i - 1]} then ${b})`);
  });
  return Object.freeze([...given]);
}

/** The events an exporter turns into metrics. */
export interface ExportedEvents {
  hit(e: HitEvent): void;
  miss(e: MissEvent): void;
  compute(e: ComputeEvent): void;
  set(e: SetEvent): void;
  error(e: ErrorEvent): void;
}

/** Adds the listeners; returns `stop`, which removes them (once; later calls do nothing). */
export function listen(trove: Trove, on: ExportedEvents): () => void {
  trove.on('hit', on.hit).on('miss', on.miss).on('compute', on.compute).on('set', on.set).on('error', on.error);
  let stopped = false;
  return () => {
    if (stopped) return;
    stopped = true;
    trove.off('hit', on.hit).off('miss', on.miss).off('compute', on.compute).off('set', on.set).off('error', on.error);
  };
}

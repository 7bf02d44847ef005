import { InvalidOptionError } from '../errors.js';

/**
 * Spreads the expiries of values written together. A warm-up, a deploy or a burst of misses
 * writes many keys within a second; with one `ttl` they would all go stale, then expire, within
 * that same second, and their refreshes and recomputations would reach the backend at once (each
 * key once, thanks to the lock, but every key together). `jitter` shortens each write's `ttl` and
 * `freshFor` by one random fraction of up to `jitter` (with 0: `asked` itself, nothing drawn):
 * the same factor for both, so a value stays fresh for the same share of its life, and `freshFor`
 * never exceeds `ttl`. Shortened, never lengthened: a value is never kept longer than asked.
 */
export function jittered(asked: Lifetimes, jitter: number, random: () => number = Math.random): Lifetimes {
  if (jitter === 0) return asked;
  const factor = 1 - jitter * random();
  return { ttlMs: shorten(asked.ttlMs, factor), freshForMs: shorten(asked.freshForMs, factor) };
}

/** A write's two clocks, in ms. */
export interface Lifetimes {
  readonly ttlMs: number;
  readonly freshForMs: number;
}

/** `ms` times `factor`, whole milliseconds; Infinity (no expiry) and 0 (stale at once) unchanged; at least 1 ms otherwise. */
function shorten(ms: number, factor: number): number {
  if (ms === 0 || !Number.isFinite(ms)) return ms;
  return Math.max(1, Math.floor(ms * factor));
}

/** Checks a `jitter` option: a fraction from 0 up to, not including, 1. */
export function checkJitter(value: unknown, option: string): number {
  if (typeof value !== 'number' || !(value >= 0 && value < 1))
    throw new InvalidOptionError(option, `expected a fraction from 0 up to (not including) 1, got ${typeof value === 'number' ? String(value) : typeof value}`);
  return value;
}

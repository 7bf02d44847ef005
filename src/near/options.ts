import { type Duration, toMs } from '../duration.js';
import { InvalidOptionError } from '../errors.js';
import type { NearCacheOptions } from './near-cache.js';

const POSITIVE_INTEGERS = new Set(['maxEntries', 'maxBytes', 'maxTtlMs']);

/**
 * Checks near-cache options (`undefined`: the defaults) and returns a copy of them, so what is
 * used is exactly what was checked. Pure: callers check before opening any connection. Throws
 * `InvalidOptionError` naming the option, e.g. `nearCache.maxEntires` (a typo is an error rather
 * than a silently ignored bound).
 */
export function checkNearCacheOptions(opt: unknown, option = 'nearCache'): NearCacheOptions {
  if (opt === undefined) return {};
  if (typeof opt !== 'object' || opt === null || Array.isArray(opt))
    throw new InvalidOptionError(option, 'expected an options object (or false to turn the near cache off)');
  for (const [k, v] of Object.entries(opt)) {
    if (k === 'clone') {
      if (v !== undefined && typeof v !== 'boolean') throw new InvalidOptionError(`${option}.clone`, 'expected a boolean');
    } else if (k === 'pingInterval') {
      if (v !== undefined) toMs(v as Duration, `${option}.pingInterval`);
    } else if (k === 'serveWhileDisconnected') {
      if (v !== undefined) toMs(v as Duration, `${option}.serveWhileDisconnected`, { allowZero: true });
    } else if (k === 'expiryResolution') {
      if (v !== undefined && toMs(v as Duration, `${option}.expiryResolution`, { allowZero: true }) > 1_000)
        throw new InvalidOptionError(`${option}.expiryResolution`, `expected at most 1s, got ${String(v)}`);
    } else if (POSITIVE_INTEGERS.has(k)) {
      if (v !== undefined && (typeof v !== 'number' || !Number.isInteger(v) || v < 1))
        throw new InvalidOptionError(`${option}.${k}`, `expected a positive integer, got ${String(v)}`);
    } else throw new InvalidOptionError(`${option}.${k}`, 'unknown option');
  }
  return { ...(opt as NearCacheOptions) };
}

import { type Duration, toMs } from '../duration.js';
import { InvalidOptionError } from '../errors.js';

/** What a cold key's caller does when another process is already computing it. */
export type OnCold<T = unknown> = 'wait' | 'fail' | ((key: string) => T | Promise<T>);

/** Read-through behaviour of `getOrSet` and cached functions; settable per trove, region or call. */
export interface ReadThroughOptions {
  /**
   * On a miss while another process computes the key: `'wait'` for its value (up to
   * `waitTimeout`, then compute here), `'fail'` to throw `ColdCacheError` at once, or a function
   * whose result is answered instead (not cached).
   * @defaultValue `'wait'`
   */
  onCold?: OnCold;
  /**
   * Longest wait for another process's value before computing here, in ms or a string.
   * @defaultValue `'10s'`
   */
  waitTimeout?: Duration;
  /**
   * Lease of the cross-process lock taken on a miss, in ms or a string; renewed every third of it
   * while the factory runs, so it only lapses when the holder dies (then another process takes over).
   * @defaultValue `'5s'`
   */
  lockLease?: Duration;
  /**
   * Take a cross-process lock so one process computes a missing key while the others wait.
   * Without it, computation is still single-flight within each process.
   * @defaultValue `true`
   */
  lock?: boolean;
  /**
   * Who refreshes a stale value: `'background'` answers every caller with the stale value at once
   * and refreshes behind them; `'blocking'` makes the caller that wins the refresh wait for the new
   * value (the others still get the stale value at once).
   * @defaultValue `'background'`
   */
  staleRefresh?: 'background' | 'blocking';
  /**
   * When a stale value exists and the factory takes longer than this (ms or string), answer the
   * stale value; the factory keeps running and stores its result when it finishes.
   * @defaultValue none
   */
  softTimeout?: Duration;
  /**
   * Longest a caller waits for the factory (ms or string): past it the call rejects with
   * `TimeoutError` (or answers a stale value if one exists); the factory keeps running and stores
   * its result when it finishes.
   * @defaultValue none
   */
  hardTimeout?: Duration;
  /**
   * When the factory throws (or times out) and a stale value exists, answer the stale value instead
   * of the error and keep it fresh for `failSafeBackoff`, so the failing source is not called again
   * meanwhile, by any process.
   * @defaultValue `true`
   */
  failSafe?: boolean;
  /**
   * How long a fail-safe value is served before the factory is tried again, in ms or a string.
   * @defaultValue `'10s'`
   */
  failSafeBackoff?: Duration;
  /**
   * Refresh in the background once a value has lived this fraction of its `freshFor` (strictly between 0 and 1),
   * so hot keys never go stale. One refresh per entry across all processes.
   * @defaultValue none
   */
  eagerRefresh?: number;
}

/** Read-through options after validation, with every default applied (see {@link ReadThroughOptions}). */
export interface ResolvedReadThrough {
  /** What a caller does on a cold key that another process is computing. */
  onCold: OnCold;
  /** How long a caller waits for another process's computation, in ms. */
  waitTimeoutMs: number;
  /** Lease of the computation lock, in ms (renewed while the factory runs). */
  lockLeaseMs: number;
  /** Whether computations are guarded by a lock across processes. */
  lock: boolean;
  /** Whether a stale entry is refreshed in the background or while the caller waits. */
  staleRefresh: 'background' | 'blocking';
  /** After this many ms a stale value is answered while the factory goes on (undefined: never). */
  softTimeoutMs: number | undefined;
  /** After this many ms the factory is abandoned (undefined: never). */
  hardTimeoutMs: number | undefined;
  /** Whether a failing factory is answered with the stale value. */
  failSafe: boolean;
  /** How long a fail-safe value is served before the factory is tried again, in ms. */
  failSafeBackoffMs: number;
  /** Fraction of `freshFor` after which a hit refreshes in the background (undefined: never). */
  eagerRefresh: number | undefined;
}

export const READ_THROUGH_KEYS = [
  'onCold',
  'waitTimeout',
  'lockLease',
  'lock',
  'staleRefresh',
  'softTimeout',
  'hardTimeout',
  'failSafe',
  'failSafeBackoff',
  'eagerRefresh',
] as const;

export const DEFAULT_READ_THROUGH: ResolvedReadThrough = {
  onCold: 'wait',
  waitTimeoutMs: 10_000,
  lockLeaseMs: 5_000,
  lock: true,
  staleRefresh: 'background',
  softTimeoutMs: undefined,
  hardTimeoutMs: undefined,
  failSafe: true,
  failSafeBackoffMs: 10_000,
  eagerRefresh: undefined,
};

/** Applies one layer of read-through options over `base`, validating each (option names prefixed by `where`). */
export function applyReadThrough(base: ResolvedReadThrough, layer: ReadThroughOptions | undefined, where: string): ResolvedReadThrough {
  if (!layer) return base;
  const p = where === '' ? '' : `${where}.`;
  const out = { ...base };
  if (layer.onCold !== undefined) {
    if (layer.onCold !== 'wait' && layer.onCold !== 'fail' && typeof layer.onCold !== 'function') {
      throw new InvalidOptionError(`${p}onCold`, "expected 'wait', 'fail' or a fallback function");
    }
    out.onCold = layer.onCold;
  }
  if (layer.waitTimeout !== undefined) out.waitTimeoutMs = toMs(layer.waitTimeout, `${p}waitTimeout`, { allowZero: true });
  if (layer.lockLease !== undefined) out.lockLeaseMs = toMs(layer.lockLease, `${p}lockLease`);
  if (layer.lock !== undefined) out.lock = bool(layer.lock, `${p}lock`);
  if (layer.staleRefresh !== undefined) {
    if (layer.staleRefresh !== 'background' && layer.staleRefresh !== 'blocking') {
      throw new InvalidOptionError(`${p}staleRefresh`, "expected 'background' or 'blocking'");
    }
    out.staleRefresh = layer.staleRefresh;
  }
  if (layer.softTimeout !== undefined) out.softTimeoutMs = toMs(layer.softTimeout, `${p}softTimeout`);
  if (layer.hardTimeout !== undefined) out.hardTimeoutMs = toMs(layer.hardTimeout, `${p}hardTimeout`);
  if (layer.failSafe !== undefined) out.failSafe = bool(layer.failSafe, `${p}failSafe`);
  if (layer.failSafeBackoff !== undefined) out.failSafeBackoffMs = toMs(layer.failSafeBackoff, `${p}failSafeBackoff`);
  if (layer.eagerRefresh !== undefined) {
    const r = layer.eagerRefresh;
    if (typeof r !== 'number' || !(r > 0 && r < 1))
      throw new InvalidOptionError(`${p}eagerRefresh`, `expected a fraction between 0 and 1 (exclusive), got ${String(r)}`);
    out.eagerRefresh = r;
  }
  if (out.softTimeoutMs !== undefined && out.hardTimeoutMs !== undefined && out.softTimeoutMs > out.hardTimeoutMs) {
    throw new InvalidOptionError(`${p}softTimeout`, 'must not exceed hardTimeout');
  }
  return out;
}

function bool(v: unknown, option: string): boolean {
  if (typeof v !== 'boolean') throw new InvalidOptionError(option, 'expected a boolean');
  return v;
}

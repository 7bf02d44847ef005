/** Figures of one histogram: exact count, sum, mean and standard deviation; percentiles estimated from its buckets. */
export interface HistogramSummary {
  /** How many values were recorded. */
  count: number;
  /**
   * Upper bounds of the buckets, in the histogram's unit (ms or bytes), ascending; the last bucket
   * (`counts` has one more entry than `bounds`) holds everything above the last bound.
   */
  bounds: readonly number[];
  /** Values recorded per bucket: `counts[i]` values were ≤ `bounds[i]` and above `bounds[i - 1]`. */
  counts: number[];
}

/** Time spent in factories, in milliseconds. */
export interface ComputeSummary extends HistogramSummary {
  /** Exact mean, from the recorded sum. 0 when `count` is 0. */
  meanMs: number;
  /** Exact population standard deviation, from the recorded sum of squares. */
  stddevMs: number;
  /** Percentiles estimated from the buckets (linear within a bucket). */
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  /** Sum of every factory run's duration. */
  totalMs: number;
}

/** Encoded sizes of the values written (envelope included), in bytes. */
export interface SizeSummary extends HistogramSummary {
  meanBytes: number;
  p50Bytes: number;
  p99Bytes: number;
  /** Sum of every written value's size. */
  totalBytes: number;
}

/** Why stale values were answered, by reason (see the `stale` event). */
export interface StaleCounts {
  refreshing: number;
  'fail-safe': number;
  timeout: number;
  disconnected: number;
}

/**
 * The figures of one region, or of one cached function in it: this process's since it started
 * (`trove.stats()`), or every process's over a period (`trove.fleetStats()`).
 */
export interface StatsRow {
  /** The region's name (dotted path). */
  region: string;
  /** The cached function's `name`, on rows of cached functions; absent on a region's own row (calls made on the region directly). */
  function?: string;
  /** Reads answered: hits + misses. */
  calls: number;
  /** Reads that found a value (fresh or stale), from either tier. */
  hits: number;
  /** Hits answered from the in-process near cache. */
  nearHits: number;
  /** Hits answered from the store (Redis, or the embedded store). */
  storeHits: number;
  /** Reads that found nothing usable. */
  misses: number;
  /** hits / calls, in % (0 when there were no calls). */
  hitRatio: number;
  /** nearHits / hits, in % (0 when there were no hits). */
  nearShare: number;
  /** Stale answers, all reasons. */
  stale: number;
  staleByReason: StaleCounts;
  /** Factory runs that produced a value. */
  computes: number;
  /** Factory runs that threw (or timed out). */
  computeErrors: number;
  /** Errors reported (`error` events), all codes. */
  errors: number;
  /** Errors by `TroveError.code`, e.g. `{ STORE: 3, STORE_TIMEOUT: 1 }`. */
  errorsByCode: Record<string, number>;
  /** Values written. */
  sets: number;
  compute: ComputeSummary;
  size: SizeSummary;
}

/** Figures merged over every process that wrote statistics to the same Redis prefix and version. */
export interface FleetStats {
  /** Start of the first window included, epoch ms (windows are whole minutes). */
  from: number;
  /** End of the period covered (now, for the current window), epoch ms. */
  to: number;
  /** One row per region and per cached function, sorted by region then function. */
  regions: StatsRow[];
  /** With `perMinute`: each window's own rows, oldest first (a window nobody wrote to has none). */
  minutes?: FleetWindow[];
}

/** The figures of one minute. */
export interface FleetWindow {
  /** Start of the minute, epoch ms. */
  start: number;
  regions: StatsRow[];
}

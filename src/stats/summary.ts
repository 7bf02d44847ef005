import { COMPUTE_BOUNDS_MS, SIZE_BOUNDS_BYTES } from './buckets.js';
import { COMPUTE_BUCKETS_AT, SIZE_BUCKETS_AT, SLOT } from './series.js';
import type { ComputeSummary, SizeSummary, StatsRow } from './types.js';

/** Figures of one row, as an array laid out like a `Series` (see series.ts) plus errors by code. */
export interface RawRow {
  region: string;
  fn: string | undefined;
  values: Float64Array;
  errors: Map<string, number>;
}

const percent = (part: number, whole: number): number => (whole === 0 ? 0 : (100 * part) / whole);

/** The row a user sees: counters, ratios and histogram summaries. */
export function summarize(raw: RawRow): StatsRow {
  const v = raw.values;
  const nearHits = v[SLOT.nearHits]!;
  const storeHits = v[SLOT.storeHits]!;
  const hits = nearHits + storeHits;
  const misses = v[SLOT.misses]!;
  const staleByReason = {
    refreshing: v[SLOT.refreshing]!,
    'fail-safe': v[SLOT['fail-safe']]!,
    timeout: v[SLOT.timeout]!,
    disconnected: v[SLOT.disconnected]!,
  };
  let errors = 0;
  const errorsByCode: Record<string, number> = {};
  for (const [code, n] of [...raw.errors].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    errorsByCode[code] = n;
    errors += n;
  }
  const row: StatsRow = {
    region: raw.region,
    calls: hits + misses,
    hits,
    nearHits,
    storeHits,
    misses,
    hitRatio: percent(hits, hits + misses),
    nearShare: percent(nearHits, hits),
    stale: staleByReason.refreshing + staleByReason['fail-safe'] + staleByReason.timeout + staleByReason.disconnected,
    staleByReason,
    computes: v[SLOT.computes]!,
    computeErrors: v[SLOT.computeErrors]!,
    errors,
    errorsByCode,
    sets: v[SLOT.sets]!,
    compute: computeSummary(v),
    size: sizeSummary(v),
  };
  if (raw.fn !== undefined) row.function = raw.fn;
  return row;
}

function computeSummary(v: Float64Array): ComputeSummary {
  const counts = Array.from(v.subarray(COMPUTE_BUCKETS_AT, COMPUTE_BUCKETS_AT + COMPUTE_BOUNDS_MS.length + 1));
  const { count, mean, stddev } = moments(counts, v[SLOT.computeSum]!, v[SLOT.computeSquares]!);
  return {
    count,
    bounds: COMPUTE_BOUNDS_MS,
    counts,
    meanMs: mean,
    stddevMs: stddev,
    p50Ms: percentile(COMPUTE_BOUNDS_MS, counts, 0.5),
    p95Ms: percentile(COMPUTE_BOUNDS_MS, counts, 0.95),
    p99Ms: percentile(COMPUTE_BOUNDS_MS, counts, 0.99),
    totalMs: v[SLOT.computeSum]!,
  };
}

function sizeSummary(v: Float64Array): SizeSummary {
  const counts = Array.from(v.subarray(SIZE_BUCKETS_AT, SIZE_BUCKETS_AT + SIZE_BOUNDS_BYTES.length + 1));
  const { count, mean } = moments(counts, v[SLOT.sizeSum]!, v[SLOT.sizeSquares]!);
  return {
    count,
    bounds: SIZE_BOUNDS_BYTES,
    counts,
    meanBytes: mean,
    p50Bytes: percentile(SIZE_BOUNDS_BYTES, counts, 0.5),
    p99Bytes: percentile(SIZE_BOUNDS_BYTES, counts, 0.99),
    totalBytes: v[SLOT.sizeSum]!,
  };
}

/** Count, exact mean and population standard deviation from the sum and sum of squares. */
function moments(counts: readonly number[], sum: number, squares: number): { count: number; mean: number; stddev: number } {
  const count = counts.reduce((a, b) => a + b, 0);
  if (count === 0) return { count, mean: 0, stddev: 0 };
  const mean = sum / count;
  return { count, mean, stddev: Math.sqrt(Math.max(0, squares / count - mean * mean)) };
}

/**
 * The `q` quantile estimated from bucket counts: found in the bucket where the cumulative count
 * reaches it, placed linearly between the bucket's bounds (the overflow bucket answers its lower bound).
 */
export function percentile(bounds: readonly number[], counts: readonly number[], q: number): number {
  const total = counts.reduce((a, b) => a + b, 0);
  if (total === 0) return 0;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    const n = counts[i]!;
    if (n === 0 || seen + n < rank) {
      seen += n;
      continue;
    }
    const lower = i === 0 ? 0 : bounds[i - 1]!;
    if (i >= bounds.length) return lower;
    // Capped by the bound: the interpolation at the bucket's top can round past it (0.002 + 0.003 > 0.005).
    return Math.min(bounds[i]!, lower + ((bounds[i]! - lower) * (rank - seen)) / n);
  }
  return bounds[bounds.length - 1]!;
}

/** Small statistics helpers for benchmark figures. */

/** The value below which `p` percent of the sorted samples fall (nearest-rank). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

export function sortNumbers(values: readonly number[]): number[] {
  return [...values].sort((a, b) => a - b);
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const s = sortNumbers(values);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Median, extremes and half-range as a percentage of the median, over the rounds of one measure. */
export interface Summary {
  median: number;
  min: number;
  max: number;
  /** (max − min) / 2 / median × 100. */
  spreadPct: number;
  rounds: number[];
}

export function summarize(rounds: readonly number[]): Summary {
  const finite = rounds.filter((r) => Number.isFinite(r));
  if (finite.length === 0) return { median: Number.NaN, min: Number.NaN, max: Number.NaN, spreadPct: Number.NaN, rounds: [...rounds] };
  const med = median(finite);
  const min = Math.min(...finite);
  const max = Math.max(...finite);
  return { median: med, min, max, spreadPct: med === 0 ? 0 : ((max - min) / 2 / med) * 100, rounds: [...rounds] };
}

/** Latency distribution of one round, in milliseconds. */
export interface LatencySummary {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

export function latencies(samples: readonly number[]): LatencySummary {
  const s = sortNumbers(samples);
  return { count: s.length, p50: percentile(s, 50), p99: percentile(s, 99), max: s.length ? s[s.length - 1]! : Number.NaN };
}

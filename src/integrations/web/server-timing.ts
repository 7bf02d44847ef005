/**
 * The `Server-Timing` entry of a request's cache work: `trove;desc="3 hits, 1 stale, 1 miss";dur=12.4`.
 * `dur` is the time spent in cache reads, in milliseconds with one decimal (the Server-Timing unit);
 * `desc` counts what they found, and says `skipped` when the request bypassed the cache.
 */
import type { RequestCacheReport } from './request-analysis.js';

/** The metric name of the entry. */
export const SERVER_TIMING_NAME = 'trove';

/** `3 hits, 1 stale, 1 miss` (only the counts that are not 0; `no cache reads` when all are). */
export function describeCounts(report: Pick<RequestCacheReport, 'hits' | 'stale' | 'misses' | 'skipped'>): string {
  const parts: string[] = [];
  if (report.skipped) parts.push('skipped');
  if (report.hits > 0) parts.push(`${report.hits} ${report.hits === 1 ? 'hit' : 'hits'}`);
  if (report.stale > 0) parts.push(`${report.stale} stale`);
  if (report.misses > 0) parts.push(`${report.misses} ${report.misses === 1 ? 'miss' : 'misses'}`);
  if (parts.length === 0 || (parts.length === 1 && report.skipped)) parts.push('no cache reads');
  return parts.join(', ');
}

/** The header value for a report. */
export function serverTiming(report: RequestCacheReport): string {
  return `${SERVER_TIMING_NAME};desc="${describeCounts(report)}";dur=${report.durationMs.toFixed(1)}`;
}

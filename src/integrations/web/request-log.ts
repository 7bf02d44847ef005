/** The optional debug line per request: what the cache did, with the request it did it for. */
import type { RequestLogger } from './options.js';
import type { RequestRecord } from './request-analysis.js';
import { describeCounts } from './server-timing.js';

export function logRequest(logger: RequestLogger | undefined, method: string, url: string, status: number, record: RequestRecord): void {
  if (logger === undefined) return;
  const path = url.split('?', 1)[0];
  logger.debug(
    { method, path, status, trove: record.toJSON() },
    `trove: ${method} ${path} ${status}: ${describeCounts(record)} in ${record.durationMs.toFixed(1)} ms`,
  );
}

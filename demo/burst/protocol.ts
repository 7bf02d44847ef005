/**
 * What the primary and the worker processes of the burst demo agree on: timings, routes and the
 * messages they exchange over the cluster IPC channel.
 */

/** How long one computation of a report takes (a slow query, simulated with a timer). */
export const COMPUTE_MS = 500;

/** How long a stored report is served without recomputing (longer than any burst takes); the hard expiry is an hour. */
export const FRESH_FOR = '3s';
export const FRESH_FOR_MS = 3_000;

/** Every run of `computeReport`, in every process, increments this Redis counter. */
export const COUNTER_KEY = 'demo:computations';

/**
 * How a request asks Trove for its report, chosen with `?mode=`:
 * - `wait`   the default: on a cold key, one process computes and every other caller waits for it;
 * - `fail`   `onCold: 'fail'`: callers that lose the race get `ColdCacheError` (HTTP 503) at once;
 * - `nolock` `lock: false`: single-flight inside each process only, as other Node caches do.
 */
export const MODES = ['wait', 'fail', 'nolock'] as const;
export type Mode = (typeof MODES)[number];

export function isMode(value: string): value is Mode {
  return (MODES as readonly string[]).includes(value);
}

export function reportPath(id: string, mode: Mode): string {
  return mode === 'wait' ? `/report/${id}` : `/report/${id}?mode=${mode}`;
}

/** The body of a 200 answer. */
export interface ReportBody {
  id: string;
  /** Which run of the computation produced it (the counter's value when it started). */
  run: number;
  computedBy: number;
  computedAt: string;
  /** The worker that answered this request. */
  servedBy: number;
}

/** The body of an error answer. */
export interface ErrorBody {
  error: string;
  message: string;
  retryAfterMs?: number;
  servedBy: number;
}

/** Counters a worker keeps since it started; the primary diffs them per phase. */
export interface WorkerStats {
  worker: number;
  /** Computations running right now. */
  computing: number;
  /** Trove `compute` events (a getOrSet factory ran here). */
  computes: number;
  /** Trove `stale` events (a stale value was answered). */
  stale: number;
  /** Trove `error` events. */
  errors: number;
  /** The first few error events, as text. */
  errorSamples: string[];
}

/** Environment a worker is started with. */
export interface WorkerEnv {
  BURST_WORKER: string;
  /** Redis URL, or empty for the embedded store. */
  BURST_REDIS: string;
  /** Key version of this run, so runs against a shared Redis never see each other's reports. */
  BURST_VERSION: string;
}

export type ToWorker = { type: 'stats' } | { type: 'shutdown' };

export type FromWorker =
  | { type: 'ready'; worker: number; port: number }
  | { type: 'failed'; worker: number; message: string }
  /** Sent on every computation when there is no Redis to count in (embedded store). */
  | { type: 'computed'; worker: number }
  | { type: 'stats'; stats: WorkerStats };

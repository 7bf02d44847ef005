/**
 * Per-request analysis: every cache read made while handling a request is attributed to it.
 *
 * Attribution rides on the trove's own events. A listener runs synchronously where the event is
 * emitted, and Trove emits `hit` and `miss` in the continuation of the caller's read (a promise
 * reaction keeps the async context of the code that awaited it, even when the read went out in an
 * MGET shared with other requests), so an AsyncLocalStorage entered by the middleware names the
 * request. One set of listeners per trove serves every request: a request adds no listener.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { HitEvent, MissEvent, Trove } from 'trove-cache';

/** One cache read made while handling a request. */
export interface CacheOperation {
  /** The region read (a cached function's region, for its calls). */
  readonly region: string;
  /** The key read, within its region. */
  readonly key: string;
  /** `'hit'` (fresh), `'stale'` (found past its `freshFor`, still answered) or `'miss'`. */
  readonly result: 'hit' | 'stale' | 'miss';
  /** Where a hit was found: the in-process near cache or the store (Redis, or the embedded store); undefined on a miss. */
  readonly tier: 'near' | 'store' | undefined;
  /** Time from the call to the answer of the read, in milliseconds (0 for near-cache hits on the fast path). */
  readonly durationMs: number;
  /** The cached function's name, when the read came through `trove.cached()`. */
  readonly function?: string;
}

/** What the cache did for one request. */
export interface RequestCacheReport {
  /** Every read, in the order they were answered. */
  readonly operations: readonly CacheOperation[];
  /** Fresh hits. */
  readonly hits: number;
  /** Stale hits (answered while past `freshFor`). */
  readonly stale: number;
  /** Misses. */
  readonly misses: number;
  /** Sum of the reads' durations, in milliseconds (reads run concurrently can add up to more than the request took). */
  readonly durationMs: number;
  /** Whether the request skipped the cache (the skip header, allowed by `allowSkip`): its cached calls ran uncached. */
  readonly skipped: boolean;
}

/** The report a request fills while it is handled; its reads stop counting once it is `closed`. */
export class RequestRecord implements RequestCacheReport {
  readonly operations: CacheOperation[] = [];
  hits = 0;
  stale = 0;
  misses = 0;
  durationMs = 0;
  skipped = false;
  /** Set when the response is complete: a background refresh finishing later is not this request's. */
  closed = false;

  constructor(readonly trove: Trove) {}

  add(op: CacheOperation): void {
    if (this.closed) return;
    this.operations.push(op);
    if (op.result === 'hit') this.hits++;
    else if (op.result === 'stale') this.stale++;
    else this.misses++;
    this.durationMs += op.durationMs;
  }

  /** A plain copy, for a log line. */
  toJSON(): RequestCacheReport {
    return { operations: this.operations, hits: this.hits, stale: this.stale, misses: this.misses, durationMs: this.durationMs, skipped: this.skipped };
  }
}

const scope = new AsyncLocalStorage<RequestRecord>();
const observed = new WeakSet<Trove>();

/** Starts attributing the trove's reads to the request in scope (once per trove). */
export function observe(trove: Trove): void {
  if (observed.has(trove)) return;
  observed.add(trove);
  trove.on('hit', (e: HitEvent) => {
    const record = scope.getStore();
    if (record === undefined || record.trove !== trove) return;
    record.add({ region: e.region, key: e.key, result: e.stale ? 'stale' : 'hit', tier: e.tier, durationMs: e.durationMs, ...fn(e.function) });
  });
  trove.on('miss', (e: MissEvent) => {
    const record = scope.getStore();
    if (record === undefined || record.trove !== trove) return;
    record.add({ region: e.region, key: e.key, result: 'miss', tier: undefined, durationMs: e.durationMs, ...fn(e.function) });
  });
}

function fn(name: string | undefined): { function?: string } {
  return name === undefined ? {} : { function: name };
}

/** Runs `fn` (the rest of the request's handling) with `record` in scope. */
export function runRecorded<T>(record: RequestRecord, fn: () => T): T {
  return scope.run(record, fn);
}

/** The request record in scope, if any. */
export function currentRecord(): RequestRecord | undefined {
  return scope.getStore();
}

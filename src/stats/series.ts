import { bucketOf, COMPUTE_BOUNDS_MS, SIZE_BOUNDS_BYTES } from './buckets.js';

/** Why a stale value was answered (see the `stale` event). */
export type StaleReason = 'refreshing' | 'fail-safe' | 'timeout' | 'disconnected';

/**
 * Where each figure sits in a series' array. The names are also the fields' names in Redis, so
 * they never change meaning.
 */
export const SLOT = {
  nearHits: 0,
  storeHits: 1,
  misses: 2,
  refreshing: 3,
  'fail-safe': 4,
  timeout: 5,
  disconnected: 6,
  computes: 7,
  computeErrors: 8,
  sets: 9,
  computeSum: 10,
  computeSquares: 11,
  sizeSum: 12,
  sizeSquares: 13,
} as const;

/** Field names in Redis of the slots above, in slot order. */
export const SLOT_FIELDS = [
  'hn',
  'hs',
  'm',
  's.refreshing',
  's.fail-safe',
  's.timeout',
  's.disconnected',
  'c',
  'ce',
  'w',
  'ct.sum',
  'ct.sq',
  'sz.sum',
  'sz.sq',
] as const;
/** Slots whose increments are fractional (sent with HINCRBYFLOAT); the others are whole counts. */
export const FLOAT_SLOTS: ReadonlySet<number> = new Set([SLOT.computeSum, SLOT.computeSquares, SLOT.sizeSquares]);

/** First slot of the factory-time buckets, then of the size buckets; the array's length. */
export const COMPUTE_BUCKETS_AT = SLOT_FIELDS.length;
export const SIZE_BUCKETS_AT = COMPUTE_BUCKETS_AT + COMPUTE_BOUNDS_MS.length + 1;
export const SERIES_LENGTH = SIZE_BUCKETS_AT + SIZE_BOUNDS_BYTES.length + 1;

/** The Redis field of a bucket slot. */
export function bucketField(slot: number): string {
  return slot < SIZE_BUCKETS_AT ? `ct${slot - COMPUTE_BUCKETS_AT}` : `sz${slot - SIZE_BUCKETS_AT}`;
}

/**
 * The figures of one region (or one cached function in it) in this process, since the trove
 * started: a fixed array of counters and histogram buckets, so that recording is a few increments
 * and no allocation. Error counts are kept by code beside it.
 */
export class Series {
  readonly values = new Float64Array(SERIES_LENGTH);
  readonly errors = new Map<string, number>();

  constructor(
    readonly region: string,
    readonly fn: string | undefined,
  ) {}

  hit(tier: 'near' | 'store'): void {
    this.values[tier === 'near' ? SLOT.nearHits : SLOT.storeHits]!++;
  }

  miss(): void {
    this.values[SLOT.misses]!++;
  }

  stale(reason: StaleReason): void {
    this.values[SLOT[reason]]!++;
  }

  /** A factory run ended after `ms`: a value, or an error (`failed`). Both count in the time histogram. */
  compute(ms: number, failed: boolean): void {
    const v = this.values;
    v[failed ? SLOT.computeErrors : SLOT.computes]!++;
    v[SLOT.computeSum]! += ms;
    v[SLOT.computeSquares]! += ms * ms;
    v[COMPUTE_BUCKETS_AT + bucketOf(COMPUTE_BOUNDS_MS, ms)]!++;
  }

  /** A value of `bytes` (encoded, envelope included) was written. */
  set(bytes: number): void {
    const v = this.values;
    v[SLOT.sets]!++;
    v[SLOT.sizeSum]! += bytes;
    v[SLOT.sizeSquares]! += bytes * bytes;
    v[SIZE_BUCKETS_AT + bucketOf(SIZE_BOUNDS_BYTES, bytes)]!++;
  }

  /** Factory runs so far (with a value or thrown) and their mean duration in ms. */
  computeSummary(): { count: number; meanMs: number } {
    const v = this.values;
    const count = v[SLOT.computes]! + v[SLOT.computeErrors]!;
    return { count, meanMs: count === 0 ? 0 : v[SLOT.computeSum]! / count };
  }

  error(code: string): void {
    this.errors.set(code, (this.errors.get(code) ?? 0) + 1);
  }
}

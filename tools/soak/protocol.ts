/**
 * What the soak's parent and its child processes share: the run's settings, the regions every
 * process opens the same way, and the messages they exchange over the IPC channel.
 */
import type { RegionOptions } from '../../src/index.js';

/**
 * The operations each process runs in its warm-up at least: as many as its length allows at the set
 * rate (0 without a rate). A starved process (a loaded machine) runs fewer in the same time, and
 * its heap has not reached the state of a warm one (the code the load tiers up, what its keys leave
 * behind): measuring it then would read its settling as growth.
 */
export function warmupOps(config: Pick<SoakConfig, 'opsPerSecond' | 'warmupMs'>): number {
  return config.opsPerSecond > 0 ? (config.opsPerSecond * config.warmupMs) / 1000 : 0;
}

export interface SoakConfig {
  /** Length of the measured phase, after every process is warm. */
  durationMs: number;
  /**
   * Load before the measured phase, ms: long enough for the near cache to fill and for every
   * kind of entry to have expired and been replaced once, so the heap is at its steady state.
   */
  warmupMs: number;
  /** Child processes, each with its own trove (near cache on). */
  processes: number;
  /** Keys of the `items` region (getOrSet and get, skewed). */
  itemKeys: number;
  /** Keys of the `feed` region, written from outside by the parent and read by the children. */
  feedKeys: number;
  /** Operations per second per process (0: as fast as it goes). */
  opsPerSecond: number;
  /** Operations in flight per process. */
  concurrency: number;
  /** Outside writes (SET or DEL) per second, from the parent. */
  writesPerSecond: number;
  /** Mean interval between two `items` invalidations of one process, ms. */
  regionInvalidateEveryMs: number;
  /** Mean interval between two `invalidateTags` of one process, ms. */
  tagInvalidateEveryMs: number;
  /** Distinct tags the `tagged` entries draw from. */
  tags: number;
  seed: number;
  prefix: string;
}

/**
 * The regions. `feed` is raw JSON so that the parent can write it with a plain client, and it is
 * never invalidated: its keys (from `keyOf`) stay the same for the whole run.
 */
export const REGIONS = {
  items: { ttl: '1m', freshFor: '10s' },
  feed: { raw: true },
  tagged: { ttl: '10s' },
} as const satisfies Record<string, RegionOptions>;

/** A `feed` value as the parent writes it: `seq` grows with every outside write, over all keys. */
export interface FeedValue {
  k: string;
  seq: number;
  pad: string;
}

/** An `items` or `tagged` value as a child computes it; `at` is the wall clock when the factory ran. */
export interface ComputedValue {
  k: string;
  at: number;
  by: number;
  tags?: string[];
  pad: string;
}

/** Stale reads by kind; every one fails the run. */
/**
 * How long after a process learns that Redis acknowledged an outside write (and answered a PING
 * sent after it) the write's invalidation may still be on its way: it travels on another
 * connection than the acknowledgement, so the kernel and the scheduler can deliver it later. A
 * read that begins after the process has polled its sockets at least this long after learning of
 * the write must not answer an older value.
 */
export const ACK_WINDOW_MS = 50;

export interface StaleCounts {
  /** A feed value older than an outside write acknowledged before the read began (past ACK_WINDOW_MS). */
  acked: number;
  /** A feed value older than one this process read before (read after read, same key). */
  monotonic: number;
  /** An items value computed before this process's own `invalidate()`, read after it resolved. */
  region: number;
  /** A tagged value computed before this process's own `invalidateTags()` of one of its tags, read after it resolved. */
  tag: number;
  /** A value of another key. */
  wrong: number;
}

/**
 * Feed reads that answered the value before an acknowledged outside write while its invalidation
 * could still be on its way (see ACK_WINDOW_MS): reported, not failed.
 */
export interface LateCounts {
  reads: number;
  /** Longest time from learning of the write to the start of such a read, ms. */
  maxMs: number;
}

/** Reads whose value the checks above could judge (a miss judges nothing). */
export interface CheckedCounts {
  feed: number;
  afterRegionInvalidation: number;
  afterTagInvalidation: number;
}

/** One second of a child's life. */
export interface Sample {
  /** ms since the loaded phase began (the child's clock). */
  t: number;
  /** `heapUsed` right after a full GC. */
  heapUsed: number;
  /** `process.getActiveResourcesInfo().length`. */
  resources: number;
  nearEntries: number;
  ops: number;
  errors: number;
  /** CPU time (user + system) used since the loaded phase began, ms. */
  cpuMs: number;
}

export interface NearFigures {
  hits: number;
  misses: number;
  evictions: number;
  invalidations: number;
  resets: number;
  entries: number;
}

export interface ChildSummary {
  ops: number;
  opsByKind: Record<string, number>;
  /** `error` events and rejected operations, by error code (rejections as `thrown <code>`). */
  errors: Record<string, number>;
  stale: StaleCounts;
  /** The first few stale reads, described. */
  examples: string[];
  checked: CheckedCounts;
  late: LateCounts;
  /** Resources keeping the event loop alive before the trove was created, and after it was closed. */
  resourcesBefore: string[];
  resourcesAfter: string[];
  near: NearFigures | undefined;
  closeMs: number;
  /** heapUsed after close and a full GC. */
  heapAfterClose: number;
}

export type ToChild =
  | { type: 'init'; index: number; url: string; config: SoakConfig }
  | { type: 'start' }
  /** Outside writes acknowledged by Redis: parallel arrays of feed key index and write sequence. */
  | { type: 'acked'; keys: number[]; seqs: number[] }
  | { type: 'stop' }
  | { type: 'exit' };

export type FromChild =
  | { type: 'ready' }
  /** Warm-up over: sampling has begun. */
  | { type: 'warm' }
  | { type: 'sample'; sample: Sample }
  | { type: 'closed'; summary: ChildSummary }
  | { type: 'failed'; message: string };

export function feedKey(i: number): string {
  return `f${i}`;
}

export function itemKey(i: number): string {
  return `i${i}`;
}

/**
 * The correctness checks of one child process. Each read captures a floor when it begins and
 * judges the value it answers against it when it ends, so reads that overlap a write or an
 * invalidation are judged only by what was known before they began.
 */
import type { CheckedCounts, ComputedValue, FeedValue, LateCounts, StaleCounts } from './protocol.js';

const MAX_EXAMPLES = 5;

export interface FeedFloor {
  /** The latest outside write this process learned of… */
  noticed: number;
  noticedAt: number;
  /** …and the latest whose propagation window is over. */
  acked: number;
  seen: number;
}

export class Checks {
  readonly stale: StaleCounts = { acked: 0, monotonic: 0, region: 0, tag: 0, wrong: 0 };
  readonly checked: CheckedCounts = { feed: 0, afterRegionInvalidation: 0, afterTagInvalidation: 0 };
  readonly late: LateCounts = { reads: 0, maxMs: 0 };
  readonly examples: string[] = [];
  /** Per feed key: the sequence of the latest outside write (SET or DEL) this process learned of, and when. */
  private readonly noticed: Float64Array;
  private readonly noticedAt: Float64Array;
  /** Per feed key: the sequence of the latest outside write whose propagation window is over. */
  private readonly acked: Float64Array;
  /** Per feed key: the highest sequence a completed read answered. */
  private readonly seen: Float64Array;
  /** Start time (wall clock) of this process's latest completed `items` invalidation. */
  private regionBarrier = Number.NEGATIVE_INFINITY;
  /** Per tag: start time of this process's latest completed invalidation of it. */
  private readonly tagBarriers = new Map<string, number>();

  constructor(feedKeys: number) {
    this.noticed = new Float64Array(feedKeys).fill(-1);
    this.noticedAt = new Float64Array(feedKeys);
    this.acked = new Float64Array(feedKeys).fill(-1);
    this.seen = new Float64Array(feedKeys).fill(-1);
  }

  /** Outside writes Redis acknowledged, just learned of: an older value answered now is late, not yet stale. */
  noticeAcked(keys: readonly number[], seqs: readonly number[]): void {
    const now = performance.now();
    for (let j = 0; j < keys.length; j++) {
      const i = keys[j]!;
      if (seqs[j]! > this.noticed[i]!) {
        this.noticed[i] = seqs[j]!;
        this.noticedAt[i] = now;
      }
    }
  }

  /** Outside writes whose invalidations have had their propagation window to reach this process. */
  applyAcked(keys: readonly number[], seqs: readonly number[]): void {
    for (let j = 0; j < keys.length; j++) {
      const i = keys[j]!;
      if (seqs[j]! > this.acked[i]!) this.acked[i] = seqs[j]!;
    }
  }

  feedFloor(i: number): FeedFloor {
    return { noticed: this.noticed[i]!, noticedAt: this.noticedAt[i]!, acked: this.acked[i]!, seen: this.seen[i]! };
  }

  /** A feed read that began with `floor` answered `value` (a miss judges nothing: a deleted key reads as one). */
  checkFeed(i: number, key: string, value: FeedValue | undefined, floor: FeedFloor, startedAt: number): void {
    if (value === undefined) return;
    if (value.k !== key) this.fail('wrong', `feed ${key} answered the value of ${value.k}`);
    else if (value.seq < floor.acked) {
      this.fail(
        'acked',
        `feed ${key} answered seq ${value.seq} after write seq ${floor.acked} was acknowledged (the read began ${(startedAt - floor.noticedAt).toFixed(1)} ms after this process learned of seq ${floor.noticed})`,
      );
    } else if (value.seq < floor.seen) this.fail('monotonic', `feed ${key} answered seq ${value.seq} after an earlier read answered seq ${floor.seen}`);
    else if (value.seq < floor.noticed) {
      this.late.reads++;
      this.late.maxMs = Math.max(this.late.maxMs, startedAt - floor.noticedAt);
    }
    this.checked.feed++;
    if (value.seq > this.seen[i]!) this.seen[i] = value.seq;
  }

  regionFloor(): number {
    return this.regionBarrier;
  }

  /** This process's `items.invalidate()` that began at `startedAt` (wall clock) has resolved. */
  regionInvalidated(startedAt: number): void {
    this.regionBarrier = startedAt;
  }

  checkItem(key: string, value: ComputedValue | undefined, floor: number): void {
    if (value === undefined) return;
    if (value.k !== key) this.fail('wrong', `items ${key} answered the value of ${value.k}`);
    else if (value.at < floor) {
      this.fail('region', `items ${key} answered a value computed ${floor - value.at} ms before this process's invalidation of the region began`);
    }
    if (floor !== Number.NEGATIVE_INFINITY) this.checked.afterRegionInvalidation++;
  }

  tagFloor(tags: readonly string[]): number {
    let floor = Number.NEGATIVE_INFINITY;
    for (const t of tags) floor = Math.max(floor, this.tagBarriers.get(t) ?? Number.NEGATIVE_INFINITY);
    return floor;
  }

  /** This process's `invalidateTags(tags)` that began at `startedAt` (wall clock) has resolved. */
  tagsInvalidated(tags: readonly string[], startedAt: number): void {
    for (const t of tags) this.tagBarriers.set(t, startedAt);
  }

  checkTagged(key: string, value: ComputedValue | undefined, floor: number): void {
    if (value === undefined) return;
    if (value.k !== key) this.fail('wrong', `tagged ${key} answered the value of ${value.k}`);
    else if (value.at < floor) {
      this.fail(
        'tag',
        `tagged ${key} (${value.tags?.join(', ')}) answered a value computed ${floor - value.at} ms before this process invalidated one of its tags`,
      );
    }
    if (floor !== Number.NEGATIVE_INFINITY) this.checked.afterTagInvalidation++;
  }

  private fail(kind: keyof StaleCounts, description: string): void {
    this.stale[kind]++;
    if (this.examples.length < MAX_EXAMPLES) this.examples.push(description);
  }
}

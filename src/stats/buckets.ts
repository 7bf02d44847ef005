/**
 * The fixed bucket bounds of the two histograms. Fixed, so that every process and every version
 * adds its counts into the same buckets in Redis: changing them would mix incompatible counts, and
 * would need a new statistics key space.
 */

/** Factory time, in ms: 1-2-5 steps from 1 µs to 50 s, then 60 s. A last bucket holds anything longer. */
export const COMPUTE_BOUNDS_MS: readonly number[] = (() => {
  const out: number[] = [];
  for (let decade = 0.001; decade < 100_000; decade *= 10) for (const step of [1, 2, 5]) out.push(Number((step * decade).toPrecision(1)));
  out.push(60_000);
  return out;
})();

/** Encoded value size, in bytes: powers of two from 16 B to 64 MiB. A last bucket holds anything larger. */
export const SIZE_BOUNDS_BYTES: readonly number[] = Array.from({ length: 23 }, (_, i) => 2 ** (i + 4));

/** The bucket of `value`: the first whose bound is at least `value`, or the last (overflow) bucket. */
export function bucketOf(bounds: readonly number[], value: number): number {
  let lo = 0;
  let hi = bounds.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (bounds[mid]! >= value) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

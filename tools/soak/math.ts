/** Small numeric helpers of the soak: a skewed key picker and the heap trend. */

/**
 * Draws indexes 0…n-1 with a Zipf distribution of exponent `s` (index 0 the most frequent): a
 * few hot keys take most reads, as in a real key space. With n = 10,000 and s = 1 the hottest key
 * gets about 10% of the draws and the 100 hottest about half.
 */
export function zipf(n: number, s: number, random: () => number): () => number {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    sum += 1 / (i + 1) ** s;
    cdf[i] = sum;
  }
  return () => {
    const u = random() * sum;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

/** Least-squares slope of y over x; 0 with fewer than two distinct x. */
export function slope(points: readonly { x: number; y: number }[]): number {
  const n = points.length;
  if (n < 2) return 0;
  let mx = 0;
  let my = 0;
  for (const p of points) {
    mx += p.x;
    my += p.y;
  }
  mx /= n;
  my /= n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.x - mx) * (p.y - my);
    den += (p.x - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

/** Heap growth over the second half of the samples, in KB per minute (`t` in ms, `heapUsed` in bytes). */
export function heapTrendKBPerMin(samples: readonly { t: number; heapUsed: number }[]): number {
  const half = samples.slice(Math.floor(samples.length / 2));
  return (slope(half.map((s) => ({ x: s.t, y: s.heapUsed }))) * 60_000) / 1024;
}

/** Counts of each distinct string, e.g. `{ PipeWrap: 1, Timeout: 2 }`. */
export function tally(items: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of items) out[s] = (out[s] ?? 0) + 1;
  return out;
}

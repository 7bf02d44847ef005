/** The histograms' buckets and what is derived from them: bucket choice, exact moments, estimated percentiles. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bucketOf, COMPUTE_BOUNDS_MS, SIZE_BOUNDS_BYTES } from '../../src/stats/buckets.js';
import { Series } from '../../src/stats/series.js';
import { percentile, summarize } from '../../src/stats/summary.js';

describe('buckets', () => {
  it('are 1-2-5 steps from 1 µs to 50 s then 60 s, and powers of two from 16 B to 64 MiB', () => {
    expect(COMPUTE_BOUNDS_MS.slice(0, 4)).toEqual([0.001, 0.002, 0.005, 0.01]);
    expect(COMPUTE_BOUNDS_MS.slice(-3)).toEqual([20_000, 50_000, 60_000]);
    expect(COMPUTE_BOUNDS_MS).toHaveLength(25);
    expect(SIZE_BOUNDS_BYTES[0]).toBe(16);
    expect(SIZE_BOUNDS_BYTES.at(-1)).toBe(64 * 1024 * 1024);
  });

  it('a value goes to the first bucket whose bound holds it, or to the overflow bucket', () => {
    fc.assert(
      fc.property(fc.double({ min: 0, max: 1e6, noNaN: true }), (ms) => {
        const i = bucketOf(COMPUTE_BOUNDS_MS, ms);
        if (i < COMPUTE_BOUNDS_MS.length) expect(ms).toBeLessThanOrEqual(COMPUTE_BOUNDS_MS[i]!);
        else expect(ms).toBeGreaterThan(COMPUTE_BOUNDS_MS.at(-1)!);
        if (i > 0) expect(ms).toBeGreaterThan(COMPUTE_BOUNDS_MS[i - 1]!);
      }),
    );
  });
});

describe('summaries', () => {
  it('count, mean and standard deviation are exact; percentiles fall in the right bucket', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: 0.0005, max: 70_000, noNaN: true }), { minLength: 1, maxLength: 200, size: 'max' }), (times) => {
        const s = new Series('r', undefined);
        for (const ms of times) s.compute(ms, false);
        const row = summarize({ region: 'r', fn: undefined, values: s.values, errors: s.errors });
        const mean = times.reduce((a, b) => a + b, 0) / times.length;
        const variance = times.reduce((a, b) => a + (b - mean) ** 2, 0) / times.length;
        expect(row.compute.count).toBe(times.length);
        expect(row.computes).toBe(times.length);
        expect(row.compute.meanMs).toBeCloseTo(mean, 6);
        expect(row.compute.stddevMs).toBeCloseTo(Math.sqrt(variance), 2);
        // The estimate lies within the bucket holding the true median's rank.
        const sorted = [...times].sort((a, b) => a - b);
        const median = sorted[Math.ceil(0.5 * sorted.length) - 1]!;
        const b = bucketOf(COMPUTE_BOUNDS_MS, median);
        const lower = b === 0 ? 0 : COMPUTE_BOUNDS_MS[b - 1]!;
        const upper = b < COMPUTE_BOUNDS_MS.length ? COMPUTE_BOUNDS_MS[b]! : COMPUTE_BOUNDS_MS.at(-1)!;
        expect(row.compute.p50Ms).toBeGreaterThanOrEqual(lower);
        expect(row.compute.p50Ms).toBeLessThanOrEqual(upper);
      }),
    );
  });

  it('interpolates linearly inside a bucket', () => {
    // 10 values in the (1, 2] ms bucket: the median is halfway through it.
    const counts = new Array(COMPUTE_BOUNDS_MS.length + 1).fill(0);
    counts[bucketOf(COMPUTE_BOUNDS_MS, 1.5)] = 10;
    expect(percentile(COMPUTE_BOUNDS_MS, counts, 0.5)).toBe(1.5);
    expect(percentile(COMPUTE_BOUNDS_MS, counts, 1)).toBe(2);
    expect(percentile(COMPUTE_BOUNDS_MS, new Array(26).fill(0), 0.5)).toBe(0);
    // At the top of a bucket the estimate is its bound, not a float rounded past it (0.002 + 0.003 > 0.005).
    const top = new Array(COMPUTE_BOUNDS_MS.length + 1).fill(0);
    top[bucketOf(COMPUTE_BOUNDS_MS, 0.004)] = 3;
    expect(percentile(COMPUTE_BOUNDS_MS, top, 1)).toBe(0.005);
  });

  it('ratios and counters of a row', () => {
    const s = new Series('users', 'load');
    for (let i = 0; i < 6; i++) s.hit('near');
    for (let i = 0; i < 2; i++) s.hit('store');
    s.miss();
    s.miss();
    s.stale('fail-safe');
    s.compute(5, true);
    s.set(100);
    s.set(300);
    s.error('STORE');
    s.error('STORE');
    s.error('DECODE');
    const row = summarize({ region: 'users', fn: 'load', values: s.values, errors: s.errors });
    expect(row).toMatchObject({
      region: 'users',
      function: 'load',
      calls: 10,
      hits: 8,
      nearHits: 6,
      storeHits: 2,
      misses: 2,
      hitRatio: 80,
      nearShare: 75,
      stale: 1,
      staleByReason: { refreshing: 0, 'fail-safe': 1, timeout: 0, disconnected: 0 },
      computes: 0,
      computeErrors: 1,
      errors: 3,
      errorsByCode: { DECODE: 1, STORE: 2 },
      sets: 2,
    });
    expect(row.size).toMatchObject({ count: 2, meanBytes: 200, totalBytes: 400 });
    expect(row.compute).toMatchObject({ count: 1, meanMs: 5, stddevMs: 0, totalMs: 5 });
  });
});

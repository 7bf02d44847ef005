/**
 * A cached function's refresh() writes with the write options only (ttl, freshFor), whatever
 * read-through options the function has, on a private redis-server.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { fakeDate, until, useRedisServer, useTroves } from '../helpers/troves.js';
import { RegionHandle } from '../../src/region/region-handle.js';

const redis = useRedisServer();
let n = 0;
const { open } = useTroves(() => ({ redis: redis.server.url, prefix: `cr${++n}` }));

/** Options of region `set` (see SetOptions). */
const WRITE_OPTIONS = new Set(['ttl', 'freshFor', 'tags']);

/** Every read-through option, with values unlike the defaults. */
const readThrough = {
  onCold: 'fail',
  waitTimeout: 250,
  lockLease: '2s',
  lock: true,
  staleRefresh: 'background',
  softTimeout: 50,
  hardTimeout: '3s',
  failSafe: true,
  failSafeBackoff: '1s',
} as const;

/** The one entry stored under `prefix` (the generation and tag tables left out). */
async function onlyEntry(prefix: string): Promise<string> {
  const keys = (await redis.server.keys()).filter((k) => k.startsWith(`${prefix}:`) && !k.includes(':__'));
  expect(keys).toHaveLength(1);
  return keys[0]!;
}

async function pttl(key: string): Promise<number> {
  return Number(await redis.server.command('PTTL', key));
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('cached(fn).refresh', () => {
  it('passes set only the write options, not the read-through ones', async () => {
    const t = open();
    const f = t.cached(async (id: number) => `${id}`, {
      name: 'f',
      ttl: '7s',
      freshFor: '3s',
      refreshTtlOnHit: true,
      shouldCache: () => true,
      ...readThrough,
    });
    const set = vi.spyOn(RegionHandle.prototype, 'set');
    await f.refresh(1);
    expect(set).toHaveBeenCalledTimes(1);
    const opts = set.mock.calls[0]![2];
    expect(Object.keys(opts ?? {}).filter((name) => !WRITE_OPTIONS.has(name))).toEqual([]);
    expect(opts).toEqual({ ttl: '7s', freshFor: '3s' });
  });

  it("with read-through options set, writes the function's ttl (PTTL) and freshFor", async () => {
    const clock = fakeDate();
    const t = open();
    let runs = 0;
    const f = t.cached(async (id: number) => `${id}v${++runs}`, { name: 'g', ttl: '7s', freshFor: 150, ...readThrough });
    expect(await f.refresh(1)).toBe('1v1');
    const key = await onlyEntry(t.prefix);
    const ms = await pttl(key);
    // Above the region's default ttl would be far more; 7 s minus any delay before the PTTL.
    expect(ms).toBeGreaterThan(3_000);
    expect(ms).toBeLessThanOrEqual(7_000);
    // freshFor was written too: past it the value is stale, answered at once and refreshed behind the caller.
    clock.advance(200);
    expect(await f(1)).toBe('1v1');
    await until(async () => (await f.peek(1)) === '1v2');
    expect(runs).toBe(2);
  });

  it("without write options, writes with the region's ttl", async () => {
    const t = open();
    const f = t.cached(async (id: number) => id * 2, { name: 'h', region: 'slow', regionOptions: { ttl: '9s' }, ...readThrough });
    const set = vi.spyOn(RegionHandle.prototype, 'set');
    expect(await f.refresh(4)).toBe(8);
    expect(set.mock.calls[0]![2]).toBeUndefined();
    const ms = await pttl(await onlyEntry(t.prefix));
    expect(ms).toBeGreaterThan(4_000);
    expect(ms).toBeLessThanOrEqual(9_000);
  });

  it('stores nothing when shouldCache rejects the value', async () => {
    const t = open();
    const f = t.cached(async () => [] as number[], { name: 'empty', ttl: '7s', shouldCache: (v) => v.length > 0, ...readThrough });
    const set = vi.spyOn(RegionHandle.prototype, 'set');
    expect(await f.refresh()).toEqual([]);
    expect(set).not.toHaveBeenCalled();
    expect(await f.peek()).toBeUndefined();
  });
});

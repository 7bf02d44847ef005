/**
 * Statistics end to end against a real Redis: counted per region and cached function, added into
 * per-minute hashes by every trove (and by a trove that closed), merged by fleetStats() exactly.
 */
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { createTrove, InvalidOptionError, type StatsRow, StoreError } from '../../src/index.js';
import { RedisServer } from '../helpers/redis-server.js';
import { until, useRedisServer, useTroves } from '../helpers/troves.js';

const redis = useRedisServer();
let n = 0;
const troves = useTroves(() => ({ redis: redis.server.url, prefix: `st${++n}` }));

/** The row of a region (and function) in a list of rows. */
function rowOf(rows: readonly StatsRow[] | undefined, region: string, fn?: string): StatsRow {
  const row = rows?.find((r) => r.region === region && r.function === fn);
  if (row === undefined) throw new Error(`no row for ${region}/${fn ?? '-'} in ${JSON.stringify(rows?.map((r) => [r.region, r.function]))}`);
  return row;
}

/** The statistics keys in Redis under a prefix. */
async function statsKeys(prefix: string): Promise<string[]> {
  const client = new Redis(redis.server.url);
  try {
    return await client.keys(`${prefix}:0:__stats:*`);
  } finally {
    client.disconnect();
  }
}

describe('statistics', () => {
  it('every trove adds its counts per region and per cached function, and fleetStats merges them exactly', async () => {
    const a = troves.open();
    const prefix = a.prefix;
    const b = troves.open({ prefix });
    await until(() => a.stats().near?.live === true && b.stats().near?.live === true);
    const users = a.region('users');
    expect(await users.get('1')).toBeUndefined();
    await users.set('1', { name: 'Ada' });
    expect(await users.get('1')).toEqual({ name: 'Ada' });
    expect(await users.getOrSet('2', () => 'two')).toBe('two');
    let runs = 0;
    const slow = b.cached(
      async (id: number) => {
        runs++;
        return { id };
      },
      { name: 'slow' },
    );
    for (let i = 0; i < 3; i++) expect(await slow(1)).toEqual({ id: 1 });
    expect(runs).toBe(1);
    expect(await b.region('users').get('1')).toEqual({ name: 'Ada' });

    // This process's own figures.
    expect(rowOf(a.stats().regions, 'users')).toMatchObject({ calls: 3, hits: 1, nearHits: 1, storeHits: 0, misses: 2, computes: 1, sets: 2 });
    expect(rowOf(b.stats().regions, 'fn', 'slow')).toMatchObject({ calls: 3, hits: 2, nearHits: 2, misses: 1, computes: 1, sets: 1 });

    await b.fleetStats(); // adds b's counts
    const fleet = await a.fleetStats({ since: '10m' });
    expect(fleet.regions.map((r) => [r.region, r.function])).toEqual([
      ['fn', 'slow'],
      ['users', undefined],
    ]);
    expect(rowOf(fleet.regions, 'users')).toMatchObject({
      calls: 4,
      hits: 2,
      nearHits: 1,
      storeHits: 1,
      misses: 2,
      hitRatio: 50,
      nearShare: 50,
      computes: 1,
      computeErrors: 0,
      sets: 2,
      errors: 0,
      stale: 0,
    });
    const fn = rowOf(fleet.regions, 'fn', 'slow');
    expect(fn).toMatchObject({ calls: 3, hits: 2, nearHits: 2, misses: 1, computes: 1, sets: 1 });
    expect(fn.compute.count).toBe(1);
    expect(fn.size.count).toBe(1);
    expect(fn.size.totalBytes).toBe(rowOf(b.stats().regions, 'fn', 'slow').size.totalBytes);
    expect(fleet.to - fleet.from).toBeGreaterThanOrEqual(10 * 60_000);
    // Asking again adds nothing twice.
    expect(rowOf((await a.fleetStats()).regions, 'users').calls).toBe(4);
  });

  it('a trove that closes adds its last counts, and a new one adds to them (restarts add up)', async () => {
    const first = troves.open();
    const prefix = first.prefix;
    const r = first.region('r');
    for (let i = 0; i < 5; i++) await r.get(`k${i}`);
    await first.close();
    const second = troves.open({ prefix });
    for (let i = 0; i < 3; i++) await second.region('r').get(`k${i}`);
    expect(rowOf((await second.fleetStats()).regions, 'r')).toMatchObject({ calls: 8, misses: 8 });
  });

  it('one hash per minute, expiring after the retention', async () => {
    const t = troves.open({ stats: { retention: '2h' } });
    await t.region('r').get('x');
    await t.fleetStats();
    const keys = await statsKeys(t.prefix);
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatch(new RegExp(`^${t.prefix}:0:__stats:\\d+$`));
    const minute = Number(keys[0]!.split(':').at(-1));
    expect(Math.abs(minute - Math.floor(Date.now() / 60_000))).toBeLessThanOrEqual(1);
    const ttl = await redis.server.command('PTTL', keys[0]!);
    expect(Number(ttl)).toBeGreaterThan(2 * 3_600_000 - 10_000);
    expect(Number(ttl)).toBeLessThanOrEqual(2 * 3_600_000 + 60_000);
  });

  it('counts are flushed every flushInterval without being asked', async () => {
    const t = troves.open({ stats: { flushInterval: '50ms' } });
    await t.region('r').get('x');
    await until(async () => (await statsKeys(t.prefix)).length === 1);
  });

  it('errors are counted by code, stale answers by reason, failed factories apart', async () => {
    troves.expectErrors();
    const t = troves.open({ nearCache: false });
    const r = t.region('e', { failSafe: true, freshFor: '1ms', ttl: '1h' });
    await r.set('v', 'old');
    await redis.server.command('SET', r.keyOf('bad'), 'garbage');
    expect(await r.get('bad')).toBeUndefined();
    await until(async () => {
      // Past freshFor: the factory fails, the stale value is served (fail-safe).
      const v = await r.getOrSet('v', () => {
        throw new Error('down');
      });
      return v === 'old';
    });
    await expect(r.getOrSet('none', () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    const row = rowOf((await t.fleetStats()).regions, 'e');
    expect(row.errorsByCode.DECODE).toBe(1);
    expect(row.errorsByCode.FACTORY).toBeGreaterThanOrEqual(1);
    expect(row.staleByReason['fail-safe']).toBe(row.errorsByCode.FACTORY);
    expect(row.computeErrors).toBe(row.errorsByCode.FACTORY! + 1);
    expect(row.computes).toBe(0);
  });

  it('counts a flush could not add (Redis killed) are added by a later one, once', async () => {
    troves.expectErrors();
    const server = await RedisServer.start();
    try {
      const t = troves.open({ redis: server.url, commandTimeout: 300, nearCache: false });
      const r = t.region('k');
      for (let i = 0; i < 4; i++) await r.get(`a${i}`);
      await t.fleetStats();
      await server.kill();
      await until(() => t.health().status === 'down');
      for (let i = 0; i < 3; i++) await r.get(`b${i}`);
      await expect(t.fleetStats()).rejects.toBeInstanceOf(StoreError);
      await server.restart();
      await until(() => t.health().status === 'ok');
      // The restarted server lost the first 4; the 3 counted during the outage and the 1 after arrive once.
      await r.get('c');
      expect(rowOf((await t.fleetStats()).regions, 'k')).toMatchObject({ calls: 4, misses: 4 });
      expect(rowOf(t.stats().regions, 'k')).toMatchObject({ calls: 8, misses: 8 });
    } finally {
      await server.stop();
    }
  });

  it('the embedded store keeps them too', async () => {
    const t = createTrove();
    try {
      await t.region('m').getOrSet('k', () => 1);
      await t.region('m').get('k');
      expect(rowOf((await t.fleetStats()).regions, 'm')).toMatchObject({ calls: 2, hits: 1, storeHits: 1, misses: 1, computes: 1 });
    } finally {
      await t.close();
    }
  });

  it('stats: false records nothing and fleetStats refuses', async () => {
    const t = troves.open({ stats: false });
    await t.region('r').get('x');
    expect(t.stats().regions).toBeUndefined();
    await expect(t.fleetStats()).rejects.toBeInstanceOf(InvalidOptionError);
    await t.close();
    expect(await statsKeys(t.prefix)).toEqual([]);
  });

  it('bad statistics options are refused before connecting', () => {
    expect(() => troves.open({ stats: { flushInterval: 'soon' } as never })).toThrow(InvalidOptionError);
    expect(() => troves.open({ stats: { every: '1s' } as never })).toThrow(/stats\.every/);
    expect(() => troves.open({ stats: 'on' as never })).toThrow(InvalidOptionError);
  });
});

/**
 * The fast near hit of `get` and `getOrSet` finds a region's entries by the caller's key, through
 * an index valid for the region's current key base. What it answers must be exactly what the
 * general path would: never an entry of an old generation (the region's or an ancestor's
 * invalidation, here or in another process), never a copy Redis invalidated, the same typed
 * errors for bad keys, hits counted, and the same across several handles of one region path.
 */
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { InvalidOptionError, type Trove, type TroveOptions } from '../../src/index.js';
import { fakeDate, until, useRedisServer, useTroves } from '../helpers/troves.js';

const redis = useRedisServer();
let n = 0;
let prefix = '';
const troves = useTroves(() => ({ prefix }));

async function open(opts: TroveOptions = {}): Promise<Trove> {
  const t = troves.open({ redis: redis.server.url, ...opts });
  await t.ready();
  if (opts.nearCache !== false) await until(() => t.stats().near?.live === true);
  return t;
}

async function fresh(opts: TroveOptions = {}): Promise<Trove> {
  prefix = `fast${++n}`;
  return open(opts);
}

function nearHits(t: Trove, region: string): number {
  return t.stats().regions?.find((r) => r.region === region && r.function === undefined)?.nearHits ?? 0;
}

describe('fast near hit', () => {
  it('a hit after the region is invalidated misses: the factory runs again, through every handle', async () => {
    const t = await fresh();
    const a = t.region('org').region('users');
    const b = t.region('org').region('users');
    let runs = 0;
    const factory = () => ++runs;
    expect(await a.getOrSet('1', factory)).toBe(1);
    expect(await a.getOrSet('1', factory)).toBe(1);
    expect(await b.getOrSet('1', factory)).toBe(1);
    expect(await b.get('1')).toBe(1);
    await a.invalidate();
    expect(await b.get('1')).toBeUndefined();
    expect(await b.getOrSet('1', factory)).toBe(2);
    expect(await a.getOrSet('1', factory)).toBe(2);
    // An ancestor's invalidation is a new generation of every region below it.
    await t.region('org').invalidate();
    expect(await a.get('1')).toBeUndefined();
    expect(await a.getOrSet('1', factory)).toBe(3);
    expect(await b.getOrSet('1', factory)).toBe(3);
    expect(runs).toBe(3);
  });

  it("another process's invalidation of the region or a write of the key is never answered past its arrival", async () => {
    const a = await fresh();
    const other = await open({ nearCache: false });
    const users = a.region('users');
    await users.set('1', 'old');
    expect(await users.get('1')).toBe('old');
    expect(await users.get('1')).toBe('old');
    await other.region('users').set('1', 'new');
    await until(async () => (await users.get('1')) === 'new');
    expect(await users.getOrSet('1', () => 'computed')).toBe('new');
    await other.region('users').invalidate();
    await until(async () => (await users.get('1')) === undefined);
    expect(await users.getOrSet('1', () => 'computed')).toBe('computed');
    expect(await users.get('1')).toBe('computed');
  });

  it('a hit of a raw Redis write elsewhere is dropped by its invalidation (the index follows the near cache)', async () => {
    const a = await fresh();
    const users = a.region('users');
    await users.set('k', 'kept');
    expect(await users.get('k')).toBe('kept');
    const raw = new Redis(redis.server.url);
    try {
      await raw.del(users.keyOf('k'));
    } finally {
      raw.disconnect();
    }
    await until(async () => (await users.get('k')) === undefined);
  });

  it('a hit is counted, in the region and in the near cache, and a number key is a hit too', async () => {
    const t = await fresh();
    const users = t.region('users');
    await users.set(42, { id: 42 });
    await users.set('x', 'y');
    expect(await users.get(42)).toEqual({ id: 42 });
    const before = t.stats().near!.hits;
    const rowBefore = nearHits(t, 'users');
    await redis.server.resetStats();
    for (let i = 0; i < 10; i++) {
      expect(await users.get(42)).toEqual({ id: 42 });
      expect(await users.get('42')).toEqual({ id: 42 });
      expect(await users.getOrSet(42, () => ({ id: -1 }))).toEqual({ id: 42 });
      expect(await users.getOrSet('x', () => 'computed')).toBe('y');
    }
    expect(t.stats().near!.hits - before).toBe(40);
    expect(nearHits(t, 'users') - rowBefore).toBe(40);
    expect((await redis.server.commandCalls()).mget).toBeUndefined();
  });

  it('bad keys throw the same typed errors whether or not the near cache holds entries', async () => {
    const t = await fresh();
    const users = t.region('users');
    await users.set('1', 'one');
    expect(await users.get('1')).toBe('one');
    for (const key of ['\uD800', Number.NaN, Number.POSITIVE_INFINITY, {} as unknown as string]) {
      await expect(users.get(key)).rejects.toBeInstanceOf(InvalidOptionError);
      await expect(users.getOrSet(key, () => 'v')).rejects.toBeInstanceOf(InvalidOptionError);
    }
    await expect(users.getOrSet('1', 'not a function' as unknown as () => string)).rejects.toBeInstanceOf(InvalidOptionError);
  });

  it('a hit hands out the shared value (frozen with freezeValues), and a copy with clone', async () => {
    const frozen = await fresh({ freezeValues: true });
    await frozen.region('users').set('1', { name: 'Ada' });
    const v = await frozen.region('users').get<{ name: string }>('1');
    expect(Object.isFrozen(v)).toBe(true);
    expect(await frozen.region('users').get('1')).toBe(v);

    const cloning = await fresh({ nearCache: { clone: true } });
    await cloning.region('users').set('1', { name: 'Ada' });
    const c1 = await cloning.region('users').get<{ name: string }>('1');
    const c2 = await cloning.region('users').getOrSet('1', () => ({ name: 'other' }));
    expect(c1).toEqual({ name: 'Ada' });
    expect(c2).toEqual({ name: 'Ada' });
    expect(c1).not.toBe(c2);
    c1!.name = 'changed';
    expect(await cloning.region('users').get('1')).toEqual({ name: 'Ada' });
  });

  it('a stale local copy is not a fast hit: getOrSet answers it stale and refreshes', async () => {
    const t = await fresh();
    const clock = fakeDate();
    const users = t.region('users', { ttl: '1h', freshFor: '1s' });
    let runs = 0;
    expect(await users.getOrSet('1', () => ++runs)).toBe(1);
    expect(await users.getOrSet('1', () => ++runs)).toBe(1);
    clock.advance(2_000);
    expect(await users.getOrSet('1', () => ++runs)).toBe(1);
    await until(() => runs === 2);
    await until(async () => (await users.getOrSet('1', () => ++runs)) === 2);
  });

  it('after close, a region call with entries in the near cache rejects as before', async () => {
    const t = await fresh();
    const users = t.region('users');
    await users.set('1', 'one');
    expect(await users.get('1')).toBe('one');
    await t.close();
    await expect(users.get('1')).rejects.toThrow();
    await expect(users.getOrSet('1', () => 'v')).rejects.toThrow();
  });
});

/**
 * `markStale` (src/region/mark-stale.ts): a live value goes stale now and keeps its value, tags and
 * ttl; the next getOrSet answers it while one refresh runs, fail-safe still answers it, and a
 * computation under way when the mark lands is not stored. On the embedded store and a private
 * redis-server, for both storages; across troves with both drivers; with Redis stalled.
 */
import { describe, expect, it } from 'vitest';
import { InvalidOptionError, StoreError } from '../../src/errors.js';
import type { MarkStaleEvent, StaleEvent, Trove, TroveOptions } from '../../src/index.js';
import { drivers, nodeRedisClient, type TestNodeRedisClient } from '../helpers/drivers.js';
import { lockKeyOf, markerOf } from '../helpers/locks.js';
import { describeEachStorage, storeKinds, until, useRedisServer, useStore, useTroves } from '../helpers/troves.js';
import { counting, deferred, expectIdle } from '../load/support.js';

describeEachStorage('markStale', 'ms', ({ store, troves, region }) => {
  it('a fresh value goes stale now and keeps its value, tags and ttl; getOrSet answers it while one refresh runs', async () => {
    const t = troves.open();
    const r = region(t, 'fresh', { ttl: '100s', freshFor: '50s' });
    await r.set('k', 'old', { tags: ['t1'] });
    const before = (await r.ttlOf('k'))!;
    expect(before.freshForMs).toBeGreaterThan(40_000);
    expect(await r.markStale('k')).toBe(true);
    const after = (await r.ttlOf('k'))!;
    expect(after.freshForMs).toBe(0);
    expect(after.ttlMs).toBeLessThanOrEqual(before.ttlMs);
    expect(after.ttlMs).toBeGreaterThan(before.ttlMs - 30_000);
    expect(await r.get('k')).toBe('old');
    const stale: StaleEvent[] = [];
    t.on('stale', (e) => stale.push(e));
    const load = counting(() => 'new');
    expect(await r.getOrSet('k', load.factory)).toBe('old');
    expect(stale.map((e) => e.reason)).toEqual(['refreshing']);
    await until(async () => (await r.get('k')) === 'new', 10_000, 'the refreshed value');
    expect(load.runs).toBe(1);
    expect((await r.ttlOf('k'))!.freshForMs).toBeGreaterThan(40_000);
    await expectIdle(t);
    // The tags stay with the value marked: invalidating them removes it.
    await r.set('tagged', 'x', { tags: ['t2'] });
    expect(await r.markStale('tagged')).toBe(true);
    await t.invalidateTags(['t2']);
    expect(await r.get('tagged')).toBeUndefined();
    expect(await r.markStale('tagged')).toBe(false);
  });

  it('a value recorded fresh for its whole ttl goes stale too; one without expiry keeps none', async () => {
    const t = troves.open();
    const r = region(t, 'whole', { ttl: '100s' });
    await r.set('k', 'v');
    expect((await r.ttlOf('k'))!.freshForMs).toBeGreaterThan(90_000);
    expect(await r.markStale('k')).toBe(true);
    expect((await r.ttlOf('k'))!.freshForMs).toBe(0);
    const forever = region(t, 'forever', { ttl: Number.POSITIVE_INFINITY });
    await forever.set('k', 'v');
    expect(await forever.markStale('k')).toBe(true);
    expect(await forever.ttlOf('k')).toEqual({ ttlMs: Number.POSITIVE_INFINITY, freshForMs: 0 });
    expect(await forever.get('k')).toBe('v');
  });

  it("staleRefresh 'blocking': the first caller waits for the new value; fail-safe answers the marked one when the refresh fails", async () => {
    const t = troves.open();
    const r = region(t, 'blocking', { ttl: '100s', staleRefresh: 'blocking' });
    await r.set('k', 'old');
    await r.set('failing', 'kept');
    expect(await r.markStale('k')).toBe(true);
    expect(await r.getOrSet('k', () => 'new')).toBe('new');
    expect((await r.ttlOf('k'))!.freshForMs).toBeGreaterThan(90_000);
    troves.expectErrors();
    expect(await r.markStale('failing')).toBe(true);
    const stale: StaleEvent[] = [];
    t.on('stale', (e) => stale.push(e));
    const failing = counting((): string => {
      throw new Error('source down');
    });
    expect(await r.getOrSet('failing', failing.factory)).toBe('kept');
    expect(stale.map((e) => e.reason)).toEqual(['fail-safe']);
    expect(failing.runs).toBe(1);
  });

  it('a markStale event says which calls kept a value and which deleted the key; a failed call emits none', async () => {
    const t = troves.open();
    const r = region(t, 'events', { ttl: '100s' });
    const events: MarkStaleEvent[] = [];
    t.on('markStale', (e) => events.push(e));
    await r.set('k', 'v');
    expect(await r.markStale('k')).toBe(true);
    expect(await r.markStale('absent')).toBe(false);
    expect(events.map(({ region: path, key, marked }) => ({ path, key, marked }))).toEqual([
      { path: r.path, key: 'k', marked: true },
      { path: r.path, key: 'absent', marked: false },
    ]);
    for (const e of events) expect(e.durationMs).toBeGreaterThanOrEqual(0);
    await expect(region(t, 'raw-events', { raw: true }).markStale('k')).rejects.toBeInstanceOf(InvalidOptionError);
    expect(events).toHaveLength(2);
  });

  it('nothing there: resolves false and writes nothing', async () => {
    const t = troves.open();
    const r = region(t, 'absent');
    expect(await r.markStale('none')).toBe(false);
    expect(await r.has('none')).toBe(false);
    expect(await r.get('none')).toBeUndefined();
    if (store.server !== undefined) {
      const keys = (await store.server.keys()).filter((k) => k.includes(':absent'));
      expect(keys).toEqual([]);
    }
  });
});

for (const kind of storeKinds) {
  describe(`markStale in a raw region (${kind})`, () => {
    const store = useStore(kind);
    const troves = useTroves(() => ({ ...store.opts, prefix: 'msraw' }));

    it('is refused with InvalidOptionError (raw entries record no freshness), the value untouched', async () => {
      const t = troves.open();
      const r = t.region<string>('raw', { raw: true });
      await r.set('k', 'v');
      const err = await r.markStale('k').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InvalidOptionError);
      expect(err).toMatchObject({ option: 'raw' });
      expect(await r.get('k')).toBe('v');
      const life = (await r.ttlOf('k'))!;
      expect(life.freshForMs).toBe(life.ttlMs);
    });
  });
}

describe.each(drivers)('markStale across troves (%s)', (driver) => {
  const redis = useRedisServer();
  let n = 0;
  const clients: TestNodeRedisClient[] = [];
  const troves = useTroves(() => ({ redis: redis.server.url }));
  const open = async (prefix: string, more: TroveOptions = {}): Promise<Trove> => {
    const client = driver === 'node-redis' ? await nodeRedisClient(redis.server.url) : undefined;
    if (client !== undefined) clients.push(client);
    const t = troves.open({ prefix, nearCache: false, ...more, ...(client ? { redis: client } : {}) });
    await t.ready();
    return t;
  };
  const closeAll = async (...ts: Trove[]) => {
    await Promise.all(ts.map((t) => t.close()));
    for (const c of clients.splice(0)) c.destroy();
  };

  it('a value being computed in another process: false; its claim goes, the value computed is not stored, and the next caller computes', async () => {
    const prefix = `msx${++n}`;
    const holder = await open(prefix);
    const other = await open(prefix);
    const opts = { lockLease: '30s' };
    const gate = deferred<string>();
    const h = holder.region<string>('c', opts);
    const held = h.getOrSet('k', () => gate.promise);
    await until(async () => (await redis.server.command('GET', h.keyOf('k'))).startsWith(markerOf('')), 10_000, 'the claim');
    const r = other.region<string>('c', opts);
    expect(await r.markStale('k')).toBe(false);
    expect(await redis.server.command('EXISTS', r.keyOf('k'))).toBe('0');
    gate.resolve('computed before the change');
    expect(await held).toBe('computed before the change');
    await expectIdle(holder, other);
    expect(await r.get('k')).toBeUndefined();
    const next = counting(() => 'after the change');
    expect(await r.getOrSet('k', next.factory)).toBe('after the change');
    expect(next.runs).toBe(1);
    await closeAll(holder, other);
  });

  it('a refresh running when the mark lands does not store what it computed; the value stays, stale, and the next caller refreshes it', async () => {
    const prefix = `msr${++n}`;
    const refresher = await open(prefix);
    const other = await open(prefix);
    const opts = { ttl: '100s', lockLease: '30s' } as const;
    const a = refresher.region<string>('r', opts);
    const b = other.region<string>('r', opts);
    await a.set('k', 'v1');
    expect(await a.markStale('k')).toBe(true);
    const gate = deferred<string>();
    const early = counting(() => gate.promise);
    expect(await a.getOrSet('k', early.factory)).toBe('v1');
    await until(() => early.runs === 1, 10_000, 'the refresh to start');
    expect(await redis.server.command('EXISTS', lockKeyOf(a.keyOf('k')))).toBe('1');
    // The source changes here; the refresh above read it before.
    expect(await b.markStale('k')).toBe(true);
    expect(await redis.server.command('EXISTS', lockKeyOf(a.keyOf('k')))).toBe('0');
    gate.resolve('read before the change');
    await expectIdle(refresher, other);
    expect(await b.get('k')).toBe('v1');
    expect((await b.ttlOf('k'))!.freshForMs).toBe(0);
    const late = counting(() => 'v2');
    expect(await b.getOrSet('k', late.factory)).toBe('v1');
    await until(async () => (await b.get('k')) === 'v2', 10_000, 'the refresh after the change');
    expect([early.runs, late.runs]).toEqual([1, 1]);
    await closeAll(refresher, other);
  });

  it("another process's near cache lets its copy go: its next getOrSet answers the marked value and refreshes it once", async () => {
    const prefix = `msn${++n}`;
    const near = await open(prefix, { nearCache: {} });
    const marker = await open(prefix);
    const r = near.region<string>('n', { ttl: '100s' });
    const first = counting(() => 'v1');
    expect(await r.getOrSet('k', first.factory)).toBe('v1');
    const tiers: string[] = [];
    near.on('hit', (e) => tiers.push(e.tier));
    expect(await r.getOrSet('k', first.factory)).toBe('v1');
    expect(tiers).toEqual(['near']);
    expect(await marker.region<string>('n', { ttl: '100s' }).markStale('k')).toBe(true);
    const refresh = counting(() => 'v2');
    const stale: string[] = [];
    near.on('stale', (e) => stale.push(e.reason));
    // Redis tells the near cache within milliseconds; until then its copy may still answer.
    await until(
      async () => {
        await r.getOrSet('k', refresh.factory);
        return refresh.runs === 1;
      },
      10_000,
      'a refresh started by the near process',
    );
    expect(stale).toEqual(['refreshing']);
    await until(async () => (await r.getOrSet('k', refresh.factory)) === 'v2', 10_000, 'the refreshed value');
    expect([first.runs, refresh.runs]).toEqual([1, 1]);
    // Marked from the near process itself: its own copy goes at once (dropped here, and Redis says so too).
    expect(await r.markStale('k')).toBe(true);
    const again = counting(() => 'v3');
    expect(await r.getOrSet('k', again.factory)).toBe('v2');
    expect(stale).toEqual(['refreshing', 'refreshing']);
    await until(async () => (await r.getOrSet('k', again.factory)) === 'v3', 10_000, 'the second refresh');
    expect(again.runs).toBe(1);
    await expectIdle(near, marker);
    await closeAll(near, marker);
  });

  it('garbage bytes where an entry lives: reported, deleted, false', async () => {
    troves.expectErrors();
    const t = await open(`msg${++n}`);
    const errors: string[] = [];
    t.on('error', (e) => errors.push(e.operation));
    const r = t.region<string>('g');
    await redis.server.command('SET', r.keyOf('k'), '\u00b1garbage');
    expect(await r.markStale('k')).toBe(false);
    expect(await redis.server.command('EXISTS', r.keyOf('k'))).toBe('0');
    expect(errors).toEqual(['decode']);
    await closeAll(t);
  });

  it('Redis stalled (SIGSTOP): rejects with StoreError at the deadline; once Redis is back the value is there, whole', async () => {
    troves.expectErrors();
    const t = await open(`mss${++n}`, { commandTimeout: 300 });
    const r = t.region<string>('s', { ttl: '100s' });
    await r.set('k', 'v');
    redis.server.pause();
    try {
      const err = await r.markStale('k').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreError);
    } finally {
      redis.server.resume();
    }
    await until(async () => (await r.get('k').catch(() => undefined)) === 'v', 10_000, 'the value read back');
    expect(await r.markStale('k')).toBe(true);
    expect(await r.ttlOf('k')).toMatchObject({ freshForMs: 0 });
    await closeAll(t);
  });
});

/**
 * One contract, every store: the embedded in-memory store, the ioredis driver against a private
 * redis-server, its cluster variant against a private 3-master Redis Cluster, and the node-redis
 * driver (node-redis 6 in RESP3, node-redis 5 in RESP2, and with a client `keyPrefix`; ioredis clients
 * of the user's with a `keyPrefix` and with auto-pipelining) must behave the
 * same for every operation the upper layers use. Keys that one operation touches together (a lock
 * and the value it guards) share a hash tag, as the key layout makes them on a cluster; so do the
 * keys whose notifications are expected in order (PUBLISH from different masters may arrive in
 * either order).
 */
import { Redis, type RedisOptions } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { claimMarker } from '../../src/store/claims.js';
import { ClusterStore, MemoryStore, RedisStore, type Store } from '../../src/store/index.js';
import { createStore, type RedisOption } from '../../src/store/create-store.js';
import { NodeRedisStore } from '../../src/store/node-redis/node-redis-store.js';
import { parseNotification } from '../../src/store/notification.js';
import { RedisCluster } from '../../tools/redis-cluster.js';
import { type NodeRedisClientOptions, nodeRedisClient } from '../helpers/drivers.js';
import { RedisServer } from '../helpers/redis-server.js';
import { TEST_COMMAND_TIMEOUT, until } from '../helpers/troves.js';

/** A notification of the lock protocol, described: its key and what it carries (text, or hex when not UTF-8). */
function notified(message: Buffer): string {
  const n = parseNotification(message);
  if (n === undefined) return `not a notification: ${message.toString('hex')}`;
  if (n.value === undefined) return `${n.key} carries nothing`;
  const asText = n.value.toString();
  return `${n.key} carries ${Buffer.from(asText).equals(n.value) ? asText : `${n.value.toString('hex')} (hex)`}`;
}

interface Fixture {
  store: Store;
  reset(): Promise<void>;
  close(): Promise<void>;
}

/** A store over a client of the user's, made by `connect` and let go by `release`, against a private redis-server. */
const clientFixture =
  <C extends RedisOption>(connect: (url: string) => C | Promise<C>, release: (client: C) => void) =>
  async (): Promise<Fixture> => {
    const server = await RedisServer.start();
    const client = await connect(server.url);
    const store = createStore({ redis: client, memory: undefined, commandTimeoutMs: TEST_COMMAND_TIMEOUT, listener: {} });
    return {
      store,
      reset: () => server.flushall(),
      async close() {
        await store.close();
        release(client);
        await server.stop();
      },
    };
  };

/** The ioredis driver over a client the user made with `opts`. */
const ioredisFixture = (opts: RedisOptions) =>
  clientFixture(
    (url) => new Redis(url, opts),
    (client) => client.disconnect(),
  );

/** The node-redis driver over a client made with `opts`. */
const nodeRedisFixture = (opts: NodeRedisClientOptions) =>
  clientFixture(
    (url) => nodeRedisClient(url, opts),
    (client) => client.destroy(),
  );

const fixtures: Record<string, () => Promise<Fixture>> = {
  memory: async () => {
    let store = new MemoryStore();
    return {
      get store() {
        return store;
      },
      async reset() {
        await store.close();
        store = new MemoryStore();
      },
      async close() {
        await store.close();
      },
    };
  },
  redis: async () => {
    const server = await RedisServer.start();
    const store = createStore({ redis: server.url, memory: undefined, commandTimeoutMs: TEST_COMMAND_TIMEOUT, listener: {} });
    return {
      store,
      reset: () => server.flushall(),
      async close() {
        await store.close();
        await server.stop();
      },
    };
  },
  // Reads and misses send commands Trove writes itself, with the client's key prefix; on a client
  // that auto-pipelines they are left to ioredis.
  'ioredis keyPrefix': ioredisFixture({ keyPrefix: 'app:' }),
  'ioredis auto-pipelining': ioredisFixture({ enableAutoPipelining: true }),
  'node-redis': nodeRedisFixture({}),
  'node-redis 5 (RESP2)': nodeRedisFixture({ major: 5 }),
  'node-redis keyPrefix': nodeRedisFixture({ keyPrefix: 'app:' }),
  cluster: async () => {
    const cluster = await RedisCluster.start({ masters: 3 });
    const store = createStore({ redis: { cluster: cluster.urls }, memory: undefined, commandTimeoutMs: TEST_COMMAND_TIMEOUT, listener: {} });
    return {
      store,
      reset: async () => {
        await Promise.all(cluster.masters().map((m) => m.server.flushall()));
      },
      async close() {
        await store.close();
        await cluster.stop();
      },
    };
  },
};

for (const [name, make] of Object.entries(fixtures)) {
  describe(`store contract: ${name}`, () => {
    let fx: Fixture;
    beforeAll(async () => {
      fx = await make();
    }, 60_000);
    afterAll(async () => {
      await fx.close();
    });
    beforeEach(async () => {
      await fx.reset();
    });

    it('reports its kind', () => {
      expect(fx.store.kind).toBe(name === 'memory' ? 'memory' : 'redis');
      const kind =
        name === 'memory' ? MemoryStore : name === 'redis' || name.startsWith('ioredis') ? RedisStore : name === 'cluster' ? ClusterStore : NodeRedisStore;
      expect(fx.store instanceof kind).toBe(true);
      expect(fx.store.hashTags).toBe(name === 'cluster');
    });

    it('get of a missing key is null', async () => {
      expect(await fx.store.get('nope')).toBeNull();
    });

    it('set then get returns the same bytes', async () => {
      const bytes = Buffer.from([0, 1, 2, 255, 254, 0x80]);
      await fx.store.set('k', bytes, undefined);
      expect(Buffer.compare((await fx.store.get('k'))!, bytes)).toBe(0);
    });

    /**
     * Waits until a key written now with `ttlMs` has expired: by then so has any key given the same
     * TTL earlier (one clock, the store's), so whatever is still there was not going to expire.
     */
    const outlive = async (ttlMs: number) => {
      await fx.store.set('witness', Buffer.from('w'), ttlMs);
      await until(async () => (await fx.store.get('witness')) === null);
    };

    it('overwrite without ttl clears a previous ttl', async () => {
      await fx.store.set('k', Buffer.from('a'), 50);
      await fx.store.set('k', Buffer.from('b'), undefined);
      await outlive(50);
      expect((await fx.store.get('k'))?.toString()).toBe('b');
    });

    it('ttl expires the key', async () => {
      const written = performance.now();
      await fx.store.set('k', Buffer.from('v'), 200);
      const read = (await fx.store.get('k'))?.toString();
      // Read back within its TTL, the key is there; a machine too loaded to read it back in time
      // leaves only the expiry to check.
      if (performance.now() - written < 200) expect(read).toBe('v');
      await until(async () => (await fx.store.get('k')) === null);
      expect(await fx.store.exists('k')).toBe(false);
    });

    it('never reports more time left than the TTL written, even when a read came just before', async () => {
      await fx.store.set('read', Buffer.from('r'), 60_000);
      // The read, a turn that keeps every timer from running, then the write and its TTL read
      // back: a store that reused the read's clock reading would count the write as older than it is.
      const read = fx.store.get('read');
      const busyUntil = performance.now() + 5;
      while (performance.now() < busyUntil) {
        // busy: no timer fires
      }
      const written = fx.store.set('k', Buffer.from('v'), 60_000);
      const left = fx.store.remainingTtl('k');
      await Promise.all([read, written]);
      const ms = await left;
      expect(ms).toBeGreaterThan(50_000);
      expect(ms).toBeLessThanOrEqual(60_000);
    });

    it('expire resets the ttl of an existing key only', async () => {
      // TTLs far beyond any stall of a loaded machine, so that nothing expires before it is checked.
      await fx.store.set('k', Buffer.from('v'), 60_000);
      expect(await fx.store.expire('k', 10_000)).toBe(true);
      const shortened = await fx.store.remainingTtl('k');
      expect(shortened).toBeGreaterThan(0);
      expect(shortened).toBeLessThanOrEqual(10_000);
      expect(await fx.store.expire('k', 120_000)).toBe(true);
      expect(await fx.store.remainingTtl('k')).toBeGreaterThan(60_000);
      expect(await fx.store.expire('missing', 10_000)).toBe(false);
      expect(await fx.store.exists('missing')).toBe(false);
      expect((await fx.store.get('k'))?.toString()).toBe('v');
      expect(await fx.store.expire('k', 50)).toBe(true);
      await until(async () => (await fx.store.get('k')) === null);
    });

    it('mget returns values in order with nulls for misses', async () => {
      await fx.store.set('a', Buffer.from('1'), undefined);
      await fx.store.set('c', Buffer.from('3'), undefined);
      const got = await fx.store.mget(['a', 'b', 'c', 'a']);
      expect(got.map((b) => b?.toString() ?? null)).toEqual(['1', null, '3', '1']);
      expect(await fx.store.mget([])).toEqual([]);
    });

    it('concurrent gets of the same and different keys resolve correctly', async () => {
      await fx.store.set('x', Buffer.from('X'), undefined);
      await fx.store.set('y', Buffer.from('Y'), undefined);
      const got = await Promise.all(['x', 'y', 'x', 'z'].map((k) => fx.store.get(k)));
      expect(got.map((b) => b?.toString() ?? null)).toEqual(['X', 'Y', 'X', null]);
    });

    it('delete counts existing keys', async () => {
      await fx.store.set('a', Buffer.from('1'), undefined);
      await fx.store.set('b', Buffer.from('2'), undefined);
      expect(await fx.store.delete(['a', 'b', 'c'])).toBe(2);
      expect(await fx.store.get('a')).toBeNull();
      expect(await fx.store.delete([])).toBe(0);
    });

    it("deleteEntries deletes values and claims' markers, and counts the values only (in calls of at most 1,000 keys)", async () => {
      await fx.store.set('a', Buffer.from('1'), undefined);
      await fx.store.set('m', Buffer.from(claimMarker('tok')), 60_000);
      await fx.store.set('w', Buffer.from(`${claimMarker('tok')}+`), 60_000);
      // The memory store keeps no markers: what looks like one there is a value like any other.
      const markersCounted = name === 'memory';
      expect(await fx.store.deleteEntries(['a', 'm', 'w', 'none', 'a', 'm'])).toBe(markersCounted ? 3 : 1);
      expect(await Promise.all(['a', 'm', 'w'].map((k) => fx.store.exists(k)))).toEqual([false, false, false]);
      expect(await fx.store.deleteEntries([])).toBe(0);
      // 2,500 keys, every fifth a marker, spread over every slot: three calls, summed.
      const keys = Array.from({ length: 2_500 }, (_, i) => `many:${i}`);
      await Promise.all(keys.map((k, i) => fx.store.set(k, Buffer.from(i % 5 === 0 ? claimMarker(`t${i}`) : `v${i}`), undefined)));
      expect(await fx.store.deleteEntries(keys)).toBe(markersCounted ? 2_500 : 2_000);
      expect((await fx.store.mget(keys)).filter((v) => v !== null)).toEqual([]);
    });

    it('replace writes over the expected bytes only, keeping the ttl (or its absence)', async () => {
      const old = Buffer.from([0xb1, 0, 1, 2, 0xff]);
      const next = Buffer.from([0xb1, 9, 9, 0x80]);
      await fx.store.set('t', old, 60_000);
      await fx.store.set('forever', old, undefined);
      await fx.store.set('other', Buffer.from('other'), 60_000);
      expect(await fx.store.replace('t', old, next)).toBe(true);
      expect(Buffer.compare((await fx.store.get('t'))!, next)).toBe(0);
      const left = await fx.store.remainingTtl('t');
      expect(left).toBeGreaterThan(0);
      expect(left).toBeLessThanOrEqual(60_000);
      expect(await fx.store.replace('forever', old, next)).toBe(true);
      expect(await fx.store.remainingTtl('forever')).toBe(Number.POSITIVE_INFINITY);
      // Not what the key holds (a byte more, a byte less, other bytes), or nothing: nothing written.
      expect(await fx.store.replace('other', Buffer.from('othe'), next)).toBe(false);
      expect(await fx.store.replace('other', Buffer.from('other!'), next)).toBe(false);
      expect(await fx.store.replace('t', old, Buffer.from('again'))).toBe(false);
      expect(await fx.store.replace('none', old, next)).toBe(false);
      expect((await fx.store.get('other'))?.toString()).toBe('other');
      expect(Buffer.compare((await fx.store.get('t'))!, next)).toBe(0);
      expect(await fx.store.exists('none')).toBe(false);
      // The ttl kept is the key's: it still expires.
      await fx.store.set('short', old, 60);
      expect(await fx.store.replace('short', old, next)).toBe(true);
      await until(async () => (await fx.store.get('short')) === null);
    });

    it('exists reflects presence', async () => {
      expect(await fx.store.exists('e')).toBe(false);
      await fx.store.set('e', Buffer.alloc(0), undefined);
      expect(await fx.store.exists('e')).toBe(true);
      expect((await fx.store.get('e'))?.length).toBe(0);
    });

    it('exec applies sets and deletes together', async () => {
      await fx.store.set('gone', Buffer.from('x'), undefined);
      await fx.store.exec([
        { type: 'set', key: 's1', value: Buffer.from('1'), ttlMs: undefined },
        { type: 'set', key: 's2', value: Buffer.from('2'), ttlMs: 10_000 },
        { type: 'delete', key: 'gone' },
      ]);
      const got = await fx.store.mget(['s1', 's2', 'gone']);
      expect(got.map((b) => b?.toString() ?? null)).toEqual(['1', '2', null]);
    });

    it('a marked lock is still released by its holder only', async () => {
      await fx.store.acquireLock('{m}lock', 'holder', 5_000, '{m}value');
      expect((await fx.store.acquireLock('{m}lock', 'other', 5_000)).acquired).toBe(false);
      expect(await fx.store.releaseLock('{m}lock', 'other')).toBe(false);
      expect(await fx.store.releaseLock('{m}lock', 'holder')).toBe(true);
      await fx.store.set('{m}value', Buffer.from('present'), undefined);
      const won = await fx.store.acquireLock('{m}lock', 'next', 5_000, '{m}value');
      expect(won.acquired && won.value?.toString()).toBe('present');
    });

    it('locks: one holder at a time, compare-and-delete release, renewal by token only', async () => {
      expect(await fx.store.acquireLock('L', 'tokA', 1_000)).toEqual({ acquired: true });
      const second = await fx.store.acquireLock('L', 'tokB', 1_000);
      expect(second.acquired).toBe(false);
      if (!second.acquired) {
        expect(second.ttlMs).toBeGreaterThan(800);
        expect(second.ttlMs).toBeLessThanOrEqual(1_000);
      }
      expect(await fx.store.renewLock('L', 'tokB', 5_000)).toBe(false);
      expect(await fx.store.renewLock('L', 'tokA', 5_000)).toBe(true);
      expect(await fx.store.releaseLock('L', 'tokB')).toBe(false);
      expect(await fx.store.releaseLock('L', 'tokA')).toBe(true);
      expect(await fx.store.releaseLock('L', 'tokA')).toBe(false);
      expect(await fx.store.acquireLock('L', 'tokB', 60)).toEqual({ acquired: true });
      await until(async () => !(await fx.store.exists('L'))); // the lease lapses by itself
      expect(await fx.store.acquireLock('L', 'tokC', 1_000)).toEqual({ acquired: true });
    });

    it('storeAndRelease writes only while the lock is its own, releases it, and publishes when someone waits, carrying values of up to 4 KiB', async () => {
      const got: string[] = [];
      const unsubscribe = await fx.store.subscribe('chan', { onBytes: (m) => got.push(notified(m)) });
      // nobody waited: stored and released, no notification
      await fx.store.acquireLock('{s}lock0', 'mine', 5_000);
      const written0 = await fx.store.storeAndRelease({
        key: '{s}v0',
        value: Buffer.from('quiet'),
        ttlMs: 10_000,
        lockKey: '{s}lock0',
        token: 'mine',
        channel: 'chan',
        message: 'done:v0',
      });
      expect(written0).toBe(true);
      expect((await fx.store.get('{s}v0'))?.toString()).toBe('quiet');
      expect(await fx.store.exists('{s}lock0')).toBe(false);
      // a failed attempt marks the lock; the holder can still renew it, and notifies on store
      await fx.store.acquireLock('{s}lock1', 'mine', 5_000);
      expect((await fx.store.acquireLock('{s}lock1', 'theirs', 5_000)).acquired).toBe(false);
      expect((await fx.store.acquireLock('{s}lock1', 'third', 5_000)).acquired).toBe(false);
      expect(await fx.store.renewLock('{s}lock1', 'mine', 5_000)).toBe(true);
      await fx.store.storeAndRelease({
        key: '{s}v1',
        value: Buffer.from('value'),
        ttlMs: 10_000,
        lockKey: '{s}lock1',
        token: 'mine',
        channel: 'chan',
        message: 'done:v1',
      });
      expect((await fx.store.get('{s}v1'))?.toString()).toBe('value');
      expect(await fx.store.exists('{s}lock1')).toBe(false);
      // another's lock: nothing written, the lock left alone, waiters told with nothing carried
      await fx.store.acquireLock('{s}lock2', 'theirs', 5_000);
      const written2 = await fx.store.storeAndRelease({
        key: '{s}v2',
        value: Buffer.from('other'),
        ttlMs: undefined,
        lockKey: '{s}lock2',
        token: 'mine',
        channel: 'chan',
        message: 'done:v2',
      });
      expect(written2).toBe(false);
      expect(await fx.store.exists('{s}v2')).toBe(false);
      expect(await fx.store.exists('{s}lock2')).toBe(true);
      // a lock that vanished (deleted with its value, flushed, lapsed): nothing written
      const written3 = await fx.store.storeAndRelease({
        key: '{s}v3',
        value: Buffer.from('x'),
        ttlMs: 10_000,
        lockKey: '{s}lock3',
        token: 'mine',
        channel: 'chan',
        message: 'done:v3',
      });
      expect(written3).toBe(false);
      expect(await fx.store.exists('{s}v3')).toBe(false);
      // absent when locked, written meanwhile by another: the newer value stays, the lock is released
      await fx.store.acquireLock('{s}lock7', 'mine', 5_000);
      await fx.store.set('{s}v7', Buffer.from('newer'), 10_000);
      const written7 = await fx.store.storeAndRelease({
        key: '{s}v7',
        value: Buffer.from('older'),
        ttlMs: 10_000,
        lockKey: '{s}lock7',
        token: 'mine',
        channel: 'chan',
        message: 'done:v7',
        seen: null,
      });
      expect(written7).toBe(false);
      expect((await fx.store.get('{s}v7'))?.toString()).toBe('newer');
      expect(await fx.store.exists('{s}lock7')).toBe(false);
      // a refresh: the value read with the lock is still there, and is replaced; then one changed since
      const refresh = async (n: number, now: string) => {
        await fx.store.set(`{s}r${n}`, Buffer.from(now), 10_000);
        await fx.store.acquireLock(`{s}rlock${n}`, 'mine', 5_000);
        const written = await fx.store.storeAndRelease({
          key: `{s}r${n}`,
          value: Buffer.from('refreshed'),
          ttlMs: 10_000,
          lockKey: `{s}rlock${n}`,
          token: 'mine',
          channel: 'quiet',
          message: `r${n}`,
          seen: Buffer.from('stale'),
        });
        return [written, (await fx.store.get(`{s}r${n}`))?.toString()];
      };
      expect(await refresh(1, 'stale')).toEqual([true, 'refreshed']);
      expect(await refresh(2, 'set meanwhile')).toEqual([false, 'set meanwhile']);
      // Bytes pass unchanged, a ':' among them too; beyond 4 KiB only the key is named.
      for (const [i, value] of [Buffer.from([0, 0xff, 0x3a, 0x80]), Buffer.alloc(4096, 'a'), Buffer.alloc(4097, 'b')].entries()) {
        await fx.store.acquireLock(`{s}lock${4 + i}`, 'mine', 5_000);
        expect((await fx.store.acquireLock(`{s}lock${4 + i}`, 'theirs', 5_000)).acquired).toBe(false);
        await fx.store.storeAndRelease({
          key: `{s}v${4 + i}`,
          value,
          ttlMs: 10_000,
          lockKey: `{s}lock${4 + i}`,
          token: 'mine',
          channel: 'chan',
          message: `dóne:v${4 + i}`,
        });
      }
      await until(() => got.length >= 7);
      expect(got).toEqual([
        'done:v1 carries value',
        'done:v2 carries nothing',
        'done:v3 carries nothing',
        'done:v7 carries nothing',
        'dóne:v4 carries 00ff3a80 (hex)',
        `dóne:v5 carries ${'a'.repeat(4096)}`,
        'dóne:v6 carries nothing',
      ]);
      unsubscribe();
      // A message on another channel, published after: once it has arrived, so would have 'after'.
      const later: string[] = [];
      await fx.store.subscribe('later', { onMessage: (m) => later.push(m) });
      await fx.store.publish('chan', 'after');
      await fx.store.publish('later', 'sync');
      await until(() => later.length === 1);
      expect(got).toHaveLength(7);
      expect(fx.store.subscribed).toBe(true);
    });

    it('tables: read whole or by field, a missing one created with its init field in the same step', async () => {
      expect(await fx.store.hashGetAllCounted('h')).toEqual({ count: 0, fields: {} });
      expect(await fx.store.hashGetAllCounted('h', ['', 'e1'])).toEqual({ count: 0, fields: { '': 'e1' } });
      // The init field is only created when missing.
      expect(await fx.store.hashGetCounted('h', ['', 'zz'], ['', 'e2'])).toEqual({ count: 0, values: ['e1', null] });
      expect(await fx.store.hashGetCounted('h', [], ['', 'e3'])).toEqual({ count: 0, values: [] });
      expect(await fx.store.hashGetCounted('fresh', ['', 'a'], ['', 'e4'])).toEqual({ count: 0, values: ['e4', null] });
    });

    if (name === 'cluster') {
      it('delivered() resolves: messages cross the cluster bus in no order with the subscribed connection', async () => {
        await expect(fx.store.delivered()).resolves.toBeUndefined();
      });
    } else {
      it('delivered(): every message published before the call has reached its listener when it resolves', async () => {
        const got: string[] = [];
        const unsubscribe = await fx.store.subscribe('order', { onMessage: (m) => got.push(m) });
        for (let i = 0; i < 100; i++) {
          await fx.store.publish('order', String(i));
          await fx.store.delivered();
          expect(got.at(-1)).toBe(String(i));
        }
        unsubscribe();
      });
    }

    it('counted tables: each change numbered in the same step, its broadcast carrying the number and the epoch', async () => {
      const got: string[] = [];
      const unsubscribe = await fx.store.subscribe('bus', { onMessage: (m) => got.push(m) });
      // A table recreated by a change has no epoch yet: its broadcast carries none.
      expect(await fx.store.hashSetCountAndPublish('t', [['a', '1']], 'bus', '{"x":1}', '')).toEqual({ count: 1, epoch: undefined });
      expect(await fx.store.hashGetCounted('t', ['a', ''], ['', 'e1'])).toEqual({ count: 1, values: ['1', 'e1'] });
      expect(
        await fx.store.hashSetCountAndPublish(
          't',
          [
            ['a', '2'],
            ['b', '3'],
          ],
          'bus',
          '{"x":2}',
          '',
        ),
      ).toEqual({ count: 2, epoch: 'e1' });
      expect(await fx.store.hashGetCounted('t', ['b', 'a', 'zz'], ['', 'e2'])).toEqual({ count: 2, values: ['3', '2', null] });
      // Read whole, the table shows its fields, and its count apart.
      expect(await fx.store.hashGetAllCounted('t')).toEqual({ count: 2, fields: { '': 'e1', a: '2', b: '3' } });
      await until(() => got.length === 2);
      expect(got).toEqual(['{"x":1,"n":1}', '{"x":2,"n":2,"e":"e1"}']);
      expect(got.map((m) => JSON.parse(m) as unknown)).toEqual([
        { x: 1, n: 1 },
        { x: 2, n: 2, e: 'e1' },
      ]);
      unsubscribe();
    });

    // A lock and its bucket share a hash tag, as do the buckets of a write expected to be all or none (one script on a cluster too).
    const text = (v: Buffer | null | Error | undefined) => (v instanceof Error ? v : (v?.toString() ?? null));

    it('fields: reads of a tick and many, writes, compare-and-set and -delete, entries', async () => {
      const binary = Buffer.from([0, 255, 0x80, 1]);
      expect(await fx.store.fieldGet('{f}b1', 'a')).toBeNull();
      expect(await fx.store.fieldEntries('{f}b1')).toEqual([]);
      expect(
        await fx.store.fieldWrite([
          { type: 'set', bucket: '{f}b1', field: 'a', value: Buffer.from('1'), ttlMs: undefined },
          { type: 'set', bucket: '{f}b1', field: 'bin', value: binary, ttlMs: 10_000 },
          { type: 'set', bucket: '{g}b2', field: 'a', value: Buffer.from('2'), ttlMs: 10_000 },
          { type: 'delete', bucket: '{g}b2', field: 'missing' },
        ]),
      ).toBe(0);
      // One tick: several buckets, a field asked twice, a missing field, a missing bucket.
      const tick = await Promise.all([
        fx.store.fieldGet('{f}b1', 'a'),
        fx.store.fieldGet('{g}b2', 'a'),
        fx.store.fieldGet('{f}b1', 'a'),
        fx.store.fieldGet('{f}b1', 'zz'),
        fx.store.fieldGet('{f}none', 'a'),
      ]);
      expect(tick.map(text)).toEqual(['1', '2', '1', null, null]);
      expect(Buffer.compare((await fx.store.fieldGet('{f}b1', 'bin'))!, binary)).toBe(0);
      const many = await fx.store.fieldGetMany([
        ['{g}b2', 'a'],
        ['{f}b1', 'a'],
        ['{f}b1', 'zz'],
        ['{f}none', 'x'],
      ]);
      expect(many.map(text)).toEqual(['2', '1', null, null]);
      expect(await fx.store.fieldGetMany([])).toEqual([]);
      expect(await fx.store.fieldWrite([])).toBe(0);
      // Conditional writes apply only while the field holds the expected bytes.
      expect(await fx.store.fieldWrite([{ type: 'delete', bucket: '{f}b1', field: 'a', expected: Buffer.from('other') }])).toBe(0);
      await fx.store.fieldWrite([{ type: 'set', bucket: '{f}b1', field: 'a', value: Buffer.from('3'), ttlMs: undefined, expected: Buffer.from('other') }]);
      expect(text(await fx.store.fieldGet('{f}b1', 'a'))).toBe('1');
      await fx.store.fieldWrite([{ type: 'set', bucket: '{f}b1', field: 'a', value: Buffer.from('3'), ttlMs: undefined, expected: Buffer.from('1') }]);
      expect(text(await fx.store.fieldGet('{f}b1', 'a'))).toBe('3');
      expect(
        await fx.store.fieldWrite([
          { type: 'delete', bucket: '{f}b1', field: 'a', expected: Buffer.from('3') },
          { type: 'delete', bucket: '{g}b2', field: 'a' },
          { type: 'delete', bucket: '{g}b2', field: 'a' },
        ]),
      ).toBe(2);
      expect(text(await fx.store.fieldGet('{f}b1', 'a'))).toBeNull();
      expect(text(await fx.store.fieldGet('{g}b2', 'a'))).toBeNull();
      const entries = await fx.store.fieldEntries('{f}b1');
      expect(entries.map(([f, v]) => [f, [...v]])).toEqual([['bin', [...binary]]]);
      expect(await fx.store.fieldEntries('{g}b2')).toEqual([]);
    });

    it("fields: a bucket's remaining ttl is its longest-lived field's, none when one has none", async () => {
      await fx.store.fieldWrite([
        { type: 'set', bucket: '{r}b', field: 'short', value: Buffer.from('s'), ttlMs: 30_000 },
        { type: 'set', bucket: '{r}b', field: 'long', value: Buffer.from('l'), ttlMs: 60_000 },
      ]);
      const left = await fx.store.remainingTtl('{r}b');
      expect(left).toBeGreaterThan(30_000);
      expect(left).toBeLessThanOrEqual(60_000);
      await fx.store.fieldWrite([{ type: 'set', bucket: '{r}b', field: 'forever', value: Buffer.from('f'), ttlMs: undefined }]);
      expect(await fx.store.remainingTtl('{r}b')).toBe(Number.POSITIVE_INFINITY);
      expect(await fx.store.remainingTtl('{r}none')).toBeUndefined();
    });

    it('fields: a field alone in its bucket expires with its TTL', async () => {
      await fx.store.fieldWrite([{ type: 'set', bucket: '{e}b', field: 'x', value: Buffer.from('v'), ttlMs: 60 }]);
      expect(text(await fx.store.fieldGet('{e}b', 'x'))).toBe('v');
      await until(async () => (await fx.store.fieldGet('{e}b', 'x')) === null);
      expect(await fx.store.fieldEntries('{e}b')).toEqual([]);
    });

    it('field locks: acquire reads the field in the same step; store-and-release writes it, releases and notifies waiters', async () => {
      const got: string[] = [];
      const unsubscribe = await fx.store.subscribe('fchan', { onBytes: (m) => got.push(notified(m)) });
      await fx.store.fieldWrite([{ type: 'set', bucket: '{l}b', field: 'present', value: Buffer.from('here'), ttlMs: undefined }]);
      const won = await fx.store.acquireFieldLock('{l}lock1', 'mine', 5_000, '{l}b', 'present');
      expect(won.acquired && won.value?.toString()).toBe('here');
      expect(await fx.store.acquireFieldLock('{l}lock2', 'mine', 5_000, '{l}b', 'absent')).toEqual({ acquired: true, value: null });
      expect(await fx.store.acquireFieldLock('{l}lock3', 'mine', 5_000, '{l}none', 'x')).toEqual({ acquired: true, value: null });
      const lost = await fx.store.acquireFieldLock('{l}lock2', 'theirs', 5_000, '{l}b', 'absent');
      expect(lost.acquired).toBe(false);
      if (!lost.acquired) {
        expect(lost.ttlMs).toBeGreaterThan(4_000);
        expect(lost.ttlMs).toBeLessThanOrEqual(5_000);
      }
      // Nobody waited on lock1: stored and released without a notification (the field is still what was read).
      const written1 = await fx.store.storeFieldAndRelease({
        bucket: '{l}b',
        field: 'present',
        value: Buffer.from('new'),
        ttlMs: 10_000,
        lockKey: '{l}lock1',
        token: 'mine',
        channel: 'fchan',
        message: 'done:1',
        seen: Buffer.from('here'),
      });
      // Someone waited on lock2: notified.
      const written2 = await fx.store.storeFieldAndRelease({
        bucket: '{l}b',
        field: 'absent',
        value: Buffer.from('computed'),
        ttlMs: undefined,
        lockKey: '{l}lock2',
        token: 'mine',
        channel: 'fchan',
        message: 'done:2',
        seen: null,
      });
      expect([written1, written2]).toEqual([true, true]);
      expect(await fx.store.exists('{l}lock1')).toBe(false);
      expect(await fx.store.exists('{l}lock2')).toBe(false);
      const stored = await fx.store.fieldGetMany([
        ['{l}b', 'present'],
        ['{l}b', 'absent'],
      ]);
      expect(stored.map(text)).toEqual(['new', 'computed']);
      await until(() => got.length >= 1);
      expect(got).toEqual(['done:2 carries computed']);
      // A field written since the lock was taken, or a lock not ours: nothing written, waiters told.
      await fx.store.fieldWrite([{ type: 'set', bucket: '{l}b', field: 'later', value: Buffer.from('set meanwhile'), ttlMs: undefined }]);
      const field = (f: string, lockKey: string, seen: Buffer | null) =>
        fx.store.storeFieldAndRelease({
          bucket: '{l}b',
          field: f,
          value: Buffer.from('older'),
          ttlMs: undefined,
          lockKey,
          token: 'mine',
          channel: 'fchan',
          message: `refused:${f}`,
          seen,
        });
      expect(await field('later', '{l}lock3', null)).toBe(false);
      expect(await fx.store.exists('{l}lock3')).toBe(false);
      await fx.store.acquireLock('{l}lock4', 'mine', 5_000);
      expect(await field('present', '{l}lock4', Buffer.from('here'))).toBe(false);
      expect(await field('absent', '{l}gone', Buffer.from('computed'))).toBe(false);
      expect(
        (
          await fx.store.fieldGetMany([
            ['{l}b', 'later'],
            ['{l}b', 'present'],
            ['{l}b', 'absent'],
          ])
        ).map(text),
      ).toEqual(['set meanwhile', 'new', 'computed']);
      await until(() => got.length >= 4);
      expect(got.slice(1)).toEqual(['refused:later carries nothing', 'refused:present carries nothing', 'refused:absent carries nothing']);
      unsubscribe();
    });

    if (name !== 'memory') {
      it('fields: a bucket that is not a hash fails its own reads, and writes before anything is written', async () => {
        await fx.store.set('{w}bad', Buffer.from('a string'), undefined);
        await fx.store.fieldWrite([{ type: 'set', bucket: '{w}good', field: 'a', value: Buffer.from('1'), ttlMs: undefined }]);
        await expect(fx.store.fieldGet('{w}bad', 'a')).rejects.toThrow(/WRONGTYPE/);
        const [bad, good] = await fx.store.fieldGetMany([
          ['{w}bad', 'a'],
          ['{w}good', 'a'],
        ]);
        expect(bad).toBeInstanceOf(Error);
        expect((bad as Error).message).toMatch(/WRONGTYPE/);
        expect(text(good)).toBe('1');
        await expect(
          fx.store.fieldWrite([
            { type: 'set', bucket: '{w}good', field: 'a', value: Buffer.from('2'), ttlMs: undefined },
            { type: 'set', bucket: '{w}bad', field: 'a', value: Buffer.from('2'), ttlMs: undefined },
          ]),
        ).rejects.toThrow(/WRONGTYPE/);
        expect(text(await fx.store.fieldGet('{w}good', 'a'))).toBe('1');
        await expect(fx.store.fieldEntries('{w}bad')).rejects.toThrow(/WRONGTYPE/);
        // The lock is released all the same, the key left alone, and the waiter told, with no value carried.
        const got: string[] = [];
        const unsubscribe = await fx.store.subscribe('wchan', { onBytes: (m) => got.push(notified(m)) });
        await fx.store.acquireLock('{w}lock', 'mine', 5_000);
        expect((await fx.store.acquireLock('{w}lock', 'theirs', 5_000)).acquired).toBe(false);
        await expect(
          fx.store.storeFieldAndRelease({
            bucket: '{w}bad',
            field: 'a',
            value: Buffer.from('x'),
            ttlMs: undefined,
            lockKey: '{w}lock',
            token: 'mine',
            channel: 'wchan',
            message: 'done',
          }),
        ).rejects.toThrow(/WRONGTYPE/);
        expect(await fx.store.exists('{w}lock')).toBe(false);
        expect((await fx.store.get('{w}bad'))?.toString()).toBe('a string');
        await until(() => got.length === 1);
        expect(got).toEqual(['done carries nothing']);
        unsubscribe();
      });
    }

    it('scanPrefix yields exactly the keys starting with the prefix, glob characters included', async () => {
      const keys = ['p:a:1', 'p:a:2', 'p:a.b:1', 'p:b:1', 'p:a*:1', 'q:a:1'];
      for (const k of keys) await fx.store.set(k, Buffer.from('v'), undefined);
      for (let i = 0; i < 1200; i++) await fx.store.set(`p:a:n${i}`, Buffer.from('v'), undefined);
      const seen: string[] = [];
      for await (const batch of fx.store.scanPrefix('p:a:', 100)) seen.push(...batch);
      const unique = [...new Set(seen)].sort();
      expect(unique).toHaveLength(1202);
      expect(unique).toContain('p:a:1');
      expect(unique).not.toContain('p:a.b:1');
      const star: string[] = [];
      for await (const batch of fx.store.scanPrefix('p:a*:')) star.push(...batch);
      expect(star).toEqual(['p:a*:1']);
    });
  });
}

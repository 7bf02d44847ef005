/**
 * The cluster driver on a real 3-master Redis Cluster: the store contract's operations over keys
 * of many slots (reads per slot in key order, deletes and batches per slot, SCAN of every master),
 * locks and scripts on an entry and its lock sharing a hash tag, pub/sub across nodes, tracking
 * on every master, and reads and writes answered while a slot holding a hot key migrates.
 */
import { Cluster } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { KeyLayout } from '../../src/keys/index.js';
import { ClusterStore, type Store } from '../../src/store/index.js';
import { createStore } from '../../src/store/create-store.js';
import { RedisCluster } from '../../tools/redis-cluster.js';
import { TEST_COMMAND_TIMEOUT, until } from '../helpers/troves.js';

let cluster: RedisCluster;
let store: Store;
const connectionErrors: Error[] = [];
const layout = new KeyLayout('t', 'v1', true);
const base = layout.regionBase('r');
/** Entry keys of many slots, including user keys with braces and the empty key. */
const userKeys = [...Array.from({ length: 200 }, (_, i) => `k${i}`), '', '{x}', 'a}b', '}', '{', '{}'];
const entryKey = (k: string) => base + k + layout.tail;

beforeAll(async () => {
  cluster = await RedisCluster.start({ masters: 3 });
  store = createStore({
    redis: { cluster: cluster.urls },
    memory: undefined,
    commandTimeoutMs: TEST_COMMAND_TIMEOUT,
    listener: { onConnectionError: (e) => connectionErrors.push(e) },
  });
}, 60_000);

afterAll(async () => {
  await store?.close();
  await cluster?.stop();
});

beforeEach(async () => {
  await Promise.all(cluster.masters().map((m) => m.server.command('FLUSHALL')));
});

const bytes = (s: string) => Buffer.from(s);
const text = (b: Buffer | null) => (b === null ? null : b.toString());

describe('cluster store', () => {
  it('is a Redis store with hash tags, not tracking until asked to', () => {
    expect(store).toBeInstanceOf(ClusterStore);
    expect(store.kind).toBe('redis');
    expect(store.hashTags).toBe(true);
    expect(store.tracking).toBe(false);
  });

  it('spreads the keys of one region over every master', async () => {
    for (const k of userKeys) await store.set(entryKey(k), bytes(k), undefined);
    const sizes = await Promise.all(cluster.masters().map(async (m) => Number(await m.server.command('DBSIZE'))));
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(userKeys.length);
    for (const n of sizes) expect(n).toBeGreaterThan(0);
  });

  it('an entry and its lock share a slot, whatever braces the key holds', async () => {
    for (const k of userKeys) {
      const full = entryKey(k);
      expect(await cluster.keySlot(layout.lockKey(full)), full).toBe(await cluster.keySlot(full));
    }
    const slots = new Set(await Promise.all(userKeys.map((k) => cluster.keySlot(entryKey(k)))));
    expect(slots.size).toBeGreaterThan(100);
  });

  it('mget and the per-tick batch answer keys of many slots in order', async () => {
    await store.exec(userKeys.filter((_, i) => i % 2 === 0).map((k) => ({ type: 'set', key: entryKey(k), value: bytes(`v${k}`), ttlMs: undefined })));
    const expected = userKeys.map((k, i) => (i % 2 === 0 ? `v${k}` : null));
    expect((await store.mget(userKeys.map(entryKey))).map(text)).toEqual(expected);
    expect((await Promise.all(userKeys.map((k) => store.get(entryKey(k))))).map(text)).toEqual(expected);
    // A key asked twice in one batch is answered twice.
    expect((await store.mget([entryKey('k0'), entryKey('k1'), entryKey('k0')])).map(text)).toEqual(['vk0', null, 'vk0']);
    expect(connectionErrors).toEqual([]);
  });

  it("a tick's reads of keys of many slots cost one command per master", async () => {
    const keys = userKeys.map(entryKey);
    await store.exec(keys.map((k) => ({ type: 'set', key: k, value: bytes(`v${k}`), ttlMs: undefined })));
    const read = () => Promise.all(keys.map((k) => store.get(k)));
    // The first read loads the script on every master.
    await read();
    await Promise.all(cluster.masters().map((m) => m.server.resetStats()));
    expect((await read()).map(text)).toEqual(keys.map((k) => `v${k}`));
    for (const m of cluster.masters()) {
      const calls = await m.server.commandCalls();
      // One script per master; its GETs, one per key the master holds, run inside it.
      expect({ evalsha: calls.evalsha, mget: calls.mget, get: calls.get }, m.url).toEqual({
        evalsha: 1,
        mget: undefined,
        get: Number(await m.server.command('DBSIZE')),
      });
    }
    expect(connectionErrors).toEqual([]);
  });

  it('reads of many slots stay right when a slot moved behind the client, and after the move', async () => {
    const keys = userKeys.map(entryKey);
    await store.exec(keys.map((k) => ({ type: 'set', key: k, value: bytes(`v${k}`), ttlMs: undefined })));
    const slot = await cluster.keySlot(keys[0]!);
    const from = cluster.ownerOf(slot);
    const to = cluster.masters().find((m) => m !== from)!;
    // The store's client learns of the move only from a redirection: its batch for the old owner
    // holds a key that owner no longer serves.
    await cluster.moveSlot(slot, from, to);
    for (let round = 0; round < 3; round++) {
      expect((await Promise.all(keys.map((k) => store.get(k)))).map(text), `round ${round}`).toEqual(keys.map((k) => `v${k}`));
    }
    await cluster.moveSlot(slot, to, from);
    expect((await Promise.all(keys.map((k) => store.get(k)))).map(text)).toEqual(keys.map((k) => `v${k}`));
    expect(connectionErrors).toEqual([]);
  }, 60_000);

  it('delete removes keys of many slots and counts those that existed', async () => {
    for (const k of userKeys.slice(0, 50)) await store.set(entryKey(k), bytes(k), undefined);
    expect(await store.delete(userKeys.slice(0, 100).map(entryKey))).toBe(50);
    expect((await store.mget(userKeys.slice(0, 50).map(entryKey))).every((v) => v === null)).toBe(true);
  });

  it('exec applies every write, in order per key, across slots', async () => {
    await store.exec([
      { type: 'set', key: entryKey('k1'), value: bytes('first'), ttlMs: undefined },
      { type: 'set', key: entryKey('k2'), value: bytes('two'), ttlMs: 60_000 },
      { type: 'set', key: entryKey('k1'), value: bytes('second'), ttlMs: undefined },
      { type: 'set', key: entryKey('k3'), value: bytes('gone'), ttlMs: undefined },
      { type: 'delete', key: entryKey('k3') },
    ]);
    expect((await store.mget(['k1', 'k2', 'k3'].map(entryKey))).map(text)).toEqual(['second', 'two', null]);
    const ttl = Number(await cluster.ownerOf(await cluster.keySlot(entryKey('k2'))).server.command('PTTL', entryKey('k2')));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60_000);
  });

  it('expire and exists', async () => {
    await store.set(entryKey('e'), bytes('x'), undefined);
    expect(await store.exists(entryKey('e'))).toBe(true);
    expect(await store.expire(entryKey('e'), 60_000)).toBe(true);
    expect(await store.expire(entryKey('missing'), 60_000)).toBe(false);
    expect(await store.exists(entryKey('missing'))).toBe(false);
  });

  it('scanPrefix walks every master', async () => {
    for (const k of userKeys) await store.set(entryKey(k), bytes(k), undefined);
    await store.set(`${layout.regionBase('other')}x${layout.tail}`, bytes('x'), undefined);
    const seen = new Set<string>();
    for await (const keys of store.scanPrefix(base, 20)) for (const k of keys) seen.add(k);
    expect([...seen].sort()).toEqual(userKeys.map(entryKey).sort());
  });

  it('locks: acquire with a read, wait marking, store-and-release with a notification to another node', async () => {
    const full = entryKey('{locked}');
    const lock = layout.lockKey(full);
    const heard: string[] = [];
    const unsubscribe = await store.subscribe('t:v1:__notify', { onMessage: (m) => heard.push(m) });
    try {
      await store.set(full, bytes('old'), undefined);
      const won = await store.acquireLock(lock, 'tok', 10_000, full);
      expect(won.acquired).toBe(true);
      expect(won.acquired && text(won.value ?? null)).toBe('old');
      const lost = await store.acquireLock(lock, 'other', 10_000, full);
      expect(lost.acquired).toBe(false);
      expect(await store.renewLock(lock, 'tok', 20_000)).toBe(true);
      // The lock was marked as waited for: the holder's store announces the value.
      await store.storeAndRelease({ key: full, value: bytes('new'), ttlMs: 60_000, lockKey: lock, token: 'tok', channel: 't:v1:__notify', message: 'stored' });
      expect(text(await store.get(full))).toBe('new');
      expect(await store.exists(lock)).toBe(false);
      await until(() => heard.length === 1);
      // The notification names its key ('stored', 6 bytes) and carries the small value stored.
      expect(heard).toEqual(['6:storednew']);
      expect(await store.acquireLock(lock, 'again', 10_000)).toEqual({ acquired: true });
      expect(await store.releaseLock(lock, 'again')).toBe(true);
      expect(await store.releaseLock(lock, 'again')).toBe(false);
    } finally {
      unsubscribe();
    }
  });

  it('tables: read with init, set and publish', async () => {
    const heard: string[] = [];
    const unsubscribe = await store.subscribe('t:v1:__bus', { onMessage: (m) => heard.push(m) });
    try {
      expect(await store.hashGetAllCounted('t:v1:__gens', ['~epoch', 'e1'])).toEqual({ count: 0, fields: { '~epoch': 'e1' } });
      expect(await store.hashSetCountAndPublish('t:v1:__gens', [['users', 'g1']], 't:v1:__bus', '{"g":1}', '~epoch')).toEqual({ count: 1, epoch: 'e1' });
      expect(await store.hashGetCounted('t:v1:__gens', ['users', 'nope'], ['~epoch', 'e2'])).toEqual({ count: 1, values: ['g1', null] });
      expect(await store.hashGetAllCounted('t:v1:__gens')).toEqual({ count: 1, fields: { '~epoch': 'e1', users: 'g1' } });
      await until(() => heard.length === 1);
      expect(heard).toEqual(['{"g":1,"n":1,"e":"e1"}']);
      expect(await store.hashSetCountAndPublish('t:v1:__tags', [['org', 'k1']], 't:v1:__bus', '{"t":1}', '~epoch')).toEqual({ count: 1, epoch: undefined });
      expect(await store.hashGetCounted('t:v1:__tags', ['org'], ['~epoch', 'e3'])).toEqual({ count: 1, values: ['k1'] });
      expect(await store.hashSetCountAndPublish('t:v1:__tags', [['org', 'k2']], 't:v1:__bus', '{"t":2}', '~epoch')).toEqual({ count: 2, epoch: 'e3' });
      await until(() => heard.length === 3);
      expect(heard).toEqual(['{"g":1,"n":1,"e":"e1"}', '{"t":1,"n":1}', '{"t":2,"n":2,"e":"e3"}']);
      expect(store.subscribed).toBe(true);
    } finally {
      unsubscribe();
    }
  });

  it('every read and write is answered while the slot of a hot key migrates', async () => {
    const hot = entryKey('hot');
    await store.set(hot, bytes('v0'), undefined);
    const slot = await cluster.keySlot(hot);
    const from = cluster.ownerOf(slot);
    const to = cluster.masters().find((m) => m !== from)!;
    let running = true;
    let reads = 0;
    let writes = 0;
    const failures: unknown[] = [];
    const wrong: (string | null)[] = [];
    const load = Array.from({ length: 8 }, async (_, w) => {
      for (let i = 0; running; i++) {
        try {
          if (w === 0) {
            await store.set(hot, bytes(`v${i}`), undefined);
            writes++;
          } else {
            const v = text(await store.get(hot));
            if (v === null || !v.startsWith('v')) wrong.push(v);
            reads++;
          }
        } catch (err) {
          failures.push(err);
        }
      }
    });
    await until(() => reads > 100);
    await cluster.moveSlot(slot, from, to);
    const readsAfter = reads;
    await until(() => reads > readsAfter + 100);
    running = false;
    await Promise.all(load);
    expect(cluster.ownerOf(slot)).toBe(to);
    expect(failures).toEqual([]);
    expect(wrong).toEqual([]);
    expect(writes).toBeGreaterThan(0);
    expect(await to.server.command('GET', hot)).toMatch(/^v\d+$/);
  }, 60_000);
});

describe('tracking on a cluster', () => {
  /** A store of its own with tracking enabled, recording what it is told. */
  async function trackedStore() {
    const tracked = createStore({ redis: { cluster: cluster.urls }, memory: undefined, commandTimeoutMs: TEST_COMMAND_TIMEOUT, listener: {} });
    const invalidated: string[] = [];
    const changes: boolean[] = [];
    expect(tracked.enableTracking({ onInvalidate: (keys) => invalidated.push(...(keys ?? ['*'])), onTrackingChange: (live) => changes.push(live) })).toBe(true);
    await until(() => tracked.tracking);
    return { tracked, invalidated, changes };
  }

  /** Our connections on a node whose tracking is redirected (CLIENT LIST's `redir`). */
  async function redirectedClients(node: { server: { command(...a: string[]): Promise<string> } }): Promise<number> {
    const list = await node.server.command('CLIENT', 'LIST');
    return list.split('\n').filter((line) => /\bredir=\d+/.test(line) && !/\bredir=-1\b/.test(line)).length;
  }

  it('tracks on every master, each through one connection of its own, and every master announces changes of the keys read', async () => {
    const { tracked, invalidated } = await trackedStore();
    try {
      const keys = userKeys.slice(0, 60).map(entryKey);
      await store.exec(keys.map((key) => ({ type: 'set' as const, key, value: bytes('a'), ttlMs: undefined })));
      expect((await tracked.mget(keys, true)).map(text)).toEqual(keys.map(() => 'a'));
      for (const m of cluster.masters()) expect(await redirectedClients(m)).toBe(1);
      await store.exec(keys.map((key) => ({ type: 'set' as const, key, value: bytes('b'), ttlMs: undefined })));
      await until(() => new Set(invalidated).size === keys.length);
      expect(new Set(invalidated)).toEqual(new Set(keys));
    } finally {
      await tracked.close();
    }
    // Closing releases every reader connection.
    for (const m of cluster.masters()) expect(await redirectedClients(m)).toBe(0);
  });

  it('own tracked writes are announced once each, on the master of each key', async () => {
    const { tracked, invalidated } = await trackedStore();
    try {
      const keys = userKeys.slice(0, 30).map(entryKey);
      await tracked.exec(
        keys.map((key) => ({ type: 'set' as const, key, value: bytes('mine'), ttlMs: undefined })),
        true,
      );
      await until(() => invalidated.length === keys.length);
      expect(invalidated.sort()).toEqual([...keys].sort());
      // Tracked after the write: another writer's change is announced too.
      await store.set(keys[0]!, bytes('theirs'), undefined);
      await until(() => invalidated.length === keys.length + 1);
      expect(invalidated.at(-1)).toBe(keys[0]);
    } finally {
      await tracked.close();
    }
  });

  it('a tracked batch with untracked sets in one slot: only the tracked keys are announced, then and after', async () => {
    const { tracked, invalidated } = await trackedStore();
    try {
      // One slot: its master runs the batch as one script, the untracked keys among its arguments.
      const keys = Array.from({ length: 30 }, (_, i) => `{bulk}${i}`);
      const kept = keys.filter((_, i) => i % 3 === 0);
      await tracked.exec(
        [
          // A kept key written twice: its earlier write untracked, its last tracked.
          { type: 'set' as const, key: kept[0]!, value: bytes('first'), ttlMs: undefined, untracked: true },
          ...keys.map((key) => ({ type: 'set' as const, key, value: bytes('mine'), ttlMs: undefined, untracked: !kept.includes(key) })),
        ],
        true,
      );
      expect((await store.mget(keys)).map(text)).toEqual(keys.map(() => 'mine'));
      await until(() => invalidated.length >= kept.length);
      expect([...invalidated].sort()).toEqual([...kept].sort());
      // Another writer's changes, on that master (whose announcements arrive in order): a key left
      // untracked first, then a kept one. Only the kept key is announced.
      await store.set(keys[1]!, bytes('theirs'), undefined);
      await store.set(kept[1]!, bytes('theirs'), undefined);
      await until(() => invalidated.length > kept.length);
      expect(invalidated.slice(kept.length)).toEqual([kept[1]]);
    } finally {
      await tracked.close();
    }
  });

  it('a tracked read sent to a master that lost the slot is answered by its new owner, restarts tracking, and the key is tracked there', async () => {
    const { tracked, invalidated, changes } = await trackedStore();
    try {
      const key = entryKey('moving');
      await store.set(key, bytes('v1'), undefined);
      expect(text(await tracked.get(key, true))).toBe('v1');
      const slot = await cluster.keySlot(key);
      const from = cluster.ownerOf(slot);
      const to = cluster.masters().find((m) => m !== from)!;
      await cluster.moveSlot(slot, from, to);
      // The key left its old master (MIGRATE deletes it there), which announces it.
      await until(() => invalidated.includes(key));
      const before = changes.length;
      expect(text(await tracked.get(key, true))).toBe('v1');
      expect(changes.slice(before, before + 1)).toEqual([false]);
      await until(() => tracked.tracking);
      invalidated.length = 0;
      expect(text(await tracked.get(key, true))).toBe('v1');
      await store.set(key, bytes('v2'), undefined);
      await until(() => invalidated.includes(key));
      expect(await to.server.command('GET', key)).toBe('v2');
    } finally {
      await tracked.close();
    }
  }, 60_000);
});

describe('cluster store over an ioredis Cluster instance', () => {
  it('uses it and leaves it open', async () => {
    const client = new Cluster(cluster.urls);
    try {
      const own = createStore({ redis: client, memory: undefined, commandTimeoutMs: TEST_COMMAND_TIMEOUT, listener: {} });
      expect(own).toBeInstanceOf(ClusterStore);
      await own.set(entryKey('mine'), bytes('1'), undefined);
      expect(text(await own.get(entryKey('mine')))).toBe('1');
      await own.close();
      expect(client.status).toBe('ready');
      expect(await client.get(entryKey('mine'))).toBe('1');
    } finally {
      client.disconnect();
    }
  });
});

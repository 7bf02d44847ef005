/**
 * Trove on a real Redis Cluster (3 masters), end to end through createTrove: entries spread over
 * every master, exactly-once computation (in one process and across processes), batched reads,
 * O(1) region invalidation, tags, iteration, and calls answered through a slot migration and a
 * master failover, with the near cache kept correct by every master's invalidations.
 */
import calculateSlot from 'cluster-key-slot';
import { Cluster, Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Region, StoreError, type Trove, type TroveOptions } from '../../src/index.js';
import { type ClusterNode, RedisCluster } from '../../tools/redis-cluster.js';
import { until, useTroves } from '../helpers/troves.js';
import { runWorkers } from '../load/workers.js';

let n = 0;
let prefix = '';
beforeEach(() => {
  prefix = `c${++n}`;
});

/** Keys of this test's trove on each master, as Redis names them (control keys included). */
async function keysByMaster(cluster: RedisCluster): Promise<string[][]> {
  return Promise.all(cluster.masters().map(async (m) => (await m.server.keys()).filter((k) => k.startsWith(`${prefix}:`))));
}

/** Calls per command, summed over every master, since the last reset. */
async function commandCalls(cluster: RedisCluster): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const m of cluster.masters()) for (const [cmd, calls] of Object.entries(await m.server.commandCalls())) out[cmd] = (out[cmd] ?? 0) + calls;
  return out;
}

/** Plain clients of single nodes, closed after each test. */
const nodeClients: Redis[] = [];
afterEach(() => {
  for (const c of nodeClients.splice(0)) c.disconnect();
});
function nodeClient(node: ClusterNode): Redis {
  const c = new Redis({ port: node.port, host: '127.0.0.1', maxRetriesPerRequest: 0 });
  nodeClients.push(c);
  return c;
}

describe('a trove on a 3-master cluster', () => {
  let cluster: RedisCluster;
  beforeAll(async () => {
    cluster = await RedisCluster.start({ masters: 3 });
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
  });
  const troves = useTroves(() => ({ redis: { cluster: cluster.urls }, prefix }));

  it("near cache: a value changed by another process leaves every other process's near cache, on every master", async () => {
    const a = troves.open();
    const b = troves.open({ nearCache: { maxEntries: 100 } });
    const users = b.region('users');
    const keys = Array.from({ length: 30 }, (_, i) => `u${i}`);
    await a.region('users').setMany(keys.map((k) => [k, 'one']));
    await until(() => b.stats().near?.live === true);
    // Read twice: the second read of each key is a near hit, whichever master holds it.
    for (const k of keys) expect(await users.get(k)).toBe('one');
    const before = b.stats().near!.hits;
    for (const k of keys) expect(await users.get(k)).toBe('one');
    expect(b.stats().near!.hits - before).toBe(keys.length);
    expect(new Set(keys.map((k) => cluster.ownerOf(calculateSlot(users.keyOf(k)))))).toHaveLength(3);
    await a.region('users').setMany(keys.map((k) => [k, 'two']));
    // Each master announces its own keys: every copy goes.
    await until(async () => (await Promise.all(keys.map((k) => users.get(k)))).every((v) => v === 'two'));
    await a.region('users').delete('u0');
    await until(async () => (await users.get('u0')) === undefined);
  });

  it('near cache: own writes are kept, and a write by a plain client on the master is announced', async () => {
    const t = troves.open();
    const r = t.region('own');
    await until(() => t.stats().near?.live === true);
    await r.set('k', 'mine');
    const hits = t.stats().near!.hits;
    expect(await r.get('k')).toBe('mine');
    expect(t.stats().near!.hits).toBe(hits + 1);
    // Another writer, on the master itself, stores another entry's envelope under this key.
    await r.set('other', 'theirs');
    const envelope = await nodeClient(cluster.ownerOf(calculateSlot(r.keyOf('other')))).getBuffer(r.keyOf('other'));
    expect(envelope).not.toBeNull();
    await nodeClient(cluster.ownerOf(calculateSlot(r.keyOf('k')))).set(r.keyOf('k'), envelope!);
    await until(async () => (await r.get('k')) === 'theirs');
  });

  it('near cache: concurrent misses of keys of many slots are computed once each, written tracked and kept, with no error', async () => {
    const t = troves.open();
    const errors: string[] = [];
    t.on('error', (e) => errors.push(`${e.operation}: ${e.error.message}`));
    const r = t.region('many');
    await until(() => t.stats().near?.live === true);
    const keys = Array.from({ length: 60 }, (_, i) => `k${i}`);
    // One tick of misses: each master's reader gets the tracked writes of several slots at once.
    expect(await Promise.all(keys.map((k) => r.getOrSet(k, () => k)))).toEqual(keys);
    expect(new Set(keys.map((k) => cluster.ownerOf(calculateSlot(r.keyOf(k)))))).toHaveLength(3);
    expect(errors).toEqual([]);
    // Each computed value was written tracked and kept: every read is a near hit.
    const hits = t.stats().near!.hits;
    expect(await Promise.all(keys.map((k) => r.get(k)))).toEqual(keys);
    expect(t.stats().near!.hits - hits).toBe(keys.length);
  });

  it('spreads the entries of one region over every master, each with a readable hash-tagged key', async () => {
    const t = troves.open();
    const users = t.region('users.profiles');
    const keys = Array.from({ length: 60 }, (_, i) => `u${i}`);
    for (const k of keys) await users.set(k, k);
    expect(users.keyOf('42')).toMatch(new RegExp(`^${prefix}:0:users@[\\w-]+\\.profiles\\{:42\\}$`));
    const onMasters = (await keysByMaster(cluster)).map((list) => list.filter((k) => k.includes('.profiles{:')));
    for (const list of onMasters) expect(list.length).toBeGreaterThan(0);
    expect(onMasters.flat().sort()).toEqual(keys.map((k) => users.keyOf(k)).sort());
  });

  it('markStale on every master: each value stale, kept, and refreshed once; a near copy elsewhere goes', async () => {
    const a = troves.open();
    const b = troves.open({ nearCache: { maxEntries: 100 } });
    const keys = Array.from({ length: 30 }, (_, i) => `m${i}`);
    const ra = a.region<string>('marked', { ttl: '100s' });
    const rb = b.region<string>('marked', { ttl: '100s' });
    await ra.setMany(keys.map((k) => [k, 'one']));
    await until(() => b.stats().near?.live === true);
    for (const k of keys) expect(await rb.getOrSet(k, () => 'unused')).toBe('one');
    expect(new Set(keys.map((k) => cluster.ownerOf(calculateSlot(ra.keyOf(k)))))).toHaveLength(3);
    expect(await Promise.all(keys.map((k) => ra.markStale(k)))).toEqual(keys.map(() => true));
    for (const k of keys) expect((await ra.ttlOf(k))?.freshForMs).toBe(0);
    let runs = 0;
    // Each master announces its own keys: every near copy goes, and each key is refreshed once.
    const load = (): string => {
      runs++;
      return 'two';
    };
    await until(async () => (await Promise.all(keys.map((k) => rb.getOrSet(k, load)))).every((v) => v === 'two'), 10_000, 'every value refreshed');
    expect(runs).toBe(keys.length);
  });

  it('getOrSetMany over keys of every master: each missing key computed once, in about one factory call per master at most', async () => {
    const a = troves.open();
    const b = troves.open({ nearCache: { maxEntries: 100 } });
    const keys = Array.from({ length: 30 }, (_, i) => `g${i}`);
    const ra = a.region<string>('many');
    expect(new Set(keys.map((k) => cluster.ownerOf(calculateSlot(ra.keyOf(k)))))).toHaveLength(3);
    await ra.setMany(keys.slice(0, 5).map((k) => [k, `cached ${k}`]));
    const calls: string[][] = [];
    const load = async (missing: string[]) => {
      calls.push(missing);
      return missing.map((k) => `computed ${k}`);
    };
    const expected = keys.map((k, i) => (i < 5 ? `cached ${k}` : `computed ${k}`));
    const answers = await Promise.all([ra.getOrSetMany(keys, load), b.region<string>('many').getOrSetMany(keys, load), ra.getOrSetMany(keys, load)]);
    for (const answer of answers) expect(answer).toEqual(expected);
    expect(calls.flat().sort()).toEqual(keys.slice(5).sort());
    expect(calls.length).toBeLessThanOrEqual(6);
  });

  it('getOrSet computes once for concurrent callers of several troves', async () => {
    const all = [troves.open(), troves.open(), troves.open()];
    await Promise.all(all.map((t) => t.ready()));
    let runs = 0;
    const factory = async () => {
      runs++;
      await new Promise((r) => setTimeout(r, 200));
      return { at: runs };
    };
    const answers = await Promise.all(all.flatMap((t) => Array.from({ length: 30 }, () => t.region('w').getOrSet('cold', factory))));
    expect(runs).toBe(1);
    expect(answers).toHaveLength(90);
    for (const a of answers) expect(a).toEqual({ at: 1 });
    // The lock is gone: only the entry is left.
    const left = (await keysByMaster(cluster)).flat().filter((k) => !k.startsWith(`${prefix}:0:__`));
    expect(left).toEqual([all[0]!.region('w').keyOf('cold')]);
  });

  it('a region whose reads keep missing reads and locks in one step per key on every master: computed once each, found values answered, no lock left', async () => {
    const t = troves.open();
    const region = t.region('rf');
    // Misses in a row, on keys of their own, until the region reads with the lock (see miss-share.ts).
    for (let i = 0; i < 30; i++) await region.getOrSet(`warm${i}`, () => i);
    for (const m of cluster.masters()) await m.server.resetStats();
    const keys = Array.from({ length: 40 }, (_, i) => `k${i}`);
    const runs = new Map<string, number>();
    const factory = (k: string) => () => {
      runs.set(k, (runs.get(k) ?? 0) + 1);
      return { k };
    };
    const answers = await Promise.all([...keys, ...keys].map((k) => region.getOrSet(k, factory(k))));
    expect(answers).toEqual([...keys, ...keys].map((k) => ({ k })));
    expect([...runs.entries()].filter(([, c]) => c !== 1)).toEqual([]);
    expect(runs.size).toBe(keys.length);
    expect(new Set(keys.map((k) => cluster.ownerOf(calculateSlot(region.keyOf(k)))))).toHaveLength(3);
    // Per key, one GET of the value in the step and one of the lock in the store (the near cache's
    // regions take lock keys): a plain read first (a read script per master) would add a third.
    // The store reads the value before and after its write (tracked), and makes sure none was
    // written since the lock was taken: three EXISTS.
    const calls = await commandCalls(cluster);
    expect(calls.get).toBe(2 * keys.length);
    expect(calls.exists).toBe(3 * keys.length);
    // A value that is there is answered by the step, with no computation and no lock taken.
    expect(await region.getOrSet('k0', factory('k0'))).toEqual({ k: 'k0' });
    expect(runs.get('k0')).toBe(1);
    const locks = (await keysByMaster(cluster)).flat().filter((k) => k.includes('__lock'));
    expect(locks).toEqual([]);
    // Every claim was replaced by its value.
    expect(await region.getMany(keys)).toEqual(keys.map((k) => ({ k })));
  });

  it('getOrSet computes once across 3 processes x 50 callers', async () => {
    const { outputs } = await runWorkers(3, {
      url: '',
      cluster: cluster.urls,
      prefix,
      key: 'hot',
      callers: 50,
      factoryMs: 300,
      // Waiters are woken by the notification: nothing else would end their wait within the test.
      region: { lockLease: '120s', waitTimeout: '120s' },
    });
    const results = outputs.flatMap((o) => o.results);
    expect(results).toHaveLength(150);
    expect(results.every((r) => r.ok)).toBe(true);
    expect(new Set(results.map((r) => r.value)).size).toBe(1);
    for (const o of outputs) expect(o.errors).toEqual([]);
    const client = new Cluster(cluster.urls);
    try {
      expect(await client.get(`${prefix}:runs`)).toBe('1');
    } finally {
      client.disconnect();
    }
  }, 60_000);

  it('getMany, concurrent gets and setMany over 200 keys of many slots', async () => {
    const t = troves.open();
    const r = t.region('many');
    const keys = Array.from({ length: 200 }, (_, i) => `k${i}`);
    await r.setMany(keys.map((k) => [k, { k }]));
    const expected = keys.map((k) => ({ k }));
    expect(await r.getMany([...keys, 'absent'])).toEqual([...expected, undefined]);
    expect(await Promise.all(keys.map((k) => r.get(k)))).toEqual(expected);
    await r.batch((tx) => {
      tx.set('k0', 'changed');
      tx.delete('k1');
    });
    expect(await r.getMany(['k0', 'k1', 'k2'])).toEqual(['changed', undefined, { k: 'k2' }]);
  });

  it('invalidate() is one HSET on the generations key, and everything below it is a miss', async () => {
    const t = troves.open({ syncInterval: Infinity });
    const users = t.region('users');
    const profiles = t.region('users.profiles');
    const other = t.region('other');
    for (let i = 0; i < 30; i++) {
      await users.set(`u${i}`, i);
      await profiles.set(`p${i}`, i);
      await other.set(`o${i}`, i);
    }
    const before = (await keysByMaster(cluster)).flat().length;
    await Promise.all(cluster.masters().map((m) => m.server.resetStats()));
    await users.invalidate();
    const calls = await commandCalls(cluster);
    expect(calls.hset).toBe(1);
    for (const cmd of ['del', 'unlink', 'scan', 'keys', 'hdel']) expect(calls[cmd] ?? 0, cmd).toBe(0);
    // Nothing was removed: the old generation's entries are just no longer read.
    expect((await keysByMaster(cluster)).flat().length).toBe(before);
    expect(await users.getMany(Array.from({ length: 30 }, (_, i) => `u${i}`))).toEqual(Array(30).fill(undefined));
    expect(await profiles.get('p0')).toBeUndefined();
    expect(await users.size()).toBe(0);
    expect(await profiles.size()).toBe(0);
    expect(await other.size()).toBe(30);
    expect(await other.get('o7')).toBe(7);
    // A sweep reclaims the old generation on every master.
    expect((await t.sweep({ count: 10 })).removed).toBe(60);
    expect((await keysByMaster(cluster)).flat().length).toBe(before - 60);
  });

  it('invalidateTags() misses every tagged entry, in any region, and no other', async () => {
    const t = troves.open();
    const a = t.region('a');
    const b = t.region('b');
    for (let i = 0; i < 20; i++) {
      await a.set(`x${i}`, i, { tags: ['org:7'] });
      await b.set(`y${i}`, i, { tags: i % 2 === 0 ? ['org:7'] : ['org:8'] });
    }
    await t.invalidateTags(['org:7']);
    expect(await a.size()).toBe(0);
    expect([...(await b.getMany(Array.from({ length: 20 }, (_, i) => `y${i}`)))]).toEqual(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? undefined : i)));
  });

  it('statistics: one hash per minute on one node, merged across troves', async () => {
    const a = troves.open({ nearCache: false });
    const b = troves.open({ nearCache: false });
    const keys = Array.from({ length: 20 }, (_, i) => `k${i}`);
    for (const k of keys) await a.region('s').getOrSet(k, () => k);
    expect(await b.region('s').getMany(keys)).toEqual(keys);
    await b.fleetStats();
    const row = (await a.fleetStats()).regions.find((r) => r.region === 's');
    expect(row).toMatchObject({ calls: 40, misses: 20, storeHits: 20, computes: 20, sets: 20 });
  });

  it('iterates and counts entries on every master, giving back the keys as written', async () => {
    const t = troves.open();
    const r = t.region('iter');
    const below = t.region('iter.below');
    const keys = [...Array.from({ length: 50 }, (_, i) => `k${i}`), '', '{x}', 'a}b', '}', '{', '{}', 'a:b'];
    for (const k of keys) await r.set(k, `v${k}`);
    await below.set('k0', 'not mine');
    expect(new Set((await keysByMaster(cluster)).map((list) => list.length > 0))).toEqual(new Set([true]));
    const seen: string[] = [];
    for await (const k of r.keys({ batchSize: 7 })) seen.push(k);
    expect(seen.sort()).toEqual([...keys].sort());
    const entries: [string, unknown][] = [];
    for await (const e of r.entries()) entries.push(e);
    expect(entries.sort(([x], [y]) => (x < y ? -1 : 1))).toEqual([...keys].sort().map((k) => [k, `v${k}`]));
    expect(await r.size()).toBe(keys.length);
    for (const k of keys) expect(await r.get(k)).toBe(`v${k}`);
  });

  it('get and getOrSet are answered while the slot of a hot key migrates', async () => {
    const t = troves.open();
    const r = t.region('hot');
    let runs = 0;
    const factory = async () => {
      runs++;
      return 'value';
    };
    expect(await r.getOrSet('k', factory)).toBe('value');
    const slot = await cluster.keySlot(r.keyOf('k'));
    const from = cluster.ownerOf(slot);
    const to = cluster.masters().find((m) => m !== from)!;
    let running = true;
    let calls = 0;
    const wrong: unknown[] = [];
    const load = Array.from({ length: 8 }, async (_, w) => {
      while (running) {
        const v = await (w % 2 === 0 ? r.get('k') : r.getOrSet('k', factory)).catch((err: unknown) => err);
        if (v !== 'value') wrong.push(v);
        calls++;
        // Near-cache hits settle without I/O: yield so the migration can make progress.
        await new Promise((resolve) => setImmediate(resolve));
      }
    });
    await until(() => calls > 100);
    await cluster.moveSlot(slot, from, to);
    const after = calls;
    await until(() => calls > after + 100);
    running = false;
    await Promise.all(load);
    expect(cluster.ownerOf(slot)).toBe(to);
    expect(wrong).toEqual([]);
    expect(runs).toBe(1);
    // The near cache follows the slot: a change on its new master reaches this process.
    expect(await r.get('k')).toBe('value');
    await troves.open().region('hot').set('k', 'changed');
    await until(async () => (await r.get('k')) === 'changed');
  }, 60_000);
});

describe('a trove on a cluster whose master fails over', () => {
  let cluster: RedisCluster;
  beforeAll(async () => {
    cluster = await RedisCluster.start({ masters: 3, replicasPerMaster: 1 });
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
  });
  const troves = useTroves(() => ({ redis: { cluster: cluster.urls }, prefix, commandTimeout: 300 }));

  /**
   * Reads of region `name` under load (see readLoad) while `fault` strikes the master of one of
   * its keys, until `moreValues` more values were answered after it; unhandled rejections recorded.
   */
  async function underReadLoad(name: string, fault: (master: ClusterNode, replica: ClusterNode) => Promise<void>, moreValues: number, opts: TroveOptions = {}) {
    troves.expectErrors();
    const unhandled: unknown[] = [];
    const onUnhandled = (err: unknown) => unhandled.push(err);
    process.on('unhandledRejection', onUnhandled);
    try {
      const t: Trove = troves.open(opts);
      const r = t.region(name);
      const keys = Array.from({ length: 30 }, (_, i) => `k${i}`);
      await r.setMany(keys.map((k) => [k, k]));
      const master = cluster.ownerOf(await cluster.keySlot(r.keyOf('k0')));
      const replica = cluster.replicasOf(master)[0]!;
      await master.server.command('WAIT', 1, 5_000);
      const load = readLoad(r, keys);
      await until(() => load.outcomes.value > 100);
      await fault(master, replica);
      const after = load.outcomes.value;
      // Reads of the master's slots reach its successor.
      await until(() => load.outcomes.value > after + moreValues, 20_000);
      const slowest = await load.stop();
      return { t, r, master, replica, other: load.other, unhandled, slowest };
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  }

  /** After the fault, values another process changes reach this process's near cache (which holds them again first). */
  async function changedElsewhereIsSeen(t: Trove, r: Region, name: string): Promise<void> {
    const keys = Array.from({ length: 30 }, (_, i) => `k${i}`);
    let seen: unknown[] = [];
    // What was read last, and the trove's view of Redis and its near cache, if the values never come.
    const state = (what: string) => () => `${what} (last read: ${JSON.stringify(seen)}; near ${JSON.stringify(t.stats().near)}; Redis ${t.health().redis})`;
    const reads = async (expected: (k: string) => string) => {
      seen = await r.getMany(keys).catch((err: unknown) => [String(err)]);
      return seen.every((v, i) => v === expected(keys[i]!));
    };
    await until(() => reads((k) => k), 10_000, state('every value read'));
    const elsewhere = troves.open().region(name);
    await elsewhere.setMany(keys.map((k) => [k, `${k}'`]));
    try {
      await until(() => reads((k) => `${k}'`), 10_000, state('every value changed elsewhere read'));
    } catch (err) {
      // Whether the two troves name the key alike, and what Redis holds under this one's name.
      const key = r.keyOf('k0');
      const held = await cluster
        .ownerOf(await cluster.keySlot(key))
        .server.command('GET', key)
        .catch((e: unknown) => String(e));
      throw new Error(`${(err as Error).message}; k0 here ${key}, elsewhere ${elsewhere.keyOf('k0')}; Redis holds ${JSON.stringify(held)}`);
    }
  }

  it('every call under read load is answered (a value, a miss or a StoreError) through a CLUSTER FAILOVER', async () => {
    const run = await underReadLoad('fo', (_, replica) => cluster.failover(replica), 100);
    expect(run.replica.role).toBe('master');
    expect(run.other).toEqual([]);
    expect(run.unhandled).toEqual([]);
    expect(await run.r.get('k0')).toBe('k0');
    await changedElsewhereIsSeen(run.t, run.r, 'fo');
  }, 90_000);

  it('without a near cache (one read script per master per tick): every call answered through a CLUSTER FAILOVER, then every value from the new master', async () => {
    // The old master, now a replica, is sent the script until ioredis's slot map catches up: the
    // script fails whole and its keys go again per slot through the Cluster client.
    const run = await underReadLoad('fo-untracked', (_, replica) => cluster.failover(replica), 100, { nearCache: false });
    expect(run.replica.role).toBe('master');
    expect(run.other).toEqual([]);
    expect(run.unhandled).toEqual([]);
    const keys = Array.from({ length: 30 }, (_, i) => `k${i}`);
    await until(async () => (await Promise.all(keys.map((k) => run.r.get(k)))).every((v, i) => v === keys[i]));
    await troves
      .open({ nearCache: false })
      .region('fo-untracked')
      .setMany(keys.map((k) => [k, `${k}'`]));
    expect(await Promise.all(keys.map((k) => run.r.get(k)))).toEqual(keys.map((k) => `${k}'`));
  }, 90_000);

  it('every call is answered within its deadline while a killed master is replaced by its replica', async () => {
    const run = await underReadLoad(
      'kill',
      async (master, replica) => {
        await cluster.kill(master);
        await cluster.waitUntilHealthy();
        expect(replica.role).toBe('master');
      },
      300,
    );
    expect(run.other).toEqual([]);
    expect(run.unhandled).toEqual([]);
    // One deadline for the read, at most one more for the write behind a getOrSet, plus scheduling.
    expect(run.slowest).toBeLessThan(2_000);
    expect(await run.r.get('k0')).toBe('k0');
    await changedElsewhereIsSeen(run.t, run.r, 'kill');
    await cluster.restart(run.master);
  }, 90_000);
});

/**
 * Six callers reading `keys` in a loop (get and getOrSet alternately) until `stop()`, which
 * resolves to the slowest call in ms. Each outcome is counted: a value, a miss, a StoreError, or
 * anything else (kept in `other`, which must stay empty).
 */
function readLoad(r: Region, keys: readonly string[]) {
  let running = true;
  let slowest = 0;
  const outcomes = { value: 0, miss: 0, storeError: 0 };
  const other: unknown[] = [];
  const callers = Array.from({ length: 6 }, async (_, w) => {
    for (let i = 0; running; i++) {
      const k = keys[(i * 7 + w) % keys.length]!;
      const started = performance.now();
      try {
        const v = w % 2 === 0 ? await r.get(k) : await r.getOrSet(k, async () => k);
        if (v === k) outcomes.value++;
        else if (v === undefined) outcomes.miss++;
        else other.push(v);
      } catch (err) {
        if (err instanceof StoreError) outcomes.storeError++;
        else other.push(err);
      }
      slowest = Math.max(slowest, performance.now() - started);
      // A call that failed at once must not spin the loop without yielding to I/O.
      await new Promise((resolve) => setImmediate(resolve));
    }
  });
  return {
    outcomes,
    other,
    async stop(): Promise<number> {
      running = false;
      await Promise.all(callers);
      return slowest;
    },
  };
}

/**
 * Region invalidation (generations), tags, the async-map interface, batches and the sweep,
 * against a private redis-server, with two troves standing in for two processes.
 */
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import type { InvalidateEvent, Trove, TroveOptions } from '../../src/index.js';
import type { Store } from '../../src/store/index.js';
import { HSET_COUNT_AND_PUBLISH } from '../../src/store/scripts.js';
import { until, useRedisServer, useTroves } from '../helpers/troves.js';

const redis = useRedisServer();
let n = 0;
let prefix = '';
const { open, expectErrors } = useTroves(() => ({ redis: redis.server.url, prefix }));
/** A second trove on the same prefix: another process, as far as Redis can tell. */
function pair(opts: TroveOptions = {}): [Trove, Trove] {
  prefix = `inv${++n}`;
  return [open(opts), open(opts)];
}
/** Command calls made by the troves (the harness's own CONFIG RESETSTAT and INFO left out). */
function ownCalls(calls: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(calls).filter(([c]) => !c.startsWith('config') && c !== 'info'));
}

/**
 * Both troves connected, tracking live, and the re-read that tracking going live starts answered:
 * a read through each trove's connection is answered after every command it sent before.
 */
async function settled(...troves: Trove[]): Promise<void> {
  for (const t of troves) await t.ready();
  await until(() => troves.every((t) => t.stats().near?.live === true));
  for (const t of troves) await t.region('settle', { nearCache: false }).get('x');
}

/**
 * Waits until Redis has run `enough` of the troves' commands since the last CONFIG RESETSTAT (each
 * process's re-read of a table runs exactly once, so that is when their reaction is complete),
 * and returns the counts.
 */
async function callsOnce(enough: (calls: Record<string, number>) => boolean): Promise<Record<string, number>> {
  let calls: Record<string, number> = {};
  await until(async () => {
    calls = ownCalls(await redis.server.commandCalls());
    return enough(calls);
  });
  return calls;
}

describe('region invalidation', () => {
  it('invalidating a region of 100k entries is one Redis command', async () => {
    const [t, other] = pair({ syncInterval: Number.POSITIVE_INFINITY });
    const big = t.region('big');
    await big.set('real', 'value');
    await settled(t, other);
    await redis.server.command('DEBUG', 'POPULATE', 100_000, `${prefix}:0:big:x`, 300);
    expect(Number(await redis.server.command('DBSIZE'))).toBeGreaterThanOrEqual(100_001);
    // Loads the script once (EVALSHA then, this first time, EVAL); both processes' reaction to it
    // must not be counted below.
    await redis.server.resetStats();
    await t.region('warm-up').invalidate();
    await callsOnce((c) => (c.hmget ?? 0) >= 2);
    await redis.server.resetStats();
    await big.invalidate();
    // One EVALSHA, which runs one HSET, the count's HINCRBY, the epoch's HGET and one PUBLISH
    // inside Redis: nothing walks the 100k keys. Each of the two processes then checks the
    // generation table once (Redis told it the table changed, its own write included), asking Redis
    // to keep tracking it (CLIENT CACHING yes): one EVALSHA each, running HSETNX of the epoch (a
    // no-op while the table exists) and HMGET of the epoch and the change count, which the
    // broadcast already accounts for, so the table is not read whole.
    const calls = await callsOnce((c) => (c.hmget ?? 0) >= 2);
    expect(calls).toEqual({ evalsha: 3, hincrby: 1, hset: 1, hget: 1, publish: 1, hsetnx: 2, hmget: 2, 'client|caching': 2 });
    expect(await big.get('real')).toBeUndefined();
  });

  it('invalidating a covers a.b and a.b.c, but not a sibling', async () => {
    const [t] = pair();
    const a = t.region('a');
    await a.set('k', 'a');
    await t.region('a.b').set('k', 'ab');
    await t.region('a.b.c').set('k', 'abc');
    await t.region('x').set('k', 'x');
    await t.region('a.b').invalidate();
    expect(await a.get('k')).toBe('a');
    expect(await t.region('a.b').get('k')).toBeUndefined();
    expect(await t.region('a.b.c').get('k')).toBeUndefined();
    await t.region('a.b.c').set('k', 'abc2');
    await a.invalidate();
    expect(await a.get('k')).toBeUndefined();
    expect(await t.region('a').region('b').region('c').get('k')).toBeUndefined();
    expect(await t.region('x').get('k')).toBe('x');
  });

  it('is visible to another process at once, with an invalidate event there', async () => {
    // No periodic re-read: only the broadcast (or tracking) can tell the other process.
    const [a, b] = pair({ syncInterval: Number.POSITIVE_INFINITY });
    const seen: InvalidateEvent[] = [];
    a.on('invalidate', (e) => seen.push(e));
    await a.ready();
    await b.ready();
    await a.region('users').set('1', 'u1');
    await b.region('users').invalidate();
    await until(async () => (await a.region('users').get('1')) === undefined);
    expect(seen).toEqual([{ region: 'users', origin: 'remote' }]);
  });

  it("a process that missed the broadcast catches up at its next periodic check, by the table's change count (syncInterval)", async () => {
    // No near cache: nothing but the periodic re-read can bring the change.
    const [a] = pair({ syncInterval: 300, nearCache: false });
    await a.ready();
    const users = a.region('users');
    await users.set('1', 'u1');
    expect(await users.get('1')).toBe('u1');
    // Another process invalidates the region and its broadcast never arrives: the table changes and
    // counts the change, as every invalidation does, on a channel nobody hears.
    await redis.server.command('EVAL', HSET_COUNT_AND_PUBLISH.source, 1, `${prefix}:0:__gens`, 'nowhere', '{"g":[]}', '', 'users', 'missed00');
    await until(async () => (await users.get('1')) === undefined);
    expect(users.keyOf('1')).toContain('users@missed00:');
  });

  it("a process that missed a tag broadcast catches up at its next periodic check, by the table's change count", async () => {
    const [a] = pair({ syncInterval: 300, nearCache: false });
    await a.ready();
    const users = a.region('users');
    await users.set('1', 'u1', { tags: ['org:7'] });
    expect(await users.get('1')).toBe('u1');
    // Another process invalidates the tag and its broadcast never arrives: the table changes and
    // counts the change, as every invalidation does, on a channel nobody hears.
    await redis.server.command('EVAL', HSET_COUNT_AND_PUBLISH.source, 1, `${prefix}:0:__tags`, 'nowhere', '{"t":[]}', '', 'org:7', 'missed00');
    await until(async () => (await users.get('1')) === undefined);
  });

  it('with a near cache, each tag invalidation elsewhere makes a process check the table, never read its known tags again', async () => {
    // No periodic check: only the broadcasts and Redis's announcements of the table's changes.
    const [a, b] = pair({ syncInterval: Number.POSITIVE_INFINITY });
    await settled(a, b);
    const known = Array.from({ length: 200 }, (_, i) => `user:${i}`);
    const r = a.region('users');
    await r.set('all', 'v', { tags: known.slice(0, 200) });
    expect(await r.get('all')).toBe('v');
    const store = (a as unknown as { store: Store }).store;
    const reads: string[][] = [];
    const read = store.hashGetCounted.bind(store);
    store.hashGetCounted = (key, fields, init) => {
      reads.push(fields.filter((f) => f !== ''));
      return read(key, fields, init);
    };
    const heard: string[] = [];
    a.on('invalidate', (e) => {
      if (e.origin === 'remote') heard.push(...(e.tags ?? []));
    });
    for (let i = 0; i < 30; i++) await b.invalidateTags([`user:${i}`]);
    await until(() => heard.length === 30);
    expect(await r.get('all')).toBeUndefined();
    // The last announcement's check has run (a check asked for meanwhile joins it).
    await until(() => reads.length > 0);
    await (a as unknown as { tags: { sync(): Promise<void> } }).tags.sync();
    expect(reads.length).toBeGreaterThan(0);
    expect(reads.filter((fields) => fields.length > 0)).toEqual([]);
  });

  it('a writer racing an invalidation never resurrects the old value', async () => {
    const [t] = pair();
    const r = t.region('race');
    let version = 'old';
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let readDone: () => void = () => {};
    const hasRead = new Promise<void>((resolve) => {
      readDone = resolve;
    });
    // The factory read the old data, then the data changed and the region was invalidated.
    const slow = r.getOrSet('k', async () => {
      const read = version;
      readDone();
      await gate;
      return read;
    });
    await hasRead;
    version = 'new';
    await r.invalidate();
    release();
    expect(await slow).toBe('old'); // its caller gets what it computed...
    expect(await r.get('k')).toBeUndefined(); // ...but it never lands in the current generation
    expect(await r.getOrSet('k', async () => version)).toBe('new');
  });

  it('keys(), entries() and size() see exactly the live entries of the current generation', async () => {
    expectErrors(); // the planted garbage is reported each time it is read
    const [t] = pair();
    const r = t.region('iter');
    await r.setMany(Array.from({ length: 1_200 }, (_, i) => [`k${i}`, i] as const));
    await r.set('tagged', 't', { tags: ['doomed'] });
    await r.set('short', 's', { ttl: 30 });
    await t.region('iter.child').set('c', 'child');
    await t.region('iterx').set('sibling', 's');
    await r.delete('k0');
    await t.invalidateTags(['doomed']);
    await redis.server.command('SET', r.keyOf('garbage'), 'not an entry');
    await until(async () => (await redis.server.command('EXISTS', r.keyOf('short'))) === '0');
    const keys: string[] = [];
    for await (const k of r.keys({ batchSize: 100 })) keys.push(k);
    expect(keys.sort()).toEqual(Array.from({ length: 1_199 }, (_, i) => `k${i + 1}`).sort());
    expect(await r.size()).toBe(1_199);
    const entries = new Map<string, unknown>();
    for await (const [k, v] of r) entries.set(k, v);
    expect(entries.get('k7')).toBe(7);
    expect(entries.size).toBe(1_199);
    await r.clear();
    expect(await r.size()).toBe(0);
    expect(await t.region('iterx').get('sibling')).toBe('s');
  });

  it('batch applies writes and deletes as one atomic script, and nothing when the callback throws', async () => {
    const [t] = pair({ syncInterval: Number.POSITIVE_INFINITY });
    await settled(t);
    const r = t.region('batch');
    await r.set('gone', 1);
    await redis.server.resetStats();
    await r.batch((tx) => {
      tx.set('a', 1);
      tx.set('b', 2, { ttl: '1m' });
      tx.delete('gone');
    });
    const calls = await redis.server.commandCalls();
    // Tracked (the near cache keeps the values): the script runs in a MULTI after CLIENT CACHING yes.
    // The deleted entry's lock key goes first, on its own (a computation under way must not store).
    expect([calls.multi, calls.eval, calls.exec, calls.set, calls.unlink]).toEqual([1, 1, 1, 2, 2]);
    expect(await r.getMany(['a', 'b', 'gone'])).toEqual([1, 2, undefined]);
    await expect(
      r.batch((tx) => {
        tx.set('c', 3);
        tx.delete('a');
        throw new Error('changed my mind');
      }),
    ).rejects.toThrow('changed my mind');
    await expect(
      r.batch((tx) => {
        tx.set('c', 3);
        tx.set('d', () => 'not serializable');
      }),
    ).rejects.toMatchObject({ code: 'SERIALIZATION' });
    expect(await r.getMany(['a', 'c', 'd'])).toEqual([1, undefined, undefined]);
  });

  it('invalidateOn ties a region to an event', async () => {
    const [t] = pair();
    const r = t.region('evt');
    const source = new EventEmitter();
    const off = r.invalidateOn(source, 'changed');
    await r.set('k', 1);
    source.emit('changed');
    await until(async () => (await r.get('k')) === undefined);
    off();
    await r.set('k', 2);
    source.emit('changed');
    // An invalidation sent after the one the event would have started, the same way: once it is
    // done, that one would be too.
    await t.region('evt-later').invalidate();
    expect(await r.get('k')).toBe(2);
    const target = new EventTarget();
    r.invalidateOn(target, 'changed');
    target.dispatchEvent(new Event('changed'));
    await until(async () => (await r.get('k')) === undefined);
  });
});

describe('tags', () => {
  it('invalidate entries across two regions and two processes, leaving other tags alone', async () => {
    const [a, b] = pair();
    await a.ready();
    await b.ready();
    const users = a.region('users');
    const posts = a.region('posts');
    await users.set('1', 'u1', { tags: ['org:7'] });
    await posts.set('9', 'p9', { tags: ['org:7', 'topic:x'] });
    await posts.set('10', 'p10', { tags: ['org:8'] });
    const computed = await users.getOrSet('2', () => 'u2', { tags: ['org:7'] });
    expect(computed).toBe('u2');
    await b.invalidateTags(['org:7']);
    await until(async () => (await users.get('1')) === undefined);
    expect(await posts.get('9')).toBeUndefined();
    expect(await users.get('2')).toBeUndefined();
    expect(await posts.get('10')).toBe('p10');
    // written after the invalidation: live
    await users.set('1', 'u1-new', { tags: ['org:7'] });
    expect(await users.get('1')).toBe('u1-new');
    expect(await b.region('users').get('1')).toBe('u1-new');
  });

  it('a process that never saw a tag checks it on first read', async () => {
    const [a, b] = pair();
    await a.region('r').set('k', 'v', { tags: ['fresh-tag'] });
    await a.invalidateTags(['fresh-tag']);
    const c = open();
    expect(await c.region('r').get('k')).toBeUndefined();
    expect(await b.region('r').has('k')).toBe(false);
  });

  it('invalidateTags costs one command whatever the number of tagged entries', async () => {
    const [t, other] = pair({ syncInterval: Number.POSITIVE_INFINITY });
    const r = t.region('many');
    await r.setMany(
      Array.from({ length: 2_000 }, (_, i) => [String(i), i] as const),
      { tags: ['bulk'] },
    );
    expect(await other.region('many').get('0')).toBe(0); // the other process now knows the tag
    await settled(t, other);
    // Both processes' reaction to the warm-up must not be counted below.
    await redis.server.resetStats();
    await t.invalidateTags(['warm-up']);
    await callsOnce((c) => (c.hmget ?? 0) >= 2);
    await redis.server.resetStats();
    await t.invalidateTags(['bulk', 'other']);
    // One EVALSHA running one HSET per tag, the count's HINCRBY, the epoch's HGET and one
    // PUBLISH: proportional to the tags, not the entries. Each process, told by tracking that the
    // table changed, then checks it once, tracked (one EVALSHA each: HSETNX of the epoch, a no-op
    // while the table exists, and HMGET of the epoch and the change count, which the broadcast
    // already accounts for, so no tag is read again).
    const calls = await callsOnce((c) => (c.hmget ?? 0) >= 2);
    expect(calls).toEqual({ evalsha: 3, hincrby: 1, hset: 2, hget: 1, publish: 1, hsetnx: 2, hmget: 2, 'client|caching': 2 });
    expect(await r.getMany(['0', '1999'])).toEqual([undefined, undefined]);
  });

  it('rejects bad tags with a typed error', async () => {
    const [t] = pair();
    await expect(t.region('r').set('k', 1, { tags: [''] })).rejects.toMatchObject({ code: 'INVALID_OPTION', option: 'tags' });
    await expect(t.invalidateTags(['ok', 3 as never])).rejects.toMatchObject({ code: 'INVALID_OPTION', option: 'tags' });
  });
});

describe('sweep', () => {
  it('reclaims entries of invalidated generations in small steps, never blocking Redis for long', async () => {
    const [t] = pair();
    const r = t.region('sw', { ttl: Number.POSITIVE_INFINITY });
    const keep = t.region('keep', { ttl: Number.POSITIVE_INFINITY });
    for (let i = 0; i < 20; i++) await r.setMany(Array.from({ length: 1_000 }, (_, j) => [`${i}-${j}`, 'x'.repeat(100)] as const));
    await keep.set('k', 'kept');
    await r.region('child').set('c', 'child');
    const before = Number((await redis.server.info('memory')).used_memory);
    await r.invalidate();
    await r.set('new', 'live');
    await redis.server.resetStats();
    const result = await t.sweep({ count: 200 });
    expect(result.removed).toBe(20_001);
    // Small steps: ~100 SCANs and UNLINKs of at most a few hundred keys each (how long each takes
    // is the benchmark's business), never one command over the whole keyspace.
    const stats = await redis.server.commandStats();
    expect(stats.scan!.calls).toBeGreaterThan(90);
    expect(stats.unlink!.calls).toBeGreaterThan(90);
    expect(stats.keys).toBeUndefined();
    const left = (await redis.server.keys()).filter((k) => k.startsWith(`${prefix}:0:`));
    expect(left.sort()).toEqual([`${prefix}:0:__gens`, `${prefix}:0:__tags`, keep.keyOf('k'), r.keyOf('new')].sort());
    expect(Number((await redis.server.info('memory')).used_memory)).toBeLessThan(before - 1_000_000);
    expect(await keep.get('k')).toBe('kept');
    expect(await r.get('new')).toBe('live');
  });
});

describe('per-region codec', () => {
  it('a json region never decodes a v8 payload planted in its keyspace', async () => {
    expectErrors();
    const [t] = pair();
    const errors: string[] = [];
    t.on('error', (e) => errors.push(e.error.code));
    const trusted = t.region('untrusted', { codec: 'json' });
    await t.region('planted', { codec: 'v8' }).set('k', { evil: true });
    const planted = await redis.server.command('GET', t.region('planted').keyOf('k'));
    await redis.server.command('SET', trusted.keyOf('k'), planted);
    expect(await trusted.get('k')).toBeUndefined();
    expect(errors).toEqual(['DECODE']);
  });
});

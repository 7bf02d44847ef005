/**
 * The near cache against real Redis: kept correct by CLIENT TRACKING invalidations, race-free
 * while a read is in flight, emptied when the channel is lost, and bounded. Once per driver: the
 * trove under test runs on ioredis or node-redis; the other processes and connections stay ioredis.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { HitEvent, Trove, TroveOptions } from '../../src/index.js';
import { bundled } from '../helpers/bundled.js';
import { type Driver, drivers, useDriverClients } from '../helpers/drivers.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { fakeDate, until, useRedisServer, useTroves } from '../helpers/troves.js';

const redis = useRedisServer();
const cleanups: (() => Promise<void>)[] = [];
let n = 0;
let prefix = '';

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
const clients = useDriverClients();
// Registered after the hooks above, so it runs before them: troves close before their proxies and clients.
const troves = useTroves(() => ({ prefix }));
/** The driver of the suite running (set by its beforeEach). */
let driver: Driver = 'ioredis';

async function open(opts: TroveOptions = {}, url = redis.server.url): Promise<Trove> {
  const t = troves.open({ redis: await clients.redis(driver, url), ...opts });
  await t.ready();
  if (opts.nearCache !== false) await until(() => t.stats().near?.live === true);
  return t;
}

/** Process A (with a near cache) and process B (another connection writing). */
async function pair(opts: TroveOptions = {}): Promise<[Trove, Trove]> {
  prefix = `near${++n}`;
  return [await open(opts), await open({ nearCache: false })];
}

function tiers(t: Trove): HitEvent['tier'][] {
  const seen: HitEvent['tier'][] = [];
  t.on('hit', (e) => seen.push(e.tier));
  return seen;
}

const writer = fileURLToPath(new URL('./fixtures/writer.ts', import.meta.url));
function otherProcess(...args: string[]): Promise<number | null> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [bundled(writer), redis.server.url, prefix, ...args], { stdio: 'inherit' });
    p.on('exit', resolve);
  });
}

describe.each(drivers)('near cache (%s)', (d) => {
  beforeEach(() => {
    driver = d;
  });

  it('a repeated read is a local hit: no round trip', async () => {
    const [a, b] = await pair();
    await b.region('users').set('1', { name: 'Ada' });
    const seen = tiers(a);
    expect(await a.region('users').get('1')).toEqual({ name: 'Ada' });
    await redis.server.resetStats();
    for (let i = 0; i < 100; i++) expect(await a.region('users').get('1')).toEqual({ name: 'Ada' });
    expect((await redis.server.commandCalls()).mget).toBeUndefined();
    expect(seen).toEqual(['store', ...Array(100).fill('near')]);
    expect(a.stats().near).toMatchObject({ hits: 100, entries: 1, live: true });
  });

  it('getOrSet with write options (tags, ttl) answers a fresh local hit without a round trip, and still refuses a bad option', async () => {
    const [a] = await pair();
    const users = a.region('users');
    const opts = { tags: ['org:7'], ttl: '1h', freshFor: '10m' } as const;
    let runs = 0;
    expect(await users.getOrSet('1', () => ++runs, opts)).toBe(1);
    const seen = tiers(a);
    await redis.server.resetStats();
    for (let i = 0; i < 50; i++) expect(await users.getOrSet('1', () => ++runs, opts)).toBe(1);
    // No entry read, no tag table read, nothing else: every call answered locally.
    const { 'config|resetstat': _reset, ...calls } = await redis.server.commandCalls();
    expect(calls).toEqual({});
    expect(seen).toEqual(Array(50).fill('near'));
    await expect(users.getOrSet('1', () => ++runs, { ttl: -5 })).rejects.toThrow(/ttl/);
    // A tag invalidation is honoured on that path: the next call recomputes.
    await a.invalidateTags(['org:7']);
    expect(await users.getOrSet('1', () => ++runs, opts)).toBe(2);
    expect(runs).toBe(2);
  });

  it('local writes and deletes update the local tier at once', async () => {
    const [a] = await pair();
    const seen = tiers(a);
    const users = a.region('users');
    await users.set('1', 'v1');
    expect(await users.get('1')).toBe('v1');
    await users.set('1', 'v2');
    expect(await users.get('1')).toBe('v2');
    await users.delete('1');
    expect(await users.get('1')).toBeUndefined();
    expect(seen).toEqual(['near', 'near']);
  });

  it('another process sets, deletes, invalidates, invalidates tags: the next read sees it', async () => {
    const [a] = await pair();
    const users = a.region('users');
    await users.set('1', 'mine', { tags: ['org:1'] });
    expect(await users.get('1')).toBe('mine');
    expect(await otherProcess('set', '1', 'theirs')).toBe(0);
    await until(async () => (await users.get('1')) === 'theirs');
    expect(await otherProcess('delete', '1')).toBe(0);
    await until(async () => (await users.get('1')) === undefined);
    await users.set('2', 'two');
    expect(await users.get('2')).toBe('two');
    expect(await otherProcess('invalidate')).toBe(0);
    await until(async () => (await users.get('2')) === undefined);
    await users.set('3', 'three', { tags: ['org:1'] });
    expect(await users.get('3')).toBe('three');
    expect(await otherProcess('tags', 'org:1')).toBe(0);
    await until(async () => (await users.get('3')) === undefined);
  });

  // Every way a process comes to hold a local copy must register it with Redis, or a change made
  // elsewhere would never reach it.
  const ways: [string, (r: ReturnType<Trove['region']>) => Promise<unknown>][] = [
    ['get', (r) => r.get('k')],
    ['getMany', (r) => r.getMany(['k', 'other'])],
    ['has', (r) => r.has('k')],
    ['getOrSet (hit)', (r) => r.getOrSet('k', () => 'computed')],
    [
      'getOrSet (computed)',
      async (r) => {
        await r.delete('k');
        return r.getOrSet('k', () => 'computed');
      },
    ],
    ['set', (r) => r.set('k', 'own')],
    ['setMany', (r) => r.setMany([['k', 'own']])],
    ['batch', (r) => r.batch((b) => b.set('k', 'own'))],
  ];
  for (const [way, hold] of ways) {
    it(`a copy held after ${way} is dropped when another connection writes the key`, async () => {
      const [a, b] = await pair();
      await b.region('users').set('k', 'theirs');
      const r = a.region('users');
      await hold(r);
      const before = await r.get('k');
      const seen = tiers(a);
      expect(await r.get('k')).toBe(before); // held locally
      expect(seen).toEqual(['near']);
      await b.region('users').set('k', 'changed');
      await until(async () => (await r.get('k')) === 'changed');
    });
  }

  it('Redis tracks only the keys kept locally (OPTIN): reads and writes of a region without near cache are not tracked', async () => {
    const [a, b] = await pair();
    const kept = a.region('users');
    const plain = a.region('plain', { nearCache: false });
    for (let i = 0; i < 5; i++) {
      await b.region('users').set(String(i), i);
      await b.region('plain').set(String(i), i);
    }
    const trackedKeys = async () => Number((await redis.server.info('stats')).tracking_total_keys);
    const before = await trackedKeys();
    for (let i = 0; i < 5; i++) expect(await plain.get(String(i))).toBe(i);
    expect(await plain.getMany(['0', '1'])).toEqual([0, 1]);
    await plain.set('w', 1);
    await plain.setMany([['x', 1]]);
    expect(await plain.getOrSet('y', () => 1)).toBe(1);
    expect(await trackedKeys()).toBe(before);
    for (let i = 0; i < 5; i++) expect(await kept.get(String(i))).toBe(i);
    expect(await trackedKeys()).toBe(before + 5);
  });

  it('propagation between two connections: every write reaches the local copy, by invalidation', async () => {
    const [a, b] = await pair();
    const users = a.region('users');
    const seen = tiers(a);
    for (let i = 0; i < 20; i++) {
      await b.region('users').set('k', i);
      await until(async () => (await users.get('k')) === i);
      // Held locally now: only an invalidation can bring the next value (the local copy would
      // otherwise live for the near cache's maxTtl, a minute).
      seen.length = 0;
      expect(await users.get('k')).toBe(i);
      expect(seen).toEqual(['near']);
      await b.region('users').set('k', i + 1000);
      await until(async () => (await users.get('k')) === i + 1000);
    }
  });

  it('a local copy never outlives the entry in Redis: it is dropped at the hard expiry written with the entry', async () => {
    const clock = fakeDate();
    const [a, b] = await pair();
    await b.region('users').set('short', 's', { ttl: 10_000 });
    const seen = tiers(a);
    expect(await a.region('users').get('short')).toBe('s');
    clock.advance(9_999);
    expect(await a.region('users').get('short')).toBe('s');
    expect(seen).toEqual(['store', 'near']);
    // Redis's own clock expires the entry; this process stops serving its copy by then, whatever
    // it hears from Redis: the next read asks Redis, and what it answers is not kept either.
    clock.advance(1);
    await a.region('users').get('short');
    await a.region('users').get('short');
    expect(seen).toEqual(['store', 'near', 'store', 'store']);
  });

  // Both reads below run in one synchronous stretch, so no timer can run between them.
  it('checks expiry against the clock on every hit by default; with expiryResolution, against a reading that lasts until its timer runs', async () => {
    const clock = fakeDate();
    const [exact, b] = await pair();
    const coarse = await open({ nearCache: { expiryResolution: '1s' } });
    await b.region('users').set('short', 's', { ttl: 10_000 });
    const exactSeen = tiers(exact);
    const coarseSeen = tiers(coarse);
    expect(await exact.region('users').get('short')).toBe('s');
    expect(await coarse.region('users').get('short')).toBe('s');

    const first = [exact.region('users').get('short'), coarse.region('users').get('short')];
    clock.advance(10_000);
    const second = [exact.region('users').get('short'), coarse.region('users').get('short')];
    expect(await Promise.all(first)).toEqual(['s', 's']);
    await Promise.all(second);
    expect(exactSeen).toEqual(['store', 'near', 'store']);
    // The reading taken by the first hit still served the second: the copy was answered past its expiry.
    expect(coarseSeen).toEqual(['store', 'near', 'near']);
    // Once the timer has run, the clock is read again: the copy has expired, and Redis is asked.
    await until(async () => {
      await coarse.region('users').get('short');
      return coarseSeen.at(-1) === 'store';
    });
    // And what Redis answers is not kept: it expired by this process's clock.
    const later = coarseSeen.length;
    await coarse.region('users').get('short');
    await coarse.region('users').get('short');
    expect(coarseSeen.slice(later)).toEqual(['store', 'store']);
  });

  it('FLUSHALL empties the local tier', async () => {
    const [a, b] = await pair();
    await b.region('users').set('1', 'v');
    expect(await a.region('users').get('1')).toBe('v');
    const resets = a.stats().near!.resets;
    await redis.server.flushall();
    await until(() => a.stats().near!.resets > resets);
    expect(a.stats().near!.entries).toBe(0);
    expect(await a.region('users').get('1')).toBeUndefined();
  });

  it('an invalidation arriving while a read is in flight: the reply is answered but not kept', async () => {
    prefix = `near${++n}`;
    const proxy = await TcpProxy.start(redis.server.port);
    cleanups.push(() => proxy.close());
    const a = await open({}, proxy.url);
    const b = await open({ nearCache: false });
    expect(proxy.acceptedCount).toBe(2); // 0: the main connection, 1: the subscriber
    await b.region('users').set('k', 'v1');
    // Hold A's main connection replies: A's read reaches Redis (and is tracked) but its answer waits.
    const trackedKeys = async () => Number((await redis.server.info('stats')).tracking_total_keys);
    const tracked = await trackedKeys();
    proxy.holdReplies(0);
    const inflight = a.region('users').get('k');
    await until(async () => (await trackedKeys()) > tracked);
    const invalidations = a.stats().near!.invalidations;
    await b.region('users').set('k', 'v2');
    await until(() => a.stats().near!.invalidations > invalidations); // arrived on the subscriber first
    proxy.releaseReplies(0);
    expect(await inflight).toBe('v1'); // answered...
    expect(a.stats().near!.entries).toBe(0); // ...but not kept
    expect(await a.region('users').get('k')).toBe('v2');
    expect(a.stats().near!.entries).toBe(1);
  });

  it('losing the invalidation channel empties the tier and bypasses it until tracking is back', async () => {
    const [a, b] = await pair();
    await b.region('users').set('1', 'v1');
    expect(await a.region('users').get('1')).toBe('v1');
    expect(a.stats().near!.entries).toBe(1);
    await redis.server.command('CLIENT', 'KILL', 'TYPE', 'pubsub');
    await until(() => a.stats().near!.live === false || a.stats().near!.resets > 0);
    expect(a.stats().near!.entries).toBe(0);
    // while the channel is down a write is not announced; once tracking is back, reads are right
    await b.region('users').set('1', 'v2');
    await until(() => a.stats().near!.live);
    expect(await a.region('users').get('1')).toBe('v2');
    await b.region('users').set('1', 'v3');
    await until(async () => (await a.region('users').get('1')) === 'v3');
  });

  it('an invalidation message naming several keys counts every key (keys may contain commas)', async () => {
    prefix = `near${++n}`;
    const a = await open();
    const subscriberId = /id=(\d+)/.exec(await redis.server.command('CLIENT', 'LIST', 'TYPE', 'pubsub'))![1]!;
    // Another connection in BCAST mode, redirected to A's subscriber: Redis then announces the
    // keys of one command together, in one message.
    const tracker = new Redis(redis.server.url);
    cleanups.push(async () => tracker.disconnect());
    await tracker.call('CLIENT', 'TRACKING', 'on', 'REDIRECT', subscriberId, 'BCAST', 'PREFIX', `${prefix}:bcast:`);
    const before = a.stats().near!.invalidations;
    await redis.server.command('MSET', `${prefix}:bcast:a,b`, '1', `${prefix}:bcast:c`, '2', `${prefix}:bcast:d`, '3');
    // One more key, announced after those three on the same connection: once it is counted, they all are.
    await redis.server.command('SET', `${prefix}:bcast:last`, '4');
    await until(() => a.stats().near!.invalidations >= before + 4);
    expect(a.stats().near!.invalidations - before).toBe(4);
  });

  it('respects maxEntries and maxBytes', async () => {
    prefix = `near${++n}`;
    const a = await open({ nearCache: { maxEntries: 10, maxBytes: 1_000_000 } });
    const r = a.region('bounded');
    await r.setMany(Array.from({ length: 50 }, (_, i) => [String(i), i] as const));
    for (let i = 0; i < 50; i++) await r.get(String(i));
    const stats = a.stats().near!;
    expect(stats.entries).toBe(10);
    expect(stats.evictions).toBeGreaterThanOrEqual(40);
    const small = await open({ nearCache: { maxEntries: 1_000, maxBytes: 20_000 } });
    const big = small.region('big');
    for (let i = 0; i < 20; i++) await big.set(String(i), 'x'.repeat(1_000));
    for (let i = 0; i < 20; i++) await big.get(String(i));
    expect(small.stats().near!.bytes).toBeLessThanOrEqual(20_000);
    expect(small.stats().near!.entries).toBeLessThan(20);
  });

  it('a setMany larger than the near cache keeps its last maxEntries values and leaves the other keys untracked', async () => {
    const [a, b] = await pair({ nearCache: { maxEntries: 10 } });
    const r = a.region('bulk');
    await r.set('warm', 0);
    const trackedKeys = async () => Number((await redis.server.info('stats')).tracking_total_keys);
    const before = await trackedKeys();
    const invalidations = a.stats().near!.invalidations;
    await r.setMany(Array.from({ length: 25 }, (_, i) => [String(i), `v${i}`] as const));
    // The last 10 are kept and tracked, the first 15 neither: one eviction only, of 'warm'.
    expect(a.stats().near!.entries).toBe(10);
    expect(a.stats().near!.evictions).toBe(1);
    expect((await trackedKeys()) - before).toBe(10);
    const seen = tiers(a);
    for (let i = 15; i < 25; i++) expect(await r.get(String(i))).toBe(`v${i}`);
    expect(seen).toEqual(Array(10).fill('near'));
    // A kept key changed elsewhere is announced; the batch's own writes were absorbed (announced
    // before it, on the same channel), so that announcement is the only one counted.
    await b.region('bulk').set('24', 'theirs');
    await until(async () => (await r.get('24')) === 'theirs');
    expect(a.stats().near!.invalidations - invalidations).toBe(1);
    seen.length = 0;
    expect(await r.get('3')).toBe('v3');
    expect(seen).toEqual(['store']);
    await b.region('bulk').set('3', 'theirs');
    await until(async () => (await r.get('3')) === 'theirs');
  });

  it('a region can opt out, and nearCache: false turns it off', async () => {
    const [a] = await pair();
    const seen = tiers(a);
    const opted = a.region('volatile', { nearCache: false });
    await opted.set('1', 'v');
    await opted.get('1');
    await opted.get('1');
    expect(seen).toEqual(['store', 'store']);
    const off = await open({ nearCache: false });
    expect(off.stats().near).toBeUndefined();
  });

  it('clone: callers cannot change the cached copy', async () => {
    const [a] = await pair({ nearCache: { clone: true } });
    const r = a.region('c');
    await r.set('1', { list: [1] });
    const got = (await r.get('1')) as { list: number[] };
    got.list.push(2);
    expect(await r.get('1')).toEqual({ list: [1] });
  });
});

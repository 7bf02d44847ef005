/**
 * `trove-cache/keyv`: Keyv's own compliance suite (@keyv/test-suite: API, values, namespaces,
 * iteration) run against TroveKeyvStore over a real redis-server, then what the suite does not
 * pin: where entries live in Redis and for how long, namespaces as regions cleared in O(1), Keyv
 * without its serializer, and cache-manager 7 on top (set, get, ttl, del, wrap, and the near
 * cache answering a second read).
 */
import { keyvApiTests, keyvIteratorTests, keyvNamespaceTest, keyvValueTests } from '@keyv/test-suite';
import { createCache } from 'cache-manager';
import { Redis } from 'ioredis';
import Keyv, { type KeyvStoreAdapter } from 'keyv';
import { TroveKeyvStore } from '../../src/integrations/keyv/index.js';
import * as vitest from 'vitest';
import { beforeEach, describe, expect, it } from 'vitest';
import { type HitEvent, type InvalidateEvent, InvalidOptionError, type Trove } from '../../src/index.js';
import { until, useRedisServer, useTroves } from '../helpers/troves.js';

const redis = useRedisServer();
let prefixes = 0;
const troves = useTroves(() => ({ redis: redis.server.url, prefix: `kv${++prefixes}`, stats: false }));

/** A Redis client for the test's checks, closed when the test ends. */
function client(): Redis {
  const c = new Redis(redis.server.url);
  vitest.onTestFinished(() => {
    c.disconnect();
  });
  return c;
}

describe('@keyv/test-suite', () => {
  let trove: Trove;
  // Registered before the suite's own hooks: its beforeEach already finds the trove.
  beforeEach(() => {
    trove = troves.open();
  });
  const store = (): TroveKeyvStore => new TroveKeyvStore(trove.region('suite'));
  describe('api', () => keyvApiTests(vitest, Keyv, store));
  describe('values', () => keyvValueTests(vitest, Keyv, store));
  describe('namespaces', () => keyvNamespaceTest(vitest, Keyv, store));
  describe('iterator', () => keyvIteratorTests(vitest, Keyv, store));
});

describe('TroveKeyvStore', () => {
  it('is a Keyv storage adapter', () => {
    const adapter: KeyvStoreAdapter = new TroveKeyvStore(troves.open().region('kv'));
    expect(adapter.opts).toEqual({ dialect: 'redis', region: 'kv' });
    expect(new Keyv({ store: adapter }).iterator).toBeTypeOf('function');
  });

  it('keeps each namespace in a region below its own, under the key Keyv gives, for the ttl Keyv gives', async () => {
    const trove = troves.open();
    const store = new TroveKeyvStore(trove.region('kv'));
    const keyv = new Keyv({ store, namespace: 'users' });
    expect(store.namespace).toBe('users');
    await keyv.set('42', { name: 'Ada' }, 60_000);
    const key = trove.region('kv.users').keyOf('users:42');
    const c = client();
    const stored = await c.get(key);
    expect(stored).not.toBeNull();
    const pttl = await c.pttl(key);
    expect(pttl).toBeGreaterThan(50_000);
    expect(pttl).toBeLessThanOrEqual(60_000);
    // The region holds what Keyv serialized; Keyv reads its value back.
    const raw = await trove.region('kv.users').get<string>('users:42');
    expect(JSON.parse(raw!)).toEqual({ value: { name: 'Ada' }, expires: expect.any(Number) });
    expect(await keyv.get('42')).toEqual({ name: 'Ada' });
  });

  it("takes the region's ttl when Keyv gives none", async () => {
    const trove = troves.open();
    const keyv = new Keyv({ store: new TroveKeyvStore(trove.region('kv', { ttl: '5m' })) });
    await keyv.set('k', 1);
    const pttl = await client().pttl(trove.region('kv.keyv').keyOf('keyv:k'));
    expect(pttl).toBeGreaterThan(290_000);
    expect(pttl).toBeLessThanOrEqual(300_000);
  });

  it('clears a namespace with one invalidation of its region, leaving the others', async () => {
    const trove = troves.open();
    const a = new Keyv({ store: new TroveKeyvStore(trove.region('kv')), namespace: 'a' });
    const b = new Keyv({ store: new TroveKeyvStore(trove.region('kv')), namespace: 'b' });
    await a.set('x', 1);
    await b.set('x', 2);
    const invalidated: InvalidateEvent[] = [];
    trove.on('invalidate', (e) => invalidated.push(e));
    await a.clear();
    expect(invalidated.map((e) => e.region)).toEqual(['kv.a']);
    expect(await a.get('x')).toBeUndefined();
    expect(await b.get('x')).toBe(2);
  });

  it('without a namespace, keeps entries in its region and clears it with every namespace below it', async () => {
    const trove = troves.open();
    const bare = new Keyv({ store: new TroveKeyvStore(trove.region('kv')), namespace: undefined });
    const named = new Keyv({ store: new TroveKeyvStore(trove.region('kv')), namespace: 'n' });
    await bare.set('x', 1);
    await named.set('x', 2);
    expect(await trove.region('kv').has('x')).toBe(true);
    await bare.clear();
    expect(await bare.get('x')).toBeUndefined();
    expect(await named.get('x')).toBeUndefined();
  });

  it('stores Keyv’s unserialized records with the region’s codec when Keyv’s serializer is off', async () => {
    const trove = troves.open();
    const keyv = new Keyv({ store: new TroveKeyvStore(trove.region('kv')), serialize: undefined, deserialize: undefined });
    const at = new Date('2024-05-01T12:00:00Z');
    await keyv.set('d', { at, tags: new Set(['a']) }, 60_000);
    const back = await keyv.get<{ at: Date; tags: Set<string> }>('d');
    expect(back?.at).toBeInstanceOf(Date);
    expect(back?.at.getTime()).toBe(at.getTime());
    expect(back?.tags).toEqual(new Set(['a']));
    expect(await keyv.getRaw('d')).toEqual({ value: { at, tags: new Set(['a']) }, expires: expect.any(Number) });
  });

  it('writes setMany as one batch with a ttl per entry, and answers hasMany and deleteMany', async () => {
    const trove = troves.open();
    const store = new TroveKeyvStore(trove.region('kv'));
    const keyv = new Keyv({ store });
    await keyv.setMany([
      { key: 'a', value: 1, ttl: 60_000 },
      { key: 'b', value: 2, ttl: 120_000 },
      { key: 'c', value: 3 },
    ]);
    const c = client();
    const region = trove.region('kv.keyv');
    const [ta, tb] = [await c.pttl(region.keyOf('keyv:a')), await c.pttl(region.keyOf('keyv:b'))];
    expect(ta).toBeGreaterThan(50_000);
    expect(ta).toBeLessThanOrEqual(60_000);
    expect(tb).toBeGreaterThan(110_000);
    expect(tb).toBeLessThanOrEqual(120_000);
    expect(await keyv.get(['a', 'b', 'c', 'd'])).toEqual([1, 2, 3, undefined]);
    expect(await keyv.has(['a', 'd'])).toEqual([true, false]);
    expect(await keyv.delete(['a', 'd'])).toBe(true);
    expect(await keyv.delete(['a', 'd'])).toBe(false);
    expect(await keyv.get(['a', 'b'])).toEqual([undefined, 2]);
  });

  it('refuses a namespace that cannot be a region name, and a negative ttl', async () => {
    const trove = troves.open();
    for (const namespace of ['a.b', 'a:b', '__x', 'with space']) {
      expect(() => new Keyv({ store: new TroveKeyvStore(trove.region('kv')), namespace })).toThrow(InvalidOptionError);
    }
    expect(() => new TroveKeyvStore({} as never)).toThrow('Invalid option "region"');
    const store = new TroveKeyvStore(trove.region('kv'));
    await expect(store.set('k', 'v', -1)).rejects.toThrow('Invalid option "ttl": expected milliseconds above 0, got -1');
    await expect(store.set('k', 'v', Number.NaN)).rejects.toThrow(InvalidOptionError);
  });

  it('leaves the trove open on disconnect', async () => {
    const trove = troves.open();
    const keyv = new Keyv({ store: new TroveKeyvStore(trove.region('kv')) });
    await keyv.disconnect();
    expect(trove.isClosed).toBe(false);
    await keyv.set('k', 1);
    expect(await keyv.get('k')).toBe(1);
  });
});

describe('cache-manager 7', () => {
  it('sets, gets, reports the ttl, deletes and wraps through Trove', async () => {
    const trove = troves.open();
    const cache = createCache({ stores: [new Keyv({ store: new TroveKeyvStore(trove.region('cm')) })] });
    const before = Date.now();
    await cache.set('user:1', { name: 'Ada' }, 60_000);
    expect(await cache.get('user:1')).toEqual({ name: 'Ada' });
    const expires = await cache.ttl('user:1');
    expect(expires).toBeGreaterThanOrEqual(before + 60_000);
    expect(expires).toBeLessThanOrEqual(Date.now() + 60_000);
    expect(await client().exists(trove.region('cm.keyv').keyOf('keyv:user:1'))).toBe(1);
    expect(await cache.del('user:1')).toBe(true);
    expect(await cache.get('user:1')).toBeUndefined();

    let runs = 0;
    const load = async (): Promise<string> => `computed ${++runs}`;
    expect(await cache.wrap('report', load, 60_000)).toBe('computed 1');
    expect(await cache.wrap('report', load, 60_000)).toBe('computed 1');
    expect(runs).toBe(1);
    // Another process sees the wrapped value (it is in Redis, not in this process only).
    const other = createCache({ stores: [new Keyv({ store: new TroveKeyvStore(troves.open({ prefix: trove.prefix }).region('cm')) })] });
    expect(await other.wrap('report', load, 60_000)).toBe('computed 1');
    expect(runs).toBe(1);
  });

  it("answers a repeated read from the trove's near cache", async () => {
    const writing = troves.open();
    const writer = createCache({ stores: [new Keyv({ store: new TroveKeyvStore(writing.region('cm')) })] });
    // Another process, as far as Redis can tell: its own connections, the same keys.
    const trove = troves.open({ prefix: writing.prefix });
    await trove.ready();
    await until(() => trove.stats().near?.live === true, 10_000, 'near cache tracking live');
    const reader = createCache({ stores: [new Keyv({ store: new TroveKeyvStore(trove.region('cm')) })] });
    await writer.set('hot', { n: 1 }, 60_000);
    const hits: HitEvent[] = [];
    trove.on('hit', (e) => hits.push(e));
    expect(await reader.get('hot')).toEqual({ n: 1 });
    expect(await reader.get('hot')).toEqual({ n: 1 });
    expect(hits.map((e) => [e.region, e.key, e.tier])).toEqual([
      ['cm.keyv', 'keyv:hot', 'store'],
      ['cm.keyv', 'keyv:hot', 'near'],
    ]);
    // Kept correct: a change made elsewhere reaches this reader.
    await writer.set('hot', { n: 2 }, 60_000);
    await until(async () => ((await reader.get<{ n: number }>('hot'))?.n ?? 0) === 2);
  });
});

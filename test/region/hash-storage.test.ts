/**
 * Hash storage (`storage: 'hash'`): every region operation on the embedded store, one server (once
 * per driver: ioredis and node-redis) and a 3-master cluster; the Redis layout (compact buckets,
 * exactly the expected keys, bucket TTLs, per-field expiry where Redis has it); per-entry expiry
 * and the sweep; exactly once across processes; the near cache dropping the neighbours of a
 * written entry; bad input (garbage fields, a bucket of the wrong type, a bucket deleted
 * mid-walk); a property test against a Map; and ioredis and node-redis troves sharing buckets.
 */
import fc from 'fast-check';
import { createClient } from 'redis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../../src/errors.js';
import type { ErrorEvent, RedisOption, Region, Trove, TroveOptions } from '../../src/index.js';
import { BucketLayout } from '../../src/region/bucket-of.js';
import { RedisStore } from '../../src/store/index.js';
import { NodeRedisStore } from '../../src/store/node-redis/node-redis-store.js';
import { RedisCluster } from '../../tools/redis-cluster.js';
import { type Driver, drivers } from '../helpers/drivers.js';
import { RedisServer } from '../helpers/redis-server.js';
import { fakeDate, until, useTroves } from '../helpers/troves.js';
import { goTogether, runWorkers, startWorker } from '../load/workers.js';

let n = 0;
let prefix = '';
beforeEach(() => {
  prefix = `h${++n}`;
});

type Kind = 'memory' | 'redis' | 'cluster';

// Registered at file level, so it runs after the suites' own hooks: troves close before their clients.
const nodeRedisClients: { destroy(): void }[] = [];
afterEach(() => {
  for (const c of nodeRedisClients.splice(0)) c.destroy();
});

/**
 * The trove option selecting `driver`: the URL (ioredis), or a node-redis client handed over
 * while it connects (the trove waits for its first connect), so that opening a trove stays
 * synchronous. One client per trove: a client's tracking is redirected to one trove only.
 */
function redisOf(driver: Driver, url: string): RedisOption {
  if (driver === 'ioredis') return url;
  const client = createClient({ url });
  client.on('error', () => {});
  client.connect().catch(() => {});
  nodeRedisClients.push(client);
  return client;
}

/** The region-level suite, run on each store. */
function regionSuite(kind: Kind, opts: () => TroveOptions): void {
  const troves = useTroves(() => ({ ...opts(), prefix }));
  const open = (o: TroveOptions = {}): Trove => troves.open(o);

  it(`${kind}: get, set, delete, has, getMany, setMany, deleteMany, ttlOf`, async () => {
    const r = open().region<string>('users', { storage: 'hash', hashBuckets: 8 });
    expect(r.options.storage).toBe('hash');
    await r.set('1', 'ada');
    expect(await r.get('1')).toBe('ada');
    expect(await r.has('1')).toBe(true);
    expect(await r.has('2')).toBe(false);
    await r.setMany(Array.from({ length: 50 }, (_, i) => [String(i), `user_${i}`] as const));
    expect(await r.getMany(['1', '49', 'nope', '7'])).toEqual(['user_1', 'user_49', undefined, 'user_7']);
    expect(await r.delete('1')).toBe(true);
    expect(await r.delete('1')).toBe(false);
    expect(await r.get('1')).toBeUndefined();
    expect(await r.deleteMany(['2', '3', 'nope'])).toBe(2);
    const ttl = await r.ttlOf('4');
    expect(ttl!.ttlMs).toBeGreaterThan(3_590_000);
    expect(ttl!.ttlMs).toBeLessThanOrEqual(3_600_000);
    expect(await r.ttlOf('1')).toBeUndefined();
    await r.batch((tx) => {
      tx.set('b1', 'one');
      tx.delete('4');
    });
    expect(await r.getMany(['b1', '4'])).toEqual(['one', undefined]);
  });

  it(`${kind}: keys, entries and size; invalidate is O(1) and covers the entries`, async () => {
    const t = open();
    const r = t.region<string>('it', { storage: 'hash', hashBuckets: 4 });
    const want = new Map(Array.from({ length: 30 }, (_, i) => [`k${i}`, `v${i}`] as const));
    await r.setMany([...want]);
    expect(await r.size()).toBe(30);
    const seen = new Map<string, string>();
    for await (const [k, v] of r.entries({ batchSize: 2 })) seen.set(k, v);
    expect(seen).toEqual(want);
    const keys: string[] = [];
    for await (const k of r.keys()) keys.push(k);
    expect(keys.sort()).toEqual([...want.keys()].sort());
    await r.invalidate();
    expect(await r.size()).toBe(0);
    expect(await r.get('k1')).toBeUndefined();
    await r.set('k1', 'again');
    expect(await r.get('k1')).toBe('again');
  });

  it(`${kind}: tags invalidate hash entries across regions`, async () => {
    const t = open();
    const r = t.region<string>('tagged', { storage: 'hash' });
    await r.set('a', 'x', { tags: ['org:1'] });
    await r.set('b', 'y', { tags: ['org:2'] });
    await t.invalidateTags(['org:1']);
    expect(await r.getMany(['a', 'b'])).toEqual([undefined, 'y']);
  });

  it(`${kind}: getOrSet computes once, serves stale while refreshing, and is fail-safe`, async () => {
    const clock = fakeDate();
    troves.expectErrors(); // the failing factory is reported
    const r = open().region<number>('rt', { storage: 'hash', ttl: '1h', freshFor: '1m', failSafeBackoff: '10s' });
    let calls = 0;
    const results = await Promise.all(Array.from({ length: 20 }, () => r.getOrSet('k', () => ++calls)));
    expect(results).toEqual(Array(20).fill(1));
    expect(calls).toBe(1);
    expect(await r.getOrSet('k', () => ++calls)).toBe(1);
    clock.advance(61_000);
    // Stale: answered at once while one refresh runs.
    expect(await r.getOrSet('k', () => ++calls)).toBe(1);
    await until(async () => (await r.get('k')) === 2, 5_000, 'refreshed');
    expect(calls).toBe(2);
    clock.advance(61_000);
    // The source fails: the stale value is served (fail-safe).
    expect(
      await r.getOrSet('k', () => {
        calls++;
        throw new Error('down');
      }),
    ).toBe(2);
    await until(() => calls === 3, 5_000, 'refresh tried');
    expect(await r.get('k')).toBe(2);
  });

  it(`${kind}: cached() on a hash region`, async () => {
    const t = open();
    t.region('fn', { storage: 'hash' });
    let runs = 0;
    const square = t.cached(
      async (x: number) => {
        runs++;
        return x * x;
      },
      { name: 'square', region: 'fn' },
    );
    expect(await square(3)).toBe(9);
    expect(await square(3)).toBe(9);
    expect(await square(4)).toBe(16);
    expect(runs).toBe(2);
    await square.invalidate(3);
    expect(await square(3)).toBe(9);
    expect(runs).toBe(3);
  });

  it(`${kind}: codecs, compression and raw mode`, async () => {
    const t = open();
    const big = { text: 'x'.repeat(5000), at: new Date(0), n: 10n };
    for (const codec of ['json', 'msgpack', 'v8'] as const) {
      const r = t.region<typeof big>(`c-${codec}`, { storage: 'hash', codec, compression: 'deflate' });
      await r.set('big', big);
      expect(await r.get('big')).toEqual(big);
    }
    const raw = t.region<{ a: number }>('raw', { storage: 'hash', raw: true });
    await raw.set('r', { a: 1 });
    expect(await raw.get('r')).toEqual({ a: 1 });
  });

  it(`${kind}: an expired entry is a miss`, async () => {
    const clock = fakeDate();
    const r = open().region<string>('exp', { storage: 'hash', hashBuckets: 1 });
    await r.set('short', 's', { ttl: '2s' });
    await r.set('long', 'l', { ttl: '1h' });
    clock.advance(3_000);
    expect(await r.get('short')).toBeUndefined();
    expect(await r.has('short')).toBe(false);
    expect(await r.get('long')).toBe('l');
  });
}

describe('hash storage on the embedded store', () => {
  regionSuite('memory', () => ({}));
});

describe.each(drivers)('hash storage on one server (%s)', (driver) => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await RedisServer.start();
  });
  afterAll(async () => {
    await server?.stop();
  });
  regionSuite('redis', () => ({ redis: redisOf(driver, server.url) }));

  const troves = useTroves(() => ({ redis: redisOf(driver, server.url), prefix }));
  const layout = () => new BucketLayout(`${prefix}:v1:`, false);
  const open = (o: TroveOptions = {}) => troves.open({ version: 'v1', ...o });
  /** The bucket holding a key of a region, as Redis names it. */
  const bucketOf = (r: Region, key: string, buckets: number) => layout().of(r.keyOf(key), buckets).bucket;
  const ourKeys = async () => (await server.keys()).filter((k) => k.startsWith(`${prefix}:`)).sort();

  it('buckets stay compact (listpack) and exactly the expected keys exist', async () => {
    const r = open({ nearCache: false }).region<string>('small', { storage: 'hash', hashBuckets: 4 });
    await r.setMany(Array.from({ length: 200 }, (_, i) => [String(i), `user_${i}`] as const));
    const buckets = [...new Set(Array.from({ length: 200 }, (_, i) => bucketOf(r, String(i), 4)))].sort();
    expect(buckets).toHaveLength(4);
    // Besides the control tables (`__gens`, `__tags`), only the buckets.
    expect((await ourKeys()).filter((k) => !k.startsWith(`${prefix}:v1:__`))).toEqual(buckets);
    let fields = 0;
    for (const b of buckets) {
      // listpackex: the same compact encoding, with each field's own expiry (Redis 7.4 and later).
      expect(['listpack', 'listpackex']).toContain(await server.command('OBJECT', 'ENCODING', b));
      fields += Number(await server.command('HLEN', b));
    }
    expect(fields).toBe(200);
    // Bucket keys carry the generation: after invalidate() new writes go to other keys.
    await r.invalidate();
    await r.set('1', 'x');
    expect(bucketOf(r, '1', 4)).not.toBe(buckets.find((b) => b === bucketOf(r, '1', 4)) ?? '');
  });

  it("a bucket's TTL is the latest expiry of its fields, and none while a field has none", async () => {
    const r = open({ nearCache: false }).region<string>('ttl', { storage: 'hash', hashBuckets: 1 });
    await r.set('a', 'x', { ttl: '60s' });
    const bucket = bucketOf(r, 'a', 1);
    const first = Number(await server.command('PTTL', bucket));
    expect(first).toBeGreaterThan(59_000);
    await r.set('b', 'y', { ttl: '10s' });
    expect(Number(await server.command('PTTL', bucket))).toBeGreaterThan(50_000); // not shortened
    await r.set('c', 'z', { ttl: '2h' });
    expect(Number(await server.command('PTTL', bucket))).toBeGreaterThan(7_100_000); // extended
    await r.set('d', 'w', { ttl: Number.POSITIVE_INFINITY });
    expect(Number(await server.command('PTTL', bucket))).toBe(-1);
    await r.set('e', 'v', { ttl: '1s' });
    expect(Number(await server.command('PTTL', bucket))).toBe(-1); // d must outlive it
  });

  it('per-field expiry (HPEXPIRE) on Redis 7.4+; an older server refuses it once and is not asked again', async () => {
    const t = open({ nearCache: false });
    const r = t.region<string>('hpx', { storage: 'hash', hashBuckets: 1 });
    const [major, minor] = (await server.info('server')).redis_version!.split('.').map(Number) as [number, number];
    const native = major > 7 || (major === 7 && minor >= 4);
    await r.set('a', 'x', { ttl: '60s' });
    const store = (t as unknown as { store: { fieldExpiry: boolean } }).store;
    expect(store instanceof (driver === 'ioredis' ? RedisStore : NodeRedisStore)).toBe(true);
    expect(store.fieldExpiry).toBe(native);
    await r.set('b', 'y', { ttl: '60s' });
    expect(await r.getMany(['a', 'b'])).toEqual(['x', 'y']);
    if (native) {
      const left = Number(await server.command('HPTTL', bucketOf(r, 'a', 1), 'FIELDS', 1, 'b'));
      expect(left).toBeGreaterThan(59_000);
      expect(left).toBeLessThanOrEqual(60_000);
    }
  });

  it("hashFieldExpiry: 'lazy' gives no field an expiry of its own, whatever writes it; the envelope's expiry still holds", async () => {
    const t = open({ nearCache: false });
    const r = t.region<string>('lazy', { storage: 'hash', hashBuckets: 1, ttl: '60s', hashFieldExpiry: 'lazy' });
    const [major, minor] = (await server.info('server')).redis_version!.split('.').map(Number) as [number, number];
    const native = major > 7 || (major === 7 && minor >= 4);
    // Written once by another process whose region asks for field expiry: a lazy write of the same field clears it (HSET does).
    await open({ nearCache: false }).region<string>('lazy', { storage: 'hash', hashBuckets: 1, ttl: '60s' }).set('set', 'before');
    expect(await r.get('set')).toBe('before');
    const bucket = bucketOf(r, 'set', 1);
    const fieldTtl = async (field: string) => Number(await server.command('HPTTL', bucket, 'FIELDS', 1, field));
    if (native) expect(await fieldTtl('set')).toBeGreaterThan(59_000);
    // Every way a field is written: set, setMany, batch, getOrSet (the lock holder's store), markStale (compare-and-set), a sliding expiry (refreshTtlOnHit).
    await r.set('set', 'x');
    await r.setMany([['many', 'y']]);
    await r.batch((tx) => tx.set('batch', 'z'));
    expect(await r.getOrSet('computed', () => 'c')).toBe('c');
    await r.set('marked', 'm');
    expect(await r.markStale('marked')).toBe(true);
    expect(await r.getOrSet('set', () => 'unused', { refreshTtlOnHit: true })).toBe('x');
    const fields = ['set', 'many', 'batch', 'computed', 'marked'];
    expect(await r.getMany(fields)).toEqual(['x', 'y', 'z', 'c', 'm']);
    if (native) for (const f of fields) expect({ f, ttl: await fieldTtl(f) }).toEqual({ f, ttl: -1 });
    // The bucket still expires with its fields, and each entry with the expiry its envelope records.
    expect(Number(await server.command('PTTL', bucket))).toBeGreaterThan(59_000);
    for (const f of fields) expect((await r.ttlOf(f))!.ttlMs).toBeLessThanOrEqual(60_000);
    const clock = fakeDate();
    clock.advance(61_000);
    expect(await r.get('many')).toBeUndefined();
    await until(async () => Number(await server.command('HEXISTS', bucket, 'many')) === 0, 5_000, 'the expired field deleted on read');
    expect((await t.sweep()).expiredFields).toBe(4);
    expect(Number(await server.command('HLEN', bucket))).toBe(0);
  });

  it("hashFieldExpiry: 'lazy' with Redis stalled (SIGSTOP): the value is computed here and answered by the deadline; once Redis is back it is written, still without a field expiry", async () => {
    troves.expectErrors();
    const t = open({ nearCache: false, commandTimeout: 300 });
    const r = t.region<string>('lazystall', { storage: 'hash', hashBuckets: 1, ttl: '60s', hashFieldExpiry: 'lazy' });
    await r.set('before', 'b');
    const [major, minor] = (await server.info('server')).redis_version!.split('.').map(Number) as [number, number];
    const native = major > 7 || (major === 7 && minor >= 4);
    let runs = 0;
    server.pause();
    try {
      expect(await r.getOrSet('k', () => `computed ${++runs}`)).toBe('computed 1');
    } finally {
      server.resume();
    }
    // Until a computation lands in Redis: the one while stalled could not be written.
    await until(
      async () => {
        await r.getOrSet('k', () => `computed ${++runs}`);
        return (await r.get('k')) !== undefined;
      },
      10_000,
      'the value written once Redis is back',
    );
    expect(await r.get('k')).toMatch(/^computed \d+$/);
    expect(await r.get('before')).toBe('b');
    const bucket = bucketOf(r, 'k', 1);
    expect(Number(await server.command('HLEN', bucket))).toBe(2);
    if (native) {
      for (const f of ['k', 'before']) expect({ f, ttl: Number(await server.command('HPTTL', bucket, 'FIELDS', 1, f)) }).toEqual({ f, ttl: -1 });
    }
    expect(Number(await server.command('PTTL', bucket))).toBeGreaterThan(50_000);
  });

  it("hashFieldExpiry takes 'redis' or 'lazy'", () => {
    const t = open({ nearCache: false });
    expect(() => t.region('bad', { storage: 'hash', hashFieldExpiry: 'never' as 'lazy' })).toThrow(InvalidOptionError);
    expect(() => t.region('bad', { storage: 'hash', hashFieldExpiry: 'never' as 'lazy' })).toThrow(/hashFieldExpiry/);
    expect(t.region('good', { storage: 'hash', hashFieldExpiry: 'lazy' }).path).toBe('good');
  });

  it('an expired field is deleted when read, and sweep() removes the others', async () => {
    const clock = fakeDate();
    const t = open({ nearCache: false });
    const r = t.region<string>('sw', { storage: 'hash', hashBuckets: 1 });
    await r.setMany(
      [
        ['a', '1'],
        ['b', '2'],
      ],
      { ttl: '2s' },
    );
    const bucket = bucketOf(r, 'a', 1);
    await r.set('keep', 'k', { ttl: '1h' });
    expect(Number(await server.command('HLEN', bucket))).toBe(3);
    clock.advance(3_000);
    expect(await r.get('a')).toBeUndefined();
    await until(async () => Number(await server.command('HEXISTS', bucket, 'a')) === 0, 5_000, 'a deleted');
    expect(Number(await server.command('HEXISTS', bucket, 'b'))).toBe(1); // not read yet: waits for the sweep
    const swept = await t.sweep();
    expect(swept.expiredFields).toBe(1);
    expect(await server.command('HKEYS', bucket)).toBe('keep');
    expect(await r.get('keep')).toBe('k');
  });

  it('exactly once across 4 processes on a hash region', async () => {
    const { outputs } = await runWorkers(4, {
      url: server.url,
      prefix,
      key: 'hot',
      callers: 50,
      factoryMs: 300,
      driver,
      region: { storage: 'hash', hashBuckets: 2, lockLease: '120s', waitTimeout: '120s' },
    });
    const all = outputs.flatMap((o) => o.results);
    expect(all).toHaveLength(200);
    expect(all.every((x) => x.ok)).toBe(true);
    expect(Number(await server.command('GET', `${prefix}:runs`))).toBe(1);
    expect(new Set(all.map((x) => x.value)).size).toBe(1);
    expect(outputs.flatMap((o) => o.errors)).toEqual([]);
  }, 60_000);

  it('near cache: a write to one field from another process drops the neighbours kept from its bucket (counted)', async () => {
    const writer = open({ nearCache: false });
    const reader = open({ nearCache: { maxEntries: 1000 } });
    const w = writer.region<string>('nc', { storage: 'hash', hashBuckets: 2 });
    const r = reader.region<string>('nc', { storage: 'hash', hashBuckets: 2 });
    const keys = Array.from({ length: 20 }, (_, i) => `k${i}`);
    await w.setMany(keys.map((k) => [k, 'one']));
    await until(() => reader.stats().near?.live === true);
    for (const k of keys) expect(await r.get(k)).toBe('one');
    const target = 'k0';
    const sameBucket = keys.filter((k) => bucketOf(r, k, 2) === bucketOf(r, target, 2));
    const otherBucket = keys.filter((k) => !sameBucket.includes(k));
    expect(otherBucket.length).toBeGreaterThan(0);
    const before = reader.stats().near!;
    await w.set(target, 'two');
    await until(() => reader.stats().near!.bucketDrops - before.bucketDrops === sameBucket.length, 5_000, 'bucket dropped');
    expect(await r.get(target)).toBe('two');
    const kept = reader.stats().near!;
    // The other bucket's entries are still answered locally; the dropped neighbours are re-read.
    for (const k of otherBucket) expect(await r.get(k)).toBe('one');
    expect(reader.stats().near!.hits - kept.hits).toBe(otherBucket.length);
    for (const k of sameBucket.filter((k) => k !== target)) expect(await r.get(k)).toBe('one');
  });

  it('bad input: a garbage field is a miss with an error event; its neighbours are intact', async () => {
    const t = open({ nearCache: false });
    troves.expectErrors();
    const errors: ErrorEvent[] = [];
    t.on('error', (e) => errors.push(e));
    const r = t.region<string>('bad', { storage: 'hash', hashBuckets: 1 });
    await r.setMany([
      ['a', 'A'],
      ['b', 'B'],
    ]);
    await server.command('HSET', bucketOf(r, 'a', 1), 'a', 'garbage');
    expect(await r.get('a')).toBeUndefined();
    expect(await r.getMany(['a', 'b'])).toEqual([undefined, 'B']);
    expect(errors.map((e) => e.operation)).toEqual(['decode', 'decode']);
    expect(await r.getOrSet('a', () => 'recomputed')).toBe('recomputed');
    expect(await r.get('a')).toBe('recomputed');
  });

  it('bad input: a bucket key of the wrong type fails its own reads and writes only (miss + error event)', async () => {
    const t = open({ nearCache: false });
    troves.expectErrors();
    const errors: ErrorEvent[] = [];
    t.on('error', (e) => errors.push(e));
    const r = t.region<string>('wrong', { storage: 'hash', hashBuckets: 2 });
    const keys = Array.from({ length: 20 }, (_, i) => `k${i}`);
    await r.setMany(keys.map((k) => [k, `v-${k}`]));
    const broken = bucketOf(r, 'k0', 2);
    const inBroken = keys.filter((k) => bucketOf(r, k, 2) === broken);
    const healthy = keys.filter((k) => !inBroken.includes(k));
    await server.command('DEL', broken);
    await server.command('SET', broken, 'someone else');
    expect(await r.get('k0')).toBeUndefined();
    expect(errors.at(-1)!.operation).toBe('get');
    expect(errors.at(-1)!.error.message).toMatch(/WRONGTYPE/);
    const many = await r.getMany(keys);
    for (const [i, k] of keys.entries()) expect(many[i]).toBe(inBroken.includes(k) ? undefined : `v-${k}`);
    await expect(r.set('k0', 'new')).resolves.toBeUndefined();
    expect(errors.at(-1)!.operation).toBe('set');
    expect(await r.getOrSet('k0', () => 'computed')).toBe('computed');
    const seen: string[] = [];
    for await (const [k] of r.entries()) seen.push(k);
    expect(seen.sort()).toEqual([...healthy].sort());
    expect(await server.command('GET', broken)).toBe('someone else'); // never overwritten
    for (const k of healthy) expect(await r.get(k)).toBe(`v-${k}`);
  });

  it('bad input: a bucket deleted in the middle of a walk loses only its own entries', async () => {
    const t = open({ nearCache: false });
    const r = t.region<string>('walk', { storage: 'hash', hashBuckets: 8 });
    const keys = Array.from({ length: 80 }, (_, i) => `k${i}`);
    await r.setMany(keys.map((k) => [k, k]));
    const seen: string[] = [];
    let deleted: string | undefined;
    for await (const [k] of r.entries({ batchSize: 1 })) {
      if (deleted === undefined) {
        const candidates = [...new Set(keys.map((x) => bucketOf(r, x, 8)))].filter((b) => b !== bucketOf(r, k, 8));
        deleted = candidates[0]!;
        await server.command('DEL', deleted);
      }
      seen.push(k);
    }
    const lost = keys.filter((k) => bucketOf(r, k, 8) === deleted);
    expect(lost.length).toBeGreaterThan(0);
    // Every entry of the other buckets was seen once; of the deleted bucket, none after its deletion.
    const others = keys.filter((k) => !lost.includes(k));
    for (const k of others) expect(seen.filter((s) => s === k)).toHaveLength(1);
    expect(seen.length).toBeLessThanOrEqual(keys.length);
    expect(new Set(seen).size).toBe(seen.length);
  });

  it('property: random set/delete/get sequences agree with a Map', async () => {
    const t = open();
    let round = 0;
    const key = fc.constantFrom('a', 'b', 'c', 'd', 'e', '', 'ü', '{x}', 'a:b');
    const op = fc.oneof(
      fc.record({ type: fc.constant('set' as const), key, value: fc.oneof(fc.string(), fc.integer(), fc.boolean()) }),
      fc.record({ type: fc.constant('delete' as const), key }),
      fc.record({ type: fc.constant('get' as const), key }),
      fc.record({ type: fc.constant('getMany' as const), keys: fc.array(key, { maxLength: 4 }) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 30, size: 'max' }), async (ops) => {
        const r = t.region<unknown>(`p${++round}`, { storage: 'hash', hashBuckets: 2 });
        const model = new Map<string, unknown>();
        for (const o of ops) {
          if (o.type === 'set') {
            await r.set(o.key, o.value);
            model.set(o.key, o.value);
          } else if (o.type === 'delete') {
            expect(await r.delete(o.key)).toBe(model.has(o.key));
            model.delete(o.key);
          } else if (o.type === 'get') {
            expect(await r.get(o.key)).toEqual(model.get(o.key));
          } else {
            expect(await r.getMany(o.keys)).toEqual(o.keys.map((k) => model.get(k)));
          }
        }
        expect(await r.size()).toBe(model.size);
      }),
      { numRuns: 40 },
    );
  });
});

describe('hash storage shared by ioredis and node-redis troves on one server', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await RedisServer.start();
  });
  afterAll(async () => {
    await server?.stop();
  });
  const troves = useTroves(() => ({ prefix, version: 'v1' }));
  const open = (d: Driver, o: TroveOptions = {}) => troves.open({ redis: redisOf(d, server.url), ...o });
  const bucketOf = (r: Region, key: string, buckets: number) => new BucketLayout(`${prefix}:v1:`, false).of(r.keyOf(key), buckets).bucket;

  it.each([
    ['ioredis', 'node-redis'],
    ['node-redis', 'ioredis'],
  ] as const)('written through %s, read through %s: the same values, iteration, TTLs and locks', async (from, to) => {
    const w = open(from, { nearCache: false }).region<{ id: number; tags: string[] }>('mix', { storage: 'hash', hashBuckets: 4, codec: 'msgpack' });
    const r = open(to, { nearCache: false }).region<{ id: number; tags: string[] }>('mix', { storage: 'hash', hashBuckets: 4, codec: 'msgpack' });
    const value = (i: number) => ({ id: i, tags: [`t${i}`, 'ü'] });
    const keys = Array.from({ length: 40 }, (_, i) => `k${i}`);
    await w.setMany(keys.map((k, i) => [k, value(i)]));
    await w.set('short', value(-1), { ttl: '30s' });
    expect(await w.delete('k3')).toBe(true);
    expect(await r.getMany(['k0', 'k3', 'k39', 'nope'])).toEqual([value(0), undefined, value(39), undefined]);
    expect(await r.get('k7')).toEqual(value(7));
    const want = new Map<string, unknown>(keys.map((k, i) => [k, value(i)]));
    want.delete('k3');
    want.set('short', value(-1));
    const seen = new Map<string, unknown>();
    for await (const [k, v] of r.entries()) seen.set(k, v);
    expect(seen).toEqual(want);
    expect(await r.size()).toBe(40);
    const ttl = await r.ttlOf('short');
    expect(ttl!.ttlMs).toBeGreaterThan(25_000);
    expect(ttl!.ttlMs).toBeLessThanOrEqual(30_000);
    // And back: the reader's writes and deletes are the writer's reads.
    await r.set('k0', value(100));
    expect(await r.delete('k1')).toBe(true);
    expect(await w.getMany(['k0', 'k1', 'k2'])).toEqual([value(100), undefined, value(2)]);
    // One lock per entry, whatever the driver: the value computed on one side is the other's hit.
    let runs = 0;
    const factory = () => {
      runs++;
      return value(200);
    };
    const both = await Promise.all([w.getOrSet('cold', factory), r.getOrSet('cold', factory), w.getOrSet('cold', factory), r.getOrSet('cold', factory)]);
    expect(both).toEqual(Array(4).fill(value(200)));
    expect(runs).toBe(1);
  });

  it('2 ioredis + 2 node-redis processes x 50 callers on one cold hash entry: the factory runs once', async () => {
    const fleet = (['ioredis', 'node-redis', 'ioredis', 'node-redis'] as const).map((driver) =>
      startWorker({
        url: server.url,
        prefix,
        key: 'hot',
        callers: 50,
        factoryMs: 300,
        driver,
        region: { storage: 'hash', hashBuckets: 2, lockLease: '120s', waitTimeout: '120s' },
      }),
    );
    await goTogether(fleet);
    const outputs = await Promise.all(fleet.map((w) => w.done));
    const all = outputs.flatMap((o) => o?.results ?? []);
    expect(all).toHaveLength(200);
    expect(all.every((x) => x.ok)).toBe(true);
    expect(new Set(all.map((x) => x.value)).size).toBe(1);
    expect(Number(await server.command('GET', `${prefix}:runs`))).toBe(1);
    for (const o of outputs) expect(o?.errors).toEqual([]);
  }, 60_000);

  it.each([
    ['node-redis', 'ioredis'],
    ['ioredis', 'node-redis'],
  ] as const)('near cache on %s: kept entries are dropped when a trove on %s writes a neighbour field of their bucket', async (readerDriver, writerDriver) => {
    const reader = open(readerDriver, { nearCache: { maxEntries: 1000 } });
    const writer = open(writerDriver, { nearCache: false });
    const r = reader.region<string>('nc', { storage: 'hash', hashBuckets: 2 });
    const w = writer.region<string>('nc', { storage: 'hash', hashBuckets: 2 });
    const keys = Array.from({ length: 20 }, (_, i) => `k${i}`);
    await w.setMany(keys.map((k) => [k, 'one']));
    await until(() => reader.stats().near?.live === true);
    for (const k of keys) expect(await r.get(k)).toBe('one');
    const hits = reader.stats().near!.hits;
    for (const k of keys) expect(await r.get(k)).toBe('one');
    expect(reader.stats().near!.hits - hits).toBe(keys.length); // all kept
    // A neighbour: a field the reader never read, in the bucket of k0.
    const neighbour = Array.from({ length: 100 }, (_, i) => `n${i}`).find((k) => bucketOf(r, k, 2) === bucketOf(r, 'k0', 2))!;
    const sameBucket = keys.filter((k) => bucketOf(r, k, 2) === bucketOf(r, 'k0', 2));
    const otherBucket = keys.filter((k) => !sameBucket.includes(k));
    expect(otherBucket.length).toBeGreaterThan(0);
    const before = reader.stats().near!;
    await w.set(neighbour, 'new');
    await until(() => reader.stats().near!.bucketDrops - before.bucketDrops === sameBucket.length, 5_000, 'bucket dropped');
    // The dropped entries are read from Redis again (no local hit); the other bucket's stay local.
    const dropped = reader.stats().near!;
    for (const k of sameBucket) expect(await r.get(k)).toBe('one');
    expect(reader.stats().near!.hits).toBe(dropped.hits);
    for (const k of otherBucket) expect(await r.get(k)).toBe('one');
    expect(reader.stats().near!.hits - dropped.hits).toBe(otherBucket.length);
    expect(reader.stats().near!.bucketDrops).toBe(dropped.bucketDrops);
    expect(await r.get(neighbour)).toBe('new');
  });
});

describe('hash storage on a 3-master cluster', () => {
  let cluster: RedisCluster;
  beforeAll(async () => {
    cluster = await RedisCluster.start({ masters: 3 });
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
  });
  regionSuite('cluster', () => ({ redis: { cluster: cluster.urls } }));

  const troves = useTroves(() => ({ redis: { cluster: cluster.urls }, prefix, version: 'v1' }));

  it("buckets spread over the masters; each entry's lock shares its bucket's slot", async () => {
    const r = troves.open({ nearCache: false }).region<string>('spread', { storage: 'hash', hashBuckets: 16 });
    await r.setMany(Array.from({ length: 300 }, (_, i) => [String(i), `user_${i}`] as const));
    const perMaster = await Promise.all(cluster.masters().map(async (m) => (await m.server.keys()).filter((k) => k.startsWith(`${prefix}:v1:spread`))));
    expect(perMaster.flat()).toHaveLength(16);
    // Bucket names carry the region's random epoch, so their slots differ from run to run: all
    // three masters hold one in all but ~0.5 % of runs (3 × (2/3)^16), two or more in all but
    // ~1 in 10 million.
    expect(perMaster.filter((keys) => keys.length > 0).length).toBeGreaterThanOrEqual(2);
    const layout = new BucketLayout(`${prefix}:v1:`, true);
    const ref = layout.of(r.keyOf('7'), 16);
    const { default: slot } = await import('cluster-key-slot');
    expect(slot(layout.lockKey(ref))).toBe(slot(ref.bucket));
    expect(await r.getOrSet('new', () => 'computed')).toBe('computed');
    expect(await r.get('new')).toBe('computed');
  });

  it("hashFieldExpiry: 'lazy' on every master: no field gets an expiry of its own on Redis 7.4+, the default's do", async () => {
    const t = troves.open({ nearCache: false });
    const lazy = t.region<string>('lazyc', { storage: 'hash', hashBuckets: 16, ttl: '60s', hashFieldExpiry: 'lazy' });
    const eager = t.region<string>('eagerc', { storage: 'hash', hashBuckets: 16, ttl: '60s' });
    const entries = Array.from({ length: 60 }, (_, i) => [String(i), `user_${i}`] as const);
    await Promise.all([lazy.setMany(entries), eager.setMany(entries)]);
    expect(await lazy.getOrSet('computed', () => 'c')).toBe('c');
    const masters = cluster.masters();
    const [major, minor] = (await masters[0]!.server.info('server')).redis_version!.split('.').map(Number) as [number, number];
    const native = major > 7 || (major === 7 && minor >= 4);
    const ttls = async (region: string) => {
      const out: number[] = [];
      for (const m of masters) {
        for (const bucket of (await m.server.keys()).filter((k) => k.startsWith(`${prefix}:v1:${region}`))) {
          const fields = (await m.server.command('HKEYS', bucket)).split('\n').filter((f) => f !== '');
          for (const f of fields) out.push(Number(await m.server.command('HPTTL', bucket, 'FIELDS', 1, f)));
        }
      }
      return out;
    };
    expect(await lazy.getMany(['0', '59', 'computed'])).toEqual(['user_0', 'user_59', 'c']);
    if (!native) return;
    const lazyTtls = await ttls('lazyc');
    expect(lazyTtls).toHaveLength(61);
    expect(new Set(lazyTtls)).toEqual(new Set([-1]));
    const eagerTtls = await ttls('eagerc');
    expect(eagerTtls).toHaveLength(60);
    for (const ttl of eagerTtls) expect(ttl).toBeGreaterThan(50_000);
  });
});

/**
 * Fault scenarios in which a near cache could keep a value Redis no longer has, or an
 * invalidated value could come back: user-supplied clients (auto-pipelining, keyPrefix), a write
 * split across TCP segments, evictions under `maxmemory` (caused by this process or another),
 * and the generation and tag tables themselves evicted. Each scenario runs once per driver (the
 * trove under test on ioredis or node-redis), and user-supplied clients of both libraries.
 */
import { Redis, type RedisOptions } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTrove, type Trove, type TroveOptions } from '../../src/index.js';
import { type Driver, drivers, type NodeRedisClientOptions, useDriverClients } from '../helpers/drivers.js';
import { RedisServer } from '../helpers/redis-server.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { until, useRedisServer, useTroves } from '../helpers/troves.js';

const redis = useRedisServer();
const cleanups: (() => Promise<void> | void)[] = [];
let n = 0;

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
const clients = useDriverClients();
// Registered after the hooks above, so it runs before them: troves close before their servers and clients.
const troves = useTroves(() => ({}));
/** The driver of the suite running (set by its beforeEach): a `redis` URL given to `open` goes through it. */
let driver: Driver = 'ioredis';
const useDriver = (d: Driver) =>
  beforeEach(() => {
    driver = d;
  });

/** A trove that is closed after the test; with a near cache, resolves once tracking is live. */
async function open(opts: TroveOptions): Promise<Trove> {
  const redis = typeof opts.redis === 'string' ? await clients.redis(driver, opts.redis) : opts.redis;
  const t = troves.open({ ...opts, redis });
  await t.ready();
  if (opts.nearCache !== false) await until(() => t.stats().near?.live === true);
  return t;
}

function client(url: string, opts: RedisOptions = {}): Redis {
  const c = new Redis(url, opts);
  cleanups.push(() => {
    c.disconnect();
  });
  return c;
}

async function evictingServer(policy: string, maxmemory = '4mb', extra: string[] = []): Promise<RedisServer> {
  const s = await RedisServer.start({ args: ['--maxmemory', maxmemory, '--maxmemory-policy', policy, ...extra] });
  cleanups.push(() => s.stop());
  return s;
}

type R = ReturnType<Trove['region']>;

describe('user-supplied clients', () => {
  const variants: [string, RedisOptions][] = [
    ['plain', {}],
    ['auto-pipelining', { enableAutoPipelining: true }],
    ['keyPrefix', { keyPrefix: 'app:' }],
    ['auto-pipelining and keyPrefix', { enableAutoPipelining: true, keyPrefix: 'app:' }],
  ];
  const ways: [string, (r: R) => Promise<unknown>][] = [
    ['get', (r) => r.get('k')],
    ['getOrSet (computed)', (r) => r.getOrSet('fresh', () => 'computed')],
    ['set', (r) => r.set('k', 'own')],
    ['setMany', (r) => r.setMany([['k', 'own']])],
    ['batch', (r) => r.batch((b) => b.set('k', 'own'))],
  ];
  for (const [variant, clientOpts] of variants) {
    for (const [way, hold] of ways) {
      it(`${variant}: a copy held after ${way} is dropped when another connection writes the key`, async () => {
        const prefix = `user${++n}`;
        const a = await open({ redis: client(redis.server.url, clientOpts), prefix });
        const b = await open({ redis: client(redis.server.url, { keyPrefix: clientOpts.keyPrefix }), prefix, nearCache: false });
        const key = way.startsWith('getOrSet') ? 'fresh' : 'k';
        await b.region('users').set('k', 'theirs');
        const r = a.region('users');
        await hold(r);
        const before = await r.get(key);
        const tiers: string[] = [];
        a.on('hit', (e) => tiers.push(e.tier));
        expect(await r.get(key)).toBe(before);
        expect(tiers).toEqual(['near']);
        await b.region('users').set(key, 'changed');
        await until(async () => (await r.get(key)) === 'changed');
      });
    }
  }

  it('keyPrefix: keys(), size() and the keys in Redis carry the client prefix', async () => {
    const prefix = `user${++n}`;
    const a = await open({ redis: client(redis.server.url, { keyPrefix: 'app:' }), prefix });
    const r = a.region('list');
    await r.setMany([
      ['1', 1],
      ['2', 2],
      ['3', 3],
    ]);
    const seen: string[] = [];
    for await (const k of r.keys()) seen.push(k);
    expect(seen.sort()).toEqual(['1', '2', '3']);
    expect(await r.size()).toBe(3);
    expect((await redis.server.keys()).filter((k) => k.includes(':list')).sort()).toEqual(['1', '2', '3'].map((k) => `app:${r.keyOf(k)}`));
  });
});

describe('user-supplied node-redis clients', () => {
  const variants: [string, NodeRedisClientOptions][] = [
    ['node-redis 6 (RESP3)', {}],
    ['node-redis 6 (RESP2)', { RESP: 2 }],
    ['node-redis 5', { major: 5 }],
    ['keyPrefix', { keyPrefix: 'app:' }],
  ];
  const ways: [string, (r: R) => Promise<unknown>][] = [
    ['get', (r) => r.get('k')],
    ['getOrSet (computed)', (r) => r.getOrSet('fresh', () => 'computed')],
    ['set', (r) => r.set('k', 'own')],
    ['batch', (r) => r.batch((b) => b.set('k', 'own'))],
  ];
  for (const [variant, clientOpts] of variants) {
    for (const [way, hold] of ways) {
      it(`${variant}: a copy held after ${way} is dropped when another connection writes the key`, async () => {
        const prefix = `nr${++n}`;
        const a = await open({ redis: await clients.redis('node-redis', redis.server.url, clientOpts), prefix });
        const b = await open({ redis: client(redis.server.url, { keyPrefix: clientOpts.keyPrefix }), prefix, nearCache: false });
        const key = way.startsWith('getOrSet') ? 'fresh' : 'k';
        await b.region('users').set('k', 'theirs');
        const r = a.region('users');
        await hold(r);
        const before = await r.get(key);
        const tiers: string[] = [];
        a.on('hit', (e) => tiers.push(e.tier));
        expect(await r.get(key)).toBe(before);
        expect(tiers).toEqual(['near']);
        await b.region('users').set(key, 'changed');
        await until(async () => (await r.get(key)) === 'changed');
      });
    }
  }

  it('keyPrefix: keys(), size() and the keys in Redis carry the client prefix', async () => {
    const prefix = `nr${++n}`;
    const a = await open({ redis: await clients.redis('node-redis', redis.server.url, { keyPrefix: 'app:' }), prefix });
    const r = a.region('list');
    await r.setMany([
      ['1', 1],
      ['2', 2],
    ]);
    const seen: string[] = [];
    for await (const k of r.keys()) seen.push(k);
    expect(seen.sort()).toEqual(['1', '2']);
    expect(await r.size()).toBe(2);
    expect((await redis.server.keys()).filter((k) => k.startsWith(`app:${prefix}:`) && k.includes(':list')).sort()).toEqual(
      ['1', '2'].map((k) => `app:${r.keyOf(k)}`),
    );
  });
});

describe.each(drivers)('a write split across TCP segments (%s)', (d) => {
  useDriver(d);
  it('another client writing between the two parts of a set never leaves the writer a stale copy', async () => {
    const prefix = `split${++n}`;
    const proxy = await TcpProxy.start(redis.server.port);
    cleanups.push(() => proxy.close());
    const a = await open({ redis: proxy.url, prefix });
    const b = await open({ redis: redis.server.url, prefix, nearCache: false });
    const split = proxy.splitAfter('SET');
    const written = a.region('r').set('k', 'mine');
    await split;
    await b.region('r').set('k', 'theirs');
    proxy.releaseSplit();
    await written;
    // Whatever order Redis applied the two writes in, the writer ends up answering what Redis has.
    await until(async () => (await a.region('r').get('k')) === (await b.region('r').get('k')));
    expect(await b.region('r').get('k')).toBe('mine'); // the set was applied as one step, after theirs
  });
});

describe.each(drivers)('evictions under maxmemory (%s)', (d) => {
  useDriver(d);
  const big = 'x'.repeat(10_000);
  /** Every key the trove answers is in Redis, and every key it does not answer is not. */
  async function consistent(t: Trove, keys: readonly string[], raw: Redis): Promise<boolean> {
    const r = t.region('ev');
    for (const k of keys) {
      const answered = (await r.get(k)) !== undefined;
      const stored = (await raw.exists(r.keyOf(k))) === 1;
      if (answered !== stored) return false;
    }
    return true;
  }

  for (const policy of ['allkeys-lru', 'allkeys-random']) {
    it(`${policy}: keys evicted by this process's own writes leave its near cache, and later writes by others reach it`, async () => {
      const s = await evictingServer(policy);
      const raw = client(s.url);
      const prefix = `ev${++n}`;
      const a = await open({ redis: s.url, prefix });
      const b = await open({ redis: s.url, prefix, nearCache: false });
      const keys = Array.from({ length: 600 }, (_, i) => String(i));
      for (const k of keys) await a.region('ev').set(k, big);
      expect(Number((await s.info('stats')).evicted_keys)).toBeGreaterThan(0);
      await until(() => consistent(a, keys, raw), 10_000);
      const gone: string[] = [];
      for (const k of keys) if ((await raw.exists(a.region('ev').keyOf(k))) === 0) gone.push(k);
      expect(gone.length).toBeGreaterThan(0);
      for (const k of gone) await b.region('ev').set(k, 'new');
      await until(async () => {
        for (const k of gone) if ((await a.region('ev').get(k)) !== 'new' && (await raw.exists(a.region('ev').keyOf(k))) === 1) return false;
        return true;
      }, 10_000);
    });

    it(`${policy}: keys another process evicts leave this process's near cache`, async () => {
      const s = await evictingServer(policy);
      const raw = client(s.url);
      const prefix = `ev${++n}`;
      const a = await open({ redis: s.url, prefix });
      const b = await open({ redis: s.url, prefix, nearCache: false });
      const held = Array.from({ length: 200 }, (_, i) => `held${i}`);
      for (const k of held) await b.region('ev').set(k, big);
      for (const k of held) await a.region('ev').get(k);
      expect(a.stats().near?.entries).toBeGreaterThan(0);
      for (let i = 0; i < 600; i++) await b.region('ev').set(`more${i}`, big);
      expect(Number((await s.info('stats')).evicted_keys)).toBeGreaterThan(0);
      await until(() => consistent(a, held, raw), 10_000);
    });
  }
});

describe.each(drivers)('the generation and tag tables evicted (%s)', (d) => {
  useDriver(d);
  /**
   * Whether a table was evicted since `epoch` was read from it: it is missing, or a process
   * already recreated it with a new epoch.
   */
  function evicted(raw: Redis, key: string, epoch: string | null): () => Promise<boolean> {
    return async () => (await raw.exists(key)) === 0 || (await raw.hget(key, '')) !== epoch;
  }

  /** Writes junk until `gone` holds; `touch` runs between writes (to keep a key recently used). */
  async function fillUntil(raw: Redis, gone: () => Promise<boolean>, touch?: () => Promise<unknown>): Promise<void> {
    const junk = 'j'.repeat(50_000);
    for (let i = 0; i < 5_000; i++) {
      await raw.set(`junk:${i}`, junk);
      await touch?.();
      if (i % 10 === 0 && (await gone())) return;
    }
    throw new Error('the table was never evicted');
  }

  for (const policy of ['allkeys-lru', 'allkeys-random']) {
    it(`${policy}: an entry written before invalidate() never comes back after the generation table is evicted`, async () => {
      const s = await evictingServer(policy);
      const raw = client(s.url);
      const prefix = `gen${++n}`;
      const a = await open({ redis: s.url, prefix, syncInterval: Number.POSITIVE_INFINITY });
      const r = a.region('r');
      await r.set('old', 'before invalidate');
      const oldKey = r.keyOf('old');
      const oldBytes = await raw.getBuffer(oldKey);
      await r.invalidate();
      expect(await r.get('old')).toBeUndefined();
      await fillUntil(raw, evicted(raw, `${prefix}:0:__gens`, await raw.hget(`${prefix}:0:__gens`, '')));
      // The old entry survived the eviction (put back as it was, whatever the policy took).
      await raw.set(oldKey, oldBytes!);
      const c = await open({ redis: s.url, prefix, syncInterval: Number.POSITIVE_INFINITY });
      expect(c.region('r').keyOf('old')).not.toBe(oldKey);
      expect(await c.region('r').get('old')).toBeUndefined();
      // The process that was running learns the new epoch too (Redis announced the eviction).
      await until(() => a.region('r').keyOf('old') === c.region('r').keyOf('old'), 10_000);
      expect(await a.region('r').get('old')).toBeUndefined();
    });
  }

  // allkeys-lfu with every access counted (lfu-log-factor 0), each junk key read 20 times and the
  // generation table between every two writes: the tag table is then the least used key and goes
  // first, while the generation table stays. (Under LRU, whose idle clock ticks once a second, the
  // choice between keys used within the same second is close to random.)
  it('allkeys-lfu: an entry written before invalidateTags() never comes back after the tag table is evicted', async () => {
    const s = await evictingServer('allkeys-lfu', '4mb', ['--lfu-log-factor', '0']);
    const raw = client(s.url);
    const prefix = `tag${++n}`;
    const gens = `${prefix}:0:__gens`;
    // No near cache and no periodic sync: nothing re-reads (and so recreates) the tag table while it fills.
    const a = await open({ redis: s.url, prefix, syncInterval: Number.POSITIVE_INFINITY, nearCache: false });
    const r = a.region('r');
    await r.set('tagged', 'before invalidateTags', { tags: ['t1'] });
    const key = r.keyOf('tagged');
    const bytes = await raw.getBuffer(key);
    await a.invalidateTags(['t1']);
    expect(await r.get('tagged')).toBeUndefined();
    // Only the tag table goes: the generation table is kept frequently used.
    let last = -1;
    // EXISTS does not count as a use of the key (LOOKUP_NOTOUCH), unlike HGET.
    await fillUntil(
      raw,
      async () => (await raw.exists(`${prefix}:0:__tags`)) === 0,
      async () => {
        const p = raw.pipeline();
        for (let i = 0; i < 20; i++) p.strlen(`junk:${last + 1}`);
        p.hgetall(gens);
        last++;
        await p.exec();
      },
    );
    await raw.set(key, bytes!);
    const c = await open({ redis: s.url, prefix, syncInterval: Number.POSITIVE_INFINITY });
    expect(c.region('r').keyOf('tagged')).toBe(key);
    expect(await c.region('r').get('tagged')).toBeUndefined();
    expect(await a.region('r').get('tagged')).toBeUndefined();
  });
});

describe.each(drivers)('a silent network partition (%s)', (d) => {
  useDriver(d);
  it('nearCache.pingInterval sets how often the invalidation channel is checked, and a blackholed channel empties the near cache', async () => {
    troves.expectErrors(); // a blackholed connection times out whatever is sent on it
    const prefix = `ping${++n}`;
    const proxy = await TcpProxy.start(redis.server.port);
    cleanups.push(() => proxy.close());
    const t = await open({ redis: proxy.url, prefix, commandTimeout: 300, nearCache: { pingInterval: '50ms' } });
    await redis.server.resetStats();
    // 20 checks at 50 ms: a second; at the default period it would take 20 s.
    await until(async () => ((await redis.server.commandCalls()).ping ?? 0) >= 20, 5_000);
    await t.region('r').set('k', 'v');
    expect(t.stats().near?.entries).toBe(1);
    proxy.blackhole = true;
    await until(() => t.stats().near?.live === false, 5_000);
    expect(t.stats().near?.entries).toBe(0);
  });

  it('rejects a bad pingInterval before connecting', () => {
    expect(() => createTrove({ redis: redis.server.url, nearCache: { pingInterval: 'often' } })).toThrow(
      expect.objectContaining({ option: 'nearCache.pingInterval' }),
    );
  });
});

/**
 * `trove.cachedCommand` against real Redis: any read-only command's reply is kept in process until
 * Redis announces a change of a key it read (CLIENT TRACKING), race-free, bounded by its ttl and
 * dropped while tracking is lost. Once per driver; then on a 3-master cluster, without a near
 * cache, and on the embedded store.
 */
import type { Socket } from 'node:net';
import { Cluster, Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ClosedError, type HitEvent, InvalidOptionError, StoreError, type Trove, type TroveOptions } from '../../src/index.js';
import { RedisCluster } from '../../tools/redis-cluster.js';
import { type Driver, drivers, useDriverClients } from '../helpers/drivers.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { fakeDate, TEST_COMMAND_TIMEOUT, until, useRedisServer, useTroves } from '../helpers/troves.js';

const redis = useRedisServer();
const cleanups: (() => Promise<void> | void)[] = [];
let n = 0;
let prefix = '';

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
const clients = useDriverClients();
// Registered after the hooks above, so it runs before them: troves close before their proxies and clients.
const troves = useTroves(() => ({ prefix }));
let driver: Driver = 'ioredis';

async function open(opts: TroveOptions = {}, url = redis.server.url): Promise<Trove> {
  const t = troves.open({ redis: await clients.redis(driver, url), ...opts });
  await t.ready();
  if (opts.nearCache !== false) await until(() => t.stats().near?.live === true);
  return t;
}

/** Another client, writing the application's data. */
function writer(): Redis {
  const w = new Redis(redis.server.url);
  cleanups.push(() => {
    w.disconnect();
  });
  return w;
}

function tiers(t: Trove): HitEvent[] {
  const seen: HitEvent[] = [];
  t.on('hit', (e) => seen.push(e));
  return seen;
}

async function calls(name: string): Promise<number> {
  return (await redis.server.commandCalls())[name] ?? 0;
}

interface Case {
  name: string;
  args: (k: string) => (string | number)[];
  setup: (w: Redis, k: string) => Promise<unknown>;
  /** A write to one of the keys the command read. */
  change: (w: Redis, k: string) => Promise<unknown>;
  before: unknown;
  after: unknown;
  /** Replies whose order Redis does not fix are compared sorted. */
  sorted?: boolean;
}

const cases: Case[] = [
  {
    name: 'HGETALL',
    args: (k) => [k],
    setup: (w, k) => w.hset(k, 'a', '1', 'b', '2'),
    change: (w, k) => w.hset(k, 'a', '3'),
    before: ['a', '1', 'b', '2'],
    after: ['a', '3', 'b', '2'],
  },
  {
    name: 'LRANGE',
    args: (k) => [k, 0, -1],
    setup: (w, k) => w.rpush(k, 'x', 'y'),
    change: (w, k) => w.rpush(k, 'z'),
    before: ['x', 'y'],
    after: ['x', 'y', 'z'],
  },
  {
    name: 'GETRANGE',
    args: (k) => [k, 0, 2],
    setup: (w, k) => w.set(k, 'abcdef'),
    change: (w, k) => w.set(k, 'xyzdef'),
    before: 'abc',
    after: 'xyz',
  },
  {
    name: 'ZRANGE',
    args: (k) => [k, 0, -1, 'WITHSCORES'],
    setup: (w, k) => w.zadd(k, 1, 'a', 2, 'b'),
    change: (w, k) => w.zadd(k, 0, 'b'),
    before: ['a', '1', 'b', '2'],
    after: ['b', '0', 'a', '1'],
  },
  {
    name: 'SMEMBERS',
    args: (k) => [k],
    setup: (w, k) => w.sadd(k, 'a', 'b'),
    change: (w, k) => w.srem(k, 'a'),
    before: ['a', 'b'],
    after: ['b'],
    sorted: true,
  },
  {
    name: 'SUNION',
    args: (k) => [`${k}:1`, `${k}:2`],
    setup: async (w, k) => {
      await w.sadd(`${k}:1`, 'a');
      await w.sadd(`${k}:2`, 'b');
    },
    // The second key: every key the command read is tracked.
    change: (w, k) => w.sadd(`${k}:2`, 'c'),
    before: ['a', 'b'],
    after: ['a', 'b', 'c'],
    sorted: true,
  },
  {
    name: 'GET',
    args: (k) => [k],
    setup: (w, k) => w.set(k, 'v1'),
    change: (w, k) => w.set(k, 'v2'),
    before: 'v1',
    after: 'v2',
  },
];

function norm(reply: unknown, sorted: boolean | undefined): unknown {
  return sorted && Array.isArray(reply) ? [...reply].sort() : reply;
}

describe.each(drivers)('cachedCommand (%s)', (d) => {
  beforeEach(() => {
    driver = d;
    prefix = `cc${++n}`;
  });

  it.each(cases)('$name: the second call is answered locally; a write to a key it read drops it, another write does not', async (c) => {
    const t = await open();
    const w = writer();
    const k = `${prefix}:${c.name}`;
    await c.setup(w, k);
    const cmd = c.name.toLowerCase();
    await redis.server.resetStats();
    expect(norm(await t.cachedCommand(c.name, c.args(k)), c.sorted)).toEqual(c.before);
    expect(norm(await t.cachedCommand(c.name, c.args(k)), c.sorted)).toEqual(c.before);
    expect(await calls(cmd)).toBe(1);
    // An unrelated key changes: the reply stays.
    await w.set(`${prefix}:unrelated`, 'x');
    await w.ping();
    expect(norm(await t.cachedCommand(c.name, c.args(k)), c.sorted)).toEqual(c.before);
    expect(await calls(cmd)).toBe(1);
    // A key it read changes: the next call goes to Redis and sees it.
    const invalidations = t.stats().commands!.invalidations;
    await c.change(w, k);
    await until(() => t.stats().commands!.invalidations > invalidations, 5_000, 'the invalidation');
    expect(norm(await t.cachedCommand(c.name, c.args(k)), c.sorted)).toEqual(c.after);
    expect(await calls(cmd)).toBe(2);
    expect(norm(await t.cachedCommand(c.name, c.args(k)), c.sorted)).toEqual(c.after);
    expect(await calls(cmd)).toBe(2);
  });

  it('answers as ioredis call does: integers, null, Buffers with buffers: true', async () => {
    const t = await open();
    const w = writer();
    await w.rpush(`${prefix}:l`, 'a', 'b');
    await w.set(`${prefix}:bin`, Buffer.from([0xff, 0x00, 0x01]));
    expect(await t.cachedCommand('LLEN', [`${prefix}:l`])).toBe(2);
    expect(await t.cachedCommand('GET', [`${prefix}:missing`])).toBeNull();
    expect(await t.cachedCommand('GET', [`${prefix}:missing`])).toBeNull(); // a kept null
    expect(await t.cachedCommand('HGETALL', [`${prefix}:missing`])).toEqual([]);
    const bin = await t.cachedCommand<Buffer>('GET', [`${prefix}:bin`], { buffers: true });
    expect(Buffer.isBuffer(bin)).toBe(true);
    expect([...bin]).toEqual([0xff, 0x00, 0x01]);
    expect(await t.cachedCommand('ZSCORE', [`${prefix}:z`, 'a'])).toBeNull();
    await w.zadd(`${prefix}:z`, 1.5, 'a');
    await until(async () => (await t.cachedCommand('ZSCORE', [`${prefix}:z`, 'a'])) === '1.5', 5_000, 'ZSCORE as text');
    expect(t.stats().commands!.hits).toBeGreaterThan(0);
  });

  it('concurrent identical calls share one command', async () => {
    const t = await open();
    const w = writer();
    await w.hset(`${prefix}:h`, 'a', '1');
    await t.cachedCommand('HLEN', [`${prefix}:h`]); // the command's description is known from now on
    await w.hset(`${prefix}:h`, 'b', '2');
    await until(async () => (await t.cachedCommand('HLEN', [`${prefix}:h`])) === 2, 5_000, 'the new length');
    await redis.server.resetStats();
    const replies = await Promise.all(Array.from({ length: 20 }, () => t.cachedCommand('HGETALL', [`${prefix}:h`])));
    for (const r of replies) expect(r).toEqual(['a', '1', 'b', '2']);
    expect(await calls('hgetall')).toBe(1);
  });

  it('refuses writes, unknown, keyless and time-dependent commands, naming them', async () => {
    const t = await open();
    const refused: [string, (string | number)[]][] = [
      ['SET', ['k', 'v']],
      ['DEL', ['k']],
      ['EVAL', ['return 1', 0]],
      ['HSET', ['k', 'f', 'v']],
      ['NOSUCHCOMMAND', ['k']],
      ['DBSIZE', []],
      ['EVAL_RO', ['return 1', 0]],
      ['TTL', ['k']],
      ['SRANDMEMBER', ['k']],
      ['SORT_RO', ['k']],
      ['XREAD', ['BLOCK', 0, 'STREAMS', 'k', '$']],
      ['GET', []],
    ];
    for (const [name, args] of refused) {
      const err = await t.cachedCommand(name, args).catch((e: unknown) => e);
      expect(err, name).toBeInstanceOf(InvalidOptionError);
      expect((err as Error).message, name).toContain(name);
    }
    await expect(t.cachedCommand('GET', ['k'], { ttl: -1 })).rejects.toBeInstanceOf(InvalidOptionError);
    await expect(t.cachedCommand('GET', ['k'], { bogus: 1 } as never)).rejects.toBeInstanceOf(InvalidOptionError);
    await expect(t.cachedCommand('GET', [{}] as never)).rejects.toBeInstanceOf(InvalidOptionError);
  });

  it('keys that move with the arguments come from the key specs, without COMMAND GETKEYS (ZUNION)', async () => {
    const t = await open();
    const w = writer();
    await w.zadd(`${prefix}:z1`, 1, 'a');
    await w.zadd(`${prefix}:z2`, 2, 'b');
    const args = [2, `${prefix}:z1`, `${prefix}:z2`];
    await redis.server.resetStats();
    expect(await t.cachedCommand('ZUNION', args)).toEqual(['a', 'b']);
    expect(await calls('command|info')).toBe(1);
    expect(await calls('command|getkeys')).toBe(0);
    await redis.server.resetStats();
    expect(await t.cachedCommand('ZUNION', args)).toEqual(['a', 'b']);
    expect(await calls('zunion')).toBe(0);
    await w.zadd(`${prefix}:z2`, 0, 'b');
    await until(async () => JSON.stringify(await t.cachedCommand('ZUNION', args)) === '["b","a"]', 5_000, 'the change');
  });

  it('a key changed while the reply is in flight: answered, not kept', async () => {
    const proxy = await TcpProxy.start(redis.server.port);
    cleanups.push(() => proxy.close());
    const t = await open({}, proxy.url);
    expect(proxy.acceptedCount).toBe(2); // 0: the main connection, 1: the subscriber
    const w = writer();
    const k = `${prefix}:h`;
    await w.hset(k, 'a', '1');
    // HGETALL's description is asked now, so that the held call needs no COMMAND INFO.
    await t.cachedCommand('HGETALL', [`${prefix}:warm`]);
    const trackedKeys = async () => Number((await redis.server.info('stats')).tracking_total_keys);
    const tracked = await trackedKeys();
    proxy.holdReplies(0);
    const inflight = t.cachedCommand('HGETALL', [k]);
    await until(async () => (await trackedKeys()) > tracked, 5_000, 'the command tracked');
    const invalidations = t.stats().near!.invalidations;
    await w.hset(k, 'a', '2');
    await until(() => t.stats().near!.invalidations > invalidations, 5_000, 'the invalidation');
    proxy.releaseReplies(0);
    expect(await inflight).toEqual(['a', '1']); // answered...
    await redis.server.resetStats();
    expect(await t.cachedCommand('HGETALL', [k])).toEqual(['a', '2']); // ...not kept
    expect(await calls('hgetall')).toBe(1);
    expect(await t.cachedCommand('HGETALL', [k])).toEqual(['a', '2']);
    expect(await calls('hgetall')).toBe(1);
  });

  it('a reply older than ttl is not used (default: the near cache maxTtlMs)', async () => {
    const t = await open({ nearCache: { maxTtlMs: 5_000 } });
    const w = writer();
    const clock = fakeDate();
    await w.set(`${prefix}:k`, 'v');
    await t.cachedCommand('GET', [`${prefix}:k`], { ttl: '1s' });
    await redis.server.resetStats();
    await t.cachedCommand('GET', [`${prefix}:k`], { ttl: '1s' });
    expect(await calls('get')).toBe(0);
    clock.advance(1_001);
    await t.cachedCommand('GET', [`${prefix}:k`], { ttl: '1s' });
    expect(await calls('get')).toBe(1);
    // Kept for 1 s, however long a later caller would accept it.
    clock.advance(1_001);
    await t.cachedCommand('GET', [`${prefix}:k`], { ttl: '1h' });
    expect(await calls('get')).toBe(2);
    // Without ttl: at most the near cache's maxTtlMs old (5 s here).
    await t.cachedCommand('GET', [`${prefix}:k`]);
    clock.advance(4_000);
    await t.cachedCommand('GET', [`${prefix}:k`]);
    expect(await calls('get')).toBe(2);
    clock.advance(1_001);
    await t.cachedCommand('GET', [`${prefix}:k`]);
    expect(await calls('get')).toBe(3);
    // A call with a shorter ttl does not use a reply older than it.
    clock.advance(600);
    await t.cachedCommand('GET', [`${prefix}:k`], { ttl: 500 });
    expect(await calls('get')).toBe(4);
  });

  it('while tracking is lost, replies are answered from Redis and not kept; kept again once it is back', async () => {
    const t = await open();
    const w = writer();
    await w.set(`${prefix}:k`, 'v1');
    expect(await t.cachedCommand('GET', [`${prefix}:k`])).toBe('v1');
    expect(t.stats().commands!.entries).toBe(1);
    const resets = t.stats().commands!.resets;
    await redis.server.command('CLIENT', 'KILL', 'TYPE', 'pubsub');
    await until(() => t.stats().commands!.resets > resets, 5_000, 'the reset');
    expect(t.stats().commands!.entries).toBe(0);
    await w.set(`${prefix}:k`, 'v2'); // not announced to a process whose channel is down
    if (!t.stats().near!.live) {
      expect(await t.cachedCommand('GET', [`${prefix}:k`])).toBe('v2');
      expect(t.stats().commands!.entries).toBe(0);
    }
    await until(() => t.stats().near!.live, 10_000, 'tracking back');
    expect(await t.cachedCommand('GET', [`${prefix}:k`])).toBe('v2');
    expect(t.stats().commands!.entries).toBe(1);
    await w.set(`${prefix}:k`, 'v3');
    await until(async () => (await t.cachedCommand('GET', [`${prefix}:k`])) === 'v3', 5_000, 'v3');
  });

  it('counts command hits in stats().near and emits hit events of region (command)', async () => {
    const t = await open();
    const w = writer();
    await w.hset(`${prefix}:h`, 'a', '1');
    const seen = tiers(t);
    const before = t.stats().near!.hits;
    await t.cachedCommand('HGETALL', [`${prefix}:h`]);
    await t.cachedCommand('HGETALL', [`${prefix}:h`]);
    await t.cachedCommand('HGETALL', [`${prefix}:h`]);
    expect(seen.map((e) => [e.region, e.key, e.tier])).toEqual([
      ['(command)', `HGETALL ${prefix}:h`, 'store'],
      ['(command)', `HGETALL ${prefix}:h`, 'near'],
      ['(command)', `HGETALL ${prefix}:h`, 'near'],
    ]);
    expect(t.stats().near!.hits - before).toBe(2);
    expect(t.stats().commands).toMatchObject({ hits: 2, misses: 1, entries: 1 });
    expect(t.stats().regions?.find((r) => r.region === '(command)')).toMatchObject({ hits: 3 });
  });

  it('kept replies are frozen (freezeValues): a caller cannot change what the others read', async () => {
    const t = await open();
    const w = writer();
    await w.rpush(`${prefix}:l`, 'a');
    const r = await t.cachedCommand<string[]>('LRANGE', [`${prefix}:l`, 0, -1]);
    expect(() => r.push('x')).toThrow(TypeError);
  });

  it('inside bypass(), calls go to Redis', async () => {
    const t = await open();
    const w = writer();
    await w.set(`${prefix}:k`, 'v');
    await t.cachedCommand('GET', [`${prefix}:k`]);
    await redis.server.resetStats();
    await t.bypass(() => t.cachedCommand('GET', [`${prefix}:k`]));
    expect(await calls('get')).toBe(1);
  });
});

describe('cachedCommand with ioredis', () => {
  beforeEach(() => {
    driver = 'ioredis';
    prefix = `cci${++n}`;
  });

  it('the different calls of one tick leave in one socket write', async () => {
    const client = new Redis(redis.server.url);
    cleanups.push(() => {
      client.disconnect();
    });
    const t = troves.open({ redis: client });
    await t.ready();
    await until(() => t.stats().near?.live === true);
    const w = writer();
    const keys = Array.from({ length: 8 }, (_, i) => `${prefix}:h${i}`);
    for (const k of keys) await w.hset(k, 'f', k);
    await t.cachedCommand('HGETALL', [`${prefix}:warm`]); // HGETALL's description is known from now on
    const socket = client.stream as Socket & { _write: (...a: unknown[]) => void; _writev: (...a: unknown[]) => void };
    let writes = 0;
    const write = socket._write;
    const writev = socket._writev;
    socket._write = function (this: Socket, ...a: unknown[]) {
      writes++;
      return write.apply(this, a);
    };
    socket._writev = function (this: Socket, ...a: unknown[]) {
      writes++;
      return writev.apply(this, a);
    };
    await redis.server.resetStats();
    const replies = await Promise.all(keys.map((k) => t.cachedCommand('HGETALL', [k])));
    socket._write = write;
    socket._writev = writev;
    expect(replies).toEqual(keys.map((k) => ['f', k]));
    expect(await calls('hgetall')).toBe(keys.length);
    expect(writes).toBe(1);
  });

  it('with a client keyPrefix, keys are prefixed as ioredis call prefixes them, and invalidations still reach the reply', async () => {
    const t = await open({ redis: { host: '127.0.0.1', port: redis.server.port, keyPrefix: 'kp:' } });
    const w = writer();
    await w.hset(`kp:${prefix}:h`, 'a', '1');
    expect(await t.cachedCommand('HGETALL', [`${prefix}:h`])).toEqual(['a', '1']);
    await w.hset(`kp:${prefix}:h`, 'a', '2');
    await until(async () => JSON.stringify(await t.cachedCommand('HGETALL', [`${prefix}:h`])) === '["a","2"]', 5_000, 'the change');
  });
});

describe('cachedCommand with node-redis and a keyPrefix', () => {
  beforeEach(() => {
    driver = 'node-redis';
    prefix = `ccn${++n}`;
  });

  it('adds the prefix to the key arguments, and invalidations reach the reply', async () => {
    const t = await open({ redis: await clients.redis('node-redis', redis.server.url, { keyPrefix: 'kp:' }) });
    const w = writer();
    await w.sadd(`kp:${prefix}:a`, 'x');
    await w.sadd(`kp:${prefix}:b`, 'y');
    expect([...(await t.cachedCommand<string[]>('SUNION', [`${prefix}:a`, `${prefix}:b`]))].sort()).toEqual(['x', 'y']);
    await w.sadd(`kp:${prefix}:b`, 'z');
    await until(async () => (await t.cachedCommand<string[]>('SUNION', [`${prefix}:a`, `${prefix}:b`])).length === 3, 5_000, 'the change');
  });
});

describe('cachedCommand without a near cache', () => {
  beforeEach(() => {
    driver = 'ioredis';
    prefix = `ccx${++n}`;
  });

  it('nearCache: false runs the command on Redis every time (still checked read-only)', async () => {
    const t = await open({ nearCache: false });
    const w = writer();
    await w.set(`${prefix}:k`, 'v');
    await redis.server.resetStats();
    expect(await t.cachedCommand('GET', [`${prefix}:k`])).toBe('v');
    expect(await t.cachedCommand('GET', [`${prefix}:k`])).toBe('v');
    expect(await calls('get')).toBe(2);
    expect(await calls('client|caching')).toBe(0);
    expect(t.stats().commands).toBeUndefined();
    await expect(t.cachedCommand('SET', [`${prefix}:k`, 'x'])).rejects.toBeInstanceOf(InvalidOptionError);
  });

  it('an error Redis answers rejects with StoreError; a closed trove with ClosedError', async () => {
    const t = await open();
    const w = writer();
    await w.set(`${prefix}:s`, 'v');
    const err = await t.cachedCommand('HGETALL', [`${prefix}:s`]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect((err as Error).message).toContain('WRONGTYPE');
    await t.close();
    await expect(t.cachedCommand('GET', [`${prefix}:s`])).rejects.toBeInstanceOf(ClosedError);
  });

  it('the embedded store rejects with InvalidOptionError (option redis)', async () => {
    const t = troves.open({ redis: undefined });
    const err = await t.cachedCommand('GET', ['k']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidOptionError);
    expect((err as InvalidOptionError).option).toBe('redis');
  });
});

describe('cachedCommand on a 3-master cluster', () => {
  let cluster: RedisCluster;
  beforeAll(async () => {
    cluster = await RedisCluster.start({ masters: 3 });
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  it('routes tracked commands to the reader of the slot master: kept, and dropped on a change', async () => {
    prefix = `ccc${++n}`;
    const t = troves.open({ redis: { cluster: cluster.urls }, commandTimeout: TEST_COMMAND_TIMEOUT });
    await t.ready();
    await until(() => t.stats().near?.live === true, 20_000, 'tracking on every master');
    const w = new Cluster(cluster.urls);
    cleanups.push(() => {
      w.disconnect();
    });
    // Keys on different masters; SUNION's two keys share a slot through a hash tag.
    const keys = Array.from({ length: 6 }, (_, i) => `${prefix}:h${i}`);
    for (const k of keys) await w.hset(k, 'f', '1');
    await w.sadd(`{${prefix}}:a`, 'x');
    await w.sadd(`{${prefix}}:b`, 'y');
    for (const k of keys) expect(await t.cachedCommand('HGETALL', [k])).toEqual(['f', '1']);
    expect(((await t.cachedCommand<string[]>('SUNION', [`{${prefix}}:a`, `{${prefix}}:b`])) ?? []).slice().sort()).toEqual(['x', 'y']);
    const hits = t.stats().commands!.hits;
    for (const k of keys) expect(await t.cachedCommand('HGETALL', [k])).toEqual(['f', '1']);
    await t.cachedCommand('SUNION', [`{${prefix}}:a`, `{${prefix}}:b`]);
    expect(t.stats().commands!.hits - hits).toBe(keys.length + 1);
    for (const k of keys) await w.hset(k, 'f', '2');
    await w.sadd(`{${prefix}}:b`, 'z');
    for (const k of keys) await until(async () => JSON.stringify(await t.cachedCommand('HGETALL', [k])) === '["f","2"]', 5_000, `${k} changed`);
    await until(async () => (await t.cachedCommand<string[]>('SUNION', [`{${prefix}}:a`, `{${prefix}}:b`])).length === 3, 5_000, 'SUNION changed');
    const again = t.stats().commands!.hits;
    for (const k of keys) expect(await t.cachedCommand('HGETALL', [k])).toEqual(['f', '2']);
    expect(t.stats().commands!.hits - again).toBe(keys.length);
  }, 60_000);
});

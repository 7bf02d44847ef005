/**
 * `nearCache.serveWhileDisconnected`: while Redis cannot be reached, reads it fails are answered
 * from the entries the near cache kept when tracking was lost, as stale, for a bounded window;
 * never once Redis answers, and never after tracking is back.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createTrove, InvalidOptionError, type HitEvent, type StaleEvent, type Trove, type TroveOptions } from '../../src/index.js';
import { RedisServer } from '../helpers/redis-server.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { fakeDate, until, useRedisServer, useTroves } from '../helpers/troves.js';

const redis = useRedisServer();
const cleanups: (() => Promise<void>)[] = [];
let n = 0;
let prefix = '';

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
// Registered after the hook above, so it runs before it: troves close before their servers and proxies.
const troves = useTroves(() => ({ prefix }));

/** A trove with a near cache, tracking live; a short deadline so reads fail fast while Redis is away. */
async function open(url: string, opts: TroveOptions = {}): Promise<Trove> {
  const t = troves.open({ redis: url, commandTimeout: 1_000, ...opts });
  await t.ready();
  if (opts.nearCache !== false) await until(() => t.stats().near?.live === true);
  return t;
}

/** A redis-server of the test's own, so it can be killed. */
async function ownServer(): Promise<RedisServer> {
  prefix = `swd${++n}`;
  const server = await RedisServer.start();
  cleanups.push(() => server.stop());
  return server;
}

/** A proxy in front of the suite's server: the trove behind it can be cut off while others still reach Redis. */
async function proxied(): Promise<TcpProxy> {
  prefix = `swd${++n}`;
  const proxy = await TcpProxy.start(redis.server.port);
  cleanups.push(() => proxy.close());
  return proxy;
}

function watch(t: Trove): { hits: Omit<HitEvent, 'durationMs'>[]; stale: StaleEvent[] } {
  const seen = { hits: [] as Omit<HitEvent, 'durationMs'>[], stale: [] as StaleEvent[] };
  t.on('hit', ({ durationMs: _, ...e }) => seen.hits.push(e));
  t.on('stale', (e) => seen.stale.push(e));
  return seen;
}

const keep = { nearCache: { serveWhileDisconnected: '30s' } } satisfies TroveOptions;

/** Kills the server and waits until the trove has noticed (tracking lost). */
async function outage(server: RedisServer, t: Trove): Promise<void> {
  troves.expectErrors();
  await server.kill();
  await until(() => t.stats().near?.live === false);
}

describe('serveWhileDisconnected', () => {
  it('off by default: after a kill the near cache is emptied, get misses and getOrSet computes', async () => {
    const server = await ownServer();
    const a = await open(server.url);
    await a.region('users').set('1', 'v1');
    expect(await a.region('users').get('1')).toBe('v1');
    expect(a.stats().near!.entries).toBe(1);
    await outage(server, a);
    expect(a.stats().near!.entries).toBe(0);
    expect(await a.region('users').get('1')).toBeUndefined();
    let runs = 0;
    expect(await a.region('users').getOrSet('1', () => `computed ${++runs}`)).toBe('computed 1');
  });

  it('after a kill, get, getOrSet, getMany and has answer the kept value as stale, and the factory does not run', async () => {
    const server = await ownServer();
    const a = await open(server.url, keep);
    const users = a.region('users');
    await users.set('1', { name: 'Ada' });
    await users.set('2', { name: 'Bob' });
    expect(await users.get('1')).toEqual({ name: 'Ada' });
    await outage(server, a);
    const seen = watch(a);
    expect(a.stats().near!.entries).toBe(2);
    expect(await users.get('1')).toEqual({ name: 'Ada' });
    let runs = 0;
    expect(await users.getOrSet('1', () => ({ name: `computed ${++runs}` }))).toEqual({ name: 'Ada' });
    expect(runs).toBe(0);
    expect(await users.getMany(['1', '2', '3'])).toEqual([{ name: 'Ada' }, { name: 'Bob' }, undefined]);
    expect(await users.has('2')).toBe(true);
    expect(await users.has('3')).toBe(false);
    const near = { region: 'users', stale: true, tier: 'near' };
    expect(seen.hits).toEqual([
      { ...near, key: '1' },
      { ...near, key: '1' },
      { ...near, key: '1' },
      { ...near, key: '2' },
    ]);
    expect(seen.stale).toEqual(['1', '1', '1', '2'].map((key) => ({ region: 'users', key, reason: 'disconnected' })));
    // Not kept: computed, as without the option.
    expect(await users.getOrSet('3', () => `computed ${++runs}`)).toBe('computed 1');
  });

  it('a read that times out (a silent partition) is answered from the kept copy, and getOrSet does not compute', async () => {
    const proxy = await proxied();
    const a = await open(proxy.url, { commandTimeout: 300, nearCache: { serveWhileDisconnected: '30s', pingInterval: 100 } });
    await a.region('users').set('1', 'v1');
    troves.expectErrors();
    const codes: string[] = [];
    a.on('error', (e) => codes.push(e.error.code));
    proxy.blackhole = true;
    await until(() => a.stats().near!.live === false);
    const seen = watch(a);
    expect(await a.region('users').get('1')).toBe('v1');
    let runs = 0;
    expect(await a.region('users').getOrSet('1', () => `computed ${++runs}`)).toBe('v1');
    expect(runs).toBe(0);
    expect(codes).toContain('STORE_TIMEOUT');
    expect(seen.stale.map((e) => e.reason)).toEqual(['disconnected', 'disconnected']);
  });

  it('a region without near cache has nothing kept', async () => {
    const server = await ownServer();
    const a = await open(server.url, { ...keep, regions: { plain: { nearCache: false } } });
    await a.region('plain').set('1', 'v1');
    expect(await a.region('plain').get('1')).toBe('v1');
    await outage(server, a);
    expect(await a.region('plain').get('1')).toBeUndefined();
  });

  it('past the window (counted from the loss) the kept entries are dropped: misses again', async () => {
    const clock = fakeDate();
    const server = await ownServer();
    const a = await open(server.url, keep);
    await a.region('users').set('1', 'v1');
    await outage(server, a);
    clock.advance(29_000);
    expect(await a.region('users').get('1')).toBe('v1');
    clock.advance(1_000);
    expect(await a.region('users').get('1')).toBeUndefined();
    expect(a.stats().near!.entries).toBe(0);
    let runs = 0;
    expect(await a.region('users').getOrSet('1', () => `computed ${++runs}`)).toBe('computed 1');
  });

  it('the kept entries are released at the end of the window even when nothing reads them', async () => {
    const server = await ownServer();
    const a = await open(server.url, { nearCache: { serveWhileDisconnected: 200 } });
    await a.region('users').set('1', 'v1');
    await outage(server, a);
    await until(() => a.stats().near!.entries === 0);
    expect(await a.region('users').get('1')).toBeUndefined();
  });

  it('a kept entry is never answered past its own TTL, but is past its freshFor', async () => {
    const clock = fakeDate();
    const server = await ownServer();
    const a = await open(server.url, { nearCache: { serveWhileDisconnected: '1m' } });
    await a.region('users').set('short', 'v1', { ttl: '10s' });
    await a.region('users').set('long', 'v2', { ttl: '1m', freshFor: '5s' });
    await outage(server, a);
    clock.advance(10_000);
    expect(await a.region('users').get('short')).toBeUndefined();
    expect(await a.region('users').get('long')).toBe('v2');
  });

  it('a value written elsewhere while this trove was cut off is never answered once Redis answers again', async () => {
    const proxy = await proxied();
    const a = await open(proxy.url, keep);
    const b = await open(redis.server.url, { nearCache: false });
    await b.region('users').set('1', 'v1');
    expect(await a.region('users').get('1')).toBe('v1');
    troves.expectErrors();
    proxy.refuse = true;
    proxy.cutAll();
    await until(() => a.stats().near!.live === false);
    await b.region('users').set('1', 'v2');
    // Cut off: the kept copy (the documented staleness of the window).
    expect(await a.region('users').get('1')).toBe('v1');
    proxy.refuse = false;
    // Reconnecting: the kept copy or Redis's answer, until Redis answers; from then on only that.
    await until(async () => (await a.region('users').get('1')) === 'v2');
    for (let i = 0; i < 20; i++) expect(await a.region('users').get('1')).toBe('v2');
  });

  it('a read Redis answers drops the kept copy, even while tracking is still down', async () => {
    const proxy = await proxied();
    const a = await open(proxy.url, keep);
    const b = await open(redis.server.url, { nearCache: false });
    await b.region('users').setMany([
      ['1', 'v1'],
      ['2', 'w1'],
    ]);
    expect(await a.region('users').getMany(['1', '2'])).toEqual(['v1', 'w1']);
    troves.expectErrors();
    // Only the invalidation channel goes (it cannot come back through the proxy); the command connection stays.
    proxy.refuse = true;
    await redis.server.command('CLIENT', 'KILL', 'TYPE', 'pubsub');
    await until(() => a.stats().near!.live === false);
    await b.region('users').set('1', 'v2');
    expect(await a.region('users').get('1')).toBe('v2');
    // Now Redis is unreachable too: '2', never read since, is answered from the kept copy; '1' is not.
    proxy.cutAll();
    await until(async () => (await a.region('users').get('2')) === 'w1');
    expect(await a.region('users').get('1')).toBeUndefined();
  });

  it('a local write or delete while disconnected drops the kept copy', async () => {
    const server = await ownServer();
    const a = await open(server.url, keep);
    await a.region('users').set('1', 'v1');
    await a.region('users').set('2', 'v2');
    await outage(server, a);
    await a.region('users').set('1', 'mine'); // fails (an error event), and may or may not have reached Redis
    await expect(a.region('users').delete('2')).rejects.toThrow();
    expect(await a.region('users').get('1')).toBeUndefined();
    expect(await a.region('users').get('2')).toBeUndefined();
  });

  it('the near cache is empty when tracking comes back, and is refilled from Redis only', async () => {
    const proxy = await proxied();
    const a = await open(proxy.url, keep);
    await a.region('users').set('1', 'v1');
    await a.region('users').set('2', 'v2');
    troves.expectErrors();
    proxy.refuse = true;
    proxy.cutAll();
    await until(() => a.stats().near!.live === false);
    expect(a.stats().near!.entries).toBe(2);
    proxy.refuse = false;
    await until(() => a.stats().near!.live);
    expect(a.stats().near!.entries).toBe(0);
    const seen = watch(a);
    expect(await a.region('users').get('1')).toBe('v1');
    expect(seen.hits).toEqual([{ region: 'users', key: '1', stale: false, tier: 'store' }]);
    expect(seen.stale).toEqual([]);
  });

  it('rejects bad values naming nearCache.serveWhileDisconnected', () => {
    for (const bad of [-1, 'soon', Number.POSITIVE_INFINITY, Number.NaN, true, '-5s']) {
      let caught: unknown;
      try {
        createTrove({ redis: 'redis://127.0.0.1:1', nearCache: { serveWhileDisconnected: bad as never } });
      } catch (err) {
        caught = err;
      }
      expect(caught, String(bad)).toBeInstanceOf(InvalidOptionError);
      expect((caught as InvalidOptionError).option).toBe('nearCache.serveWhileDisconnected');
    }
  });

  it('accepts 0 (off), milliseconds and duration strings', async () => {
    for (const ok of [0, 1_500, '30s', '2m']) {
      const t = troves.open({ redis: redis.server.url, nearCache: { serveWhileDisconnected: ok } });
      await t.close();
    }
  });
});

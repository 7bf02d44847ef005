/**
 * What is particular to the node-redis driver (its behaviour as a Store is the contract suite's):
 * which node-redis objects it accepts, one MGET per tick of reads, what it leaves of the user's
 * client on close, and the deadline while the client is reconnecting or Redis is stalled.
 */
import { createClient as createClient5 } from '@redis/client';
import { createClient, createClientPool, createCluster, createSentinel } from 'redis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTrove, type RedisOption, StoreError, StoreTimeoutError } from '../../src/index.js';
import { createStore } from '../../src/store/create-store.js';
import type { NodeRedisConnection } from '../../src/store/node-redis/client-shape.js';
import { NodeRedisSubscriber } from '../../src/store/node-redis/subscriber.js';
import { nodeRedisClient, type TestNodeRedisClient } from '../helpers/drivers.js';
import { RedisServer } from '../helpers/redis-server.js';
import { expectSilentSubscriberReplaced } from '../helpers/silent-subscriber.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { TEST_COMMAND_TIMEOUT, until } from '../helpers/troves.js';

let server: RedisServer;
beforeAll(async () => {
  server = await RedisServer.start();
});
afterAll(async () => {
  await server.stop();
});
const clients: TestNodeRedisClient[] = [];
afterEach(() => {
  for (const c of clients.splice(0)) c.destroy();
});
async function client(opts: Parameters<typeof nodeRedisClient>[1] = {}): Promise<TestNodeRedisClient> {
  const c = await nodeRedisClient(server.url, opts);
  clients.push(c);
  return c;
}

const store = (redis: unknown, commandTimeoutMs = TEST_COMMAND_TIMEOUT) =>
  createStore({ redis: redis as RedisOption, memory: undefined, commandTimeoutMs, listener: {} });

/** Connections the server has open. */
async function connections(): Promise<number> {
  return (await server.command('CLIENT', 'LIST')).split('\n').filter((l) => l.includes('id=')).length;
}

/** CLIENT TRACKINGINFO's flags (a RESP3 map, decoded as an object by default). */
async function trackingFlags(c: TestNodeRedisClient): Promise<string[]> {
  const reply = (await c.sendCommand(['CLIENT', 'TRACKINGINFO'])) as Record<string, unknown>;
  return (reply.flags as unknown[]).map(String);
}

describe('node-redis driver', () => {
  it('the client types of node-redis 6 and 5 are accepted by createTrove', () => {
    // Type-level: both compile as the `redis` option. Not connected: refused at run time.
    const v6: RedisOption = createClient();
    const v5: RedisOption = createClient5();
    expect(() => createTrove({ redis: v6 })).toThrow('the node-redis client is not open: call connect() before handing it over');
    expect(() => createTrove({ redis: v5 })).toThrow(expect.objectContaining({ option: 'redis' }));
  });

  it('refuses a cluster, a pool, a sentinel, a client with clientSideCache, and replicas, naming why', async () => {
    const cluster = createCluster({ rootNodes: [{ url: server.url }] });
    expect(() => createTrove({ redis: cluster as unknown as RedisOption })).toThrow(
      'Invalid option "redis": a node-redis cluster (createCluster) is not supported yet: use an ioredis Cluster, or { cluster: [urls] }',
    );
    const pool = createClientPool({ url: server.url });
    expect(() => createTrove({ redis: pool as unknown as RedisOption })).toThrow(
      'Invalid option "redis": a node-redis pool (createClientPool) is not supported: give one client from createClient()',
    );
    const sentinel = createSentinel({ name: 'mymaster', sentinelRootNodes: [{ host: '127.0.0.1', port: server.port }] });
    expect(() => createTrove({ redis: sentinel as unknown as RedisOption })).toThrow(
      'Invalid option "redis": a node-redis sentinel (createSentinel) is not supported yet: use ioredis options with sentinels',
    );
    const cached = createClient({ url: server.url, RESP: 3, clientSideCache: { maxEntries: 10 } });
    cached.on('error', () => {});
    await cached.connect();
    try {
      expect(() => createTrove({ redis: cached })).toThrow(expect.objectContaining({ option: 'redis', message: expect.stringContaining('clientSideCache') }));
    } finally {
      cached.destroy();
    }
    const c = await client();
    expect(() => createTrove({ redis: c, replicas: ['redis://127.0.0.1:1'], readFrom: 'replica' })).toThrow(expect.objectContaining({ option: 'replicas' }));
    expect(() => createTrove({ redis: c, readFrom: 'replica' })).toThrow(expect.objectContaining({ option: 'readFrom' }));
  });

  it('a RESP3 client with emitInvalidate gets its invalidations pushed on its own connection: no redirect, kept correct, re-armed after a reconnect', async () => {
    const own = createClient({ url: server.url, RESP: 3, emitInvalidate: true, socket: { reconnectStrategy: () => 50 } });
    own.on('error', () => {});
    await own.connect();
    clients.push(own as unknown as TestNodeRedisClient);
    const prefix = `push${Date.now()}`;
    const t = createTrove({ redis: own as unknown as RedisOption, prefix, commandTimeout: TEST_COMMAND_TIMEOUT });
    const writer = createTrove({ redis: server.url, prefix, nearCache: false, commandTimeout: TEST_COMMAND_TIMEOUT });
    // The connection is cut below on purpose.
    t.on('error', () => {});
    try {
      await until(() => t.stats().near?.live === true);
      const info = (await own.sendCommand(['CLIENT', 'TRACKINGINFO'])) as Record<string, unknown>;
      expect((info.flags as unknown[]).map(String).sort()).toEqual(['on', 'optin']);
      expect(Number(info.redirect)).toBeLessThanOrEqual(0);
      const users = t.region('users');
      await writer.region('users').set('1', 'a');
      expect(await users.get('1')).toBe('a');
      const hits = t.stats().near!.hits;
      expect(await users.get('1')).toBe('a');
      expect(t.stats().near!.hits).toBe(hits + 1);
      // Another process's change reaches this near cache through the pushed invalidation.
      await writer.region('users').set('1', 'b');
      await until(async () => (await users.get('1')) === 'b');
      // Own writes are kept and answered locally.
      await users.set('2', 'mine');
      const before = t.stats().near!.hits;
      expect(await users.get('2')).toBe('mine');
      expect(t.stats().near!.hits).toBe(before + 1);
      // The connection is cut: the near cache empties, and is live again once tracking is re-armed.
      const id = String(await own.sendCommand(['CLIENT', 'ID']));
      await server.command('CLIENT', 'KILL', 'ID', id);
      await until(() => t.stats().near?.resets !== 0 && t.stats().near?.live === true);
      expect(await users.get('1')).toBe('b');
      await writer.region('users').set('1', 'c');
      await until(async () => (await users.get('1')) === 'c');
    } finally {
      await t.close();
      await writer.close();
    }
  });

  it('an attempt to turn tracking on that Redis refuses is tried again while the connections are up: live without a reconnect', async () => {
    // A user who may not turn tracking on, yet.
    await server.command('ACL', 'SETUSER', 'nrtracker', 'on', '>pw', '~*', '&*', '+@all', '-client|tracking');
    try {
      const c = await nodeRedisClient(server.url.replace('redis://', 'redis://nrtracker:pw@'));
      clients.push(c);
      const errors: Error[] = [];
      const s = createStore({
        redis: c as RedisOption,
        memory: undefined,
        commandTimeoutMs: TEST_COMMAND_TIMEOUT,
        listener: { onConnectionError: (e) => errors.push(e) },
      });
      try {
        const changes: boolean[] = [];
        expect(s.enableTracking({ onInvalidate: () => {}, onTrackingChange: (live) => changes.push(live) })).toBe(true);
        await until(
          () => errors.some((e) => e.message.includes('NOPERM')),
          10_000,
          () => `a refused CLIENT TRACKING, errors: ${errors.map((e) => e.message).join(' | ')}`,
        );
        const id = String(await c.sendCommand(['CLIENT', 'ID']));
        expect(s.tracking).toBe(false);
        await server.command('ACL', 'SETUSER', 'nrtracker', '+client|tracking');
        await until(() => s.tracking);
        expect(changes).toEqual([true]);
        expect(await trackingFlags(c)).toEqual(expect.arrayContaining(['on', 'optin']));
        // The same connection: tried again, not reconnected.
        expect(String(await c.sendCommand(['CLIENT', 'ID']))).toBe(id);
      } finally {
        await s.close();
      }
    } finally {
      await server.command('ACL', 'DELUSER', 'nrtracker');
    }
  });

  it('reads issued in one tick go out as one MGET', async () => {
    const s = store(await client());
    try {
      await s.set('a', Buffer.from('1'), undefined);
      await server.resetStats();
      const got = await Promise.all(['a', 'b', 'a', 'c', 'd'].map((k) => s.get(k)));
      expect(got.map((b) => b?.toString() ?? null)).toEqual(['1', null, '1', null, null]);
      const calls = await server.commandCalls();
      expect(calls.mget).toBe(1);
      expect(calls.get).toBeUndefined();
    } finally {
      await s.close();
    }
  });

  it('close() leaves the client open without tracking or listeners of the store, and closes the subscriber it opened', async () => {
    const c = (await client()) as TestNodeRedisClient & { listenerCount(event: string): number };
    const before = { error: c.listenerCount('error'), ready: c.listenerCount('ready'), connections: await connections() };
    const t = createTrove({ redis: c, prefix: 'close', commandTimeout: TEST_COMMAND_TIMEOUT });
    await t.ready();
    await until(() => t.stats().near?.live === true);
    await t.region('r').set('k', 'v');
    expect(await connections()).toBe(before.connections + 1); // the subscriber
    expect(await trackingFlags(c)).toEqual(expect.arrayContaining(['on', 'optin']));
    await t.close();
    expect(c.isOpen && c.isReady).toBe(true);
    expect(c.listenerCount('error')).toBe(before.error);
    expect(c.listenerCount('ready')).toBe(before.ready);
    await until(async () => (await connections()) === before.connections);
    expect(await trackingFlags(c)).toEqual(['off']);
    expect(await c.sendCommand(['GET', 'close:0:r:k'])).not.toBeUndefined(); // still usable
  });

  it('while the client reconnects, operations fail at once; a stalled server answers by the deadline', async () => {
    const own = await RedisServer.start();
    const c = await nodeRedisClient(own.url);
    const s = store(c, 300);
    try {
      await s.set('k', Buffer.from('v'), undefined);
      own.pause();
      const t0 = performance.now();
      await expect(s.get('k')).rejects.toBeInstanceOf(StoreTimeoutError);
      expect(performance.now() - t0).toBeLessThan(2_000);
      own.resume();
      expect((await s.get('k'))?.toString()).toBe('v');
      await own.kill();
      await until(() => !c.isReady);
      const t1 = performance.now();
      const err = await s.get('k').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreError);
      expect((err as Error).message).toContain('not connected');
      expect(performance.now() - t1).toBeLessThan(100);
      await own.restart();
      await until(() => c.isReady);
      expect(await s.get('k')).toBeNull(); // a fresh server without persistence
    } finally {
      await s.close();
      c.destroy();
      await own.stop();
    }
  });
  it('a subscriber (no tracking) whose connection goes silent for good is PINGed, reported and replaced by a new one', async () => {
    const proxy = await TcpProxy.start(server.port);
    const errors: Error[] = [];
    let sub: NodeRedisSubscriber | undefined;
    try {
      // The user's client reaches Redis through the proxy, and so does the subscriber's duplicate of it.
      const main = await nodeRedisClient(proxy.url);
      clients.push(main);
      sub = new NodeRedisSubscriber(main as unknown as NodeRedisConnection, { commandTimeoutMs: 250, checkIntervalMs: 100, onError: (e) => errors.push(e) });
      const subscriber = sub;
      const messages: string[] = [];
      await subscriber.subscribe('news', { onMessage: (m) => messages.push(String(m)) });
      await until(() => subscriber.live);
      await expectSilentSubscriberReplaced({ proxies: [proxy], subscriber, errors, messages, publish: (m) => server.command('PUBLISH', 'news', m) });
    } finally {
      await sub?.close();
      await proxy.close();
    }
  });
});

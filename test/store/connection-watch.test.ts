/**
 * A connection the store owns that goes silent (replies awaited, not a byte back) is dropped after
 * the silence limit and reconnected, with one error reported; a client handed over is left alone.
 * The silence comes from a TCP proxy that swallows the bytes of its open connections for good while
 * new ones pass, as a failover behind a NAT or load balancer does: no reset ever reaches the
 * client, so without the watch ioredis would wait for the kernel (about 15 minutes on Linux).
 */
import { Cluster, Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { silenceLimitMs } from '../../src/store/connection.js';
import { createStore } from '../../src/store/create-store.js';
import { defaultClientOptions, RedisStore } from '../../src/store/redis-store.js';
import { Subscriber } from '../../src/store/subscriber.js';
import { expectSilentSubscriberReplaced } from '../helpers/silent-subscriber.js';
import { RedisCluster } from '../../tools/redis-cluster.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { until, useRedisServer } from '../helpers/troves.js';

const redis = useRedisServer();
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const TIMEOUT_MS = 200;
/** 1000 ms for the deadline above. */
const SILENT_MS = silenceLimitMs(TIMEOUT_MS);

interface Watched {
  proxy: TcpProxy;
  store: RedisStore;
  client: Redis;
  errors: Error[];
}

/** A store behind its own proxy; `owned` as createTrove sets it (true: the store made the client). */
async function open(owned: boolean, beforeConnect?: (proxy: TcpProxy) => void): Promise<Watched> {
  const proxy = await TcpProxy.start(redis.server.port);
  cleanups.push(() => proxy.close());
  beforeConnect?.(proxy);
  const client = new Redis(proxy.url, defaultClientOptions(TIMEOUT_MS));
  const errors: Error[] = [];
  const store = new RedisStore(client, { commandTimeoutMs: TIMEOUT_MS, owned, listener: { onConnectionError: (e) => errors.push(e) } });
  cleanups.push(async () => {
    await store.close();
    if (!owned) client.disconnect();
  });
  return { proxy, store, client, errors };
}

/** Reads `key` until the store answers it (failures while the connection is down are expected). */
async function readsAgain(store: Pick<RedisStore, 'get'>, key: string): Promise<string> {
  let value: string | undefined;
  await until(
    async () => {
      value = await store.get(key).then(
        (b) => b?.toString(),
        () => undefined,
      );
      return value !== undefined;
    },
    20_000,
    `the store to answer ${key} again`,
  );
  return value!;
}

const silenced = (errors: readonly Error[]) => errors.filter((e) => e.message.startsWith(`Redis sent nothing for ${SILENT_MS} ms`));

describe('ConnectionWatch', () => {
  it('a connection silent for good with a read awaited is dropped once, reported, and a new one answers', async () => {
    const seed = seeded();
    await seed.client.set('k', 'v1');
    const w = await open(true);
    expect(await readsAgain(w.store, 'k')).toBe('v1');
    expect(w.proxy.acceptedCount).toBe(1);

    w.proxy.blackholeOpen();
    await expect(w.store.get('k')).rejects.toThrow(/deadline/);
    await seed.client.set('k', 'v2');
    expect(await readsAgain(w.store, 'k')).toBe('v2');

    expect(w.proxy.acceptedCount).toBe(2);
    expect(silenced(w.errors).map((e) => e.message)).toEqual([
      `Redis sent nothing for ${SILENT_MS} ms on a connection with commands awaiting replies: reconnecting it`,
    ]);
  });

  it('a connection whose ready check is never answered is started over, and the next one answers', async () => {
    const seed = seeded();
    await seed.client.set('k', 'v1');
    const w = await open(true, (proxy) => proxy.holdRepliesOfNext());
    expect(await readsAgain(w.store, 'k')).toBe('v1');

    expect(w.proxy.acceptedCount).toBe(2);
    expect(silenced(w.errors).map((e) => e.message)).toEqual([
      `Redis sent nothing for ${SILENT_MS} ms on a connection with its ready check awaiting replies: reconnecting it`,
    ]);
  });

  it('a quiet connection with nothing awaited is kept, and a client handed over is never dropped', async () => {
    const seed = seeded();
    await seed.client.set('k', 'v1');
    const quiet = await open(true);
    const handed = await open(false);
    const silent = await open(true);
    for (const w of [quiet, handed, silent]) expect(await readsAgain(w.store, 'k')).toBe('v1');

    // The handed-over client and the owned one go silent together, each with a read awaited.
    handed.proxy.blackholeOpen();
    silent.proxy.blackholeOpen();
    await Promise.all([expect(handed.store.get('k')).rejects.toThrow(/deadline/), expect(silent.store.get('k')).rejects.toThrow(/deadline/)]);
    // Once the owned one has been silent long enough to be dropped, so has the other.
    expect(await readsAgain(silent.store, 'k')).toBe('v1');

    expect(handed.proxy.acceptedCount).toBe(1);
    expect(handed.client.status).toBe('ready');
    expect(silenced(handed.errors)).toEqual([]);
    expect(quiet.proxy.acceptedCount).toBe(1);
    expect(silenced(quiet.errors)).toEqual([]);
    expect(silent.proxy.acceptedCount).toBe(2);
  });
});

/**
 * A 3-master cluster whose every node is reached through a proxy of its own: `natMap` maps the
 * addresses the nodes announce to their proxies. Stopped after the test.
 */
async function clusterBehindProxies(): Promise<{ cluster: RedisCluster; proxies: TcpProxy[]; natMap: Record<string, { host: string; port: number }> }> {
  const cluster = await RedisCluster.start({ masters: 3 });
  cleanups.push(() => cluster.stop());
  const proxies = await Promise.all(cluster.masters().map((m) => TcpProxy.start(m.port)));
  for (const p of proxies) cleanups.push(() => p.close());
  const natMap = Object.fromEntries(cluster.masters().map((m, i) => [`127.0.0.1:${m.port}`, { host: '127.0.0.1', port: proxies[i]!.port }]));
  return { cluster, proxies, natMap };
}

describe('ConnectionWatch on a Cluster Trove made', () => {
  it("the Cluster's node connections silent for good are dropped, and the nodes are reached again on new ones", { timeout: 90_000 }, async () => {
    const { proxies, natMap } = await clusterBehindProxies();
    const errors: Error[] = [];
    const store = createStore({
      redis: { cluster: proxies.map((p) => p.url), natMap },
      memory: undefined,
      commandTimeoutMs: TIMEOUT_MS,
      listener: { onConnectionError: (e) => errors.push(e) },
    });
    cleanups.push(() => store.close());
    const keys = Array.from({ length: 30 }, (_, i) => `k${i}`);
    await until(
      async () =>
        await store.set('k0', Buffer.from('v'), undefined).then(
          () => true,
          () => false,
        ),
      20_000,
      'the cluster to take writes',
    );
    for (const k of keys) await store.set(k, Buffer.from(`v-${k}`), undefined);
    const before = proxies.map((p) => p.acceptedCount);

    for (const p of proxies) p.blackholeOpen();
    await expect(store.get('k0')).rejects.toThrow(/deadline/);
    // Every key, whichever node holds it, is answered again.
    for (const k of keys) expect(await readsAgain(store, k)).toBe(`v-${k}`);

    for (const [i, p] of proxies.entries()) expect(p.acceptedCount, `node ${i}'s connections`).toBeGreaterThan(before[i]!);
    expect(silenced(errors).length).toBeGreaterThanOrEqual(1);
  });
});

describe("a Cluster's pub/sub connection gone silent", () => {
  // ioredis subscribes on one node's connection of its own, and would send a PING on another:
  // the subscriber publishes to a channel of its own instead and expects the message back.
  it('is found by a message published to it that never comes back, reported, and started over', { timeout: 90_000 }, async () => {
    const { cluster, proxies, natMap } = await clusterBehindProxies();
    const open = () =>
      new Cluster(
        proxies.map((p) => ({ host: '127.0.0.1', port: p.port })),
        { natMap, redisOptions: { disconnectTimeout: 50 } },
      );
    const errors: Error[] = [];
    const subscriber = new Subscriber({ commandTimeoutMs: 250, checkIntervalMs: 100, onError: (e) => errors.push(e), open });
    cleanups.push(() => subscriber.close());
    const messages: string[] = [];
    await subscriber.subscribe('news', { onMessage: (m) => messages.push(String(m)) });
    await until(() => subscriber.live, 20_000);
    // Checked while nothing is wrong: the probe comes back, nothing is reported.
    const publisher = cluster.masters()[0]!;
    await publisher.server.command('PUBLISH', 'news', 'first');
    await until(() => messages.includes('first'));
    expect(errors).toEqual([]);
    await expectSilentSubscriberReplaced({
      proxies,
      subscriber,
      errors,
      messages,
      publish: (m) => publisher.server.command('PUBLISH', 'news', m),
      reported: 'the pub/sub connection did not deliver a message published to it within 1000 ms: reconnecting it',
    });
  });
});

/** A plain client on the server itself, for writing what the stores read. */
function seeded(): { client: Redis } {
  const client = new Redis(redis.server.port, '127.0.0.1');
  cleanups.push(() => client.quit());
  return { client };
}

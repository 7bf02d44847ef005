/**
 * Trove on Redis Sentinel, configured with ioredis's own options (`{ sentinels, name }`): it
 * computes once and reads back, keeps answering while the primary is killed and replaced, writes
 * to the new primary afterwards, and its near cache serves nothing older than what was written
 * on the new primary once tracking is back.
 */
import { Redis, type RedisOptions } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTrove, StoreError, type Trove } from '../../src/index.js';
import { until } from '../helpers/troves.js';
import { RedisSentinelSetup } from '../../tools/redis-sentinel.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';

let setup: RedisSentinelSetup;
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);
const cleanups: (() => Promise<void> | void)[] = [];

beforeAll(async () => {
  process.on('unhandledRejection', onUnhandled);
  setup = await RedisSentinelSetup.start({ replicas: 1, sentinels: 3 });
}, 60_000);

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

afterAll(async () => {
  process.off('unhandledRejection', onUnhandled);
  await setup?.stop();
});

/** A trove on a Sentinel setup through ioredis options, closed after the test. */
function sentinelTrove(prefix: string, on = setup, extra: RedisOptions = {}): { trove: Trove; errors: Error[] } {
  const trove = createTrove({ redis: { sentinels: on.sentinels, name: on.name, ...extra }, prefix, commandTimeout: 1_000 });
  const errors: Error[] = [];
  trove.on('error', (e) => errors.push(e.error));
  cleanups.push(() => trove.close());
  return { trove, errors };
}

/** A second process's view: its own ioredis Sentinel client, no near cache. */
function writer(prefix: string, on = setup): Trove {
  const client = new Redis({ sentinels: on.sentinels, name: on.name });
  client.on('error', () => {});
  const trove = createTrove({ redis: client, prefix, nearCache: false });
  cleanups.push(async () => {
    await trove.close();
    client.disconnect();
  });
  return trove;
}

describe('Trove on Redis Sentinel (ioredis sentinels/name options)', () => {
  it('getOrSet computes once and the value is read back, from the primary', async () => {
    const { trove, errors } = sentinelTrove('once');
    await trove.ready();
    const r = trove.region<string>('r');
    let calls = 0;
    const got = await Promise.all(
      Array.from({ length: 8 }, () =>
        r.getOrSet('k', async () => {
          calls++;
          return 'computed';
        }),
      ),
    );
    expect(got).toEqual(Array(8).fill('computed'));
    expect(calls).toBe(1);
    expect(await r.get('k')).toBe('computed');
    const { port } = await setup.primary();
    expect((await setup.server(port).keys()).some((k) => k.startsWith('once:'))).toBe(true);
    expect(errors).toEqual([]);
  });

  it('keeps answering through a failover; afterwards it writes to the new primary and its near cache is never older than the new primary', async () => {
    const { trove, errors } = sentinelTrove('fo');
    await trove.ready();
    await until(() => trove.stats().near?.live === true, 10_000);
    const r = trove.region<string>('r');
    const tiers: string[] = [];
    trove.on('hit', (e) => tiers.push(e.tier));

    await r.set('a', 'v0');
    // The copy is held locally before the failover (a PING lost to a busy machine may drop it once).
    await until(async () => {
      tiers.length = 0;
      return (await r.get('a')) === 'v0' && tiers.at(-1) === 'near';
    }, 10_000);
    // Replication is asynchronous: the replica has every write before the kill.
    const { port } = await setup.primary();
    expect(await setup.server(port).command('WAIT', 1, 5_000)).toBe('1');

    // Calls on other keys all along the failover: each answers (a value, a miss, or a StoreError).
    let polling = true;
    const outcomes: string[] = [];
    let slowest = 0;
    const poll = (async () => {
      for (let i = 0; polling; i++) {
        for (const call of [() => r.get('b'), () => r.getOrSet(`p${i % 5}`, async () => 'computed')]) {
          const t0 = Date.now();
          try {
            outcomes.push(String(await call()));
          } catch (err) {
            expect(err).toBeInstanceOf(StoreError);
            outcomes.push((err as StoreError).code);
          }
          slowest = Math.max(slowest, Date.now() - t0);
        }
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();
    // Stopped however the test ends, before the trove closes: left running, it would call a closed trove.
    cleanups.push(async () => {
      polling = false;
      await poll.catch(() => {});
    });

    const oldPort = await setup.killPrimary();
    const next = await setup.waitForFailover(oldPort);

    // Another process writes on the new primary, possibly before this trove has reconnected:
    // no invalidation of that write can reach it, so its near cache must have been emptied.
    const other = writer('fo').region<string>('r');
    await until(
      () =>
        other.set('a', 'v1').then(
          () => true,
          () => false,
        ),
      20_000,
    );
    await until(
      () => trove.stats().near?.live === true,
      20_000,
      () => `the near cache to be live again (Redis ${trove.health().redis}; errors: ${errors.map((e) => e.message).join(' | ')})`,
    );
    polling = false;
    await poll;

    expect(await r.get('a')).toBe('v1');
    expect(outcomes.length).toBeGreaterThan(0);
    expect(slowest).toBeLessThan(5_000);

    // Tracking is back: another write shows up, and from then on nothing older is ever served.
    await other.set('a', 'v2');
    await until(async () => (await r.get('a')) === 'v2');
    tiers.length = 0;
    for (let i = 0; i < 20; i++) expect(await r.get('a')).toBe('v2');
    expect(tiers).toContain('near');

    // A write after the failover lands on the new primary and is read back.
    await r.set('c', 'after');
    expect(await r.get('c')).toBe('after');
    expect((await setup.server(next.port).keys()).some((k) => k.startsWith('fo:'))).toBe(true);
    expect(await other.get('c')).toBe('after');

    expect(unhandled).toEqual([]);
  });

  // With ioredis's default options a client keeps its connection to the old primary after a
  // graceful failover until Sentinel demotes that node (about 8 s later, closing its clients):
  // reads are stale and writes are lost meanwhile. Trove turns ioredis's failoverDetector on for
  // Sentinel options, so it reconnects on Sentinel's +switch-master.
  it('follows a graceful SENTINEL FAILOVER by default: reads and writes go to the new primary', async () => {
    const own = await RedisSentinelSetup.start({ replicas: 1, sentinels: 3 });
    cleanups.push(() => own.stop());
    const { trove } = sentinelTrove('graceful', own);
    await until(() => trove.stats().near?.live === true, 10_000);
    const r = trove.region<string>('r');
    await r.set('a', 'v0');
    expect(await r.get('a')).toBe('v0');
    const { port } = await own.primary();
    expect(await own.server(port).command('WAIT', 1, 5_000)).toBe('1');

    const next = await own.failover();
    expect(next.port).not.toBe(port);
    const other = writer('graceful', own).region<string>('r');
    await until(
      () =>
        other.set('a', 'v1').then(
          () => true,
          () => false,
        ),
      10_000,
    );
    // Well before Sentinel would demote the old primary and close the trove's connection to it.
    await until(async () => (await r.get('a').catch(() => undefined)) === 'v1', 7_000);
    await until(() => trove.stats().near?.live === true, 10_000);
    await r.set('c', 'after');
    expect(await other.get('c')).toBe('after');
    for (let i = 0; i < 5; i++) expect(await r.get('a')).toBe('v1');
    expect(unhandled).toEqual([]);
  });

  // ioredis's failover detector of the connection before stays subscribed to +switch-master until
  // the next connection is up. A switch announced while that next attempt is still asking Sentinel
  // for the primary disconnects the attempt, which then ends the connection for good ("Connection
  // is closed."): seen under load after a SIGKILLed primary, with one trove's calls failing and its
  // near cache off from then on. Here the attempt is held at the sentinel until the switch is out.
  it.each([
    ['command', 'normal'],
    ['pub/sub', 'pubsub'],
  ] as const)('connects again when a +switch-master ends the %s connection while it asks Sentinel for the primary', async (_, type) => {
    const own = await RedisSentinelSetup.start({ replicas: 1, sentinels: 3 });
    cleanups.push(() => own.stop());
    const proxy = await TcpProxy.start(own.sentinels[0]!.port);
    cleanups.push(() => proxy.close());
    // One sentinel, reached through the proxy only (updateSentinels: false keeps ioredis from adding the others).
    const { trove, errors } = sentinelTrove(`revive-${type}`, own, { sentinels: [{ host: '127.0.0.1', port: proxy.port }], updateSentinels: false });
    await until(() => trove.stats().near?.live === true, 10_000);
    const r = trove.region<string>('r');
    await r.set('a', 'v0');
    const { port } = await own.primary();
    expect(await own.server(port).command('WAIT', 1, 5_000)).toBe('1');

    // So far: the connections' requests to the sentinel (closed) and their failover detectors (open).
    const before = proxy.acceptedCount;
    expect(proxy.openAmongFirst(before)).toBe(2);
    proxy.holdRepliesOfNext();
    await own.server(port).command('CLIENT', 'KILL', 'TYPE', type);
    // That connection reconnects and asks the sentinel for the primary: the answer is held.
    await until(() => proxy.acceptedCount > before);
    await own.sentinelServers[0]!.command('SENTINEL', 'FAILOVER', own.name);
    // +switch-master reached both detectors: each closed its sentinel connection, the one of the
    // connection that is asking having first disconnected the attempt under way.
    await until(
      () => proxy.openAmongFirst(before) === 0,
      20_000,
      () => `the detectors to act (${proxy.openAmongFirst(before)} open)`,
    );
    proxy.releaseReplies(before);

    const next = await own.waitForFailover(port);
    await until(
      () => trove.stats().near?.live === true && trove.health().redis === 'connected',
      20_000,
      () => `the trove to be connected with its near cache live (Redis ${trove.health().redis}; errors: ${errors.map((e) => e.message).join(' | ')})`,
    );
    // Reported once connected again. (The pub/sub connection may be back while the command
    // connection, which the same switch sent reconnecting, is not: its report is then counted in
    // `suppressedErrors`, as every failure after the first while Redis is disconnected. Its case
    // shows the revival by the near cache being live again, and by the invalidation below.)
    if (type === 'normal') {
      const revived = errors.filter((e) =>
        e.message.startsWith('the driver had ended the Redis connection by itself (Connection is closed.): connected again'),
      );
      expect(revived, errors.map((e) => e.message).join(' | ')).toHaveLength(1);
    }
    expect(await r.get('a')).toBe('v0');
    await r.set('c', 'after');
    expect(await r.get('c')).toBe('after');
    // Tracking works on the new primary: another process's write reaches the near cache.
    const other = writer(`revive-${type}`, own).region<string>('r');
    expect(await other.get('c')).toBe('after');
    await other.set('a', 'v1');
    await until(async () => (await r.get('a')) === 'v1');
    expect((await own.server(next.port).keys()).some((k) => k.startsWith(`revive-${type}:`))).toBe(true);
    expect(unhandled).toEqual([]);
  });
});

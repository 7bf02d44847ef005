/**
 * Exactly-once computation across real processes: a cold key meets a burst from several worker
 * processes; the factory runs once and every caller gets its value.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTrove } from '../../src/index.js';
import { RedisServer, sleep } from '../helpers/redis-server.js';
import { percentile, runWorkers, startWorker } from './workers.js';

let server: RedisServer;
let n = 0;
let prefix = '';
beforeAll(async () => {
  server = await RedisServer.start();
});
afterAll(async () => {
  await server.stop();
});
beforeEach(() => {
  prefix = `once${++n}`;
});

const runs = async () => Number((await server.command('GET', `${prefix}:runs`)) || 0);

describe('exactly once across processes', () => {
  it('4 processes x 100 callers on one cold key: the factory runs once, everyone gets its value', async () => {
    const factoryMs = 300;
    const { results } = await runWorkers(4, { url: server.url, prefix, key: 'hot', callers: 100, factoryMs });
    const all = results.flat();
    expect(all).toHaveLength(400);
    expect(all.every((r) => r.ok)).toBe(true);
    expect(await runs()).toBe(1);
    expect(new Set(all.map((r) => r.value)).size).toBe(1);
    // waiters are woken by the notification: close to the factory time, not a polling interval
    expect(
      percentile(
        all.map((r) => r.ms),
        50,
      ),
    ).toBeLessThan(factoryMs + 150);
    expect(
      percentile(
        all.map((r) => r.ms),
        99,
      ),
    ).toBeLessThan(factoryMs + 400);
    // the lock is gone and exactly the value key remains
    const keys = (await server.keys()).filter((k) => k.startsWith(`${prefix}:`) && !k.startsWith(`${prefix}:0:__`)).sort();
    expect(keys).toHaveLength(2);
    expect(keys[0]).toMatch(new RegExp(`^${prefix}:0:w(@[^:]+)?:hot$`));
    expect(keys[1]).toBe(`${prefix}:runs`);
  });

  it("onCold 'fail': the processes that lost the race get ColdCacheError at once", async () => {
    const factoryMs = 400;
    const { results } = await runWorkers(4, { url: server.url, prefix, key: 'k', callers: 20, factoryMs, region: { onCold: 'fail' } });
    expect(await runs()).toBe(1);
    const winners = results.filter((list) => list.every((r) => r.ok));
    const losers = results.filter((list) => list.every((r) => !r.ok));
    expect(winners).toHaveLength(1);
    expect(losers).toHaveLength(3);
    for (const list of losers) {
      for (const r of list) {
        expect(r.code).toBe('COLD_CACHE');
        expect(r.ms).toBeLessThan(factoryMs / 2);
      }
    }
  });

  it('SIGKILL of the lock holder: another process takes over when the lease lapses; nobody hangs', async () => {
    const lease = 600;
    const holder = startWorker({ url: server.url, prefix, key: 'k', callers: 5, factoryMs: 60_000, announce: true, region: { lockLease: lease } });
    await holder.ready;
    holder.go();
    await holder.computing;
    const t0 = Date.now();
    const others = await Promise.all(
      [0, 1, 2].map(() => startWorker({ url: server.url, prefix, key: 'k', callers: 50, factoryMs: 100, region: { lockLease: lease } })),
    );
    await Promise.all(others.map((w) => w.ready));
    for (const w of others) w.go();
    await sleep(100);
    holder.child.kill('SIGKILL');
    const done = await Promise.all(others.map((w) => w.done));
    const all = done.flatMap((d) => d?.results ?? []);
    expect(all).toHaveLength(150);
    expect(all.every((r) => r.ok)).toBe(true);
    expect(new Set(all.map((r) => r.value)).size).toBe(1); // one taker computed for all
    expect(await runs()).toBe(2); // the dead holder's run, and exactly one takeover
    expect(Date.now() - t0).toBeLessThan(5_000);
  });

  it('FLUSHALL during the factory: the holder still answers and stores its value', async () => {
    const w = startWorker({ url: server.url, prefix, key: 'k', callers: 10, factoryMs: 400, announce: true });
    await w.ready;
    w.go();
    await w.computing;
    await server.flushall();
    const out = await w.done;
    expect(out?.results.every((r) => r.ok)).toBe(true);
    expect(new Set(out?.results.map((r) => r.value)).size).toBe(1);
    // The region's part of the key carries its generation (`w@<token>`) once the table exists.
    expect(await server.command('KEYS', `${prefix}:0:w*:k`)).toMatch(new RegExp(`^${prefix}:0:w(@[^:]+)?:k$`));
    expect(await server.command('KEYS', `${prefix}:0:__lock:*`)).toBe('');
  });

  it('a stale key across 4 processes: answered stale at once, refreshed exactly once', async () => {
    const seed = startWorker({ url: server.url, prefix, key: 'k', callers: 1, factoryMs: 1, region: { ttl: '1m', freshFor: 200 } });
    await seed.ready;
    seed.go();
    await seed.done;
    await sleep(300);
    const factoryMs = 300;
    const { runs: workers, results } = await runWorkers(4, {
      url: server.url,
      prefix,
      key: 'k',
      callers: 50,
      factoryMs,
      lingerMs: factoryMs + 300,
      region: { ttl: '1m', freshFor: 200 },
    });
    const all = results.flat();
    expect(all.every((r) => r.ok)).toBe(true);
    // every caller got the stale value without waiting for the 300 ms refresh
    expect(
      percentile(
        all.map((r) => r.ms),
        99,
      ),
    ).toBeLessThan(factoryMs);
    expect(new Set(all.map((r) => r.value)).size).toBe(1);
    expect(await runs()).toBe(2); // the seed, and exactly one refresh
    // the refreshed value is in place, computed by one of the four (read without getOrSet, which
    // would start a refresh of its own: freshFor has long passed by now)
    const reader = createTrove({ redis: server.url, prefix });
    try {
      const stored = await reader.region('w').get<{ computedBy: number }>('k');
      expect(stored?.computedBy).not.toBe(all[0]!.value);
      expect(workers.map((w) => w.child.pid)).toContain(stored?.computedBy);
    } finally {
      await reader.close();
    }
  });
});

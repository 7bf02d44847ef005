/**
 * Exactly-once computation across real processes: a cold key meets a burst from several worker
 * processes; the factory runs once and every caller gets its value.
 *
 * Where a factory must still be running at some point, it waits on a gate (a Redis list the test
 * pushes to); where only a notification can end a wait, the lease and waitTimeout are far beyond
 * the test's own timeout. Once per driver: every worker's trove runs on ioredis, or on node-redis.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTrove } from '../../src/index.js';
import { type Driver, drivers } from '../helpers/drivers.js';
import { RedisServer } from '../helpers/redis-server.js';
import { missLocksUnder } from '../helpers/locks.js';
import { until } from '../helpers/troves.js';
import * as workers from './workers.js';
import { goTogether, type WorkerOutput } from './workers.js';

/**
 * How the workers lock: claims in the value's key (troves without a near cache), lock keys (with
 * one, as the near cache's regions lock), or both in one fleet (even workers claim, odd ones take
 * lock keys: they must exclude each other).
 */
type Locking = 'claims' | 'lock keys' | 'mixed';
/** The driver and locking of the suite running (set by its beforeEach): every worker's trove uses them. */
let driver: Driver = 'ioredis';
let locking: Locking = 'claims';
/** The n-th worker's plan. */
const planOf = (plan: Record<string, unknown>, i: number) => ({ ...plan, driver, near: !(locking === 'claims' || (locking === 'mixed' && i % 2 === 0)) });
const runWorkers = (count: number, plan: Record<string, unknown>) => workers.runWorkers(count, (i) => planOf(plan, i));
const startAll = (count: number, plan: Record<string, unknown>) => workers.startAll(count, (i) => planOf(plan, i));
const startWorker = (plan: Record<string, unknown>, index = 0) => workers.startWorker(planOf(plan, index));
const setups: { d: Driver; locks: Locking }[] = [
  ...drivers.map((d) => ({ d, locks: 'claims' as const })),
  { d: 'ioredis', locks: 'lock keys' },
  { d: 'ioredis', locks: 'mixed' },
];

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
/** Opens the gate of every factory waiting on it (and of any that gets there later). */
const openGate = (gate: string) => server.command('RPUSH', gate, ...Array(16).fill('go'));
/** Far beyond the test's own timeout: a caller that waits this long has failed the test. */
const FOREVER = '120s';

function expectNoErrors(outputs: (WorkerOutput | undefined)[]): void {
  for (const o of outputs) if (o) expect(o.errors, `errors of worker ${o.pid}`).toEqual([]);
}

/**
 * 4 workers × 50 callers on a key that is stale (its seed counted as one run): every caller is
 * answered while the one refresh waits on a gate, then the gate opens. Checks that all 200 were
 * answered, that exactly one refresh ran, and that no worker reported an error.
 */
async function refreshedOnceBehind(region: Record<string, unknown>) {
  const gate = `${prefix}:gate`;
  const workers = startAll(4, { url: server.url, prefix, key: 'k', callers: 50, gate, region });
  await goTogether(workers);
  await Promise.all(workers.map((w) => w.answered));
  await until(async () => (await runs()) === 2, 20_000, 'the refresh to start');
  await openGate(gate);
  const outputs = await Promise.all(workers.map((w) => w.done));
  const all = outputs.flatMap((o) => o?.results ?? []);
  expect(all).toHaveLength(200);
  expect(all.every((r) => r.ok)).toBe(true);
  expect(await runs()).toBe(2); // the seed, and exactly one refresh
  expectNoErrors(outputs);
  return { workers, all };
}

describe.each(setups)('exactly once across processes ($d, $locks)', ({ d, locks }) => {
  beforeEach(() => {
    driver = d;
    locking = locks;
  });

  it.each([
    ['', false],
    [', each reading with the lock after a run of misses', true],
  ])('4 processes x 100 callers on one cold key%s: the factory runs once, everyone gets its value', async (_, readFirst) => {
    // Waiters are woken by the notification: with this lease and waitTimeout, nothing else would
    // end their wait before the test times out. `readFirst`: each worker first misses on keys of
    // its own until its region reads and locks in one step (see src/region/miss-share.ts).
    const { outputs } = await runWorkers(4, {
      url: server.url,
      prefix,
      key: 'hot',
      callers: 100,
      factoryMs: 300,
      readFirst,
      region: { lockLease: FOREVER, waitTimeout: FOREVER },
    });
    const all = outputs.flatMap((o) => o.results);
    expect(all).toHaveLength(400);
    expect(all.every((r) => r.ok)).toBe(true);
    expect(await runs()).toBe(1);
    expect(new Set(all.map((r) => r.value)).size).toBe(1);
    expectNoErrors(outputs);
    // the lock is gone and exactly the value key remains (with the warm-up's keys, when there was one)
    const keys = (await server.keys()).filter((k) => k.startsWith(`${prefix}:`) && !k.startsWith(`${prefix}:0:__`) && !k.includes(':warm:')).sort();
    expect(keys).toHaveLength(2);
    expect(keys[0]).toMatch(new RegExp(`^${prefix}:0:w(@[^:]+)?:hot$`));
    expect(keys[1]).toBe(`${prefix}:runs`);
    expect(await missLocksUnder(server, prefix)).toEqual([]);
  });

  it("onCold 'fail': the processes that lost the race get ColdCacheError at once", async () => {
    const gate = `${prefix}:gate`;
    const workers = startAll(4, { url: server.url, prefix, key: 'k', callers: 20, gate, region: { onCold: 'fail' } });
    await goTogether(workers);
    // The winner's factory waits on the gate: the three losers have all answered (and exited) before it ends.
    let exited = 0;
    for (const w of workers) void w.done.then(() => exited++);
    await until(() => exited === 3, 20_000, 'the three losers to answer');
    await openGate(gate);
    const outputs = await Promise.all(workers.map((w) => w.done));
    expect(await runs()).toBe(1);
    const results = outputs.map((o) => o?.results ?? []);
    const winners = results.filter((list) => list.length > 0 && list.every((r) => r.ok));
    const losers = results.filter((list) => list.length > 0 && list.every((r) => !r.ok));
    expect(winners).toHaveLength(1);
    expect(losers).toHaveLength(3);
    for (const list of losers) for (const r of list) expect(r.code).toBe('COLD_CACHE');
    expectNoErrors(outputs);
  });

  it('SIGKILL of the lock holder: another process takes over when the lease lapses; nobody hangs', async () => {
    // A waitTimeout far beyond the test's own timeout: only taking over the lapsed lease can answer.
    const region = { lockLease: 600, waitTimeout: FOREVER };
    const holder = startWorker({ url: server.url, prefix, key: 'k', callers: 5, gate: `${prefix}:never`, announce: true, region });
    await holder.ready;
    holder.go();
    await holder.computing;
    const others = [1, 2, 3].map((i) => startWorker({ url: server.url, prefix, key: 'k', callers: 50, factoryMs: 100, announceWait: true, region }, i));
    await goTogether(others);
    // Every other process waits for the holder's value when it dies.
    await Promise.all(others.map((w) => w.waiting));
    holder.child.kill('SIGKILL');
    const done = await Promise.all(others.map((w) => w.done));
    const all = done.flatMap((d) => d?.results ?? []);
    expect(all).toHaveLength(150);
    expect(all.every((r) => r.ok)).toBe(true);
    expect(new Set(all.map((r) => r.value)).size).toBe(1); // one taker computed for all
    expect(await runs()).toBe(2); // the dead holder's run, and exactly one takeover
    expectNoErrors(done);
  });

  /** A worker process whose 10 callers share one computation of `k`, running once this resolves, until `gate` opens. */
  async function computingWorker(gate: string) {
    const w = startWorker({ url: server.url, prefix, key: 'k', callers: 10, gate, announce: true });
    await w.ready;
    w.go();
    await w.computing;
    return w;
  }

  /** Opens the gate: every caller of the worker answers the one computed value, which is not stored, and no lock is left. */
  async function expectAnsweredNotStored(gate: string, w: Awaited<ReturnType<typeof computingWorker>>) {
    await openGate(gate);
    const out = await w.done;
    expect(out?.results.every((r) => r.ok)).toBe(true);
    expect(new Set(out?.results.map((r) => r.value)).size).toBe(1);
    expect(await server.command('KEYS', `${prefix}:0:w*:k`)).toBe('');
    expect(await missLocksUnder(server, prefix)).toEqual([]);
    expectNoErrors([out]);
  }

  it('FLUSHALL during the factory: the holder still answers, and its value, computed before the flush, is not stored', async () => {
    const gate = `${prefix}:gate`;
    const w = await computingWorker(gate);
    await server.flushall();
    // The flush took the claim (or the lock key) with it: the write is refused.
    await expectAnsweredNotStored(gate, w);
  });

  it('delete() from another process during the factory: the holder answers, its value is not stored, the next caller computes', async () => {
    const gate = `${prefix}:gate`;
    const w = await computingWorker(gate);
    // This process deletes the key as the workers' region sees it (region 'w', same prefix). The
    // first worker claims (the key holds its marker) unless every worker takes lock keys; either
    // way no value existed.
    const claims = locking !== 'lock keys';
    const deleter = createTrove({ redis: server.url, prefix, ...(claims ? { nearCache: false } : {}), commandTimeout: 10_000 });
    try {
      const region = deleter.region('w');
      // Read first, so that keyOf names the key in the region's current generation.
      expect(await region.has('k')).toBe(false);
      if (claims) expect(await server.command('EXISTS', region.keyOf('k'))).toBe('1');
      expect(await region.delete('k')).toBe(false);
      await expectAnsweredNotStored(gate, w);
      expect(await deleter.region('w').getOrSet('k', () => 'computed after the delete')).toBe('computed after the delete');
      expect(await runs()).toBe(1);
    } finally {
      await deleter.close();
    }
  });

  it('getOrSetMany across 4 processes x 10 callers over 40 keys, 10 of them cached: each missing key computed exactly once, in few factory calls; everyone gets the same values', async () => {
    const keys = Array.from({ length: 40 }, (_, i) => `m${i}`);
    const seeder = createTrove({ redis: server.url, prefix, nearCache: false, commandTimeout: 10_000 });
    try {
      await seeder.region('w').setMany(keys.slice(0, 10).map((k) => [k, { computedBy: 0, at: 0 }] as const));
    } finally {
      await seeder.close();
    }
    const { outputs } = await runWorkers(4, { url: server.url, prefix, key: 'unused', many: keys, callers: 10, factoryMs: 50 });
    const all = outputs.flatMap((o) => o.results);
    expect(all).toHaveLength(40);
    expect(all.every((r) => r.ok)).toBe(true);
    expectNoErrors(outputs);
    const counts = await Promise.all(keys.map(async (k) => Number((await server.command('GET', `${prefix}:runs:${k}`)) || 0)));
    expect(counts).toEqual(keys.map((_, i) => (i < 10 ? 0 : 1)));
    // Every caller in every process got the same value of each key: the seeded one, or the one computation's.
    const first = all[0]!.values!;
    for (const r of all) expect(r.values).toEqual(first);
    expect(first.slice(0, 10)).toEqual(Array(10).fill(0));
    const pids = new Set(outputs.map((o) => o.pid));
    for (const by of first.slice(10)) expect(pids).toContain(by);
    // One call per process per batch of lock replies: far fewer than one per key.
    const calls = Number(await server.command('GET', `${prefix}:calls`));
    expect(calls).toBeGreaterThanOrEqual(1);
    expect(calls).toBeLessThanOrEqual(12);
  });

  it('markStale() from another process: 4 processes answer the marked value at once, and it is refreshed exactly once', async () => {
    const region = { ttl: '1m' };
    const seed = startWorker({ url: server.url, prefix, key: 'k', callers: 1, factoryMs: 1, region });
    await seed.ready;
    seed.go();
    const seeded = (await seed.done)!;
    expectNoErrors([seeded]);
    const marker = createTrove({ redis: server.url, prefix, nearCache: false, commandTimeout: 10_000 });
    try {
      expect(await marker.region('w', region).markStale('k')).toBe(true);
      // Every caller in every process is answered the marked value while the one refresh waits.
      const { workers, all } = await refreshedOnceBehind(region);
      expect(new Set(all.map((r) => r.value))).toEqual(new Set([seeded.results[0]!.value]));
      const stored = await marker.region('w', region).get<{ computedBy: number }>('k');
      expect(workers.map((w) => w.child.pid)).toContain(stored?.computedBy);
      expect((await marker.region('w', region).ttlOf('k'))!.freshForMs).toBeGreaterThan(50_000);
    } finally {
      await marker.close();
    }
  });

  it('a stale key across 4 processes: answered stale at once, refreshed exactly once', async () => {
    const region = { ttl: '1m', freshFor: 200 };
    const seed = startWorker({ url: server.url, prefix, key: 'k', callers: 1, factoryMs: 1, region });
    await seed.ready;
    seed.go();
    expectNoErrors([await seed.done]);
    // Read without getOrSet, which would start a refresh of its own once freshFor has passed.
    const reader = createTrove({ redis: server.url, prefix, nearCache: false, commandTimeout: 10_000 });
    try {
      let stale = false;
      reader.on('hit', (e) => {
        stale = e.stale;
      });
      // The seed is stale by the workers' clock too: it is one clock, this machine's.
      await until(async () => {
        await reader.region('w', region).get('k');
        return stale;
      });
      // Every caller in every process is answered while the one refresh waits.
      const { workers, all } = await refreshedOnceBehind(region);
      expect(new Set(all.map((r) => r.value)).size).toBe(1);
      // the refreshed value is in place, computed by one of the four
      const stored = await reader.region('w', region).get<{ computedBy: number }>('k');
      expect(stored?.computedBy).not.toBe(all[0]!.value);
      expect(workers.map((w) => w.child.pid)).toContain(stored?.computedBy);
    } finally {
      await reader.close();
    }
  });
});

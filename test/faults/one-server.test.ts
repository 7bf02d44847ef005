/**
 * Faults of one redis-server, each struck while three troves (three processes' worth of
 * connections, lock tokens and near caches) run fault-load's mixed load: SIGKILL and restart,
 * SIGSTOP for 3 s, a TCP-proxy blackhole, FLUSHALL during a locked factory, SIGKILL of a lock
 * holder in another process, and `maxmemory` with `allkeys-lru` evicting under write load. Each
 * asserts its figures, checks that once the fault is over every near cache answers what another
 * trove wrote, and prints one line of figures.
 */
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import type { Trove, TroveOptions } from '../../src/index.js';
import { markerOf } from '../helpers/locks.js';
import { RedisServer, sleep } from '../helpers/redis-server.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { until, useTroves } from '../helpers/troves.js';
import { deferred } from '../load/support.js';
import { startWorker } from '../load/workers.js';
import {
  checkFreshness,
  type Entry,
  expectSound,
  FAULT_TIMEOUT,
  FaultLoad,
  FRESHNESS_BOUND_MS,
  freshFigures,
  keyNames,
  openTroves,
  printFigures,
  recover,
  warm,
  writerOf,
} from './fault-load.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
// Registered after the hook above, so it runs before it: troves close before their servers.
const troves = useTroves(() => ({}));

/** The SIGSTOP fault is a pause of this length: the one place the suite waits on the clock. */
const PAUSE_MS = 3_000;

let n = 0;

async function server(args: string[] = []): Promise<RedisServer> {
  const s = await RedisServer.start({ args });
  cleanups.push(() => s.stop());
  return s;
}

/** A server with a TCP proxy in front of it, closed after the test. */
async function serverBehindProxy(): Promise<{ s: RedisServer; proxy: TcpProxy }> {
  const s = await server();
  const proxy = await TcpProxy.start(s.port);
  cleanups.push(() => proxy.close());
  return { s, proxy };
}

const open = (count: number, opts: TroveOptions) => openTroves(troves, count, opts);
const writer = (opts: TroveOptions, region: string) => writerOf(troves, opts, region);

// A worker process to start, servers to restart: slower on a loaded machine than the harness's 30 s allow.
describe('faults of one redis-server under load', { timeout: 60_000 }, () => {
  it('SIGKILL and restart of Redis mid-load: calls are answered throughout, near caches answer new writes once it is back', async () => {
    troves.expectErrors();
    const s = await server();
    const opts = { redis: s.url, prefix: `kill${++n}`, commandTimeout: FAULT_TIMEOUT };
    const ts = await open(3, opts);
    const keys = keyNames(40);
    const load = new FaultLoad({ troves: ts, region: 'r', keys });
    await warm(load);
    load.phase = 'fault';
    await s.kill();
    await until(() => load.figures().answeredInFault >= 300, 20_000, 'calls answered while Redis is down');
    await s.restart();
    const recoveredInMs = await recover(load);
    const f = await load.stop();
    const fresh = await checkFreshness(ts, 'r', keys, writer(opts, 'r'));

    expectSound(f);
    // README: while Redis is down, reads answer a miss and getOrSet computes (each run answered, not stored).
    expect(f.phases.fault.misses).toBeGreaterThan(0);
    expect(f.phases.fault.factoryRuns).toBeGreaterThan(0);
    expect(f.phases.fault.factoryRuns).toBeLessThanOrEqual(f.phases.fault.getOrSets);
    expect(Object.keys(f.errorEvents).some((e) => e.endsWith(' STORE'))).toBe(true);
    // README: the near cache is emptied while tracking is down.
    for (const resets of f.nearResets) expect(resets).toBeGreaterThan(0);
    expect(fresh.lastStaleMs).toBeLessThanOrEqual(FRESHNESS_BOUND_MS);
    printFigures('sigkill-restart', f, { answeredInFault: f.answeredInFault, recoveredInMs, ...freshFigures(fresh) });
  });

  it('SIGSTOP of Redis for 3 s mid-load: calls begun during the pause are answered by their deadline, and every call settles', async () => {
    troves.expectErrors();
    const s = await server();
    const opts = { redis: s.url, prefix: `stop${++n}`, commandTimeout: FAULT_TIMEOUT };
    const ts = await open(3, opts);
    const keys = keyNames(40);
    const load = new FaultLoad({ troves: ts, region: 'r', keys });
    await warm(load);
    load.phase = 'fault';
    s.pause();
    try {
      await sleep(PAUSE_MS);
    } finally {
      s.resume();
    }
    const recoveredInMs = await recover(load);
    const f = await load.stop();
    const fresh = await checkFreshness(ts, 'r', keys, writer(opts, 'r'));

    expectSound(f);
    // Answered while the server was still stopped: by the deadline, not by Redis.
    expect(f.answeredInFault).toBeGreaterThan(0);
    expect(Object.keys(f.errorEvents).some((e) => e.endsWith(' STORE_TIMEOUT'))).toBe(true);
    // README: a subscriber that stops answering PING empties the near cache.
    for (const resets of f.nearResets) expect(resets).toBeGreaterThan(0);
    expect(fresh.lastStaleMs).toBeLessThanOrEqual(FRESHNESS_BOUND_MS);
    printFigures('sigstop-3s', f, { callsInFault: f.phases.fault.calls, answeredInFault: f.answeredInFault, recoveredInMs, ...freshFigures(fresh) });
  });

  it('a TCP-proxy blackhole mid-load: calls are answered, every near cache is emptied, and fresh once the partition ends', async () => {
    troves.expectErrors();
    const { s, proxy } = await serverBehindProxy();
    const opts = { redis: proxy.url, prefix: `hole${++n}`, commandTimeout: FAULT_TIMEOUT };
    const ts = await open(3, opts);
    const keys = keyNames(40);
    const load = new FaultLoad({ troves: ts, region: 'r', keys });
    await warm(load);
    load.phase = 'fault';
    proxy.blackhole = true;
    // README bounds this by pingInterval plus the PING's deadline (1.5 s here): printed, as a
    // wall-clock figure; what is asserted is that every near cache was emptied.
    const noticedInMs = await until(() => ts.every((t) => t.stats().near?.live === false), 20_000, 'every trove to notice the partition');
    // Each call there waits out its deadline: 12 callers answer about 30 calls a second.
    await until(() => load.figures().answeredInFault >= 50, 20_000, 'calls answered during the partition');
    // The partition ends as TCP ends one: the connections that lost bytes are reset (the proxy
    // dropped bytes, which TCP never does, so a connection that lived through it would be out of step).
    proxy.cutAll();
    proxy.blackhole = false;
    const recoveredInMs = await recover(load);
    const f = await load.stop();
    const fresh = await checkFreshness(ts, 'r', keys, writer({ ...opts, redis: s.url }, 'r'));

    expectSound(f);
    expect(f.answeredInFault).toBeGreaterThanOrEqual(50);
    expect(Object.keys(f.errorEvents).some((e) => e.endsWith(' STORE_TIMEOUT'))).toBe(true);
    for (const resets of f.nearResets) expect(resets).toBeGreaterThan(0);
    expect(fresh.lastStaleMs).toBeLessThanOrEqual(FRESHNESS_BOUND_MS);
    printFigures('blackhole', f, { answeredInFault: f.answeredInFault, noticedInMs, recoveredInMs, ...freshFigures(fresh) });
  });

  it('the open connections black-holed for good, new ones passing (a failover behind a NAT): calls are answered, every trove reconnects by itself, fresh again', async () => {
    troves.expectErrors();
    const { s, proxy } = await serverBehindProxy();
    const opts = { redis: proxy.url, prefix: `lost${++n}`, commandTimeout: FAULT_TIMEOUT };
    const ts = await open(3, opts);
    const silences = ts.map(() => 0);
    for (const [i, t] of ts.entries()) {
      t.on('error', (e) => {
        if (e.error.message.startsWith('Redis sent nothing for 1600 ms')) silences[i]!++;
      });
    }
    const keys = keyNames(40);
    const load = new FaultLoad({ troves: ts, region: 'r', keys });
    await warm(load);
    load.phase = 'fault';
    const connectionsBefore = proxy.acceptedCount;
    // No reset ever comes for these: nothing but the troves themselves can end this partition.
    proxy.blackholeOpen();
    await until(() => ts.every((t) => t.stats().near?.live === false), 20_000, 'every trove to notice the partition');
    await until(() => load.figures().answeredInFault >= 50, 20_000, 'calls answered during the partition');
    const recoveredInMs = await recover(load);
    const f = await load.stop();
    const fresh = await checkFreshness(ts, 'r', keys, writer({ ...opts, redis: s.url }, 'r'));

    expectSound(f);
    // README: a command connection silent for 4 × commandTimeout with replies awaited is dropped and reported.
    for (const [i, count] of silences.entries()) expect(count, `trove ${i}'s silence reports`).toBeGreaterThanOrEqual(1);
    // Each trove's command and pub/sub connections were given up and opened anew.
    expect(proxy.acceptedCount - connectionsBefore).toBeGreaterThanOrEqual(2 * ts.length);
    for (const resets of f.nearResets) expect(resets).toBeGreaterThan(0);
    expect(fresh.lastStaleMs).toBeLessThanOrEqual(FRESHNESS_BOUND_MS);
    printFigures('blackhole-for-good', f, { answeredInFault: f.answeredInFault, recoveredInMs, ...freshFigures(fresh) });
  });

  it('the open connections black-holed for good, no near cache: both connections of each trove start over, and a waiter in another process is woken by the notification', async () => {
    troves.expectErrors();
    const { s, proxy } = await serverBehindProxy();
    const opts = { redis: proxy.url, prefix: `lostpub${++n}`, commandTimeout: FAULT_TIMEOUT, nearCache: false as const };
    const [a, b] = await open(2, opts);
    const reports = [a!, b!].map((t) => {
      const seen: string[] = [];
      t.on('error', (e) => seen.push(e.error.message));
      return seen;
    });
    // Far beyond the test's own waits: only the holder's notification can end the wait below.
    const ra = a!.region<string>('w', { lockLease: '60s', waitTimeout: '60s' });
    const rb = b!.region<string>('w', { lockLease: '60s', waitTimeout: '60s' });
    await ra.set('before', 'v');
    expect(await rb.get('before')).toBe('v');

    proxy.blackholeOpen();
    await until(async () => (await rb.get('before').catch(() => undefined)) === 'v', 20_000, 'reads to be answered again');
    await until(async () => (await ra.get('before').catch(() => undefined)) === 'v', 20_000, 'reads to be answered again');

    let runs = 0;
    const gate = deferred<string>();
    const first = ra.getOrSet('k', () => {
      runs++;
      return gate.promise;
    });
    await until(async () => (await s.command('GET', ra.keyOf('k'))).startsWith(markerOf('')), 20_000, 'the claim');
    const waiting = rb.getOrSet('k', () => {
      runs++;
      return 'computed by the waiter';
    });
    // The waiter marks the claim (a `+`), which makes the holder announce its value.
    await until(async () => (await s.command('GET', ra.keyOf('k'))).endsWith('+'), 20_000, 'the waiter to mark the claim');
    gate.resolve('from a');
    expect(await first).toBe('from a');
    let answer: string | undefined;
    void waiting.then((v) => {
      answer = v;
    });
    await until(
      () => answer !== undefined,
      20_000,
      () => `the waiter to be answered (errors: ${reports.flat().join(' | ')})`,
    );
    expect(answer).toBe('from a');
    expect(runs).toBe(1);
    // Nothing is awaited on an idle pub/sub connection: each trove's was found silent by its own PING.
    for (const seen of reports) expect(seen.filter((m) => m.startsWith('the pub/sub connection did not answer PING'))).not.toEqual([]);
    expect(proxy.acceptedCount).toBeGreaterThanOrEqual(8);
  });

  it('FLUSHALL while a factory holds the lock: the holder answers but does not store, its waiters compute once, the new epoch once', async () => {
    // No outage here: the harness's long deadline, and any error event fails the test.
    const s = await server();
    const opts = { redis: s.url, prefix: `flush${++n}` };
    const ts = await open(3, opts);
    const keys = keyNames(40);
    // Waits end only by the holder's notification: a lease and waitTimeout far beyond the test.
    const regionOptions = { lockLease: '120s', waitTimeout: '120s' };
    const [a] = ts as [Trove];
    let release!: () => void;
    let started!: () => void;
    const computing = new Promise<void>((r) => {
      started = r;
    });
    const held = a.region<Entry>('r', regionOptions).getOrSet('hot', async () => {
      started();
      await new Promise<void>((r) => {
        release = r;
      });
      return { k: 'hot', v: 'holder' };
    });
    await computing;
    const load = new FaultLoad({ troves: ts, region: 'r', regionOptions, keys, coldKeys: ['hot'] });
    await warm(load);
    const oldKey = a.region('r').keyOf('hot');
    // Every other trove waits for the holder's notification on the key (trove 0 shares the holder's run).
    await until(() => ts.slice(1).every((t) => waitsFor(t, oldKey)), 20_000, 'every other trove to wait for the holder');
    load.phase = 'fault';
    await s.flushall();
    // FLUSHALL took the generation table: every trove moves to a new epoch (new keys), where the
    // key is computed once while the old holder still runs.
    await until(() => ts.every((t) => t.region('r').keyOf('hot') !== oldKey) && load.runsOf('hot') === 1, 20_000, 'the new epoch to compute the key');
    release();
    const holderAnswered = await held;
    await until(() => ts.slice(1).every((t) => !waitsFor(t, oldKey)), 20_000, "the waiters to take the holder's value");
    const recoveredInMs = await recover(load);
    const f = await load.stop();
    const fresh = await checkFreshness(ts, 'r', keys, writer(opts, 'r'));

    expectSound(f);
    expect(f.documentedErrors).toBe(0);
    // README: a FLUSHALL empties the near cache.
    for (const resets of f.nearResets) expect(resets).toBeGreaterThan(0);
    // README: a lost lock never fails a successful computation: the holder answers its value.
    // The flush came after the computation began, so the value is not stored (it may predate
    // what the flush stood for); the processes that waited for it are told at once, read again,
    // find nothing, and one of them computes (exactly once across them) in the old epoch, which no
    // reader uses any more. The new epoch computed the key once meanwhile: 3 runs in all.
    expect(holderAnswered).toEqual({ k: 'hot', v: 'holder' });
    for (let t = 1; t < ts.length; t++) expect(load.answered(t, 'hot', 'holder'), `trove ${t} answered the holder's value`).toBe(0);
    expect(await s.command('GET', oldKey)).not.toContain('holder');
    expect(load.runsOf('hot')).toBe(2);
    const keyRuns = 1 + load.runsOf('hot');
    expect(keyRuns).toBe(3);
    expect(fresh.lastStaleMs).toBeLessThanOrEqual(FRESHNESS_BOUND_MS);
    printFigures('flushall-locked-factory', f, { keyRuns, recoveredInMs, ...freshFigures(fresh) });
  });

  it('SIGKILL of the process holding the lock: its lease lapses, one trove takes over, the key is computed exactly twice', async () => {
    const s = await server();
    const prefix = `holder${++n}`;
    const opts = { redis: s.url, prefix };
    // The holder is a real process (test/load/fixtures/worker.ts, region 'w'): its factory
    // counts its run in Redis, then waits on a gate nobody opens. Its lease lapses 600 ms after it dies.
    const holder = startWorker({ url: s.url, prefix, key: 'hot', callers: 1, gate: `${prefix}:never`, announce: true, region: { lockLease: 600 } });
    cleanups.push(() => {
      holder.child.kill('SIGKILL');
    });
    await holder.ready;
    holder.go();
    await holder.computing;
    const ts = await open(3, opts);
    const keys = keyNames(40);
    // Only the lapsed lease can end the waits: a waitTimeout far beyond the test.
    const load = new FaultLoad({ troves: ts, region: 'w', regionOptions: { waitTimeout: '120s' }, keys, coldKeys: ['hot'] });
    await warm(load);
    const lockedKey = ts[0]!.region('w').keyOf('hot');
    await until(() => ts.every((t) => waitsFor(t, lockedKey)), 20_000, 'every trove to wait for the holder');
    load.phase = 'fault';
    holder.child.kill('SIGKILL');
    await holder.done;
    await until(() => ts.every((_, t) => load.answersOf(t, 'hot').length > 0), 20_000, 'every trove to answer the key');
    const recoveredInMs = await recover(load);
    const f = await load.stop();
    const fresh = await checkFreshness(ts, 'w', keys, writer(opts, 'w'));

    expectSound(f);
    expect(f.documentedErrors).toBe(0);
    // README: if the holder dies, its lease lapses and one waiter takes over. The dead holder's
    // run (counted by the worker in Redis) and exactly one takeover: 2.
    const holderRuns = Number(await s.command('GET', `${prefix}:runs`));
    expect(holderRuns).toBe(1);
    expect(load.runsOf('hot')).toBe(1);
    // Every trove answered that one value, and nothing else (the holder never stored one).
    const answers = ts.map((_, t) => load.answersOf(t, 'hot'));
    expect(new Set(answers.flat()).size).toBe(1);
    for (const list of answers) expect(list).toHaveLength(1);
    const keyRuns = holderRuns + load.runsOf('hot');
    expect(keyRuns).toBe(2);
    expect(fresh.lastStaleMs).toBeLessThanOrEqual(FRESHNESS_BOUND_MS);
    printFigures('lock-holder-sigkill', f, { keyRuns, recoveredInMs, ...freshFigures(fresh) });
  });

  it('maxmemory with allkeys-lru evicting under write load: no near cache answers anything but what Redis holds', async () => {
    const s = await server(['--maxmemory', '4mb', '--maxmemory-policy', 'allkeys-lru']);
    const raw = new Redis(s.url);
    cleanups.push(() => {
      raw.disconnect();
    });
    const opts = { redis: s.url, prefix: `lru${++n}` };
    const ts = await open(3, opts);
    // 600 values of 8 KB: 4.8 MB for a 4 MB budget.
    const keys = keyNames(600);
    const load = new FaultLoad({ troves: ts, region: 'r', keys, mix: { set: 6, get: 2, getOrSet: 2 }, padBytes: 8_000 });
    await warm(load);
    load.phase = 'fault';
    const evicted = async () => Number((await raw.info('stats')).match(/evicted_keys:(\d+)/)?.[1]);
    const evictedBefore = await evicted();
    await until(async () => (await evicted()) >= evictedBefore + 1_000, 30_000, '1,000 evictions under the load');
    const f = await load.stop();
    const oracle = writer(opts, 'r');
    // Every trove answers exactly what Redis holds: the same value, or a miss for an evicted key.
    // Redis is read first in each round, so a trove answering a value Redis no longer held then
    // answered it from its near cache after Redis had announced the eviction: a stale read,
    // timed from the stop to the start of its round. (The rounds' own large replies make Redis
    // evict more: a trove may also miss a key Redis held when it was read first.)
    const stoppedAt = performance.now();
    const stale = { reads: 0, lastMs: 0 };
    const consistentAfterMs = await until(
      async () => {
        const began = performance.now();
        const truth = await Promise.all(keys.map((k) => oracle.get(k)));
        const answers = await Promise.all(ts.map((t) => Promise.all(keys.map((k) => t.region<Entry>('r').get(k)))));
        let same = true;
        for (const list of answers) {
          list.forEach((a, i) => {
            if (a?.v === truth[i]?.v) return;
            same = false;
            if (a !== undefined) {
              stale.reads++;
              stale.lastMs = Math.max(stale.lastMs, began - stoppedAt);
            }
          });
        }
        return same;
      },
      30_000,
      'every trove to answer what Redis holds',
    );
    const evictedKeys = (await evicted()) - evictedBefore;
    const invalidations = ts.reduce((sum, t) => sum + t.stats().near!.invalidations, 0);
    // The fault is over when the memory limit is lifted.
    await s.command('CONFIG', 'SET', 'maxmemory', '0');
    const fresh = await checkFreshness(ts, 'r', keyNames(40), oracle);

    expectSound(f);
    expect(f.documentedErrors).toBe(0);
    expect(invalidations).toBeGreaterThan(0);
    expect(stale.lastMs).toBeLessThanOrEqual(FRESHNESS_BOUND_MS);
    expect(fresh.lastStaleMs).toBeLessThanOrEqual(FRESHNESS_BOUND_MS);
    printFigures('maxmemory-allkeys-lru', f, {
      evictedKeys,
      nearInvalidations: invalidations,
      consistentAfterMs,
      staleAfterStop: stale.reads,
      lastStaleAfterStopMs: stale.lastMs,
      ...freshFigures(fresh),
    });
  });
});

/** Whether trove `t` has a caller waiting for another process's notification on `full` (the key of a cold entry). */
function waitsFor(t: Trove, full: string): boolean {
  return (t as unknown as { notifier: { waiters: Map<string, Set<unknown>> } }).notifier.waiters.has(full);
}

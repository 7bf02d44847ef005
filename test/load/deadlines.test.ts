/**
 * Read-through when Redis stalls part-way through a call: once one of a call's Redis operations
 * has failed (here: timed out), the call waits on Redis no more. It computes, answers the value
 * without storing it, and lets go of any lock in the background.
 *
 * Stalls are real: `CLIENT PAUSE <ms> WRITE` lets reads through and holds every script (Redis
 * pauses all EVALSHA in WRITE mode) and everything behind it on the same connection, so for the
 * client Redis stops answering between the read and the lock, deterministically. A TcpProxy that
 * holds replies stalls a connection at a chosen point. Every test counts the `error` events: one
 * timed-out operation per call, never a second one.
 */
import { markerOf, missLockHeld } from '../helpers/locks.js';
import { afterEach, describe, expect, it } from 'vitest';
import type { Region, Trove, TroveOptions } from '../../src/index.js';
import type { Store } from '../../src/store/index.js';
import { sleep } from '../helpers/redis-server.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { until, useRedisServer, useTroves } from '../helpers/troves.js';
import { deferred, pendingOf } from './support.js';

/** Far above any round trip on this machine, and far below the pause. */
const COMMAND_TIMEOUT = 1_000;
const PAUSE_MS = 5 * COMMAND_TIMEOUT;

/** `[operation, code]` of every error event, and the keys of every set event, in order. */
function record(t: Trove) {
  const errors: [string, string][] = [];
  const sets: string[] = [];
  t.on('error', (e) => errors.push([e.operation, e.error.code]));
  t.on('set', (e) => sets.push(e.key));
  return { errors, sets };
}

let drains = 0;
/** Reads a key never written (a new one each time, so never a local hit) through the trove's connection. */
const drain = async (r: Region<string>) => expect(await r.get(`drain${++drains}`)).toBeUndefined();

/** The lock of an entry: `<prefix>:<version>:__lock:` and the rest of the entry's key. */
const lockKeyOf = (r: Region<string>, key: string) => r.keyOf(key).replace(/^([^:]*:[^:]*:)/, '$1__lock:');

describe.each(['value', 'key'] as const)('read-through when Redis stalls part-way through a call (lock in %s)', (lockIn) => {
  const redis = useRedisServer();
  let n = 0;
  // No periodic re-read of generations: nothing but the call under test talks to Redis.
  const troves = useTroves(() => ({
    redis: redis.server.url,
    commandTimeout: COMMAND_TIMEOUT,
    syncInterval: Infinity,
    lockIn,
    ...(lockIn === 'value' ? { nearCache: false } : {}),
  }));
  // Claims are made where the near cache keeps nothing: with lock keys, the near cache stays on.
  /** The key that holds an entry's miss lock: the entry's own (a claim) or its lock key. */
  const lockOf = (r: Region<string>, key: string) => (lockIn === 'value' ? r.keyOf(key) : lockKeyOf(r, key));
  /** What that key holds while `token`'s process computes. */
  const heldBy = (token: string) => (lockIn === 'value' ? markerOf(token) : token);
  const open = async (opts: TroveOptions = {}): Promise<Trove> => {
    // Every test here times an operation out on purpose, and checks the error events itself.
    troves.expectErrors();
    const t = troves.open({ prefix: `dl${++n}`, ...opts });
    await t.ready();
    // Once tracking is live the trove re-reads its generations (a script, which a pause would
    // hold): let that finish first. Each drain read follows, on the same connection, every
    // command sent before it, including a re-read chained to the previous one.
    await until(() => t.stats().near?.live !== false);
    await drain(t.region('warm-up'));
    await drain(t.region('warm-up'));
    return t;
  };
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    // Unpause first: troves close after this hook, and their QUIT must not wait out the pause.
    await redis.server.command('CLIENT', 'UNPAUSE');
    for (const c of cleanups.splice(0)) await c();
  });
  const pauseWrites = async () => expect(await redis.server.command('CLIENT', 'PAUSE', PAUSE_MS, 'WRITE')).toBe('OK');
  /**
   * Ends the pause, then reads through the trove's own connection: its reply comes after those of
   * every command the trove sent before, so they have all run when this resolves.
   */
  const unpauseAndDrain = async (r: Region<string>) => {
    expect(await redis.server.command('CLIENT', 'UNPAUSE')).toBe('OK');
    await drain(r);
  };
  const exists = (key: string) => redis.server.command('EXISTS', key);
  /** Connections whose command the pause holds (the trove's stalled command, queued behind it the rest). */
  const heldByPause = async () => Number((await redis.server.info('clients')).blocked_clients);

  it('Redis pauses between the read and the lock: one deadline, then the factory value, with no write awaited or sent', async () => {
    const t = await open();
    const ev = record(t);
    const r = t.region<string>('pause');
    const order: string[] = [];
    t.on('miss', (e) => order.push(`miss ${e.key}`));
    let calls = 0;
    await pauseWrites();
    const value = await r.getOrSet('k', async () => {
      calls++;
      order.push('factory');
      return 'computed';
    });
    order.push('resolved');
    // Still paused after the call resolved: Redis still holds its lock attempt.
    expect(await heldByPause()).toBe(1);
    expect(await missLockHeld(redis.server, r.keyOf('k'))).toBe(false);
    order.push('still paused');
    expect(value).toBe('computed');
    expect(calls).toBe(1);
    expect(order).toEqual(['miss k', 'factory', 'resolved', 'still paused']);
    expect(ev.errors).toEqual([['lock', 'STORE_TIMEOUT']]);
    expect(ev.sets).toEqual([]);
    await unpauseAndDrain(r);
    // No write was queued behind the pause either: the value is not stored, and no more errors.
    expect(await exists(r.keyOf('k'))).toBe('0');
    expect(ev.errors).toEqual([['lock', 'STORE_TIMEOUT']]);
    expect(pendingOf(t)).toEqual({ cold: 0, refreshing: 0, waits: 0 });
  });

  it('a lock attempt that timed out leaves no lock behind once Redis answers again: the next call computes at once and stores', async () => {
    const t = await open();
    const ev = record(t);
    const r = t.region<string>('orphan');
    await pauseWrites();
    expect(await r.getOrSet('k', () => 'first')).toBe('first');
    await unpauseAndDrain(r);
    // The timed-out attempt ran after the pause (taking the lock) and the release sent behind it too.
    expect(await missLockHeld(redis.server, r.keyOf('k'))).toBe(false);
    expect(await r.getOrSet('k', () => 'second', { onCold: 'fail' })).toBe('second');
    expect(await redis.server.command('PTTL', r.keyOf('k'))).not.toBe('-2');
    expect(ev.errors).toEqual([['lock', 'STORE_TIMEOUT']]);
    expect(ev.sets).toEqual(['k']);
  });

  const renewalCases = [
    { name: 'a miss', stale: false, fails: false, expected: 'computed', runsOn: 0 },
    // Long enough for a renewal sent after the failed one to time out too, if one were sent.
    { name: 'a miss that runs on for two more deadlines', stale: false, fails: false, expected: 'computed', runsOn: 2 * COMMAND_TIMEOUT },
    { name: "a 'blocking' stale refresh", stale: true, fails: false, expected: 'computed', runsOn: 0 },
    { name: 'a fail-safe answer', stale: true, fails: true, expected: 'old', runsOn: 0 },
  ] as const;
  for (const c of renewalCases) {
    it(`a lease renewal times out during the factory of ${c.name}: answered without waiting on the store again, no renewal after it`, async () => {
      const t = await open();
      const ev = record(t);
      const r = t.region<string>('renew');
      const opts = { lockLease: 300, staleRefresh: 'blocking', ttl: '1h' } as const;
      if (c.stale) {
        await r.set('k', 'old', { freshFor: 1 });
        const setAt = Date.now();
        await until(() => Date.now() > setAt + 2);
      }
      let calls = 0;
      const value = await r.getOrSet(
        'k',
        async () => {
          calls++;
          await pauseWrites();
          // Renewals go out every 100 ms; the first one behind the pause times out.
          await until(() => ev.errors.length > 0, 3 * COMMAND_TIMEOUT);
          // No event says a renewal was not sent: run on long enough for one to have timed out too.
          if (c.runsOn > 0) await sleep(c.runsOn);
          if (c.fails) throw new Error('source down');
          return 'computed';
        },
        opts,
      );
      expect(value).toBe(c.expected);
      expect(calls).toBe(1);
      const timedOut = [['lock', 'STORE_TIMEOUT']];
      const expectedErrors = c.fails ? [...timedOut, ['factory', 'FACTORY']] : timedOut;
      expect(ev.errors).toEqual(expectedErrors);
      expect(await heldByPause()).toBe(1); // resolved while Redis still holds the renewal
      await unpauseAndDrain(r);
      expect(ev.errors).toEqual(expectedErrors);
      expect(ev.sets).toEqual(c.stale ? ['k'] : []); // only the seeding set
      // Nothing was written behind the pause; the lock was let go once Redis answered.
      expect(await missLockHeld(redis.server, r.keyOf('k'))).toBe(false);
      if (c.stale) {
        const other = await open({ prefix: t.prefix, nearCache: false });
        expect(await other.region<string>('renew').get('k')).toBe('old');
      } else {
        expect(await exists(r.keyOf('k'))).toBe('0');
      }
      expect(pendingOf(t)).toEqual({ cold: 0, refreshing: 0, waits: 0 });
    });
  }

  /** A trove whose connections go through a proxy (0: the main connection, 1: the subscriber). */
  const openProxied = async (prefix: string): Promise<{ t: Trove; proxy: TcpProxy }> => {
    const proxy = await TcpProxy.start(redis.server.port);
    cleanups.push(() => proxy.close());
    const t = await open({ prefix, redis: proxy.url });
    expect(proxy.acceptedCount).toBe(2);
    return { t, proxy };
  };

  /** Waits until `r`'s trove waits for another process's notification, with its re-read done. */
  const waiting = async (t: Trove, r: Region<string>) => {
    await until(() => pendingOf(t).waits === 1);
    // The read sent right after registering the wait has been answered once this one is.
    await drain(r);
  };

  /**
   * Trove A computes `value` for key 'k' of `region` behind a gate; proxied trove B calls getOrSet
   * on it and waits for A's notification. Resolves once B waits, with its re-read done.
   */
  const behindHolder = async (region: string, value: string) => {
    const a = await open();
    const { t: b, proxy } = await openProxied(a.prefix);
    const evA = record(a);
    const evB = record(b);
    const ra = a.region<string>(region);
    const rb = b.region<string>(region);
    const gate = deferred();
    const calls = { a: 0, b: 0 };
    const holder = ra.getOrSet('k', async () => {
      calls.a++;
      await gate.promise;
      return value;
    });
    await until(() => missLockHeld(redis.server, ra.keyOf('k')));
    const waiter = rb.getOrSet('k', async () => {
      calls.b++;
      return 'from-b';
    });
    await waiting(b, rb);
    return { b, proxy, evA, evB, rb, gate, calls, holder, waiter };
  };

  it("waiting for another process's value too large to come with its notification, the re-read times out: computed here, no lock attempt, no write", async () => {
    // Over 4 KiB stored: the notification names the key only, and the waiter reads the value.
    const large = `from-a ${'x'.repeat(5_000)}`;
    const { b, proxy, evA, evB, rb, gate, calls, holder, waiter } = await behindHolder('wait', large);
    proxy.holdReplies(0);
    gate.resolve();
    expect(await holder).toBe(large);
    expect(await waiter).toBe('from-b');
    expect(calls).toEqual({ a: 1, b: 1 });
    expect(evB.errors).toEqual([['get', 'STORE_TIMEOUT']]);
    proxy.releaseReplies(0);
    // B's own connection answers with what is stored: A's value, not overwritten by B.
    expect(await rb.get('k')).toBe(large);
    expect(evB.errors).toEqual([['get', 'STORE_TIMEOUT']]);
    expect(evB.sets).toEqual([]);
    expect(evA.errors).toEqual([]);
    expect(pendingOf(b)).toEqual({ cold: 0, refreshing: 0, waits: 0 });
  });

  it("waiting for another process's small value, with every reply of the waiter's connection held: the value comes with the notification, no read", async () => {
    const { b, proxy, evA, evB, gate, calls, holder, waiter } = await behindHolder('carried', 'from-a');
    // Any read B sends now would time out and B would compute its own value.
    proxy.holdReplies(0);
    gate.resolve();
    expect(await holder).toBe('from-a');
    expect(await waiter).toBe('from-a');
    expect(calls).toEqual({ a: 1, b: 0 });
    expect(evB.errors).toEqual([]);
    expect(evA.errors).toEqual([]);
    expect(pendingOf(b)).toEqual({ cold: 0, refreshing: 0, waits: 0 });
    proxy.releaseReplies(0);
  });

  it("waiting for another process's value, the tag check of the value it stored times out: computed here, no lock attempt, no write", async () => {
    const a = await open();
    const { t: b, proxy } = await openProxied(a.prefix);
    const evB = record(b);
    const ra = a.region<string>('tagged');
    const rb = b.region<string>('tagged');
    const gate = deferred();
    const holder = ra.getOrSet(
      'k',
      async () => {
        await gate.promise;
        return 'from-a';
      },
      { tags: ['t1'] },
    );
    await until(() => missLockHeld(redis.server, ra.keyOf('k')));
    let bCalls = 0;
    const waiter = rb.getOrSet('k', async () => {
      bCalls++;
      return 'from-b';
    });
    await waiting(b, rb);
    // B has never seen tag t1: reading A's value makes it fetch t1's token, and that stalls.
    const store = (b as unknown as { store: Store }).store;
    const hashGetCounted = store.hashGetCounted.bind(store);
    store.hashGetCounted = (...args: Parameters<Store['hashGetCounted']>) => {
      proxy.holdReplies(0);
      return hashGetCounted(...args);
    };
    gate.resolve();
    expect(await holder).toBe('from-a');
    expect(await waiter).toBe('from-b');
    expect(bCalls).toBe(1);
    expect(evB.errors).toEqual([['get', 'STORE_TIMEOUT']]);
    store.hashGetCounted = hashGetCounted;
    proxy.releaseReplies(0);
    expect(await rb.get('k')).toBe('from-a');
    expect(evB.errors).toEqual([['get', 'STORE_TIMEOUT']]);
    expect(evB.sets).toEqual([]);
    expect(pendingOf(b)).toEqual({ cold: 0, refreshing: 0, waits: 0 });
  });

  it('the tag check of the first read times out: computed here at once, no lock attempt, no write', async () => {
    const a = await open();
    const { t: b, proxy } = await openProxied(a.prefix);
    const evB = record(b);
    await a.region<string>('first').set('k', 'from-a', { tags: ['t2'] });
    const rb = b.region<string>('first');
    // B has never seen tag t2: reading A's value makes it fetch t2's token, and that stalls.
    const store = (b as unknown as { store: Store }).store;
    const hashGetCounted = store.hashGetCounted.bind(store);
    store.hashGetCounted = (...args: Parameters<Store['hashGetCounted']>) => {
      proxy.holdReplies(0);
      return hashGetCounted(...args);
    };
    let calls = 0;
    const value = await rb.getOrSet('k', async () => {
      calls++;
      return 'from-b';
    });
    store.hashGetCounted = hashGetCounted;
    expect(value).toBe('from-b');
    expect(calls).toBe(1);
    // One deadline only: the tag check's. A miss would have gone on to the lock and timed out again.
    expect(evB.errors).toEqual([['get', 'STORE_TIMEOUT']]);
    proxy.releaseReplies(0);
    expect(await rb.get('k')).toBe('from-a');
    expect(evB.sets).toEqual([]);
    expect(pendingOf(b)).toEqual({ cold: 0, refreshing: 0, waits: 0 });
  });

  it('a caller whose read timed out joins a run waiting for another process: that wait ends, both get the value computed here', {
    timeout: 10_000,
  }, async () => {
    const { t, proxy } = await openProxied(`dl${++n}`);
    const ev = record(t);
    const r = t.region<string>('join');
    const lockKey = lockOf(r, 'k');
    expect(await redis.server.command('SET', lockKey, heldBy('someone'), 'PX', 60_000)).toBe('OK');
    let calls = 0;
    const factory = async () => {
      calls++;
      return 'computed';
    };
    const first = r.getOrSet('k', factory, { waitTimeout: 60_000 });
    await waiting(t, r);
    proxy.holdReplies(0);
    const second = r.getOrSet('k', factory);
    expect(await Promise.all([first, second])).toEqual(['computed', 'computed']);
    expect(calls).toBe(1);
    expect(ev.errors).toEqual([['get', 'STORE_TIMEOUT']]);
    expect(pendingOf(t)).toEqual({ cold: 0, refreshing: 0, waits: 0 });
    // The other process's lock was never touched, and nothing was stored.
    expect(await redis.server.command('GET', lockKey)).toBe(`${heldBy('someone')}+`);
    proxy.releaseReplies(0);
    expect(await r.get('k')).toBeUndefined();
    expect(ev.errors).toEqual([['get', 'STORE_TIMEOUT']]);
    expect(ev.sets).toEqual([]);
  });
});

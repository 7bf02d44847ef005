/**
 * A caller's `signal` on `getOrSet` (src/region/abortable.ts), on a real redis-server with both
 * drivers: the call stops waiting when it aborts, the computation or wait it started or joined
 * goes on and is stored, nothing is left pending, and one signal shared by many calls holds one
 * listener.
 */
import { getEventListeners } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../../src/errors.js';
import type { Trove, TroveOptions } from '../../src/index.js';
import { drivers, nodeRedisClient, type TestNodeRedisClient } from '../helpers/drivers.js';
import { markerOf } from '../helpers/locks.js';
import { TEST_COMMAND_TIMEOUT, until, useRedisServer, useTroves } from '../helpers/troves.js';
import { counting, deferred, expectIdle } from '../load/support.js';

describe.each(drivers)('getOrSet with a signal (%s)', (driver) => {
  const redis = useRedisServer();
  let n = 0;
  const clients: TestNodeRedisClient[] = [];
  const troves = useTroves(() => ({ redis: redis.server.url, commandTimeout: TEST_COMMAND_TIMEOUT }));
  const open = async (prefix: string, nearCache = false, more: TroveOptions = {}): Promise<Trove> => {
    const client = driver === 'node-redis' ? await nodeRedisClient(redis.server.url) : undefined;
    if (client !== undefined) clients.push(client);
    const t = troves.open({ prefix, nearCache: nearCache ? {} : false, ...more, ...(client ? { redis: client } : {}) });
    opened.push(t);
    await t.ready();
    return t;
  };
  const opened: Trove[] = [];
  // The troves first: a client destroyed under an open trove fails its background work.
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((t) => t.close()));
    for (const c of clients.splice(0)) c.destroy();
  });

  it('aborted while its own factory runs: rejects with the reason at once; the computation goes on for a joined caller, is stored, and leaves nothing pending', async () => {
    const t = await open(`ab${++n}`);
    const r = t.region<string>('r', { lockLease: '30s' });
    const gate = deferred<string>();
    const own = counting(() => gate.promise);
    const other = counting(() => 'joined computed');
    const controller = new AbortController();
    const aborted = r.getOrSet('k', own.factory, { signal: controller.signal });
    const joined = r.getOrSet('k', other.factory);
    await until(() => own.runs === 1, 10_000, 'the factory to start');
    const reason = new Error('client gone');
    controller.abort(reason);
    await expect(aborted).rejects.toBe(reason);
    gate.resolve('computed');
    expect(await joined).toBe('computed');
    expect([own.runs, other.runs]).toEqual([1, 0]);
    expect(await r.get('k')).toBe('computed');
    expect(await redis.server.command('EXISTS', r.keyOf('k'))).toBe('1');
    await expectIdle(t);
  });

  it("aborted while waiting for another process's value: rejects with an AbortError; the wait ends when that value comes, with nothing computed here", async () => {
    const prefix = `ab${++n}`;
    const holder = await open(prefix);
    const waiter = await open(prefix);
    const opts = { lockLease: '30s', waitTimeout: '30s' };
    const gate = deferred<string>();
    const h = holder.region<string>('w', opts);
    const held = h.getOrSet('k', () => gate.promise);
    await until(async () => (await redis.server.command('GET', h.keyOf('k'))).startsWith(markerOf('')), 10_000, 'the claim');
    const r = waiter.region<string>('w', opts);
    const here = counting(() => 'here');
    const controller = new AbortController();
    const waiting = r.getOrSet('k', here.factory, { signal: controller.signal });
    // The holder's claim carries the waiter's mark ('+') once the waiter has found it.
    await until(async () => (await redis.server.command('GET', r.keyOf('k'))).endsWith('+'), 10_000, 'the wait');
    controller.abort();
    await expect(waiting).rejects.toMatchObject({ name: 'AbortError' });
    gate.resolve('from the holder');
    expect(await held).toBe('from the holder');
    await expectIdle(holder, waiter);
    expect(here.runs).toBe(0);
    expect(await r.get('k')).toBe('from the holder');
  });

  it('Redis stalled (SIGSTOP) under a call: its signal frees it while Redis is still stalled, not at the 10 s deadline; once Redis is back nothing is left', async () => {
    troves.expectErrors();
    const t = await open(`ab${++n}`, false, { commandTimeout: 10_000 });
    const r = t.region<string>('r', { lockLease: '30s' });
    await r.set('warm', 'w');
    redis.server.pause();
    const reason = new Error('request closed');
    try {
      const controller = new AbortController();
      const call = r.getOrSet('k', () => 'here', { signal: controller.signal });
      // One turn of the event loop: the call's read has left for the stalled server.
      await new Promise((resolve) => setImmediate(resolve));
      controller.abort(reason);
      await expect(call).rejects.toBe(reason);
    } finally {
      redis.server.resume();
    }
    // The run the call started goes on once Redis answers (its first read is not counted as
    // pending work, so wait for what it leaves): computed here, stored, nothing left.
    await until(async () => (await r.get('k')) === 'here', 10_000, 'the value computed by the run the call started');
    await expectIdle(t);
  });

  it('an aborted signal rejects before anything runs: no factory, no Redis key', async () => {
    const t = await open(`ab${++n}`);
    const r = t.region<string>('r');
    const reason = new Error('too late');
    const never = counting(() => 'v');
    await expect(r.getOrSet('k', never.factory, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    expect(never.runs).toBe(0);
    expect(await redis.server.command('EXISTS', r.keyOf('k'))).toBe('0');
    await expectIdle(t);
  });

  it('hits answer as without a signal, from Redis and from the near cache', async () => {
    for (const nearCache of [false, true]) {
      const t = await open(`ab${++n}`, nearCache);
      const r = t.region<string>('r');
      await r.set('k', 'stored');
      const { signal } = new AbortController();
      expect(await r.getOrSet('k', () => 'computed', { signal })).toBe('stored');
      expect(await r.getOrSet('k', () => 'computed', { signal })).toBe('stored');
    }
  });

  it('one signal shared by 50 calls holds one listener, raises no warning, and stops them all; their computations are stored', async () => {
    const t = await open(`ab${++n}`);
    const r = t.region<number>('r', { lockLease: '30s' });
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on('warning', onWarning);
    try {
      const gate = deferred<void>();
      const controller = new AbortController();
      let started = 0;
      const calls = Array.from({ length: 50 }, (_, i) =>
        r.getOrSet(
          `k${i}`,
          async () => {
            started++;
            await gate.promise;
            return i;
          },
          { signal: controller.signal },
        ),
      );
      await until(() => started === 50, 10_000, 'every factory to start');
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
      controller.abort();
      const outcomes = await Promise.allSettled(calls);
      expect(outcomes.map((o) => o.status)).toEqual(Array(50).fill('rejected'));
      gate.resolve();
      await expectIdle(t);
      expect(await r.getMany(Array.from({ length: 50 }, (_, i) => `k${i}`))).toEqual(Array.from({ length: 50 }, (_, i) => i));
      expect(warnings).toEqual([]);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('calls that settle leave the signal with its one listener; a signal that is not an AbortSignal is refused', async () => {
    const t = await open(`ab${++n}`);
    const r = t.region<number>('r');
    const { signal } = new AbortController();
    for (let i = 0; i < 30; i++) expect(await r.getOrSet(`k${i % 3}`, () => i, { signal })).toBe(i % 3);
    expect(getEventListeners(signal, 'abort')).toHaveLength(1);
    await expect(r.getOrSet('k', () => 1, { signal: {} as AbortSignal })).rejects.toBeInstanceOf(InvalidOptionError);
    await expect(r.getOrSet('k', () => 1, { signal: {} as AbortSignal })).rejects.toMatchObject({ option: 'signal' });
  });
});

/**
 * On one server, the lock attempts of one tick go to Redis as one script, and so do the lock
 * holders' writes: checked against a real redis-server, key by key (who got which lock, what
 * each read, what was stored and released, which waiters were told), and by counting the
 * scripts Redis ran. A stalled server fails every operation of a batch by its deadline.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StoreTimeoutError } from '../../src/errors.js';
import { CLAIM_PREFIX } from '../../src/store/claims.js';
import { createStore } from '../../src/store/create-store.js';
import type { Store } from '../../src/store/index.js';
import { drivers, nodeRedisClient, type TestNodeRedisClient } from '../helpers/drivers.js';
import { RedisServer } from '../helpers/redis-server.js';
import { TEST_COMMAND_TIMEOUT, until } from '../helpers/troves.js';

let server: RedisServer;
let store: Store;
let nodeRedis: TestNodeRedisClient | undefined;

beforeAll(async () => {
  server = await RedisServer.start();
});

afterAll(async () => {
  await server.stop();
});

describe.each(drivers)('lock batching on one server (%s)', (driver) => {
  beforeAll(async () => {
    await server.flushall();
    if (driver === 'node-redis') nodeRedis = await nodeRedisClient(server.url);
    store = createStore({ redis: nodeRedis ?? server.url, memory: undefined, commandTimeoutMs: TEST_COMMAND_TIMEOUT, listener: {} });
    // Loads the scripts (the first EVALSHA of each meets NOSCRIPT), so the counts below are of runs.
    await Promise.all([store.acquireLock('l:warm1', 'w', 5_000, 'v:warm1'), store.acquireLock('l:warm2', 'w', 5_000, 'v:warm2')]);
    await store.readOrLock!('l:warm3', 'w', 5_000, 'v:warm3');
    await Promise.all(
      ['1', '2'].map((n) =>
        store.storeAndRelease({
          key: `v:warm${n}`,
          value: Buffer.from('x'),
          ttlMs: 1_000,
          lockKey: `l:warm${n}`,
          token: 'w',
          channel: 'chan',
          message: 'warm',
        }),
      ),
    );
  });

  afterAll(async () => {
    await store.close();
    nodeRedis?.destroy();
    nodeRedis = undefined;
  });

  /** EVALSHA and EVAL calls Redis has run since the last reset, and resets the count. */
  async function scriptsRun(): Promise<number> {
    const calls = await server.commandCalls();
    await server.resetStats();
    return (calls.evalsha ?? 0) + (calls.eval ?? 0);
  }

  it("one tick's lock attempts are one script: free locks taken with their values read, a held one reported and marked", async () => {
    await server.command('SET', 'v:1', 'one');
    await server.command('SET', 'l:held', 'someone', 'PX', 60_000);
    await scriptsRun();
    const attempts = await Promise.all([
      store.acquireLock('l:1', 't1', 5_000, 'v:1'),
      store.acquireLock('l:2', 't2', 5_000, 'v:2'),
      store.acquireLock('l:held', 't3', 5_000, 'v:3'),
    ]);
    expect(await scriptsRun()).toBe(1);
    expect(attempts[0]).toEqual({ acquired: true, value: Buffer.from('one') });
    expect(attempts[1]).toEqual({ acquired: true, value: null });
    expect(attempts[2]!.acquired).toBe(false);
    expect(attempts[2]!.acquired === false && attempts[2]!.ttlMs).toBeGreaterThan(50_000);
    expect(await server.command('GET', 'l:1')).toBe('t1');
    expect(await server.command('GET', 'l:2')).toBe('t2');
    expect(await server.command('GET', 'l:held')).toBe('someone+');
    expect(Number(await server.command('PTTL', 'l:1'))).toBeGreaterThan(4_000);
  });

  it('two attempts on one lock in one tick: exactly one takes it', async () => {
    const attempts = await Promise.all([store.acquireLock('l:dup', 'a', 5_000, 'v:dup'), store.acquireLock('l:dup', 'b', 5_000, 'v:dup')]);
    expect(attempts.map((a) => a.acquired)).toEqual([true, false]);
    expect(await server.command('GET', 'l:dup')).toBe('a+');
  });

  it("one tick's writes by lock holders are one script: stored with their TTLs, own locks released, waiters told, another's lock left", async () => {
    await server.command('SET', 'l:w1', 'w1', 'PX', 60_000);
    await server.command('SET', 'l:w2', 'w2+', 'PX', 60_000); // someone waits
    await server.command('SET', 'l:w3', 'theirs', 'PX', 60_000); // our lease lapsed and another took it
    await server.command('SET', 'l:w4', 'w4', 'PX', 60_000);
    await server.command('SET', 'v:w4', 'set meanwhile'); // absent when locked, written since by another
    const messages: string[] = [];
    const sub = new Redis(server.url);
    sub.on('message', (_channel: string, m: string) => messages.push(m));
    await sub.subscribe('chan');
    try {
      await scriptsRun();
      const written = await Promise.all([
        store.storeAndRelease({ key: 'v:w1', value: Buffer.from('1'), ttlMs: 30_000, lockKey: 'l:w1', token: 'w1', channel: 'chan', message: 'm1' }),
        store.storeAndRelease({ key: 'v:w2', value: Buffer.from('2'), ttlMs: undefined, lockKey: 'l:w2', token: 'w2', channel: 'chan', message: 'm2' }),
        store.storeAndRelease({ key: 'v:w3', value: Buffer.from('3'), ttlMs: 30_000, lockKey: 'l:w3', token: 'w3', channel: 'chan', message: 'm3' }),
        store.storeAndRelease({
          key: 'v:w4',
          value: Buffer.from('4'),
          ttlMs: 30_000,
          lockKey: 'l:w4',
          token: 'w4',
          channel: 'chan',
          message: 'm4',
          seen: null,
        }),
        store.storeAndRelease({
          key: 'v:w5',
          value: Buffer.from('5'),
          ttlMs: 30_000,
          lockKey: 'l:w5',
          token: 'w5',
          channel: 'chan',
          message: 'm5',
          seen: null,
        }),
      ]);
      expect(await scriptsRun()).toBe(1);
      // The third holder's lock passed to another, the fourth's value was set meanwhile: neither is
      // written. The fifth's lock vanished.
      expect(written).toEqual([true, true, false, false, false]);
      expect(await server.command('GET', 'v:w4')).toBe('set meanwhile');
      expect(await server.command('EXISTS', 'l:w4')).toBe('0');
      expect([await server.command('GET', 'v:w1'), await server.command('GET', 'v:w2'), await server.command('GET', 'v:w3')]).toEqual(['1', '2', '']);
      expect(Number(await server.command('PTTL', 'v:w1'))).toBeGreaterThan(25_000);
      expect(await server.command('PTTL', 'v:w2')).toBe('-1');
      expect([await server.command('EXISTS', 'l:w1'), await server.command('EXISTS', 'l:w2')]).toEqual(['0', '0']);
      expect(await server.command('GET', 'l:w3')).toBe('theirs');
      // A PING answered after the script means its messages were delivered before it.
      await sub.call('PING');
      // Each notification names its key (2 bytes) and carries the value stored, if any.
      expect(messages.sort()).toEqual(['2:m22', '2:m3', '2:m4', '2:m5']);
    } finally {
      sub.disconnect();
    }
  });

  /** A store of its own with tracking enabled, recording the invalidations it is told of, in order. */
  async function trackedStore(): Promise<{ tracked: Store; invalidated: string[]; close(): Promise<void> }> {
    const client = driver === 'node-redis' ? await nodeRedisClient(server.url) : undefined;
    const tracked = createStore({ redis: client ?? server.url, memory: undefined, commandTimeoutMs: TEST_COMMAND_TIMEOUT, listener: {} });
    const invalidated: string[] = [];
    expect(tracked.enableTracking({ onInvalidate: (keys) => invalidated.push(...(keys ?? ['*'])), onTrackingChange: () => {} })).toBe(true);
    await until(() => tracked.tracking);
    // Loads the script (see beforeAll).
    await tracked.storeAndRelease({
      key: 'v:twarm',
      value: Buffer.from('x'),
      ttlMs: 1_000,
      lockKey: 'l:twarm',
      token: 'w',
      channel: 'chan',
      message: 'warm',
      track: true,
    });
    return {
      tracked,
      invalidated,
      close: async () => {
        await tracked.close();
        client?.destroy();
      },
    };
  }

  const count = (list: readonly string[], key: string) => list.filter((k) => k === key).length;

  it("one tick's tracked writes by lock holders are one script: each value announces exactly one invalidation to the writer and stays tracked; the locks are never tracked", async () => {
    const { tracked, invalidated, close } = await trackedStore();
    try {
      await server.command('SET', 'l:t1', 't1', 'PX', 60_000);
      await server.command('SET', 'l:t2', 't2+', 'PX', 60_000); // someone waits
      await server.command('SET', 'l:t3', 't3', 'PX', 60_000);
      // v:t3 was read (and tracked) before: its write still announces one invalidation, not two.
      await server.command('SET', 'v:t3', 'old');
      expect(await tracked.get('v:t3', true)).toEqual(Buffer.from('old'));
      await scriptsRun();
      await Promise.all(
        ['1', '2', '3'].map((n) =>
          tracked.storeAndRelease({
            key: `v:t${n}`,
            value: Buffer.from(n),
            ttlMs: 30_000,
            lockKey: `l:t${n}`,
            token: `t${n}`,
            channel: 'chan',
            message: `m${n}`,
            track: true,
          }),
        ),
      );
      expect(await scriptsRun()).toBe(1);
      expect([await server.command('GET', 'v:t1'), await server.command('GET', 'v:t2'), await server.command('GET', 'v:t3')]).toEqual(['1', '2', '3']);
      expect([await server.command('EXISTS', 'l:t1'), await server.command('EXISTS', 'l:t2')]).toEqual(['0', '0']);
      // Another client changes the locks, then the values: Redis announces the values (tracked
      // again after their writes) and never the locks. The announcements come in order, so once
      // every value's second one is here, any announcement of a lock would be here too.
      for (const n of ['1', '2', '3']) await server.command('SET', `l:t${n}`, 'other', 'PX', 60_000);
      for (const n of ['1', '2', '3']) await server.command('SET', `v:t${n}`, 'changed');
      await until(
        () => ['1', '2', '3'].every((n) => count(invalidated, `v:t${n}`) >= 2),
        10_000,
        () => `two invalidations of each value, got ${JSON.stringify(invalidated)}`,
      );
      expect(['1', '2', '3'].map((n) => count(invalidated, `v:t${n}`))).toEqual([2, 2, 2]);
      expect(invalidated.filter((k) => k.startsWith('l:'))).toEqual([]);
    } finally {
      await close();
    }
  });

  it("one tick's tracked stores of claimed values are one script: each replaces its marker, announces exactly one invalidation and stays tracked; a waited-for marker is told", async () => {
    const { tracked, invalidated, close } = await trackedStore();
    const sub = new Redis(server.url);
    const messages: string[] = [];
    try {
      await sub.subscribe('chan');
      sub.on('message', (_c: string, m: string) => messages.push(m));
      await server.command('SET', 'v:c1', `${CLAIM_PREFIX}c1`, 'PX', 60_000);
      await server.command('SET', 'v:c2', `${CLAIM_PREFIX}c2+`, 'PX', 60_000); // someone waits
      // Read (and tracked) before: its write still announces one invalidation, not two.
      expect(await tracked.get('v:c1', true)).toEqual(Buffer.from(`${CLAIM_PREFIX}c1`));
      // Loads the script (see beforeAll).
      await tracked.storeAndRelease({
        key: 'v:cw',
        value: Buffer.from('w'),
        ttlMs: 1_000,
        lockKey: 'v:cw',
        token: 'w',
        channel: 'other',
        message: 'w',
        track: true,
      });
      await scriptsRun();
      await Promise.all(
        ['1', '2'].map((n) =>
          tracked.storeAndRelease({
            key: `v:c${n}`,
            value: Buffer.from(n),
            ttlMs: 30_000,
            lockKey: `v:c${n}`,
            token: `${CLAIM_PREFIX}c${n}`,
            channel: 'chan',
            message: `c${n}`,
            track: true,
          }),
        ),
      );
      expect(await scriptsRun()).toBe(1);
      expect([await server.command('GET', 'v:c1'), await server.command('GET', 'v:c2')]).toEqual(['1', '2']);
      await sub.call('PING');
      expect(messages).toEqual(['2:c22']);
      for (const n of ['1', '2']) await server.command('SET', `v:c${n}`, 'changed');
      await until(
        () => ['1', '2'].every((n) => count(invalidated, `v:c${n}`) >= 2),
        10_000,
        () => `two invalidations of each value, got ${JSON.stringify(invalidated)}`,
      );
      expect(['1', '2'].map((n) => count(invalidated, `v:c${n}`))).toEqual([2, 2]);
    } finally {
      sub.disconnect();
      await close();
    }
  });

  it('a tracked batch writing one key twice goes write by write: two invalidations, as two writes announce', async () => {
    const { tracked, invalidated, close } = await trackedStore();
    try {
      await server.command('SET', 'l:tda', 'a', 'PX', 60_000);
      await server.command('SET', 'l:tdb', 'b', 'PX', 60_000);
      await scriptsRun();
      const write = (token: string, value: string) =>
        tracked.storeAndRelease({
          key: 'v:td',
          value: Buffer.from(value),
          ttlMs: 30_000,
          lockKey: `l:td${token}`,
          token,
          channel: 'chan',
          message: 'td',
          track: true,
        });
      await Promise.all([write('a', 'first'), write('b', 'second')]);
      expect(await scriptsRun()).toBe(2);
      expect(await server.command('GET', 'v:td')).toBe('second');
      // Both own writes announced, then the other client's change: three in all.
      await server.command('SET', 'v:td', 'changed');
      await until(
        () => count(invalidated, 'v:td') >= 3,
        10_000,
        () => `three invalidations of v:td, got ${JSON.stringify(invalidated)}`,
      );
      expect(count(invalidated, 'v:td')).toBe(3);
    } finally {
      await close();
    }
  });

  it("read-or-lock joins the tick's lock script: a present value is answered with no lock taken, an absent one locked, a held lock reported and marked", async () => {
    await server.command('SET', 'v:r1', 'present');
    await server.command('SET', 'l:rheld', 'someone', 'PX', 60_000);
    await scriptsRun();
    const readOrLock = store.readOrLock!.bind(store);
    const [present, absent, held, plain] = await Promise.all([
      readOrLock('l:r1', 't1', 5_000, 'v:r1'),
      readOrLock('l:r2', 't2', 5_000, 'v:r2'),
      readOrLock('l:rheld', 't3', 5_000, 'v:r3'),
      store.acquireLock('l:r4', 't4', 5_000, 'v:r1'),
    ]);
    expect(await scriptsRun()).toBe(1);
    expect(present).toEqual({ found: Buffer.from('present') });
    expect(absent).toEqual({ acquired: true, value: null });
    expect(held).toMatchObject({ acquired: false });
    expect('ttlMs' in held && held.ttlMs).toBeGreaterThan(50_000);
    // A plain attempt in the same script still locks, and reads with the lock.
    expect(plain).toEqual({ acquired: true, value: Buffer.from('present') });
    expect(await server.command('EXISTS', 'l:r1')).toBe('0');
    expect(await server.command('GET', 'l:r2')).toBe('t2');
    expect(Number(await server.command('PTTL', 'l:r2'))).toBeGreaterThan(4_000);
    expect(await server.command('GET', 'l:rheld')).toBe('someone+');
    expect(await server.command('GET', 'l:r4')).toBe('t4');
  });

  it('read-or-lock alone in its tick: the single script, same outcomes', async () => {
    await server.command('SET', 'v:s1', 'here');
    await server.command('SET', 'l:sheld', 'other', 'PX', 60_000);
    await scriptsRun();
    expect(await store.readOrLock!('l:s1', 't', 5_000, 'v:s1')).toEqual({ found: Buffer.from('here') });
    expect(await store.readOrLock!('l:s2', 't', 5_000, 'v:s2')).toEqual({ acquired: true, value: null });
    expect(await store.readOrLock!('l:sheld', 't', 5_000, 'v:s3')).toMatchObject({ acquired: false });
    expect(await scriptsRun()).toBe(3);
    expect([await server.command('EXISTS', 'l:s1'), await server.command('GET', 'l:s2'), await server.command('GET', 'l:sheld')]).toEqual(['0', 't', 'other+']);
  });

  it('a stalled server fails every operation of a batch by its deadline', async () => {
    // A store of its own with a short deadline (the shared one waits TEST_COMMAND_TIMEOUT).
    const client = driver === 'node-redis' ? await nodeRedisClient(server.url) : undefined;
    const quick = createStore({ redis: client ?? server.url, memory: undefined, commandTimeoutMs: 300, listener: {} });
    try {
      await quick.acquireLock('l:p0', 'p0', 5_000, 'v:p0');
      server.pause();
      let results: PromiseSettledResult<unknown>[];
      try {
        results = await Promise.allSettled([
          quick.acquireLock('l:p1', 'p1', 5_000, 'v:p1'),
          quick.acquireLock('l:p2', 'p2', 5_000, 'v:p2'),
          quick.readOrLock!('l:p4', 'p4', 5_000, 'v:p4'),
        ]);
      } finally {
        server.resume();
      }
      expect(results.map((r) => r.status === 'rejected' && r.reason instanceof StoreTimeoutError)).toEqual([true, true, true]);
      // The store answers again once the server does.
      expect((await quick.acquireLock('l:p3', 'p3', 5_000, 'v:p3')).acquired).toBe(true);
    } finally {
      await quick.close();
      client?.destroy();
    }
  });
});

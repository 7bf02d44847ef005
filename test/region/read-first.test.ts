/**
 * A region whose getOrSet reads keep missing reads and takes the lock in one step (see
 * src/region/miss-share.ts): checked against a real redis-server by the commands Redis ran, the
 * keys left behind, the factory's runs and the hit and miss counts; on both drivers and on the
 * embedded store. Hits bring the region back to plain reads. A stalled server answers by the
 * deadline.
 */
import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Region, StatsRow, Trove, TroveOptions } from '../../src/index.js';
import { STORE_CLAIMED } from '../../src/store/claims.js';
import { drivers, nodeRedisClient, type TestNodeRedisClient } from '../helpers/drivers.js';
import { storeKinds, until, useRedisServer, useStore, useTroves } from '../helpers/troves.js';

/** Misses in a row that put a fresh region's reads into one step with the lock (see MissShare). */
const WARM = 30;

/** getOrSet misses on keys of their own, one at a time, until the region reads with the lock. */
async function warm(region: Region): Promise<void> {
  for (let i = 0; i < WARM; i++) await region.getOrSet(`warm${i}`, () => i);
}

function rowOf(t: Trove, region: string): StatsRow {
  const row = t.stats().regions?.find((r) => r.region === region && r.function === undefined);
  if (row === undefined) throw new Error(`no stats row for ${region}`);
  return row;
}

/** Each driver, with the lock in the value's key (a claim: plain SETs) and in a lock key (scripts). */
const setups = drivers.flatMap((driver) => (['value', 'key'] as const).map((lockIn) => ({ driver, lockIn })));

describe.each(setups)('read with the lock where reads keep missing ($driver, lock in $lockIn)', ({ driver, lockIn }) => {
  const redis = useRedisServer();
  let n = 0;
  let client: TestNodeRedisClient | undefined;
  const { open, expectErrors } = useTroves(() => ({ redis: client ?? redis.server.url, prefix: `rf${++n}`, nearCache: false, lockIn }));
  /** Commands per lock step or write: a plain SET with claims, a script with lock keys. */
  const stepsOf = (calls: Record<string, number>): number => (lockIn === 'value' ? (calls.set ?? 0) : (calls.evalsha ?? 0) + (calls.eval ?? 0));
  /**
   * Scripts run besides the steps, where the lock lives in the value's key (`seen`: the scripts'
   * SHA1s in the order MONITOR saw them): none but STORE_CLAIMED, the store of a claim held 2 ms
   * or more (NOTIFY_INLINE_AFTER_MS), which a stall of a loaded machine between a claim and its
   * store can make of any write; its SET counts among the steps.
   */
  const otherScripts = (seen: readonly string[]): string[] => (lockIn === 'value' ? seen.filter((sha) => sha !== STORE_CLAIMED.sha) : []);
  /** Scripts run, where the lock lives in the value's key (a step that writes nothing runs none). */
  const scriptsOf = (calls: Record<string, number>): number => (lockIn === 'value' ? (calls.evalsha ?? 0) + (calls.eval ?? 0) : 0);
  let raw: Redis;

  beforeAll(async () => {
    raw = new Redis(redis.server.url);
    return () => raw.disconnect();
  });
  afterEach(() => {
    client?.destroy();
    client = undefined;
  });

  async function openTrove(opts: TroveOptions = {}): Promise<Trove> {
    if (driver === 'node-redis') client = await nodeRedisClient(redis.server.url);
    return open({ ...opts, ...(client ? { redis: client } : {}) });
  }

  /** An argument as MONITOR printed it (Redis's `sdscatrepr` escapes, which ioredis leaves in), as it was sent. */
  function unquoted(text: string): string {
    const plain: Record<string, string> = { n: '\n', r: '\r', t: '\t', a: '\x07', b: '\b', '\\': '\\', '"': '"' };
    return text.replace(/\\(x[0-9a-f]{2}|.)/g, (_m, c: string) => (c.length === 3 ? String.fromCharCode(Number.parseInt(c.slice(1), 16)) : (plain[c] ?? c)));
  }

  /** The SHA1 of every script Redis runs from now until `stop()` (MONITOR; EVAL's source hashed). */
  async function watchScripts(): Promise<{ stop(): Promise<string[]> }> {
    const monitor = await raw.monitor();
    const seen: string[] = [];
    let fenced = false;
    const fence = `fence-${Math.random()}`;
    monitor.on('monitor', (_time: string, args: string[]) => {
      const name = String(args[0]).toLowerCase();
      if (name === 'evalsha') seen.push(String(args[1]));
      else if (name === 'eval')
        seen.push(
          createHash('sha1')
            .update(unquoted(String(args[1])), 'latin1')
            .digest('hex'),
        );
      else if (name === 'echo' && args[1] === fence) fenced = true;
    });
    return {
      async stop() {
        // Everything sent before the fence has been seen once the fence is.
        await raw.echo(fence);
        await until(() => fenced);
        monitor.disconnect();
        return seen;
      },
    };
  }

  /** Calls per command since the last call (scripts loaded on first use are counted as EVAL: warm-ups load them). */
  async function commands(): Promise<Record<string, number>> {
    const calls = await redis.server.commandCalls();
    await redis.server.resetStats();
    return calls;
  }

  it('a fresh region reads first; after a run of misses each miss is one read-and-lock step and one write, with no MGET', async () => {
    const t = await openTrove();
    const users = t.region('users');
    await redis.server.resetStats();
    await users.getOrSet('first', () => 'computed');
    const before = await commands();
    expect(before.mget ?? before.get ?? 0).toBe(1);
    await warm(users);
    const scripts = await watchScripts();
    await commands();
    const values = [];
    for (let i = 0; i < 10; i++) values.push(await users.getOrSet(`k${i}`, () => ({ i })));
    const calls = await commands();
    const seen = await scripts.stop();
    expect(values).toEqual(Array.from({ length: 10 }, (_, i) => ({ i })));
    expect(calls.mget ?? 0).toBe(0);
    expect(stepsOf(calls)).toBe(20);
    expect(otherScripts(seen)).toEqual([]);
    // Every value is stored, every lock is gone.
    for (let i = 0; i < 10; i++) expect(await users.get(`k${i}`)).toEqual({ i });
    const left = (await raw.keys(`rf${n}:*`)).filter((k) => k.includes('__lock'));
    expect(left).toEqual([]);
    expect(rowOf(t, 'users')).toMatchObject({ misses: 1 + WARM + 10, computes: 1 + WARM + 10, storeHits: 10 });
  });

  it('hits found by the step are answered and counted as hits; enough of them bring back plain reads', async () => {
    const t = await openTrove();
    const users = t.region('users');
    await warm(users);
    for (let i = 0; i < 40; i++) await users.set(`h${i}`, { h: i });
    await commands();
    let computed = 0;
    const wrong = () => {
      computed++;
      return 'wrong';
    };
    expect(await users.getOrSet('h0', wrong)).toEqual({ h: 0 });
    const during = await commands();
    expect(computed).toBe(0);
    expect(during.mget ?? 0).toBe(0);
    expect(stepsOf(during)).toBe(1);
    expect(scriptsOf(during)).toBe(0);
    // No lock was taken by a read that found its value.
    expect((await raw.keys(`rf${n}:*`)).filter((k) => k.includes('__lock'))).toEqual([]);
    for (let i = 1; i < 40; i++) expect(await users.getOrSet(`h${i}`, wrong)).toEqual({ h: i });
    await commands();
    expect(await users.getOrSet('h0', wrong)).toEqual({ h: 0 });
    const after = await commands();
    expect(computed).toBe(0);
    expect(after.evalsha ?? 0).toBe(0);
    expect(after.set ?? 0).toBe(0);
    expect((after.mget ?? 0) + (after.get ?? 0)).toBe(1);
    expect(rowOf(t, 'users')).toMatchObject({ misses: WARM, storeHits: 41 });
  });

  it('concurrent callers of one key share the step: one lock attempt, one computation, one write', async () => {
    const t = await openTrove();
    const users = t.region('users');
    await warm(users);
    const scripts = await watchScripts();
    await commands();
    let runs = 0;
    const answers = await Promise.all(
      Array.from({ length: 50 }, () =>
        users.getOrSet('hot', async () => {
          runs++;
          return { hot: true };
        }),
      ),
    );
    const calls = await commands();
    const seen = await scripts.stop();
    expect(runs).toBe(1);
    expect(answers.every((a) => JSON.stringify(a) === '{"hot":true}')).toBe(true);
    expect(stepsOf(calls)).toBe(2);
    expect(otherScripts(seen)).toEqual([]);
    expect(calls.mget ?? 0).toBe(0);
    expect(rowOf(t, 'users')).toMatchObject({ misses: WARM + 50, computes: WARM + 1 });
  });

  it('garbage bytes found by the step: a miss (reported), computed and replaced', async () => {
    expectErrors();
    const t = await openTrove();
    const users = t.region('users');
    await warm(users);
    const key = users.keyOf('bad');
    await raw.set(key, Buffer.from([0xff, 0x00, 0x13, 0x37]));
    const errors: string[] = [];
    t.on('error', (e) => errors.push(e.operation));
    expect(await users.getOrSet('bad', () => 'good')).toBe('good');
    // Reported by the step's read and again by the read taken with the lock, as on the plain path.
    expect(errors).toEqual(['decode', 'decode']);
    expect(await users.get('bad')).toBe('good');
  });

  it('a value found by the step past its freshness is answered stale and refreshed once', async () => {
    const t = await openTrove();
    const users = t.region('users', { ttl: '1h', freshFor: '20ms' });
    await warm(users);
    await users.set('s', 'old');
    const freshUntil = Date.now() + 20;
    await until(() => Date.now() > freshUntil + 5);
    let runs = 0;
    const answered = await users.getOrSet('s', async () => {
      runs++;
      return 'new';
    });
    expect(answered).toBe('old');
    await until(async () => (await users.get('s')) === 'new');
    expect(runs).toBe(1);
  });

  /**
   * `calls` made while Redis is paused, answered by their deadline (commandTimeout 300 ms); once
   * it is back, nothing is left waiting, no lock key nor claim of `key` outlives the stall. The
   * lease is far longer than those waits: a claim that lapses is not one let go.
   */
  async function duringStall<T>(key: string, calls: (users: Region) => Promise<T>): Promise<T> {
    expectErrors();
    const t = await openTrove({ commandTimeout: 300, lockLease: '30s' });
    const users = t.region('users');
    await warm(users);
    redis.server.pause();
    let answered: T;
    try {
      answered = await calls(users);
    } finally {
      redis.server.resume();
    }
    const internals = t as unknown as { ctx: { loader: { pending: { cold: number; refreshing: number } } } };
    await until(() => internals.ctx.loader.pending.cold === 0);
    // Nothing was written while Redis stalled, and no lock (nor claim) outlived the stall.
    await until(async () => (await raw.keys(`rf${n}:*`)).filter((k) => k.includes('__lock')).length === 0);
    await until(async () => (await raw.exists(users.keyOf(key))) === 0, 10_000, 'the claim let go');
    expect(await raw.exists(users.keyOf(key))).toBe(0);
    return answered;
  }

  it('Redis stalls during the step: answered by the deadline with the value computed here, nothing left waiting', async () => {
    expect(await duringStall('stalled', (users) => users.getOrSet('stalled', () => 'here'))).toBe('here');
  });

  it('Redis stalls during a step that several callers of the key share: one computation here answers them all, nothing left waiting', async () => {
    let runs = 0;
    // The first caller's step is under way when the others come: they share it, then its run.
    const answered = await duringStall('shared', (users) =>
      Promise.all(
        Array.from({ length: 5 }, () =>
          users.getOrSet('shared', () => {
            runs++;
            return 'here';
          }),
        ),
      ),
    );
    expect(answered).toEqual(['here', 'here', 'here', 'here', 'here']);
    expect(runs).toBe(1);
  });
});

describe.each(storeKinds)('read with the lock where reads keep missing: %s store', (kind) => {
  const store = useStore(kind);
  let n = 0;
  const { open } = useTroves(() => ({ ...store.opts, prefix: `rk${++n}`, nearCache: false }));

  it('misses compute once each, hits answer, and a switch back and forth loses nothing', async () => {
    const t = open();
    const users = t.region('users');
    let runs = 0;
    const compute = (i: number) => () => {
      runs++;
      return { i };
    };
    for (let i = 0; i < 60; i++) expect(await users.getOrSet(`m${i}`, compute(i))).toEqual({ i });
    expect(runs).toBe(60);
    for (let round = 0; round < 2; round++) for (let i = 0; i < 60; i++) expect(await users.getOrSet(`m${i}`, compute(-1))).toEqual({ i });
    expect(runs).toBe(60);
    expect(rowOf(t, 'users')).toMatchObject({ misses: 60, storeHits: 120, computes: 60 });
  });
});

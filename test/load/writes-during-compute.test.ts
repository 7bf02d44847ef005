/**
 * A `delete`, `markStale` or `set` of a key while another process computes it (the cache-aside race: the
 * computation read the source before it changed): the value computed before the write must not
 * land after it. On a real redis-server, both drivers, every way a region locks: claims (the
 * entry's own key), lock keys, a near-cache region (lock keys, its value written tracked) and hash
 * storage (a lock key per bucket field). The holder still answers its callers.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Region, RegionOptions, Trove, TroveOptions } from '../../src/index.js';
import { NOTIFY_INLINE_AFTER_MS } from '../../src/store/claim-locks.js';
import { drivers, nodeRedisClient, type TestNodeRedisClient } from '../helpers/drivers.js';
import { markerOf, missLocksUnder } from '../helpers/locks.js';
import { TEST_COMMAND_TIMEOUT, until, useRedisServer, useTroves } from '../helpers/troves.js';
import { deferred, expectIdle } from './support.js';

interface Mode {
  name: string;
  trove: TroveOptions;
  region: RegionOptions;
}

const MODES: Mode[] = [
  { name: 'claims', trove: { nearCache: false }, region: {} },
  { name: 'lock keys', trove: { nearCache: false, lockIn: 'key' }, region: {} },
  { name: 'near cache', trove: {}, region: {} },
  { name: 'hash storage', trove: { nearCache: false }, region: { storage: 'hash' } },
];

const WRITES = ['delete', 'deleteMany', 'batch delete', 'markStale'] as const;

describe.each(drivers)('writes while another process computes (%s)', (driver) => {
  const redis = useRedisServer();
  let n = 0;
  const clients: TestNodeRedisClient[] = [];
  const troves = useTroves(() => ({ redis: redis.server.url, commandTimeout: TEST_COMMAND_TIMEOUT }));
  const open = async (prefix: string, mode: Mode): Promise<Trove> => {
    const client = driver === 'node-redis' ? await nodeRedisClient(redis.server.url) : undefined;
    if (client !== undefined) clients.push(client);
    const t = troves.open({ prefix, ...mode.trove, ...(client ? { redis: client } : {}) });
    await t.ready();
    return t;
  };
  afterEach(() => {
    for (const c of clients.splice(0)) c.destroy();
  });

  /** Two troves sharing a prefix (two processes), the first computing `k` behind a gate. */
  async function computing(mode: Mode, region: RegionOptions = {}) {
    const prefix = `wd${++n}`;
    const a = await open(prefix, mode);
    const b = await open(prefix, mode);
    const opts = { lockLease: '60s', waitTimeout: '60s', ...mode.region, ...region };
    const ra = a.region<string>('r', opts);
    const rb = b.region<string>('r', opts);
    return { prefix, a, b, ra, rb };
  }

  /** Whether someone waits for a computation under `prefix`: a lock or a claim marked with '+'. */
  async function waitedFor(prefix: string): Promise<boolean> {
    for (const key of await missLocksUnder(redis.server, prefix)) if ((await redis.server.command('GET', key)).endsWith('+')) return true;
    return false;
  }

  /**
   * Starts `ra.getOrSet('k')` whose factory waits for `gate`; resolves once the factory runs (the
   * lock is held) and has run for longer than NOTIFY_INLINE_AFTER_MS: a claim is then stored by the
   * script that compares before it writes (the plain `SET … XX GET` of a claim held briefly is
   * tested on its own, in test/store/claims.test.ts).
   */
  async function holdMiss(ra: { getOrSet(key: string, f: () => Promise<string>): Promise<string> }) {
    const started = deferred<number>();
    const gate = deferred<string>();
    const calls = { n: 0 };
    const answer = ra.getOrSet('k', () => {
      calls.n++;
      started.resolve(Date.now());
      return gate.promise;
    });
    const at = await started.promise;
    await until(() => Date.now() - at > NOTIFY_INLINE_AFTER_MS, 10_000, 'the claim to be held long');
    return { answer, gate, calls };
  }

  describe.each(MODES)('$name', (mode) => {
    it.each(WRITES)('%s of a key being computed: the value computed before it is answered, never stored', async (write) => {
      const { prefix, a, b, ra, rb } = await computing(mode);
      const { answer, gate, calls } = await holdMiss(ra);
      if (write === 'delete') expect(typeof (await rb.delete('k'))).toBe('boolean');
      else if (write === 'deleteMany') await rb.deleteMany(['k', 'other']);
      // Nothing to keep as stale: the claim or lock goes, as with delete.
      else if (write === 'markStale') expect(await rb.markStale('k')).toBe(false);
      else await rb.batch((w) => w.delete('k'));
      gate.resolve('computed before the delete');
      expect(await answer).toBe('computed before the delete');
      expect(calls.n).toBe(1);
      await expectIdle(a, b);
      // Nothing in Redis, nothing kept in the holder's near cache, no lock left behind.
      expect(await rb.get('k')).toBeUndefined();
      expect(await ra.get('k')).toBeUndefined();
      expect(await missLocksUnder(redis.server, prefix)).toEqual([]);
      // The next miss computes from the source as it is now.
      expect(await ra.getOrSet('k', async () => 'computed after')).toBe('computed after');
      expect(await rb.get('k')).toBe('computed after');
    });

    it.each([
      { write: 'a delete of another key', expected: 'computed', act: (r: Region<string>) => r.delete('unrelated') },
      { write: "another's set of the key", expected: 'set meanwhile', act: (r: Region<string>) => r.set('k', 'set meanwhile') },
    ])('$write during the computation: $expected is what stays', async ({ act, expected }) => {
      const { a, b, ra, rb } = await computing(mode);
      const { answer, gate } = await holdMiss(ra);
      await act(rb);
      gate.resolve('computed');
      // The holder answers what it computed either way.
      expect(await answer).toBe('computed');
      await expectIdle(a, b);
      expect(await rb.get('k')).toBe(expected);
      expect(await ra.get('k')).toBe(expected);
    });

    it('a waiter in a third process, when the value is deleted under the holder: told at once, it computes', async () => {
      const { prefix, a, b, ra, rb } = await computing(mode);
      const c = await open(prefix, mode);
      const rc = c.region<string>('r', { lockLease: '60s', waitTimeout: '60s', ...mode.region });
      const { answer, gate } = await holdMiss(ra);
      const waiter = rc.getOrSet('k', async () => 'from the waiter');
      await until(() => waitedFor(prefix), 10_000, 'the waiter to mark the lock');
      await rb.delete('k');
      gate.resolve('computed before the delete');
      expect(await answer).toBe('computed before the delete');
      // The holder's refused write wakes the waiter (no lease to wait out): it finds nothing, and computes.
      expect(await waiter).toBe('from the waiter');
      await expectIdle(a, b, c);
      expect(await rb.get('k')).toBe('from the waiter');
    });

    it('a stale value refreshed while another process sets, deletes or marks it stale: the refresh is not written over it', async () => {
      for (const write of ['set', 'delete', 'markStale'] as const) {
        const { a, b, ra, rb } = await computing(mode, { ttl: '1m', freshFor: 1 });
        await ra.set('k', 'old');
        await until(async () => (await rb.ttlOf('k'))?.freshForMs === 0, 10_000, 'the value to go stale');
        const started = deferred();
        const gate = deferred<string>();
        // Stale: answered at once, refreshed behind the caller under the lock key.
        expect(
          await ra.getOrSet('k', () => {
            started.resolve();
            return gate.promise;
          }),
        ).toBe('old');
        await started.promise;
        if (write === 'set') await rb.set('k', 'set meanwhile', { freshFor: '1m' });
        else if (write === 'delete') await rb.delete('k');
        else expect(await rb.markStale('k')).toBe(true);
        gate.resolve('refreshed from the old source');
        await expectIdle(a, b);
        const expected = { set: 'set meanwhile', delete: undefined, markStale: 'old' }[write];
        expect(await rb.get('k')).toBe(expected);
        expect(await ra.get('k')).toBe(expected);
        if (write === 'markStale') expect((await rb.ttlOf('k'))?.freshForMs).toBe(0);
      }
    });

    if (mode.name === 'claims') {
      it('the claim itself goes with a delete: no marker is left, and the holder writes nothing over the next claim', async () => {
        const { a, b, ra, rb } = await computing(mode);
        const { answer, gate } = await holdMiss(ra);
        expect((await redis.server.command('GET', ra.keyOf('k'))).startsWith(markerOf(''))).toBe(true);
        await rb.delete('k');
        // Another miss claims the key again and computes while the first is still running.
        const second = holdMiss(rb);
        const held = await second;
        expect((await redis.server.command('GET', ra.keyOf('k'))).startsWith(markerOf(''))).toBe(true);
        gate.resolve('first');
        expect(await answer).toBe('first');
        // Answered once its store was refused: the second claim is still in place.
        expect((await redis.server.command('GET', ra.keyOf('k'))).startsWith(markerOf(''))).toBe(true);
        held.gate.resolve('second');
        expect(await held.answer).toBe('second');
        await expectIdle(a, b);
        expect(await rb.get('k')).toBe('second');
      });
    }
  });
});

/**
 * Lease renewal: a factory that runs for many lease lengths keeps its lock (renewed by the shared
 * renewal timer), so no other process computes meanwhile; the lock goes when the value is stored.
 */
import { describe, expect, it } from 'vitest';
import { ColdCacheError } from '../../src/index.js';
import { missLocksUnder } from '../helpers/locks.js';
import { sleep } from '../helpers/redis-server.js';
import { TEST_COMMAND_TIMEOUT, until, useRedisServer, useTroves } from '../helpers/troves.js';
import { renewingLeases } from '../../src/load/lease.js';
import { deferred } from './support.js';

const LEASE_MS = 300;

describe.each(['value', 'key'] as const)('lease renewal (lock in %s)', (lockIn) => {
  const redis = useRedisServer();
  const troves = useTroves(() => ({ redis: redis.server.url, prefix: `lease-${lockIn}`, commandTimeout: TEST_COMMAND_TIMEOUT, nearCache: false, lockIn }));

  it('a factory running for five leases keeps its lock throughout: others are refused, then the value lands and the lock goes', async () => {
    const holder = troves.open({ lockLease: LEASE_MS });
    const other = troves.open({ lockLease: LEASE_MS });
    const gate = deferred<string>();
    let started = 0;
    const computing = holder.region<string>('r').getOrSet('k', () => {
      started = Date.now();
      return gate.promise;
    });
    await until(() => started > 0);
    const locks = await missLocksUnder(redis.server, `lease-${lockIn}`);
    expect(locks).toHaveLength(1);
    const lockKey = locks[0]!;
    // A claim in the entry's own key, or a lock key beside it.
    expect(lockKey === holder.region('r').keyOf('k')).toBe(lockIn === 'value');
    const token = await redis.server.command('GET', lockKey);
    // The property under test is the passing of time: the lock must outlive many lease lengths.
    while (Date.now() - started < 5 * LEASE_MS) {
      await sleep(LEASE_MS / 2);
      expect(await redis.server.command('GET', lockKey)).toMatch(new RegExp(`^${token.replace(/\+$/, '')}\\+?$`));
      await expect(other.region<string>('r').getOrSet('k', () => 'theirs', { onCold: 'fail' })).rejects.toBeInstanceOf(ColdCacheError);
    }
    gate.resolve('mine');
    expect(await computing).toBe('mine');
    expect(await missLocksUnder(redis.server, `lease-${lockIn}`)).toEqual([]);
    expect(await other.region<string>('r').get('k')).toBe('mine');
  });

  it('leases that end around long ones (first, middle, last of the renewal list) leave the long ones renewed', async () => {
    const holder = troves.open({ lockLease: LEASE_MS });
    const other = troves.open({ lockLease: LEASE_MS });
    const r = holder.region<string>('around');
    const keys = ['a', 'b', 'c', 'd', 'e'];
    const gates = new Map(keys.map((k) => [k, deferred<string>()]));
    const started = new Set<string>();
    const computing = keys.map((k) =>
      r.getOrSet(k, () => {
        started.add(k);
        return gates.get(k)!.promise;
      }),
    );
    await until(() => started.size === keys.length);
    // The first, two in the middle and the last of the list end; c stays, between ended ones.
    for (const k of ['a', 'b', 'd', 'e']) gates.get(k)!.resolve(k);
    const since = Date.now();
    // The property under test is the passing of time: c's lock must outlive several lease lengths.
    while (Date.now() - since < 4 * LEASE_MS) {
      await sleep(LEASE_MS / 2);
      await expect(other.region<string>('around').getOrSet('c', () => 'theirs', { onCold: 'fail' })).rejects.toBeInstanceOf(ColdCacheError);
    }
    for (const k of ['a', 'b', 'd', 'e']) expect(await other.region<string>('around').get(k)).toBe(k);
    gates.get('c')!.resolve('c');
    expect(await Promise.all(computing)).toEqual(keys);
    expect((await missLocksUnder(redis.server, `lease-${lockIn}`)).filter((k) => k.includes('around'))).toEqual([]);
  });

  it('leases of many concurrent misses are all released; none is left renewing', async () => {
    const t = troves.open({ lockLease: LEASE_MS });
    const r = t.region<number>('many');
    const out = await Promise.all(Array.from({ length: 200 }, (_, i) => r.getOrSet(`k${i}`, () => i)));
    expect(out).toEqual(Array.from({ length: 200 }, (_, i) => i));
    expect((await missLocksUnder(redis.server, `lease-${lockIn}`)).filter((k) => k.includes('many'))).toEqual([]);
    // Each lease stopped renewing before its value was written. (Counted here rather than as
    // renewals Redis runs afterwards: one sent before its lease stopped may still be on its way
    // on a loaded machine, and a leaked lease renews only once, finding its lock gone.)
    expect(renewingLeases()).toBe(0);
  });
});

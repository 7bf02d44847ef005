/**
 * Claims seen from the public API, on a real redis-server with both drivers: while another
 * process computes a value (its marker in the entry's key), every reader finds nothing and raises
 * no error; and a value that expires while its refresh runs is not computed a second time by a
 * miss elsewhere, which waits for the refresh instead.
 */
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { Tooling } from '../../src/api/tooling.js';
import type { Trove } from '../../src/index.js';
import { drivers, nodeRedisClient, type TestNodeRedisClient } from '../helpers/drivers.js';
import { claimElsewhere, lockKeyOf, markerOf } from '../helpers/locks.js';
import { TEST_COMMAND_TIMEOUT, until, useRedisServer, useTroves } from '../helpers/troves.js';
import { deferred, expectIdle, pendingOf } from './support.js';

describe.each(drivers)('claims through the API (%s)', (driver) => {
  const redis = useRedisServer();
  let n = 0;
  const clients: TestNodeRedisClient[] = [];
  // No near cache: its regions take lock keys, these claim.
  const troves = useTroves(() => ({ redis: redis.server.url, commandTimeout: TEST_COMMAND_TIMEOUT, nearCache: false }));
  const open = async (prefix: string): Promise<Trove> => {
    const client = driver === 'node-redis' ? await nodeRedisClient(redis.server.url) : undefined;
    if (client !== undefined) clients.push(client);
    const t = troves.open({ prefix, ...(client ? { redis: client } : {}) });
    await t.ready();
    return t;
  };
  afterEach(() => {
    for (const c of clients.splice(0)) c.destroy();
  });

  it('a value being computed elsewhere is absent to every reader, without an error', async () => {
    const prefix = `cl${++n}`;
    const t = await open(prefix);
    const errors: string[] = [];
    t.on('error', (e) => errors.push(`${e.operation}: ${e.error.message}`));
    const r = t.region<string>('users');
    await r.set('present', 'here');
    await claimElsewhere(redis.server, r.keyOf('k'), 'someone', 60_000);
    expect(await r.get('k')).toBeUndefined();
    expect(await r.has('k')).toBe(false);
    expect(await r.getMany(['k', 'present'])).toEqual([undefined, 'here']);
    expect(await r.ttlOf('k')).toBeUndefined();
    const listed: string[] = [];
    for await (const [key] of r.entries()) listed.push(key);
    expect(listed).toEqual(['present']);
    const keys: string[] = [];
    for await (const key of r.keys()) keys.push(key);
    expect(keys).toEqual(['present']);
    expect(await r.size()).toBe(1);
    expect(errors).toEqual([]);
    // The CLI's view: no value yet, not live, and not among the region's keys.
    const tooling = new Tooling({ redis: redis.server.url, prefix, version: '0', commandTimeoutMs: TEST_COMMAND_TIMEOUT });
    try {
      const { current } = await tooling.inspect('users', 'k');
      expect(current?.live).toBe(false);
      expect(current?.entry).toBeUndefined();
      expect(current?.decodeError).toMatch(/no value yet/);
      const toolKeys: string[] = [];
      for await (const key of tooling.keys('users')) toolKeys.push(key);
      expect(toolKeys).toEqual(['present']);
    } finally {
      await tooling.close();
    }
    // The marker, still there, is the other process's to replace.
    expect(await redis.server.command('GET', r.keyOf('k'))).toBe(markerOf('someone'));
  });

  it('delete() while a claimed value is computed: the next miss computes again, and nothing is left claimed', async () => {
    const prefix = `cl${++n}`;
    const a = await open(prefix);
    const b = await open(prefix);
    const opts = { lockLease: '60s', waitTimeout: '60s' };
    const ra = a.region<string>('d', opts);
    const rb = b.region<string>('d', opts);
    const gate = deferred<string>();
    const calls = { a: 0, b: 0 };
    const first = ra.getOrSet('k', () => {
      calls.a++;
      return gate.promise;
    });
    await until(async () => (await redis.server.command('GET', ra.keyOf('k'))).startsWith(markerOf('')), 10_000, 'the claim');
    // An explicit delete takes the claim with it, since the value being computed may be
    // outdated; no value existed, so it resolves to false.
    expect(await rb.delete('k')).toBe(false);
    expect(await redis.server.command('EXISTS', ra.keyOf('k'))).toBe('0');
    expect(
      await rb.getOrSet('k', () => {
        calls.b++;
        return 'from-b';
      }),
    ).toBe('from-b');
    gate.resolve('from-a');
    // The holder answers its caller, but its value, computed before the delete, is not written.
    expect(await first).toBe('from-a');
    expect(calls).toEqual({ a: 1, b: 1 });
    expect(await ra.get('k')).toBe('from-b');
    expect(await rb.get('k')).toBe('from-b');
    await expectIdle(a, b);
  });

  it('delete() and deleteMany() count garbage bytes and a key of another type as existing, a marker not; all of them go', async () => {
    const prefix = `cl${++n}`;
    const t = await open(prefix);
    const errors: string[] = [];
    t.on('error', (e) => errors.push(e.operation));
    const r = t.region<string>('g');
    await r.set('value', 'v');
    await redis.server.command('SET', r.keyOf('garbage'), '\xff\x00not an envelope');
    await redis.server.command('HSET', r.keyOf('hash'), 'f', 'v');
    await claimElsewhere(redis.server, r.keyOf('claimed'), 'someone', 60_000);
    await claimElsewhere(redis.server, r.keyOf('claimed-too'), 'someone else', 60_000);
    expect(await r.delete('garbage')).toBe(true);
    expect(await r.delete('claimed')).toBe(false);
    expect(await r.deleteMany(['value', 'hash', 'claimed-too', 'absent', 'value'])).toBe(2);
    for (const k of ['value', 'garbage', 'hash', 'claimed', 'claimed-too']) expect(await redis.server.command('EXISTS', r.keyOf(k))).toBe('0');
    expect(errors).toEqual([]);
  });

  it('delete() while a claimed value is computed, and nobody computes again meanwhile: the older value is not written', async () => {
    const prefix = `cl${++n}`;
    const a = await open(prefix);
    const b = await open(prefix);
    const ra = a.region<string>('d', { lockLease: '60s', waitTimeout: '60s' });
    const rb = b.region<string>('d');
    const gate = deferred<string>();
    const first = ra.getOrSet('k', () => gate.promise);
    await until(async () => (await redis.server.command('GET', ra.keyOf('k'))).startsWith(markerOf('')), 10_000, 'the claim');
    expect(await rb.deleteMany(['k', 'absent'])).toBe(0);
    gate.resolve('computed before the delete');
    expect(await first).toBe('computed before the delete');
    expect(await redis.server.command('EXISTS', ra.keyOf('k'))).toBe('0');
    expect(await rb.get('k')).toBeUndefined();
    expect(await rb.getOrSet('k', () => 'computed after')).toBe('computed after');
    await expectIdle(a, b);
  });

  it.each([
    { how: 'evicted (deleted)', waiterGets: 'from-b', computed: { a: 1, b: 1 } },
    { how: "overwritten by the user's own client", waiterGets: "the user's", computed: { a: 1, b: 0 } },
  ])(
    "a claim $how while another process waits: the holder's value is not written over it, and the waiter is told at once",
    async ({ how, waiterGets, computed }) => {
      const prefix = `cl${++n}`;
      const a = await open(prefix);
      const b = await open(prefix);
      const opts = { lockLease: '60s', waitTimeout: '60s' };
      const ra = a.region<string>('f', opts);
      const rb = b.region<string>('f', opts);
      await ra.set('other', "the user's");
      const gate = deferred<string>();
      const calls = { a: 0, b: 0 };
      const holder = ra.getOrSet('k', () => {
        calls.a++;
        return gate.promise;
      });
      await until(async () => (await redis.server.command('GET', ra.keyOf('k'))).startsWith(markerOf('')), 10_000, 'the claim');
      const waiter = rb.getOrSet('k', async () => {
        calls.b++;
        return 'from-b';
      });
      await until(() => pendingOf(b).waits === 1, 10_000, 'the waiter');
      const user = new Redis(redis.server.url);
      try {
        if (how.startsWith('evicted')) await user.del(ra.keyOf('k'));
        else await user.set(ra.keyOf('k'), (await user.getBuffer(ra.keyOf('other')))!);
      } finally {
        user.disconnect();
      }
      gate.resolve('from-a');
      expect(await holder).toBe('from-a');
      // The holder's write found no marker of its own: nothing written, the waiters told. The
      // waiter reads again: the user's value, or nothing, and then it computes.
      expect(await waiter).toBe(waiterGets);
      expect(calls).toEqual(computed);
      expect(await rb.get('k')).toBe(waiterGets);
      await expectIdle(a, b);
    },
  );

  it('a value that expires while its refresh runs: a miss elsewhere waits for the refresh, which computes once for both', async () => {
    const prefix = `cl${++n}`;
    const a = await open(prefix);
    const b = await open(prefix);
    // Stale after 50 ms, then nearly a second before it expires: the stale read below must find it.
    const opts = { ttl: 1_000, freshFor: 50, lockLease: '60s', waitTimeout: '60s' };
    const ra = a.region<string>('r', opts);
    const rb = b.region<string>('r', opts);
    await ra.set('k', 'old');
    await until(async () => (await ra.ttlOf('k'))?.freshForMs === 0, 10_000, 'the value to go stale');
    const gate = deferred<string>();
    const calls = { a: 0, b: 0 };
    // Stale: answered at once, refreshed behind the caller while holding the lock key.
    expect(
      await ra.getOrSet('k', () => {
        calls.a++;
        return gate.promise;
      }),
    ).toBe('old');
    await until(async () => (await redis.server.command('EXISTS', lockKeyOf(ra.keyOf('k')))) === '1', 10_000, 'the refresh to hold its lock');
    await until(async () => (await redis.server.command('EXISTS', ra.keyOf('k'))) === '0', 10_000, 'the value to expire');
    const missed = rb.getOrSet('k', async () => {
      calls.b++;
      return 'from-b';
    });
    await until(() => pendingOf(b).waits === 1, 10_000, 'the miss to wait for the refresh');
    // Its claim was given back: nothing in the entry's key, the lock key marked as waited for.
    expect(await redis.server.command('EXISTS', rb.keyOf('k'))).toBe('0');
    expect(await redis.server.command('GET', lockKeyOf(ra.keyOf('k')))).toMatch(/\+$/);
    gate.resolve('new');
    expect(await missed).toBe('new');
    expect(calls).toEqual({ a: 1, b: 0 });
    await until(async () => (await ra.get('k')) === 'new');
    await expectIdle(a, b);
  });
});

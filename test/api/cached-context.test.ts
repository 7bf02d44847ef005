/**
 * Cached functions and their computations: tags (static, or from the arguments and the result),
 * the context reached through `trove.context()` (before the first await always, after it with
 * `context: true`), `refresh` honouring what the function set, and `ColdCacheError.retryAfterMs`
 * estimated from the function's factory times.
 */
import { missLocksUnder } from '../helpers/locks.js';
import { describe, expect, it } from 'vitest';
import { ColdCacheError, type FactoryContext } from '../../src/index.js';
import { deferred } from '../load/support.js';
import { fakeDate, until, useRedisServer, useTroves } from '../helpers/troves.js';

const redis = useRedisServer();
let n = 0;
const { open } = useTroves(() => ({ redis: redis.server.url, prefix: `cc${++n}` }));

describe('tags of cached functions', () => {
  it('static tags: invalidating one recomputes every call carrying it', async () => {
    const t = open();
    let runs = 0;
    const f = t.cached(async (id: number) => ({ id, run: ++runs }), { name: 'user', tags: ['users'] });
    expect(await f(1)).toEqual({ id: 1, run: 1 });
    expect(await f(2)).toEqual({ id: 2, run: 2 });
    expect(await f(1)).toEqual({ id: 1, run: 1 });
    await t.invalidateTags(['users']);
    expect(await f(1)).toEqual({ id: 1, run: 3 });
    expect(await f(2)).toEqual({ id: 2, run: 4 });
    expect(runs).toBe(4);
  });

  it('tags from the arguments and the result: exactly the calls carrying the tag are recomputed', async () => {
    const t = open();
    let runs = 0;
    const orgOf: Record<number, string> = { 1: 'a', 2: 'b', 3: 'a' };
    const f = t.cached(async (id: number) => ({ id, org: orgOf[id]!, run: ++runs }), {
      name: 'member',
      tags: ([id], member) => [`user:${id}`, `org:${member.org}`],
    });
    for (const id of [1, 2, 3]) await f(id);
    expect(runs).toBe(3);
    await t.invalidateTags(['org:a']);
    expect((await f(1)).run).toBe(4);
    expect((await f(2)).run).toBe(2);
    expect((await f(3)).run).toBe(5);
    await t.invalidateTags(['user:2']);
    expect((await f(2)).run).toBe(6);
    expect(runs).toBe(6);
  });

  it('refresh stores with the tags of its result', async () => {
    const t = open();
    let runs = 0;
    const f = t.cached(async (id: number) => ({ id, run: ++runs }), { name: 'refreshed', tags: ([id]) => [`item:${id}`] });
    await f.refresh(9);
    expect(await f.peek(9)).toEqual({ id: 9, run: 1 });
    await t.invalidateTags(['item:9']);
    expect(await f.peek(9)).toBeUndefined();
  });
});

describe('trove.context() inside cached functions', () => {
  it('before the first await: set the ttl and tags from the result, or skip caching it', async () => {
    const t = open();
    const tokens = t.cached(
      async (user: string) => {
        const ctx = t.context();
        const token = { user, expiresIn: user === 'guest' ? 0 : 90 };
        if (token.expiresIn === 0) ctx?.skip();
        else ctx?.setTtl(token.expiresIn * 1000);
        return token;
      },
      { name: 'token', region: 'tokens' },
    );
    await tokens('ada');
    await tokens('guest');
    const key = (await t.region('tokens').keys().next()).value as string;
    const left = await t.region('tokens').ttlOf(key);
    expect(left!.ttlMs).toBeGreaterThan(80_000);
    expect(left!.ttlMs).toBeLessThanOrEqual(90_000);
    expect(await t.region('tokens').size()).toBe(1);
    expect(await tokens.peek('guest')).toBeUndefined();
  });

  it('after an await: only with context: true, and each call sees its own', async () => {
    const t = open();
    const seen: (string | undefined)[] = [];
    const gate = deferred();
    const make = (name: string, context: boolean) =>
      t.cached(
        async (id: number) => {
          await gate.promise;
          const ctx: FactoryContext | undefined = t.context();
          seen.push(`${name} ${id}: ${ctx === undefined ? 'none' : ctx.key}`);
          ctx?.setTtl('2m');
          return id;
        },
        { name, context, readableKeys: true },
      );
    const withContext = make('withContext', true);
    const without = make('without', false);
    const calls = [withContext(1), withContext(2), without(3)];
    gate.resolve();
    await Promise.all(calls);
    // A cached function's context key is its key in the region: name, version, (readable) arguments.
    expect(seen.sort()).toEqual(['withContext 1: withContext:0:(1;)', 'withContext 2: withContext:0:(2;)', 'without 3: none']);
    // The ttl set after the await applied to the two calls that could reach their context.
    const ttls: string[] = [];
    for await (const key of t.region('fn').keys()) {
      const left = await t.region('fn').ttlOf(key);
      ttls.push(`${key.split(':')[0]} ${left!.ttlMs <= 120_000 ? '2m' : 'default'}`);
    }
    expect(ttls.sort()).toEqual(['withContext 2m', 'withContext 2m', 'without default']);
  });

  it('a decorated method reaches its context too', async () => {
    const t = open();
    class Rates {
      @t.cached({ region: 'rates' })
      async rate(currency: string): Promise<number> {
        t.context()?.setTtl('5s');
        return currency.length;
      }
    }
    expect(await new Rates().rate('EUR')).toBe(3);
    const key = (await t.region('rates').keys().next()).value as string;
    expect((await t.region('rates').ttlOf(key))!.ttlMs).toBeLessThanOrEqual(5_000);
  });
});

describe('ColdCacheError.retryAfterMs', () => {
  it("is the function's mean factory time when known, not the lock's lease", async () => {
    const holder = open();
    const prefix = holder.prefix;
    const caller = open({ prefix });
    const gates = new Map<number, Promise<void>>();
    const report = (t: typeof holder) =>
      t.cached(
        async (id: number) => {
          await gates.get(id);
          return id;
        },
        { name: 'report', onCold: 'fail', lockLease: '5s' },
      );
    const slow = deferred();
    gates.set(1, slow.promise);
    // The caller computes once, so that it knows how long this function takes.
    const first = report(caller)(1);
    slow.resolve();
    await first;
    const row = caller.stats().regions!.find((r) => r.function === 'report')!;
    expect(row.compute.count).toBe(1);
    // The estimate subtracts how long this process has seen the key held, read on Date.now()
    // twice in a row: held still, so that a pause of the process between the two reads (a loaded
    // machine) cannot take a few ms off a mean of a few ms.
    fakeDate();
    // Another process holds the lock of a cold key.
    const held = deferred();
    gates.set(2, held.promise);
    const computing = report(holder)(2);
    await until(async () => (await missLocksUnder(redis.server, prefix)).length > 0);
    const err = await report(caller)(2).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ColdCacheError);
    expect((err as ColdCacheError).retryAfterMs).toBe(Math.max(1, Math.round(row.compute.meanMs)));
    held.resolve();
    expect(await computing).toBe(2);
  });

  it("is the holder's remaining lease while nothing of the function was computed here", async () => {
    const holder = open();
    const caller = open({ prefix: holder.prefix });
    const held = deferred();
    const report = (t: typeof holder) =>
      t.cached(
        async (id: number) => {
          await held.promise;
          return id;
        },
        { name: 'cold', onCold: 'fail', lockLease: '5s' },
      );
    const computing = report(holder)(1);
    await until(async () => (await missLocksUnder(redis.server, holder.prefix)).length > 0);
    const err = (await report(caller)(1).catch((e: unknown) => e)) as ColdCacheError;
    expect(err).toBeInstanceOf(ColdCacheError);
    expect(err.retryAfterMs).toBeGreaterThan(0);
    expect(err.retryAfterMs).toBeLessThanOrEqual(5_000);
    held.resolve();
    await computing;
  });
});

/**
 * `getOrSetMany` (src/region/read-through-many.ts): the keys this process computes reach the
 * factory together, cached ones never; answers in the order of the keys; a factory's bad answer is
 * a FactoryResultError for the keys it concerns. On the embedded store and a private redis-server,
 * for both storages; across troves with both drivers (a key computed elsewhere is waited for).
 */
import { describe, expect, it } from 'vitest';
import { ClosedError, FactoryResultError, InvalidOptionError, TimeoutError } from '../../src/errors.js';
import type { ManyFactoryContext, Trove } from '../../src/index.js';
import { allAborted } from '../../src/region/read-through-many.js';
import { drivers, nodeRedisClient, type TestNodeRedisClient } from '../helpers/drivers.js';
import { markerOf } from '../helpers/locks.js';
import { describeEachStorage, until, useRedisServer, useTroves } from '../helpers/troves.js';
import { deferred, expectIdle } from '../load/support.js';

/** A getOrSetMany factory that records the keys of each call and answers `v:<key>` for each. */
function recording<K extends string | number>(): { calls: K[][]; factory: (keys: K[]) => Promise<string[]> } {
  const calls: K[][] = [];
  return {
    calls,
    factory: async (keys) => {
      calls.push([...keys]);
      return keys.map((k) => `v:${k}`);
    },
  };
}

/** A getOrSetMany factory that answers nothing until its call's signal aborts, then rejects with the reason; `running`: its context, once called. */
function abortable(): {
  running: Promise<ManyFactoryContext<string, unknown>>;
  factory: (keys: string[], ctx: ManyFactoryContext<string, unknown>) => Promise<string[]>;
} {
  const running = deferred<ManyFactoryContext<string, unknown>>();
  return {
    running: running.promise,
    factory: (_keys, ctx) => {
      running.resolve(ctx);
      return new Promise<string[]>((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)));
    },
  };
}

describeEachStorage('getOrSetMany', 'gm', ({ troves, region }) => {
  it('answers in the order of the keys; only the missing keys reach the factory, in one call; their values are stored with the options given', async () => {
    const t = troves.open();
    const r = region(t, 'order');
    await r.set('b', 'cached b');
    await r.set('d', 'cached d');
    const f = recording<string>();
    const keys = ['a', 'b', 'c', 'd', 'e'];
    expect(await r.getOrSetMany(keys, f.factory, { ttl: '100s', tags: ['t'] })).toEqual(['v:a', 'cached b', 'v:c', 'cached d', 'v:e']);
    expect(f.calls).toHaveLength(1);
    expect([...f.calls[0]!].sort()).toEqual(['a', 'c', 'e']);
    expect(await r.getMany(keys)).toEqual(['v:a', 'cached b', 'v:c', 'cached d', 'v:e']);
    const life = (await r.ttlOf('a'))!;
    expect(life.ttlMs).toBeLessThanOrEqual(100_000);
    expect(life.ttlMs).toBeGreaterThan(90_000);
    // Everything cached now: the factory is not called again.
    expect(await r.getOrSetMany(keys, f.factory)).toEqual(['v:a', 'cached b', 'v:c', 'cached d', 'v:e']);
    expect(f.calls).toHaveLength(1);
    await t.invalidateTags(['t']);
    expect(await r.getOrSetMany(['a', 'b'], f.factory)).toEqual(['v:a', 'cached b']);
    expect(f.calls).toEqual([f.calls[0], ['a']]);
    expect(await r.getOrSetMany([], f.factory)).toEqual([]);
    expect(f.calls).toHaveLength(2);
  });

  it('a Map answer, keys as given (numbers stay numbers), a key given twice computed once', async () => {
    const t = troves.open();
    const r = region(t, 'map');
    const calls: (string | number)[][] = [];
    const answer = await r.getOrSetMany([1, 2, 'x', 2, 'x', '1'], async (keys) => {
      calls.push(keys);
      return new Map(keys.map((k) => [k, `${typeof k}:${k}`]));
    });
    expect(answer).toEqual(['number:1', 'number:2', 'string:x', 'number:2', 'string:x', 'number:1']);
    expect(calls).toHaveLength(1);
    expect(calls[0]).toHaveLength(3);
    expect(new Set(calls[0])).toEqual(new Set([1, 2, 'x']));
    expect(await r.get('1')).toBe('number:1');
  });

  it("a factory's bad answer: FactoryResultError for the keys it concerns, the others stored; a throw rejects, nothing stored", async () => {
    const t = troves.open();
    troves.expectErrors();
    const r = region(t, 'bad');
    // A Map without one key: that key fails; the others are stored.
    const partial = r.getOrSetMany(['p1', 'p2'], async () => new Map([['p1', 'one']]));
    await expect(partial).rejects.toBeInstanceOf(FactoryResultError);
    await expect(partial).rejects.toThrow(/no value for key "p2"/);
    await until(async () => (await r.get('p1')) === 'one', 10_000, 'p1 stored');
    expect(await r.has('p2')).toBe(false);
    // An array of the wrong length: every key of the call fails, nothing stored.
    await expect(r.getOrSetMany(['w1', 'w2'], async () => ['only one'])).rejects.toMatchObject({ code: 'FACTORY_RESULT' });
    // Neither an array nor a Map.
    await expect(r.getOrSetMany(['o1'], async () => ({ o1: 'x' }) as unknown as string[])).rejects.toThrow(/an array .* or a Map/);
    // The factory throws (at once or later): the callers see its error.
    const down = new Error('source down');
    await expect(
      r.getOrSetMany(['t1', 't2'], () => {
        throw down;
      }),
    ).rejects.toBe(down);
    await expect(r.getOrSetMany(['t3'], async () => Promise.reject(down))).rejects.toBe(down);
    await expectIdle(t);
    expect(await r.getMany(['w1', 'w2', 'o1', 't1', 't2', 't3'])).toEqual([undefined, undefined, undefined, undefined, undefined, undefined]);
  });

  it('a bad key or factory is refused before anything runs', async () => {
    const t = troves.open();
    const r = region(t, 'refused');
    const f = recording<string>();
    await expect(r.getOrSetMany(['ok', Number.NaN as unknown as string], f.factory)).rejects.toBeInstanceOf(InvalidOptionError);
    await expect(r.getOrSetMany(['ok'], 'nope' as unknown as typeof f.factory)).rejects.toMatchObject({ option: 'factory' });
    await expect(r.getOrSetMany('ok' as unknown as string[], f.factory)).rejects.toMatchObject({ option: 'keys' });
    await expect(r.getOrSetMany(['ok'], f.factory, { ttl: 'abc' })).rejects.toMatchObject({ option: 'ttl' });
    expect(f.calls).toEqual([]);
    expect(await r.has('ok')).toBe(false);
  });

  it("stale keys are answered at once and refreshed together, behind the caller; each key's context holds its previous value", async () => {
    const t = troves.open();
    const r = region(t, 'stale', { ttl: '100s' });
    await r.setMany([
      ['s1', 'old 1'],
      ['s2', 'old 2'],
    ]);
    expect(await r.markStale('s1')).toBe(true);
    expect(await r.markStale('s2')).toBe(true);
    const calls: string[][] = [];
    const previous = new Map<string, unknown>();
    const factory = async (keys: string[], ctx: ManyFactoryContext<string, unknown>) => {
      calls.push([...keys]);
      for (const k of keys) previous.set(k, ctx.of(k).stale);
      return keys.map((k) => `v:${k}`);
    };
    expect(await r.getOrSetMany(['s1', 's2', 'new'], factory)).toEqual(['old 1', 'old 2', 'v:new']);
    await until(async () => (await r.get('s2')) === 'v:s2' && (await r.get('s1')) === 'v:s1', 10_000, 'the refreshes');
    expect(calls.flat().sort()).toEqual(['new', 's1', 's2']);
    expect(previous).toEqual(
      new Map([
        ['s1', 'old 1'],
        ['s2', 'old 2'],
        ['new', undefined],
      ]),
    );
    await expectIdle(t);
  });

  it("each key's context adapts that key's value alone: ttl, freshness, tags, skip; a key not handed over is refused", async () => {
    const t = troves.open();
    const r = region(t, 'ctx', { ttl: '100s' });
    const calls: string[][] = [];
    let refused: unknown;
    const answer = await r.getOrSetMany(['short', 'skipped', 'tagged', 'plain', 'early'], async (keys, ctx) => {
      calls.push([...keys]);
      try {
        ctx.of('other' as (typeof keys)[number]);
      } catch (err) {
        refused = err;
      }
      ctx.of('short').setTtl('5s');
      ctx.of('skipped').skip();
      ctx.of('tagged').setTags(['tg']);
      ctx.of('early').setFreshFor(0);
      return keys.map((k) => `v:${k}`);
    });
    expect(answer).toEqual(['v:short', 'v:skipped', 'v:tagged', 'v:plain', 'v:early']);
    expect(calls).toHaveLength(1);
    expect(refused).toBeInstanceOf(InvalidOptionError);
    expect(refused).toMatchObject({ option: 'key' });
    const short = (await r.ttlOf('short'))!;
    expect(short.ttlMs).toBeGreaterThan(0);
    expect(short.ttlMs).toBeLessThanOrEqual(5_000);
    const plain = (await r.ttlOf('plain'))!;
    expect(plain.ttlMs).toBeGreaterThan(5_000);
    expect(plain.ttlMs).toBeLessThanOrEqual(100_000);
    expect((await r.ttlOf('early'))!.freshForMs).toBe(0);
    expect(await r.has('skipped')).toBe(false);
    expect(await r.getMany(['tagged', 'plain'])).toEqual(['v:tagged', 'v:plain']);
    await t.invalidateTags(['tg']);
    expect(await r.getMany(['tagged', 'plain'])).toEqual([undefined, 'v:plain']);
    await expectIdle(t);
  });

  it.each([
    { how: 'every key times out (hardTimeout)', error: TimeoutError },
    { how: 'the trove closes', error: ClosedError },
  ])("the call's signal is aborted once every key's is: $how; unaborted while the factory runs", async ({ how, error }) => {
    const t = troves.open();
    troves.expectErrors();
    const r = region(t, 'signal');
    const untilAborted = abortable();
    const timesOut = how.includes('hardTimeout');
    const call = r.getOrSetMany(['a', 'b'], untilAborted.factory, timesOut ? { hardTimeout: 200 } : undefined);
    const ctx = await untilAborted.running;
    const outcome = expect(call).rejects.toBeInstanceOf(error);
    // Resumed right after the factory's call, before any timer can run: no key has timed out yet.
    expect(ctx.signal.aborted).toBe(false);
    if (!timesOut) await t.close();
    await outcome;
    await until(() => ctx.signal.aborted, 10_000, 'the call signal');
    expect(ctx.of('a').signal.aborted).toBe(true);
    expect(ctx.of('b').signal.aborted).toBe(true);
    expect(ctx.signal.reason).toBeInstanceOf(error);
    if (timesOut) await expectIdle(t);
  });
});

describe('allAborted (the signal of a getOrSetMany factory call)', () => {
  it('aborts once every signal has, with the last reason; not while one is still live', () => {
    const [a, b, c] = [new AbortController(), new AbortController(), new AbortController()];
    const all = allAborted([a.signal, b.signal, c.signal]);
    a.abort(new Error('a'));
    c.abort(new Error('c'));
    expect(all.aborted).toBe(false);
    b.abort(new Error('b'));
    expect(all.aborted).toBe(true);
    expect((all.reason as Error).message).toBe('b');
  });

  it('signals aborted already count at once', () => {
    const done = new AbortController();
    done.abort('early');
    expect(allAborted([done.signal]).aborted).toBe(true);
    const live = new AbortController();
    const all = allAborted([done.signal, live.signal]);
    expect(all.aborted).toBe(false);
    live.abort('late');
    expect(all.reason).toBe('late');
  });
});

describe.each(drivers)('getOrSetMany across troves (%s)', (driver) => {
  const redis = useRedisServer();
  let n = 0;
  const clients: TestNodeRedisClient[] = [];
  const troves = useTroves(() => ({ redis: redis.server.url }));
  const open = async (prefix: string, near: boolean): Promise<Trove> => {
    const client = driver === 'node-redis' ? await nodeRedisClient(redis.server.url) : undefined;
    if (client !== undefined) clients.push(client);
    const t = troves.open({ prefix, nearCache: near ? {} : false, ...(client ? { redis: client } : {}) });
    await t.ready();
    return t;
  };

  it('Redis stalled (SIGSTOP): the keys are computed here, together, once the reads time out; nothing is lost once Redis is back', async () => {
    troves.expectErrors();
    const client = driver === 'node-redis' ? await nodeRedisClient(redis.server.url) : undefined;
    if (client !== undefined) clients.push(client);
    const t = troves.open({ prefix: `gms${++n}`, nearCache: false, commandTimeout: 300, ...(client ? { redis: client } : {}) });
    await t.ready();
    const r = t.region<string>('s');
    await r.set('cached', 'from before');
    const f = recording<string>();
    redis.server.pause();
    try {
      expect(await r.getOrSetMany(['a', 'b', 'c'], f.factory)).toEqual(['v:a', 'v:b', 'v:c']);
    } finally {
      redis.server.resume();
    }
    expect(f.calls).toHaveLength(1);
    expect([...f.calls[0]!].sort()).toEqual(['a', 'b', 'c']);
    await until(async () => (await r.get('cached').catch(() => undefined)) === 'from before', 10_000, 'Redis back');
    expect(await r.getOrSetMany(['cached', 'd'], f.factory)).toEqual(['from before', 'v:d']);
    await expectIdle(t);
    await t.close();
    for (const c of clients.splice(0)) c.destroy();
  });

  it.each([false, true])(
    'a key another process computes is waited for, not computed (near cache: %s); the others go to the factory in one call',
    async (near) => {
      const prefix = `gmx${++n}`;
      const holder = await open(prefix, near);
      const many = await open(prefix, near);
      const opts = { lockLease: '30s', waitTimeout: '30s' };
      const gate = deferred<string>();
      const h = holder.region<string>('x', opts);
      const held = h.getOrSet('k2', () => gate.promise);
      await until(
        async () =>
          (await redis.server.command('GET', h.keyOf('k2'))).startsWith(markerOf('')) ||
          (await redis.server.command('EXISTS', h.keyOf('k2').replace(/^([^:]*:[^:]*:)/, '$1__lock:'))) === '1',
        10_000,
        'the lock of k2',
      );
      const f = recording<string>();
      const answer = many.region<string>('x', opts).getOrSetMany(['k1', 'k2', 'k3'], f.factory);
      await until(() => f.calls.length === 1, 10_000, 'the factory call');
      expect([...f.calls[0]!].sort()).toEqual(['k1', 'k3']);
      gate.resolve('from the holder');
      expect(await held).toBe('from the holder');
      expect(await answer).toEqual(['v:k1', 'from the holder', 'v:k3']);
      expect(f.calls).toHaveLength(1);
      await expectIdle(holder, many);
      await Promise.all([holder.close(), many.close()]);
      for (const c of clients.splice(0)) c.destroy();
    },
  );
});

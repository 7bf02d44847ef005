/**
 * Contracts of the public surface: per-call options are validated up front like region options,
 * every closed-trove error is a ClosedError, off() removes once-listeners, and raw regions
 * reject freshFor.
 */
import { describe, expect, it } from 'vitest';
import { ClosedError, createTrove, type ErrorEvent, InvalidOptionError } from '../../src/index.js';
import { useRedisServer, useTroves, until } from '../helpers/troves.js';
import { pendingOf } from '../load/support.js';

/** The InvalidOptionError a promise (or a function) rejects with. */
async function invalidOption(p: Promise<unknown> | (() => unknown)): Promise<InvalidOptionError> {
  let err: unknown;
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(InvalidOptionError);
  return err as InvalidOptionError;
}

describe('per-call options are validated up front (embedded store)', () => {
  let n = 0;
  const { open } = useTroves(() => ({ prefix: `c${++n}` }));

  it('getOrSet rejects a bad ttl before the factory runs, like set', async () => {
    const t = open();
    const errors: ErrorEvent[] = [];
    t.on('error', (e) => errors.push(e));
    const r = t.region('r');
    let runs = 0;
    const factory = () => ++runs;
    for (let i = 0; i < 2; i++) expect((await invalidOption(r.getOrSet('k', factory, { ttl: 'abc' }))).option).toBe('ttl');
    expect((await invalidOption(r.set('k', 1, { ttl: 'abc' }))).option).toBe('ttl');
    expect(runs).toBe(0);
    expect(errors).toEqual([]);
  });

  it('getOrSet rejects unknown option names, naming them', async () => {
    const r = open().region('r');
    let runs = 0;
    const err = await invalidOption(r.getOrSet('k', () => ++runs, { tag: ['a'] } as never));
    expect(err.option).toBe('tag');
    expect(err.message).toMatch(/unknown option/);
    expect(runs).toBe(0);
  });

  it('set, setMany and batch writes refuse read-through options (they would do nothing); nothing is written', async () => {
    const r = open().region('r');
    const opts = { ttl: '1m', onCold: 'fail' } as never;
    // Checked as getOrSet options first: the object is valid there, and must still be refused by a write.
    expect(await r.getOrSet('g', () => 1, opts)).toBe(1);
    const err = await invalidOption(r.set('k', 1, opts));
    expect(err.option).toBe('onCold');
    expect(err.message).toMatch(/getOrSet only/);
    expect((await invalidOption(r.setMany([['k', 1]], { lock: false } as never))).option).toBe('lock');
    expect((await invalidOption(r.batch((tx) => tx.set('k', 1, { softTimeout: 10 } as never)))).option).toBe('softTimeout');
    expect(await r.has('k')).toBe(false);
  });

  it('getOrSet rejects bad values of its own options and of read-through options', async () => {
    const r = open().region('r');
    let runs = 0;
    const f = () => ++runs;
    const bad: [object, string][] = [
      [{ refreshTtlOnHit: 'yes' }, 'refreshTtlOnHit'],
      [{ shouldCache: true }, 'shouldCache'],
      [{ tags: 'org:7' }, 'tags'],
      [{ tags: [''] }, 'tags'],
      [{ onCold: 'later' }, 'onCold'],
      [{ freshFor: -1 }, 'freshFor'],
      [{ ttl: '1m', freshFor: '2m' }, 'freshFor'],
    ];
    for (const [opts, option] of bad) expect((await invalidOption(r.getOrSet('k', f, opts as never))).option).toBe(option);
    expect((await invalidOption(r.getOrSet('k', f, null as never))).option).toBe('options');
    expect(runs).toBe(0);
  });

  it('freshFor above the region ttl is rejected before the factory, per region the object is used in', async () => {
    const t = open();
    const hour = t.region('hour', { ttl: '1h' });
    const short = t.region('short', { ttl: '10m' });
    const opts = { freshFor: '30m' };
    let runs = 0;
    expect(await hour.getOrSet('k', () => ++runs, opts)).toBe(1);
    expect(await hour.getOrSet('k', () => ++runs, opts)).toBe(1);
    // Already checked once, but not against this region's ttl.
    expect((await invalidOption(short.getOrSet('k', () => ++runs, opts))).option).toBe('freshFor');
    expect(runs).toBe(1);
  });

  it('set, setMany and batch writes reject unknown names and bad values; nothing is written', async () => {
    const r = open().region('r');
    expect((await invalidOption(r.set('a', 1, { tag: ['x'] } as never))).option).toBe('tag');
    expect((await invalidOption(r.set('a', 1, { freshFor: 'soon' }))).option).toBe('freshFor');
    expect(
      (
        await invalidOption(
          r.setMany(
            [
              ['a', 1],
              ['b', 2],
            ],
            { ttls: '1m' } as never,
          ),
        )
      ).option,
    ).toBe('ttls');
    const err = await invalidOption(
      r.batch((tx) => {
        tx.set('a', 1);
        tx.set('b', 2, { tags: [7] } as never);
      }),
    );
    expect(err.option).toBe('tags');
    expect(await r.getMany(['a', 'b'])).toEqual([undefined, undefined]);
  });

  it('valid options still work, and a hoisted options object keeps working on hits', async () => {
    const t = open();
    const r = t.region('r');
    const opts = { ttl: '10m', freshFor: '5m', tags: ['org:7'], onCold: 'wait' as const, refreshTtlOnHit: true };
    let runs = 0;
    for (let i = 0; i < 5; i++) expect(await r.getOrSet('k', () => ++runs, opts)).toBe(1);
    expect(runs).toBe(1);
    await r.set('s', 's', { ttl: 1000, tags: ['org:7'] });
    await r.setMany([['m', 'm']], { ttl: '1m' });
    expect(await r.getMany(['s', 'm'])).toEqual(['s', 'm']);
    await t.invalidateTags(['org:7']);
    expect(await r.getOrSet('k', () => ++runs, opts)).toBe(2);
  });

  it('a cached function with read-through options can still refresh (its options reach set)', async () => {
    const t = open();
    let runs = 0;
    const f = t.cached(async (x: number) => x * 10 + ++runs, { name: 'f', ttl: '1m', onCold: 'wait', failSafe: true, refreshTtlOnHit: true });
    expect(await f(1)).toBe(11);
    expect(await f.refresh(1)).toBe(12);
    expect(await f(1)).toBe(12);
  });
});

describe('raw regions reject freshFor (embedded store)', () => {
  let n = 0;
  const { open, track } = useTroves(() => ({ prefix: `raw${++n}` }));

  it('at the level where both are given', async () => {
    const t = open();
    expect((await invalidOption(() => t.region('r', { raw: true, freshFor: '1m' }))).option).toBe('r.freshFor');
    expect((await invalidOption(() => track(createTrove({ raw: true, freshFor: '1m' })))).option).toBe('freshFor');
  });

  it('when freshFor is inherited and raw set below (or the other way round)', async () => {
    const t = open({ ttl: '1h', freshFor: '1m' });
    expect((await invalidOption(() => t.region('r', { raw: true }))).option).toBe('r.freshFor');
    // A ttl on the raw region resets the inherited freshFor: accepted.
    const ok = t.region('ok', { raw: true, ttl: '1h' });
    await ok.set('k', { a: 1 });
    expect(await ok.get('k')).toEqual({ a: 1 });
    const u = open();
    u.region('p', { raw: true });
    expect((await invalidOption(() => u.region('p.c', { freshFor: '1m' }))).option).toBe('p.c.freshFor');
  });

  it('per call, from set and getOrSet (before the factory)', async () => {
    const r = open().region('r', { raw: true });
    expect((await invalidOption(r.set('k', 1, { freshFor: '1m' }))).option).toBe('freshFor');
    let runs = 0;
    expect((await invalidOption(r.getOrSet('k', () => ++runs, { freshFor: '1m' }))).option).toBe('freshFor');
    expect((await invalidOption(r.batch((tx) => tx.set('k', 1, { ttl: '1h', freshFor: '1m' })))).option).toBe('freshFor');
    expect(runs).toBe(0);
    expect(await r.getOrSet('k', () => ++runs, { ttl: '1h' })).toBe(1);
  });
});

describe('events: off removes a once-listener', () => {
  const { open } = useTroves(() => ({ prefix: 'ev' }));

  it('off(name, fn) after once(name, fn)', async () => {
    const t = open();
    const seen: string[] = [];
    const fn = (e: { key: string }) => seen.push(e.key);
    t.once('set', fn);
    expect(t.listenerCount('set')).toBe(1);
    t.off('set', fn);
    expect(t.listenerCount('set')).toBe(0);
    await t.region('r').set('a', 1);
    expect(seen).toEqual([]);
    // once still fires exactly once, and on/off are unaffected.
    t.once('set', fn);
    await t.region('r').set('b', 1);
    await t.region('r').set('c', 1);
    expect(seen).toEqual(['b']);
    t.on('set', fn);
    t.off('set', fn);
    expect(t.listenerCount('set')).toBe(0);
  });
});

describe('closed troves throw ClosedError (redis)', () => {
  const redis = useRedisServer();
  let n = 0;
  const { open } = useTroves(() => ({ redis: redis.server.url, prefix: `closed${++n}` }));

  it('a getOrSet waiting for another process is rejected with ClosedError when its trove closes', async () => {
    const opts = { prefix: 'closed-wait' };
    const a = open(opts);
    const b = open(opts);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let computing = false;
    const holder = a.region('r').getOrSet('k', async () => {
      computing = true;
      await gate;
      return 'a';
    });
    await until(() => computing);
    let bRuns = 0;
    const waiter = b.region('r').getOrSet('k', () => ++bRuns, { onCold: 'wait', waitTimeout: '10s' });
    const settled = waiter.then(
      () => 'resolved',
      (err: unknown) => err,
    );
    await until(() => pendingOf(b).waits === 1);
    await b.close();
    const err = await settled;
    expect(err).toBeInstanceOf(ClosedError);
    expect((err as ClosedError).code).toBe('CLOSED');
    expect(bRuns).toBe(0);
    release();
    expect(await holder).toBe('a');
    // Every other operation of a closed trove says the same.
    await expect(b.region('r').get('k')).rejects.toBeInstanceOf(ClosedError);
  });
});

/**
 * The factory's context: what a factory sets (ttl, freshness, tags, skip) decides how its value is
 * written, and what it reads (the previous value, its key and region, the abort signal) is right.
 * On the embedded store and on a private redis-server; freshness is moved with a fake Date.
 */
import { describe, expect, it } from 'vitest';
import { ClosedError, type FactoryContext, InvalidOptionError, TimeoutError } from '../../src/index.js';
import { fakeDate, storeKinds, until, useStore, useTroves } from '../helpers/troves.js';
import { deferred } from './support.js';

for (const kind of storeKinds) {
  describe(`factory context (${kind})`, () => {
    const store = useStore(kind);
    let n = 0;
    const { open, expectErrors } = useTroves(() => ({ ...store.opts, prefix: `fc${++n}` }));

    it('knows its key and region, and has no previous value on a cold miss', async () => {
      const t = open();
      let seen: FactoryContext<number> | undefined;
      expect(
        await t.region<number>('users.profiles').getOrSet('42', (ctx) => {
          seen = ctx;
          return 1;
        }),
      ).toBe(1);
      expect(seen?.key).toBe('42');
      expect(seen?.region).toBe('users.profiles');
      expect(seen?.stale).toBeUndefined();
      expect(seen?.signal.aborted).toBe(false);
    });

    it('setTtl and setFreshFor decide the stored lifetimes (e.g. from a token expiry)', async () => {
      const t = open();
      const tokens = t.region('tokens', { ttl: '1h', freshFor: '10m' });
      await tokens.getOrSet('oauth', (ctx) => {
        const expiresIn = 120; // seconds, as an OAuth token answers
        ctx.setTtl(expiresIn * 1000);
        ctx.setFreshFor((expiresIn - 60) * 1000);
        return 'token';
      });
      const left = await tokens.ttlOf('oauth');
      expect(left!.ttlMs).toBeGreaterThan(110_000);
      expect(left!.ttlMs).toBeLessThanOrEqual(120_000);
      expect(left!.freshForMs).toBeGreaterThan(50_000);
      expect(left!.freshForMs).toBeLessThanOrEqual(60_000);
    });

    it("setTtl alone caps the region's freshness; a string duration and Infinity work", async () => {
      const t = open();
      const r = t.region('caps', { ttl: '1h', freshFor: '10m' });
      await r.getOrSet('short', (ctx) => {
        ctx.setTtl('30s');
        return 1;
      });
      const short = await r.ttlOf('short');
      expect(short!.ttlMs).toBeLessThanOrEqual(30_000);
      expect(short!.freshForMs).toBeLessThanOrEqual(30_000);
      await r.getOrSet('forever', (ctx) => {
        ctx.setTtl(Number.POSITIVE_INFINITY);
        return 2;
      });
      const forever = await r.ttlOf('forever');
      expect(forever!.ttlMs).toBe(Number.POSITIVE_INFINITY);
      expect(forever!.freshForMs).toBeLessThanOrEqual(600_000);
      expect(forever!.freshForMs).toBeGreaterThan(590_000);
    });

    it('an invalid duration throws in the factory, as its own error', async () => {
      const t = open();
      await expect(
        t.region('bad').getOrSet('k', (ctx) => {
          ctx.setTtl('soon');
          return 1;
        }),
      ).rejects.toBeInstanceOf(InvalidOptionError);
      expect(await t.region('bad').has('k')).toBe(false);
    });

    it('a freshFor above the ttl: answered, not stored, with an error event', async () => {
      const t = open();
      expectErrors();
      const errors: string[] = [];
      t.on('error', (e) => errors.push(`${e.operation} ${e.error.code}`));
      const value = await t.region('over').getOrSet('k', (ctx) => {
        ctx.setTtl('1m');
        ctx.setFreshFor('2m');
        return 'v';
      });
      expect(value).toBe('v');
      expect(errors).toEqual(['set INVALID_OPTION']);
      expect(await t.region('over').has('k')).toBe(false);
    });

    it('setTags: invalidating one of them invalidates the value', async () => {
      const t = open();
      const r = t.region('tagged');
      let runs = 0;
      const load = () =>
        r.getOrSet('k', (ctx) => {
          runs++;
          ctx.setTags(['org:1', 'user:7']);
          return runs;
        });
      expect(await load()).toBe(1);
      expect(await load()).toBe(1);
      await t.invalidateTags(['user:7']);
      expect(await load()).toBe(2);
      expect(runs).toBe(2);
    });

    it('setTags adds to the tags of the call', async () => {
      const t = open();
      const r = t.region('both');
      let runs = 0;
      const load = () =>
        r.getOrSet(
          'k',
          (ctx) => {
            ctx.setTags(['late']);
            return ++runs;
          },
          { tags: ['early'] },
        );
      expect(await load()).toBe(1);
      await t.invalidateTags(['early']);
      expect(await load()).toBe(2);
      await t.invalidateTags(['late']);
      expect(await load()).toBe(3);
    });

    it('a tag set by the factory and invalidated while it runs: answered, not stored', async () => {
      const t = open();
      const r = t.region('late');
      await t.invalidateTags(['org:1']); // known to this process from now on
      const gate = deferred();
      const running = deferred();
      const pending = r.getOrSet('k', async (ctx) => {
        running.resolve();
        await gate.promise;
        ctx.setTags(['org:1']);
        return 'computed before the invalidation';
      });
      await running.promise;
      await t.invalidateTags(['org:1']);
      gate.resolve();
      expect(await pending).toBe('computed before the invalidation');
      expect(await r.has('k')).toBe(false);
    });

    it('skip: every caller sharing the computation gets the value, nothing is stored, the next call computes again', async () => {
      const t = open();
      const r = t.region('skip');
      let runs = 0;
      const gate = deferred();
      const factory = async (ctx: FactoryContext<string>) => {
        runs++;
        await gate.promise;
        ctx.skip();
        return `partial ${runs}`;
      };
      const calls = Array.from({ length: 10 }, () => r.getOrSet('k', factory));
      gate.resolve();
      expect(await Promise.all(calls)).toEqual(Array(10).fill('partial 1'));
      expect(runs).toBe(1);
      expect(await r.has('k')).toBe(false);
      expect(await r.getOrSet('k', factory)).toBe('partial 2');
    });

    it('stale is the previous value while refreshing a stale entry', async () => {
      const clock = fakeDate();
      const t = open();
      const r = t.region<number>('prev', { ttl: '1h', freshFor: '1m', staleRefresh: 'blocking' });
      await r.getOrSet('k', () => 1);
      clock.advance(61_000);
      let previous: number | undefined;
      expect(
        await r.getOrSet('k', (ctx) => {
          previous = ctx.stale;
          return 2;
        }),
      ).toBe(2);
      expect(previous).toBe(1);
    });

    it('the signal is aborted on hardTimeout, with a TimeoutError', async () => {
      const t = open();
      expectErrors();
      let signal: AbortSignal | undefined;
      const call = t.region('slow').getOrSet(
        'k',
        (ctx) =>
          new Promise<number>((resolve, reject) => {
            signal = ctx.signal;
            ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason));
            void resolve;
          }),
        { hardTimeout: 50 },
      );
      await expect(call).rejects.toBeInstanceOf(TimeoutError);
      expect(signal?.aborted).toBe(true);
      expect(signal?.reason).toBeInstanceOf(TimeoutError);
    });

    it('the signal is aborted when the trove closes, with a ClosedError', async () => {
      const t = open();
      expectErrors();
      const started = deferred<AbortSignal>();
      const call = t.region('closing').getOrSet('k', (ctx) => {
        started.resolve(ctx.signal);
        return new Promise<number>((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)));
      });
      const signal = await started.promise;
      const outcome = expect(call).rejects.toBeInstanceOf(ClosedError);
      await t.close();
      expect(signal.aborted).toBe(true);
      expect(signal.reason).toBeInstanceOf(ClosedError);
      await outcome;
    });

    it('inside bypass() the factory gets a context whose settings have no effect', async () => {
      const t = open();
      const r = t.region('bypassed');
      const value = await t.bypass(() =>
        r.getOrSet('k', (ctx) => {
          ctx.setTtl('1s');
          expect(ctx.key).toBe('k');
          return 'direct';
        }),
      );
      expect(value).toBe('direct');
      expect(await r.has('k')).toBe(false);
    });

    it('trove.context() answers the running computation before its first await, undefined elsewhere', async () => {
      const t = open();
      expect(t.context()).toBeUndefined();
      let before: FactoryContext | undefined;
      let after: FactoryContext | undefined;
      await t.region('ctx').getOrSet('k', async (ctx) => {
        before = t.context();
        expect(before).toBe(ctx);
        await until(() => true);
        after = t.context();
        return 1;
      });
      expect(before?.key).toBe('k');
      expect(after).toBeUndefined();
    });
  });
}

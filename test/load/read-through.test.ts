/**
 * Read-through in one process: hard and soft timeouts, fail-safe, failing factories, onCold
 * policies, notification-driven waiting, eager refresh, the lock's role, option layering and
 * validation. Run on the embedded store and on a private redis-server; the tests that need a
 * lock held by someone else, or two troves sharing one store, run on Redis only.
 *
 * Freshness is decided in-process from Date.now(): those tests fake Date and move it, instead of
 * waiting. Factories that must still be running at some point wait on a gate the test opens.
 */
import { markerOf, missLockHeld } from '../helpers/locks.js';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { ColdCacheError, createTrove, type ErrorEvent, InvalidOptionError, type Region, TimeoutError, type Trove, type TroveOptions } from '../../src/index.js';
import { sleep } from '../helpers/redis-server.js';
import { fakeDate, storeKinds, until, useRedisServer, useStore, useTroves } from '../helpers/troves.js';
import { deferred, expectIdle, pendingOf, timed, waitFor } from './support.js';

/** Records the events that read-through emits, in order. */
function record(t: Trove) {
  const stale: string[] = [];
  const errors: ErrorEvent[] = [];
  const sets: string[] = [];
  const misses = { count: 0 };
  t.on('stale', (e) => stale.push(e.reason));
  t.on('error', (e) => errors.push(e));
  t.on('set', (e) => sets.push(e.key));
  // A caller that misses joins (or starts) the key's run in the same step.
  t.on('miss', () => misses.count++);
  const errorCodes = () => errors.map((e) => [e.operation, e.error.code]);
  return { stale, errors, sets, misses, errorCodes };
}

/** Connects, subscribes and does a first read, so what a test observes excludes start-up. */
async function warm(t: Trove): Promise<Trove> {
  await t.ready();
  await t.region('warm-up').get('x');
  return t;
}

/** The entry keys among Redis's keys under a prefix (not the trove's own `__` tables). */
const entryKeysOf = (keys: string[], prefix: string) => keys.filter((k) => k.startsWith(`${prefix}:`) && !/^[^:]*:[^:]*:__/.test(k));

/** The lock of an entry: `<prefix>:<version>:__lock:` and the rest of the entry's key (region generation included). */
const lockKeyOf = (t: Trove, region: string, key: string) =>
  t
    .region(region)
    .keyOf(key)
    .replace(/^([^:]*:[^:]*:)/, '$1__lock:');

type Clock = ReturnType<typeof fakeDate>;

/** Stores `value` in a region with a short freshFor and moves the (fake) clock past it. */
async function seedStale<V>(clock: Clock, r: Region<V>, value: V, freshForMs: number): Promise<void> {
  await r.set('k', value);
  clock.advance(freshForMs + 1);
}

/**
 * Moves the (fake) clock through the next `windowMs` in `rounds` steps, its last millisecond
 * included, and after each step reads 5 times concurrently: every answer must be `expected`.
 */
async function hammer(r: Region<string>, factory: () => Promise<string>, expected: string, clock: Clock, windowMs: number, rounds = 10): Promise<number> {
  const from = Date.now();
  let reads = 0;
  for (let i = 1; i <= rounds; i++) {
    clock.advance(from + Math.floor((i * windowMs) / rounds) - Date.now());
    expect(await Promise.all(Array.from({ length: 5 }, () => r.getOrSet('k', factory)))).toEqual(Array(5).fill(expected));
    reads += 5;
  }
  return reads;
}

for (const name of storeKinds) {
  describe(`read-through on ${name}`, () => {
    const store = useStore(name);
    let n = 0;
    const troves = useTroves(() => ({ ...store.opts, prefix: `rt${name}${++n}` }));
    const open = (opts: TroveOptions = {}): Promise<Trove> => warm(troves.open(opts));

    it('hardTimeout without a stale value: TimeoutError at the timeout for every caller of the one run; the late result is stored', async () => {
      const t = await open();
      const ev = record(t);
      const r = t.region<string>('hard');
      let calls = 0;
      let finished = false;
      const started = deferred();
      const gate = deferred();
      const factory = async () => {
        calls++;
        started.resolve();
        await gate.promise;
        finished = true;
        return 'late';
      };
      const callers = Array.from({ length: 10 }, () => timed(() => r.getOrSet('k', factory, { hardTimeout: 100 })));
      await started.promise;
      if (store.server) expect(await missLockHeld(store.server, t.region('hard').keyOf('k'))).toBe(true);
      // The factory waits on the gate: every caller's answer is its own timeout.
      const outcomes = await Promise.all(callers);
      expect(calls).toBe(1);
      for (const o of outcomes) {
        expect(o.ok).toBe(false);
        if (o.ok) continue;
        expect(o.error).toBeInstanceOf(TimeoutError);
        expect(o.error).toMatchObject({ code: 'FACTORY_TIMEOUT', timeoutMs: 100 });
        expect(o.ms).toBeGreaterThanOrEqual(95);
      }
      // Nothing is stored yet; the factory is still running.
      expect(await r.get('k')).toBeUndefined();
      expect(finished).toBe(false);
      // A caller arriving now neither times out (its own hardTimeout is longer) nor starts a second run.
      const missed = ev.misses.count;
      const late = timed(() => r.getOrSet('k', factory, { hardTimeout: 20_000 }));
      await until(() => ev.misses.count > missed);
      gate.resolve();
      expect(await late).toMatchObject({ ok: true, value: 'late' });
      expect(calls).toBe(1);
      expect(await r.get('k')).toBe('late');
      expect(await r.getOrSet('k', factory)).toBe('late');
      expect(calls).toBe(1);
      expect(ev.sets).toEqual(['k']);
      expect(ev.errors).toEqual([]);
      if (store.server) expect(await missLockHeld(store.server, t.region('hard').keyOf('k'))).toBe(false);
      await expectIdle(t);
    });

    it('a factory that fails after its caller hit hardTimeout is reported as a FACTORY error; nothing is stored; the lock is released', async () => {
      troves.expectErrors();
      const t = await open();
      const ev = record(t);
      const r = t.region<string>('hard-fail');
      let calls = 0;
      const gate = deferred();
      const out = await timed(() =>
        r.getOrSet(
          'k',
          async (): Promise<string> => {
            calls++;
            await gate.promise;
            throw new Error('late failure');
          },
          { hardTimeout: 50 },
        ),
      );
      expect(out.ok).toBe(false);
      if (!out.ok) expect(out.error).toBeInstanceOf(TimeoutError);
      expect(ev.errors).toEqual([]);
      gate.resolve();
      await waitFor(() => ev.errors.length === 1, 'the error event');
      expect(calls).toBe(1);
      expect(ev.errorCodes()).toEqual([['factory', 'FACTORY']]);
      expect(ev.errors[0]!.key).toBe('k');
      expect(await r.has('k')).toBe(false);
      if (store.server) expect(await missLockHeld(store.server, t.region('hard-fail').keyOf('k'))).toBe(false);
      expect(await r.getOrSet('k', () => 'ok')).toBe('ok');
      await expectIdle(t);
    });

    it('softTimeout without a stale value does not cut the call short', async () => {
      const t = await open();
      const ev = record(t);
      const r = t.region<string>('soft-cold');
      let calls = 0;
      const out = await timed(() =>
        r.getOrSet(
          'k',
          async () => {
            calls++;
            // A timer due after the soft timeout: a soft timeout applied here would fire first.
            await sleep(120);
            return 'v';
          },
          { softTimeout: 40 },
        ),
      );
      expect(out).toMatchObject({ ok: true, value: 'v' });
      expect(calls).toBe(1);
      expect(ev.stale).toEqual([]);
      await expectIdle(t);
    });

    it("softTimeout with a stale value ('blocking'): the stale value at the soft timeout, then the new value lands", async () => {
      const clock = fakeDate();
      const t = await open();
      const ev = record(t);
      const r = t.region<string>('soft', { ttl: '10s', freshFor: 100, staleRefresh: 'blocking' });
      await seedStale(clock, r, 'old', 100);
      let calls = 0;
      const gate = deferred();
      const factory = async () => {
        calls++;
        await gate.promise;
        return 'new';
      };
      // The refresh waits on the gate: the stale value comes at the soft timeout.
      const first = await timed(() => r.getOrSet('k', factory, { softTimeout: 80, hardTimeout: 20_000 }));
      expect(first).toMatchObject({ ok: true, value: 'old' });
      expect(first.ms).toBeGreaterThanOrEqual(75);
      expect(ev.stale).toEqual(['timeout']);
      expect(calls).toBe(1);
      // While the refresh runs on, another caller gets the stale value at once ('refreshing', not
      // its own soft timeout) and starts nothing.
      const second = await r.getOrSet('k', factory, { softTimeout: 80 });
      expect(second).toBe('old');
      expect(ev.stale).toEqual(['timeout', 'refreshing']);
      expect(calls).toBe(1);
      gate.resolve();
      await waitFor(async () => (await r.get('k')) === 'new', 'the refreshed value');
      expect(await r.getOrSet('k', factory)).toBe('new');
      expect(calls).toBe(1);
      expect(ev.sets).toEqual(['k', 'k']); // the seed and the refresh
      expect(ev.errors).toEqual([]);
      if (store.server) expect(await missLockHeld(store.server, t.region('soft').keyOf('k'))).toBe(false);
      await expectIdle(t);
    });

    it('after a soft-timed-out refresh has landed and gone stale in turn, the next caller refreshes it again', async () => {
      const clock = fakeDate();
      const t = await open();
      const ev = record(t);
      const r = t.region<string>('soft-again', { ttl: '10s', freshFor: 100, staleRefresh: 'blocking' });
      await seedStale(clock, r, 'v0', 100);
      let calls = 0;
      const gate = deferred();
      const factory = async () => {
        const n = ++calls;
        if (n === 1) await gate.promise;
        return `v${n}`;
      };
      expect(await r.getOrSet('k', factory, { softTimeout: 50 })).toBe('v0');
      // A second caller while the refresh runs on: stale value, no second run.
      expect(await r.getOrSet('k', factory, { softTimeout: 50 })).toBe('v0');
      gate.resolve();
      await waitFor(async () => (await r.get('k')) === 'v1', 'the refreshed value');
      expect(calls).toBe(1);
      clock.advance(101); // v1 is stale now, and nobody is refreshing it
      expect(await r.getOrSet('k', factory)).toBe('v2');
      expect(calls).toBe(2);
      expect(ev.stale).toEqual(['timeout', 'refreshing']);
      await expectIdle(t);
    });

    it("fail-safe ('blocking'): the stale value answers a failing factory, which is not called again until the backoff passes", async () => {
      troves.expectErrors();
      const clock = fakeDate();
      const t = await open();
      const ev = record(t);
      const backoff = 500;
      const r = t.region<string>('fs', { ttl: '10s', freshFor: 100, staleRefresh: 'blocking', failSafeBackoff: backoff });
      await seedStale(clock, r, 'old', 100);
      let calls = 0;
      let failing = true;
      const factory = async () => {
        calls++;
        if (failing) throw new Error('source down');
        return 'new';
      };
      expect(await r.getOrSet('k', factory)).toBe('old');
      expect(calls).toBe(1);
      expect(ev.stale).toEqual(['fail-safe']);
      expect(ev.errorCodes()).toEqual([['factory', 'FACTORY']]);
      expect((ev.errors[0]!.error.cause as Error).message).toBe('source down');
      expect(ev.errors[0]!.key).toBe('k');
      // Hammer it through the backoff, up to its last millisecond: every answer is the old value, the factory stays untouched.
      const reads = await hammer(r, factory, 'old', clock, backoff - 1);
      expect(reads).toBe(50);
      expect(calls).toBe(1);
      expect(ev.stale).toEqual(['fail-safe']);
      // After the backoff, the next caller retries (and, 'blocking', waits for the new value).
      clock.advance(1);
      failing = false;
      expect(await r.getOrSet('k', factory)).toBe('new');
      expect(calls).toBe(2);
      expect(await r.get('k')).toBe('new');
      expect(ev.stale).toEqual(['fail-safe']);
      expect(ev.errorCodes()).toEqual([['factory', 'FACTORY']]);
      if (store.server) expect(await missLockHeld(store.server, t.region('fs').keyOf('k'))).toBe(false);
      await expectIdle(t);
    });

    it("fail-safe ('background', the default): stale at once, the failure is absorbed, retried only after the backoff", async () => {
      troves.expectErrors();
      const clock = fakeDate();
      const t = await open();
      const ev = record(t);
      const backoff = 400;
      const r = t.region<string>('fsbg', { ttl: '10s', freshFor: 100, failSafeBackoff: backoff });
      await seedStale(clock, r, 'old', 100);
      let calls = 0;
      const gate = deferred();
      const factory = async () => {
        calls++;
        await gate.promise;
        throw new Error('source down');
      };
      // Answered while the refresh still waits on the gate: the caller did not wait for it.
      expect(await r.getOrSet('k', factory)).toBe('old');
      expect(ev.stale).toEqual(['refreshing']);
      gate.resolve();
      await waitFor(() => ev.stale.length === 2, 'the fail-safe event');
      expect(calls).toBe(1);
      expect(ev.stale).toEqual(['refreshing', 'fail-safe']);
      expect(ev.errorCodes()).toEqual([['factory', 'FACTORY']]);
      await hammer(r, factory, 'old', clock, backoff - 1);
      expect(calls).toBe(1);
      expect(ev.stale).toEqual(['refreshing', 'fail-safe']);
      clock.advance(1);
      expect(await r.getOrSet('k', factory)).toBe('old');
      await waitFor(() => ev.stale.length === 4, 'the second fail-safe event');
      expect(calls).toBe(2);
      expect(ev.stale).toEqual(['refreshing', 'fail-safe', 'refreshing', 'fail-safe']);
      expect(ev.errorCodes()).toEqual([
        ['factory', 'FACTORY'],
        ['factory', 'FACTORY'],
      ]);
      await expectIdle(t);
    });

    it("failSafe: false ('blocking'): the caller gets the factory's error and the stored entry is untouched", async () => {
      const clock = fakeDate();
      const t = await open();
      const ev = record(t);
      const r = t.region<string>('nofs', { ttl: '10s', freshFor: 100, staleRefresh: 'blocking', failSafe: false });
      await seedStale(clock, r, 'old', 100);
      const before = store.server ? await store.server.command('GET', r.keyOf('k')) : undefined;
      const boom = new Error('boom');
      let calls = 0;
      await expect(
        r.getOrSet('k', () => {
          calls++;
          throw boom;
        }),
      ).rejects.toBe(boom);
      expect(calls).toBe(1);
      expect(ev.stale).toEqual([]);
      expect(ev.sets).toEqual(['k']); // the seed only
      if (store.server) {
        expect(await store.server.command('GET', r.keyOf('k'))).toBe(before);
        expect(await missLockHeld(store.server, t.region('nofs').keyOf('k'))).toBe(false);
      }
      // Still stale (not rewritten as fresh): the next caller refreshes it.
      expect(await r.getOrSet('k', () => 'new')).toBe('new');
      await expectIdle(t);
    });

    it("failSafe: false ('background'): callers get the stale value; the failure is reported as a FACTORY error", async () => {
      troves.expectErrors();
      const clock = fakeDate();
      const t = await open();
      const ev = record(t);
      const r = t.region<string>('nofsbg', { ttl: '10s', freshFor: 100, failSafe: false });
      await seedStale(clock, r, 'old', 100);
      let calls = 0;
      const factory = async () => {
        calls++;
        throw new Error('boom');
      };
      expect(await r.getOrSet('k', factory)).toBe('old');
      await waitFor(() => ev.errors.length === 1, 'the error event');
      expect(calls).toBe(1);
      expect(ev.stale).toEqual(['refreshing']);
      expect(ev.errorCodes()).toEqual([['refresh', 'FACTORY']]);
      expect(ev.sets).toEqual(['k']);
      await expectIdle(t);
    });

    it("no stale value: a failing factory rejects every waiting caller with the factory's own error; nothing is kept; the next call computes", async () => {
      const t = await open();
      const ev = record(t);
      const r = t.region<string>('cold-fail');
      const boom = new Error('boom');
      let calls = 0;
      const started = deferred();
      const gate = deferred();
      const failing = async (): Promise<string> => {
        calls++;
        started.resolve();
        await gate.promise;
        throw boom;
      };
      const callers = Array.from({ length: 10 }, () => timed(() => r.getOrSet('k', failing)));
      await started.promise;
      if (store.server) expect(await missLockHeld(store.server, t.region('cold-fail').keyOf('k'))).toBe(true);
      // Every caller has missed, and so joined the run, before the factory fails.
      await until(() => ev.misses.count === 10);
      gate.resolve();
      const outcomes = await Promise.all(callers);
      expect(calls).toBe(1);
      for (const o of outcomes) expect(o).toMatchObject({ ok: false, error: boom });
      if (store.server) {
        expect(await missLockHeld(store.server, t.region('cold-fail').keyOf('k'))).toBe(false);
        expect(entryKeysOf(await store.server.keys(), t.prefix)).toEqual([]);
      }
      expect(await r.has('k')).toBe(false);
      expect(ev.stale).toEqual([]);
      expect(ev.sets).toEqual([]);
      let okCalls = 0;
      const ok = async () => {
        okCalls++;
        return 'ok';
      };
      // onCold 'fail': a leftover lock would be a ColdCacheError here, not a wait.
      expect(await r.getOrSet('k', ok, { onCold: 'fail' })).toBe('ok');
      expect(okCalls).toBe(1);
      expect(await r.get('k')).toBe('ok');
      await expectIdle(t);
    });

    for (const lock of [true, false]) {
      it(`eagerRefresh 0.5 (lock: ${lock}): past half of freshFor, exactly one background refresh under a burst; callers never wait`, async () => {
        const clock = fakeDate();
        const t = await open();
        const ev = record(t);
        const r = t.region<string>('eager', { ttl: '10s', freshFor: 400, eagerRefresh: 0.5, lock });
        let calls = 0;
        const gate = deferred();
        const factory = async () => {
          const n = ++calls;
          if (n > 1) await gate.promise;
          return `v${n}`;
        };
        expect(await r.getOrSet('k', factory)).toBe('v1');
        // Before the eager point: plain hits, and no refresh started (one would be pending at once).
        clock.advance(199);
        expect(await Promise.all(Array.from({ length: 20 }, () => r.getOrSet('k', factory)))).toEqual(Array(20).fill('v1'));
        expect(pendingOf(t).refreshing).toBe(0);
        expect(calls).toBe(1);
        // Past it: 50 concurrent readers, answered while the refresh waits on the gate.
        clock.advance(51);
        expect(await Promise.all(Array.from({ length: 50 }, () => r.getOrSet('k', factory)))).toEqual(Array(50).fill('v1'));
        await waitFor(() => calls === 2, 'the refresh to start');
        // More reads while the refresh runs: the old value, and no second refresh.
        for (let i = 0; i < 5; i++) {
          expect(await Promise.all(Array.from({ length: 5 }, () => r.getOrSet('k', factory)))).toEqual(Array(5).fill('v1'));
        }
        expect(calls).toBe(2);
        gate.resolve();
        await waitFor(async () => (await r.get('k')) === 'v2', 'the refreshed value');
        const vals = await Promise.all(Array.from({ length: 20 }, () => r.getOrSet('k', factory)));
        expect(vals).toEqual(Array(20).fill('v2'));
        // A refresh started by those reads would be pending until its factory had run.
        await expectIdle(t);
        expect(calls).toBe(2);
        expect(ev.stale).toEqual([]);
        expect(ev.sets).toEqual(['k', 'k']);
        expect(ev.errors).toEqual([]);
      });
    }

    it('per-call read-through options override the region', async () => {
      troves.expectErrors();
      const clock = fakeDate();
      const t = await open();
      const r = t.region<string>('over', { ttl: '10s', freshFor: 100, hardTimeout: 50, failSafe: false, staleRefresh: 'blocking' });
      const gate = deferred();
      const gated = async () => {
        await gate.promise;
        return 'slow';
      };
      await expect(r.getOrSet('a', gated)).rejects.toMatchObject({ code: 'FACTORY_TIMEOUT', timeoutMs: 50 });
      // A timer due after the region's hardTimeout: the region's would fire first, the call's does not.
      const slower = async () => {
        await sleep(100);
        return 'slow';
      };
      expect(await r.getOrSet('b', slower, { hardTimeout: 20_000 })).toBe('slow');
      // failSafe per call: the region says false, the call says true.
      await seedStale(clock, r, 'old', 100);
      const boom = new Error('boom');
      await expect(r.getOrSet('k', () => Promise.reject(boom))).rejects.toBe(boom);
      expect(await r.getOrSet('k', () => Promise.reject(boom), { failSafe: true })).toBe('old');
      // staleRefresh per call: 'background' answers the stale value while the refresh waits on the gate.
      await seedStale(clock, r, 'old2', 100);
      expect(await r.getOrSet('k', gated, { staleRefresh: 'background', hardTimeout: 20_000 })).toBe('old2');
      gate.resolve();
      await waitFor(async () => (await r.get('k')) === 'slow', 'the background refresh');
      await expectIdle(t);
    });

    it('invalid read-through options throw InvalidOptionError naming the option; the factory never runs', async () => {
      const t = await open();
      const r = t.region<string>('bad-opts');
      let calls = 0;
      const factory = () => {
        calls++;
        return 'v';
      };
      const cases: [Record<string, unknown>, string][] = [
        [{ eagerRefresh: 1.5 }, 'eagerRefresh'],
        [{ eagerRefresh: 1 }, 'eagerRefresh'],
        [{ eagerRefresh: 0 }, 'eagerRefresh'],
        [{ onCold: 'maybe' }, 'onCold'],
        [{ softTimeout: 200, hardTimeout: 100 }, 'softTimeout'],
        [{ waitTimeout: -1 }, 'waitTimeout'],
        [{ waitTimeout: '-5s' }, 'waitTimeout'],
        [{ staleRefresh: 'sometimes' }, 'staleRefresh'],
        [{ lock: 'yes' }, 'lock'],
        [{ failSafeBackoff: 0 }, 'failSafeBackoff'],
      ];
      for (const [opts, option] of cases) {
        const err = await r.getOrSet('k', factory, opts as never).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err, JSON.stringify(opts)).toBeInstanceOf(InvalidOptionError);
        expect((err as InvalidOptionError).option, JSON.stringify(opts)).toBe(option);
      }
      // A per-call hardTimeout below the region's softTimeout is inconsistent too.
      const soft = t.region<string>('bad-soft', { softTimeout: 300 });
      await expect(soft.getOrSet('k', factory, { hardTimeout: 100 })).rejects.toMatchObject({ code: 'INVALID_OPTION', option: 'softTimeout' });
      expect(calls).toBe(0);
      expect(await r.has('k')).toBe(false);
      // At region and trove level the option is named with where it was given.
      expect(() => t.region('bad-region', { eagerRefresh: 1.5 })).toThrow(expect.objectContaining({ option: 'bad-region.eagerRefresh' }));
      expect(() => t.region('bad-region2', { softTimeout: 500, hardTimeout: 100 })).toThrow(expect.objectContaining({ option: 'bad-region2.softTimeout' }));
      expect(() => createTrove({ ...store.opts, onCold: 'maybe' as never })).toThrow(expect.objectContaining({ option: 'onCold' }));
      expect(() => createTrove({ ...store.opts, waitTimeout: -1 })).toThrow(InvalidOptionError);
      await expectIdle(t);
    });

    // A factory that answers at once is stored in the same step; one that returns a promise, once
    // it settles. Both must do the same from outside.
    it.each(['at once', 'through a promise'] as const)(
      'a factory that answers %s: one run for concurrent callers, its settings applied, a throw rejects every caller and leaves no lock',
      async (how) => {
        troves.expectErrors();
        const t = await open();
        const ev = record(t);
        const r = t.region<string>(`answers-${how === 'at once' ? 'sync' : 'async'}`, { ttl: '1h' });
        const answer = <V>(f: () => V): V | Promise<V> => (how === 'at once' ? f() : Promise.resolve().then(f));
        let calls = 0;
        const values = await Promise.all(
          Array.from({ length: 10 }, () =>
            r.getOrSet('k', (ctx) =>
              answer(() => {
                calls++;
                ctx.setTtl('5s');
                return 'v';
              }),
            ),
          ),
        );
        expect(values).toEqual(Array(10).fill('v'));
        expect(calls).toBe(1);
        expect(await r.get('k')).toBe('v');
        expect(ev.sets).toEqual(['k']);
        if (store.server) {
          const pttl = Number(await store.server.command('PTTL', r.keyOf('k')));
          expect(pttl).toBeGreaterThan(0);
          expect(pttl).toBeLessThanOrEqual(5000);
        }
        // skip(): answered, not stored.
        const skipped = (ctx: { skip(): void }) =>
          answer(() => {
            ctx.skip();
            return 's';
          });
        expect(await r.getOrSet('skipped', skipped)).toBe('s');
        expect(await r.has('skipped')).toBe(false);
        // A throw reaches every caller of the run; no lock is left, so the next call computes at once
        // (onCold 'fail': a lock left behind would refuse it).
        const boom = new Error('boom');
        const failing = () =>
          answer((): string => {
            calls++;
            throw boom;
          });
        calls = 0;
        const outcomes = await Promise.allSettled(Array.from({ length: 5 }, () => r.getOrSet('bad', failing)));
        expect(outcomes).toEqual(Array(5).fill({ status: 'rejected', reason: boom }));
        expect(calls).toBe(1);
        if (store.server) expect(await missLockHeld(store.server, r.keyOf('bad'))).toBe(false);
        expect(await r.getOrSet('bad', () => 'ok', { onCold: 'fail' })).toBe('ok');
        expect(ev.errors).toEqual([]);
        await expectIdle(t);
      },
    );
  });
}

describe.each(['value', 'key'] as const)('read-through with a second holder on one Redis (lock in %s)', (lockIn) => {
  const redis = useRedisServer();
  let n = 0;
  // Claims are made where the near cache keeps nothing: with lock keys, the near cache stays on.
  const troves = useTroves(() => ({ redis: redis.server.url, lockIn, ...(lockIn === 'value' ? { nearCache: false } : {}) }));
  const open = (prefix: string, opts: TroveOptions = {}): Promise<Trove> => warm(troves.open({ prefix, ...opts }));
  /** The key that holds an entry's miss lock: the entry's own (a claim) or its lock key. */
  const lockOf = (t: Trove, region: string, key: string) => (lockIn === 'value' ? t.region(region).keyOf(key) : lockKeyOf(t, region, key));
  /** What that key holds while `token`'s process computes. */
  const heldBy = (token: string) => (lockIn === 'value' ? markerOf(token) : token);
  /** Makes another process hold the entry's miss lock for `pxMs`. */
  const holdElsewhere = (t: Trove, region: string, key: string, pxMs: number) =>
    redis.server.command('SET', lockOf(t, region, key), heldBy('someone'), 'PX', pxMs);
  const fresh = () => `rtx${++n}`;

  it('fail-safe backoff holds across two troves: during it neither calls the factory; afterwards one retries', async () => {
    troves.expectErrors();
    const clock = fakeDate();
    const prefix = fresh();
    const a = await open(prefix);
    const b = await open(prefix);
    const evA = record(a);
    const evB = record(b);
    const opts = { ttl: '10s', freshFor: 100, staleRefresh: 'blocking' as const, failSafeBackoff: 500 };
    const ra = a.region<string>('fsx', opts);
    const rb = b.region<string>('fsx', opts);
    await seedStale(clock, ra, 'old', 100);
    const calls = { a: 0, b: 0 };
    const failing = (who: 'a' | 'b') => async (): Promise<string> => {
      calls[who]++;
      throw new Error('source down');
    };
    expect(await ra.getOrSet('k', failing('a'))).toBe('old');
    expect(calls).toEqual({ a: 1, b: 0 });
    expect(evA.stale).toEqual(['fail-safe']);
    // Through the backoff, up to its last millisecond, both troves answer the old value.
    const from = Date.now();
    for (let i = 1; i <= 10; i++) {
      clock.advance(from + Math.floor((i * 499) / 10) - Date.now());
      const vals = await Promise.all([
        ...Array.from({ length: 5 }, () => ra.getOrSet('k', failing('a'))),
        ...Array.from({ length: 5 }, () => rb.getOrSet('k', failing('b'))),
      ]);
      expect(vals).toEqual(Array(10).fill('old'));
    }
    expect(calls).toEqual({ a: 1, b: 0 });
    expect(evB.stale).toEqual([]);
    expect(evB.errors).toEqual([]);
    clock.advance(1);
    let bOk = 0;
    expect(
      await rb.getOrSet('k', async () => {
        bOk++;
        return 'new';
      }),
    ).toBe('new');
    expect(bOk).toBe(1);
    expect(calls).toEqual({ a: 1, b: 0 });
    await waitFor(async () => (await ra.get('k')) === 'new', "b's value in a");
    await expectIdle(a, b);
  });

  it('onCold fallback: with the lock held elsewhere, the fallback answers (once for concurrent callers) and nothing is cached', async () => {
    const t = await open(fresh());
    const ev = record(t);
    const r = t.region<string>('fb');
    const lockKey = lockOf(t, 'fb', 'k');
    expect(await holdElsewhere(t, 'fb', 'k', 5000)).toBe('OK');
    let calls = 0;
    let fallbacks = 0;
    const factory = async () => {
      calls++;
      return 'computed';
    };
    const fallback = async (key: string) => {
      fallbacks++;
      return `fallback:${key}`;
    };
    const vals = await Promise.all(Array.from({ length: 5 }, () => r.getOrSet('k', factory, { onCold: fallback })));
    expect(vals).toEqual(Array(5).fill('fallback:k'));
    expect(fallbacks).toBe(1);
    expect(calls).toBe(0);
    if (lockIn === 'key') expect(await redis.server.command('EXISTS', r.keyOf('k'))).toBe('0');
    expect(await redis.server.command('GET', lockKey)).toBe(`${heldBy('someone')}+`); // still theirs, marked as waited for
    expect(ev.sets).toEqual([]);
    await expectIdle(t);
  });

  it("onCold 'fail': ColdCacheError at once, retryAfterMs the lock's PTTL", async () => {
    const t = await open(fresh());
    const r = t.region<string>('cf');
    const lockKey = lockOf(t, 'cf', 'k');
    // Shorter than the default lease, so the answer can only come from the lock's PTTL.
    await holdElsewhere(t, 'cf', 'k', 3000);
    const pttlBefore = Number(await redis.server.command('PTTL', lockKey));
    let calls = 0;
    const out = await timed(() =>
      r.getOrSet(
        'k',
        () => {
          calls++;
          return 'v';
        },
        { onCold: 'fail' },
      ),
    );
    const pttlAfter = Number(await redis.server.command('PTTL', lockKey));
    expect(out.ok).toBe(false);
    if (out.ok) return;
    expect(out.error).toBeInstanceOf(ColdCacheError);
    const err = out.error as ColdCacheError;
    expect(err.code).toBe('COLD_CACHE');
    expect(err.key).toBe('k');
    expect(err.retryAfterMs).toBeGreaterThanOrEqual(pttlAfter);
    expect(err.retryAfterMs).toBeLessThanOrEqual(pttlBefore);
    expect(calls).toBe(0);
    // Answered while the lock is still there: it did not wait for it.
    expect(await redis.server.command('GET', lockKey)).toBe(`${heldBy('someone')}+`); // still theirs, marked as waited for
    await expectIdle(t);
  });

  it("onCold 'wait' with a lock that never releases: computes after waitTimeout, once, and stores the value", async () => {
    const t = await open(fresh());
    const r = t.region<string>('cw');
    const lockKey = lockOf(t, 'cw', 'k');
    await holdElsewhere(t, 'cw', 'k', 60_000);
    let calls = 0;
    const factory = async () => {
      calls++;
      return 'mine';
    };
    const out = await timed(() => Promise.all(Array.from({ length: 5 }, () => r.getOrSet('k', factory, { waitTimeout: 300 }))));
    expect(out).toMatchObject({ ok: true, value: Array(5).fill('mine') });
    expect(out.ms).toBeGreaterThanOrEqual(295);
    expect(calls).toBe(1);
    expect(await r.get('k')).toBe('mine');
    // Computed while the lock was still held: not by taking it over (a lock key is left to its
    // holder, only marked as waited for; a claim is replaced by the value, as the holder's own
    // store will replace this one).
    if (lockIn === 'key') expect(await redis.server.command('GET', lockKey)).toBe('someone+');
    await expectIdle(t);
  });

  it("onCold 'wait' with a lock that lapses before waitTimeout: takes over when the lease lapses", async () => {
    const t = await open(fresh());
    const r = t.region<string>('cl');
    await holdElsewhere(t, 'cl', 'k', 250);
    let calls = 0;
    // A waitTimeout far beyond the test's own timeout: only taking over the lapsed lease can answer.
    const out = await timed(() =>
      r.getOrSet(
        'k',
        async () => {
          calls++;
          return 'mine';
        },
        { waitTimeout: 120_000 },
      ),
    );
    expect(out).toMatchObject({ ok: true, value: 'mine' });
    expect(out.ms).toBeGreaterThanOrEqual(240);
    expect(calls).toBe(1);
    expect(await missLockHeld(redis.server, r.keyOf('k'))).toBe(false);
    expect(await r.get('k')).toBe('mine');
    await expectIdle(t);
  });

  it("waiting is notification-driven: a waiter resolves right after the holder's factory finishes, not at a polling interval", async () => {
    const prefix = fresh();
    const a = await open(prefix);
    const b = await open(prefix);
    // Lease and waitTimeout far beyond the test's own timeout: a waiter not woken by the
    // notification would only wake long after the test failed.
    const ra = a.region<string>('nd', { lockLease: '120s' });
    const rb = b.region<string>('nd', { lockLease: '120s' });
    const started = deferred();
    const gate = deferred();
    let bCalls = 0;
    let aCalls = 0;
    let bDoneAt = 0;
    const held = rb.getOrSet('k', async () => {
      bCalls++;
      started.resolve();
      await gate.promise;
      bDoneAt = performance.now();
      return 'from-b';
    });
    await started.promise;
    expect(await missLockHeld(redis.server, b.region('nd').keyOf('k'))).toBe(true);
    const waiting = Array.from({ length: 10 }, () =>
      timed(() =>
        ra.getOrSet(
          'k',
          async () => {
            aCalls++;
            return 'from-a';
          },
          { waitTimeout: 120_000 },
        ),
      ),
    );
    await until(() => pendingOf(a).waits === 1);
    expect(pendingOf(a)).toEqual({ cold: 1, refreshing: 0, waits: 1 });
    gate.resolve();
    const outcomes = await Promise.all(waiting);
    expect(await held).toBe('from-b');
    expect(bDoneAt).toBeGreaterThan(0);
    for (const o of outcomes) {
      expect(o).toMatchObject({ ok: true, value: 'from-b' });
      expect(o.at).toBeGreaterThanOrEqual(bDoneAt);
    }
    expect(aCalls).toBe(0);
    expect(bCalls).toBe(1);
    expect(await missLockHeld(redis.server, b.region('nd').keyOf('k'))).toBe(false);
    await expectIdle(a, b);
  });

  it("garbage on the notification channel from a user's own client wakes nobody wrongly: a forged value is a decode error, never an answer; the waiter answers the holder's value", async () => {
    troves.expectErrors();
    const prefix = fresh();
    const a = await open(prefix);
    const b = await open(prefix);
    const evA = record(a);
    const ra = a.region<string>('forged', { lockLease: '120s' });
    const rb = b.region<string>('forged', { lockLease: '120s' });
    const started = deferred();
    const gate = deferred();
    const calls = { a: 0, b: 0 };
    const held = rb.getOrSet('k', async () => {
      calls.b++;
      started.resolve();
      await gate.promise;
      return 'from-b';
    });
    await started.promise;
    const waiter = ra.getOrSet(
      'k',
      async () => {
        calls.a++;
        return 'from-a';
      },
      { waitTimeout: 120_000 },
    );
    await until(() => pendingOf(a).waits === 1);
    const user = new Redis(redis.server.url);
    try {
      const channel = (a as unknown as { notifier: { channel: string } }).notifier.channel;
      const full = ra.keyOf('k');
      const frame = (key: string, bytes = Buffer.alloc(0)) => Buffer.concat([Buffer.from(`${Buffer.byteLength(key)}:${key}`), bytes]);
      // Not frames at all, a frame longer than its message, a frame of another key: nobody wakes.
      for (const m of [full, Buffer.from([0xff, 0x00, 0x3a]), Buffer.from(`999:${full}`), frame(`${full}x`, Buffer.from('"from-user"'))])
        await user.publish(channel, m);
      // A frame of the waited key carrying bytes that are no entry: the waiter wakes, cannot decode them, and waits again.
      await user.publish(channel, frame(full, Buffer.from([0xff, 0xfe, 0x00, 0x01])));
      await until(() => evA.errors.length === 1);
      await until(() => pendingOf(a).waits === 1);
    } finally {
      user.disconnect();
    }
    gate.resolve();
    expect(await held).toBe('from-b');
    expect(await waiter).toBe('from-b');
    expect(calls).toEqual({ a: 0, b: 1 });
    expect(evA.errorCodes()).toEqual([['decode', 'DECODE']]);
    await expectIdle(a, b);
  });

  it('lock: false: two troves on a cold key both compute (the lock is what makes it exactly once)', async () => {
    const prefix = fresh();
    const a = await open(prefix);
    const b = await open(prefix);
    const ra = a.region<string>('nl');
    const rb = b.region<string>('nl');
    let calls = 0;
    let gate = deferred();
    const factory = async () => {
      calls++;
      await gate.promise;
      return 'v';
    };
    const run = (key: string, lock: boolean) =>
      Promise.all([
        ...Array.from({ length: 5 }, () => ra.getOrSet(key, factory, { lock })),
        ...Array.from({ length: 5 }, () => rb.getOrSet(key, factory, { lock })),
      ]);
    // Without the lock, both troves start computing before either has stored anything.
    const unlocked = run('unlocked', false);
    await until(() => calls === 2);
    gate.resolve();
    expect(await unlocked).toEqual(Array(10).fill('v'));
    expect(calls).toBe(2); // single flight within each trove, none across
    calls = 0;
    gate = deferred();
    // With it, one computes while the other waits for its value.
    const locked = run('locked', true);
    await until(() => calls === 1 && pendingOf(a).waits + pendingOf(b).waits === 1);
    gate.resolve();
    expect(await locked).toEqual(Array(10).fill('v'));
    expect(calls).toBe(1);
    expect(entryKeysOf(await redis.server.keys(), prefix)).toEqual([rb.keyOf('locked'), rb.keyOf('unlocked')]);
    await expectIdle(a, b);
  });

  it('per-call onCold overrides the region policy', async () => {
    const t = await open(fresh());
    const r = t.region<string>('oc', { onCold: 'fail' });
    await holdElsewhere(t, 'oc', 'k', 5000);
    await expect(r.getOrSet('k', () => 'v')).rejects.toBeInstanceOf(ColdCacheError);
    expect(await r.getOrSet('k', () => 'v', { onCold: () => 'fallback' })).toBe('fallback');
    const waited = await timed(() => r.getOrSet('k', () => 'v', { onCold: 'wait', waitTimeout: 100 }));
    expect(waited).toMatchObject({ ok: true, value: 'v' });
    expect(waited.ms).toBeGreaterThanOrEqual(95);
    await expectIdle(t);
  });
});

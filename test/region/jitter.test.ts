/**
 * `jitter` (src/region/jitter.ts): each write's ttl and freshFor shortened by one random fraction
 * of up to `jitter`, never lengthened; as a property over the whole input space, then through a
 * region on the embedded store and on a private redis-server (what Redis and the envelope hold).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../../src/errors.js';
import { checkJitter, jittered } from '../../src/region/jitter.js';
import { storeKinds, until, useStore, useTroves } from '../helpers/troves.js';

describe('jittered', () => {
  const durations = fc.oneof(fc.integer({ min: 1, max: 10 ** 10 }), fc.constant(Number.POSITIVE_INFINITY));

  it('shortens ttl and freshFor by one factor of 1 − jitter × random, in whole ms: never longer, never below 1 ms, freshFor never past ttl', () => {
    fc.assert(
      fc.property(
        durations,
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (ttlMs, freshShare, jitter, r) => {
          const freshForMs = Number.isFinite(ttlMs) ? Math.floor(ttlMs * freshShare) : freshShare < 0.5 ? 60_000 : ttlMs;
          const out = jittered({ ttlMs, freshForMs }, jitter, () => r);
          const factor = 1 - jitter * r;
          for (const [asked, got] of [
            [ttlMs, out.ttlMs],
            [freshForMs, out.freshForMs],
          ] as const) {
            if (asked === 0 || !Number.isFinite(asked)) expect(got).toBe(asked);
            else expect(got).toBe(Math.max(1, Math.floor(asked * factor)));
          }
          expect(out.ttlMs).toBeLessThanOrEqual(ttlMs);
          expect(out.freshForMs).toBeLessThanOrEqual(out.ttlMs);
        },
      ),
      { numRuns: 2_000 },
    );
  });

  it('jitter 0 changes nothing and draws no random number', () => {
    const random = (): number => {
      throw new Error('drawn');
    };
    const asked = { ttlMs: 600_000, freshForMs: 60_000 };
    expect(jittered(asked, 0, random)).toEqual({ ttlMs: 600_000, freshForMs: 60_000 });
  });

  it('accepts a fraction from 0 up to, not including, 1; refuses anything else with InvalidOptionError naming the option', () => {
    for (const ok of [0, 0.1, 0.5, 0.999]) expect(checkJitter(ok, 'jitter')).toBe(ok);
    for (const bad of [1, -0.1, Number.NaN, Number.POSITIVE_INFINITY, '0.1', null]) {
      let caught: unknown;
      try {
        checkJitter(bad, 'users.jitter');
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(InvalidOptionError);
      expect(caught).toMatchObject({ option: 'users.jitter' });
    }
  });
});

for (const kind of storeKinds) {
  describe(`jitter through a region (${kind})`, () => {
    const store = useStore(kind);
    let n = 0;
    const { open } = useTroves(() => ({ ...store.opts, prefix: `jit${++n}` }));

    it('every way of writing spreads expiry over the last `jitter` of the ttl, freshFor by the same factor', async () => {
      const t = open();
      const r = t.region<number>('spread', { ttl: '100s', freshFor: '50s', jitter: 0.5 });
      const keys = Array.from({ length: 300 }, (_, i) => `k${i}`);
      await r.setMany(keys.slice(0, 100).map((k, i) => [k, i] as const));
      await Promise.all(keys.slice(100, 200).map((k, i) => r.set(k, i)));
      await Promise.all(keys.slice(200).map((k, i) => r.getOrSet(k, () => i)));
      await r.batch((tx) => tx.set('batched', 1));
      const lives = await Promise.all([...keys, 'batched'].map((k) => r.ttlOf(k)));
      const ttls: number[] = [];
      for (const life of lives) {
        expect(life).toBeDefined();
        const { ttlMs, freshForMs } = life!;
        // Written between 50 and 100 s; read back a little later (the time since is not known, so the lower bound is loose).
        expect(ttlMs).toBeLessThanOrEqual(100_000);
        expect(ttlMs).toBeGreaterThan(40_000);
        // Both clocks run down together: their difference is what was written, half the written
        // ttl (one factor for both), whatever time has passed since.
        const written = 2 * (ttlMs - freshForMs);
        expect(written).toBeGreaterThanOrEqual(ttlMs - 2);
        expect(written).toBeLessThanOrEqual(ttlMs + 10_000);
        ttls.push(ttlMs);
      }
      // Spread, not shifted: 301 draws all in one half of the range would be a broken random.
      expect(ttls.filter((ms) => ms < 75_000).length).toBeGreaterThan(0);
      expect(ttls.filter((ms) => ms > 80_000).length).toBeGreaterThan(0);
    });

    it('hash storage: each entry keeps its own jittered expiry', async () => {
      const t = open();
      const r = t.region<number>('hashed', { storage: 'hash', hashBuckets: 4, ttl: '100s', jitter: 0.5 });
      await r.setMany(Array.from({ length: 100 }, (_, i) => [`k${i}`, i] as const));
      const ttls = await Promise.all(Array.from({ length: 100 }, (_, i) => r.ttlOf(`k${i}`).then((l) => l!.ttlMs)));
      expect(Math.max(...ttls)).toBeLessThanOrEqual(100_000);
      expect(Math.min(...ttls)).toBeGreaterThan(40_000);
      expect(ttls.filter((ms) => ms < 75_000).length).toBeGreaterThan(0);
      expect(ttls.filter((ms) => ms > 80_000).length).toBeGreaterThan(0);
    });

    it("a call's own ttl is jittered too; without jitter every value lives exactly its ttl", async () => {
      const t = open();
      const spread = t.region<number>('calls', { jitter: 0.9 });
      const exact = t.region<number>('exact');
      await Promise.all(Array.from({ length: 100 }, (_, i) => spread.set(`k${i}`, i, { ttl: '1000s' })));
      await exact.set('k', 1, { ttl: '1000s' });
      const ttls = await Promise.all(Array.from({ length: 100 }, (_, i) => spread.ttlOf(`k${i}`).then((l) => l!.ttlMs)));
      expect(Math.max(...ttls)).toBeLessThanOrEqual(1_000_000);
      expect(Math.min(...ttls)).toBeLessThan(550_000);
      const exactTtl = (await exact.ttlOf('k'))!.ttlMs;
      expect(exactTtl).toBeGreaterThan(990_000);
      expect(exactTtl).toBeLessThanOrEqual(1_000_000);
    });

    it('a sliding expiry (refreshTtlOnHit) is pushed back by a jittered ttl too', async () => {
      const t = open();
      const r = t.region<number>('slide', { ttl: '100s', jitter: 0.5 });
      const keys = Array.from({ length: 100 }, (_, i) => `k${i}`);
      await Promise.all(keys.map((k, i) => r.set(k, i)));
      const answers = await Promise.all(keys.map((k) => r.getOrSet(k, () => -1, { ttl: '1000s', refreshTtlOnHit: true })));
      expect(answers).toEqual(keys.map((_, i) => i));
      // The expiry is pushed back after the hit is answered: wait until every key has it.
      let ttls: number[] = [];
      await until(
        async () => {
          ttls = await Promise.all(keys.map((k) => r.ttlOf(k).then((l) => l!.ttlMs)));
          return ttls.every((ms) => ms > 100_000);
        },
        10_000,
        'every expiry pushed back',
      );
      expect(Math.max(...ttls)).toBeLessThanOrEqual(1_000_000);
      expect(Math.min(...ttls)).toBeLessThan(750_000);
      expect(Math.min(...ttls)).toBeGreaterThan(400_000);
    });

    it('a bad jitter is refused where it is given', () => {
      const t = open();
      expect(() => t.region('bad', { jitter: 1 })).toThrow(InvalidOptionError);
      expect(() => open({ jitter: -0.5 })).toThrow(/jitter/);
    });
  });
}

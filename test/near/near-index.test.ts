/**
 * The near cache's index by the caller's key (`NearIndex`, the fast near hit's lookup): it finds
 * exactly the entry kept under `base + key + tail`, and none once that entry is gone (invalidated,
 * replaced, evicted, expired, the tier reset or no longer live), so a hit through it never answers
 * what a lookup by the full Redis key would not. A new key base (a region's new generation) has an
 * index of its own that finds nothing of the old one. A hit's answer is one promise per entry.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { NearCache, type NearCacheOptions } from '../../src/near/index.js';

const BASE = 'app:v1:users:';

function live(opts: NearCacheOptions = {}, values: { freeze?: boolean } = {}): NearCache {
  const near = new NearCache(opts, values);
  near.setLive(true);
  return near;
}

/** Keeps `value` under the full key `full`, as a read Redis answered does. */
function keep(near: NearCache, full: string, value: unknown, life: { expiresAt?: number; freshUntil?: number } = {}): void {
  const ticket = near.begin(full);
  near.end(full, ticket, { value, freshUntil: life.freshUntil, expiresAt: life.expiresAt ?? Date.now() + 60_000 }, 10);
}

afterEach(() => {
  vi.useRealTimers();
});

describe('NearIndex', () => {
  it('finds the entry kept under base + key + tail, counts the hit, and nothing under another base', () => {
    const near = live();
    keep(near, `${BASE}1`, { id: 1 });
    const index = near.indexOf(BASE, '');
    expect(near.fresh(index, '1')?.value).toEqual({ id: 1 });
    expect(near.fresh(index, '1')?.value).toEqual({ id: 1 });
    expect(near.fresh(index, '2')).toBeUndefined();
    expect(near.stats().hits).toBe(2);
    // The region's next generation: another base, another index.
    expect(near.fresh(near.indexOf('app:v1:users@g2:', ''), '1')).toBeUndefined();
    // With a tail (hash tags on Redis Cluster).
    keep(near, 'app:v1:users{:1}', 'tagged');
    expect(near.fresh(near.indexOf('app:v1:users{:', '}'), '1')?.value).toBe('tagged');
  });

  it('an invalidation, a local drop and a replacement all reach a hit through the index', () => {
    const near = live();
    const index = near.indexOf(BASE, '');
    keep(near, `${BASE}1`, 'one');
    expect(near.fresh(index, '1')?.value).toBe('one');
    near.invalidate([`${BASE}1`]);
    expect(near.fresh(index, '1')).toBeUndefined();
    keep(near, `${BASE}1`, 'two');
    expect(near.fresh(index, '1')?.value).toBe('two');
    keep(near, `${BASE}1`, 'three');
    expect(near.fresh(index, '1')?.value).toBe('three');
    near.drop(`${BASE}1`);
    expect(near.fresh(index, '1')).toBeUndefined();
    expect(index.byKey.size).toBe(0);
  });

  it('an evicted entry is no longer found, and the index lists only kept entries', () => {
    const near = live({ maxEntries: 2 });
    const index = near.indexOf(BASE, '');
    for (const k of ['1', '2']) keep(near, BASE + k, k);
    expect(near.fresh(index, '1')?.value).toBe('1');
    near.fresh(index, '2');
    keep(near, `${BASE}3`, '3');
    keep(near, `${BASE}4`, '4');
    const found = ['1', '2', '3', '4'].filter((k) => near.fresh(index, k) !== undefined);
    expect(found).toHaveLength(2);
    expect(index.byKey.size).toBe(2);
    expect(near.stats().entries).toBe(2);
  });

  it('a copy past its freshness or expiry is not answered', () => {
    vi.useFakeTimers({ toFake: ['Date'], now: 1_000_000 });
    const near = live();
    const index = near.indexOf(BASE, '');
    keep(near, `${BASE}fresh`, 'f', { freshUntil: Date.now() + 100, expiresAt: Date.now() + 10_000 });
    keep(near, `${BASE}hard`, 'h', { expiresAt: Date.now() + 200 });
    expect(near.fresh(index, 'fresh')?.value).toBe('f');
    expect(near.fresh(index, 'hard')?.value).toBe('h');
    vi.setSystemTime(Date.now() + 100);
    expect(near.fresh(index, 'fresh')).toBeUndefined();
    expect(near.fresh(index, 'hard')?.value).toBe('h');
    vi.setSystemTime(Date.now() + 100);
    expect(near.fresh(index, 'hard')).toBeUndefined();
  });

  it('a reset or a loss of tracking empties and retires every index; a new one is handed out', () => {
    const near = live({ serveWhileDisconnected: '10s' });
    const index = near.indexOf(BASE, '');
    keep(near, `${BASE}1`, 'one');
    expect(near.fresh(index, '1')?.value).toBe('one');
    // Tracking lost, entries kept for a failed read: no hit through the index meanwhile.
    near.setLive(false);
    expect(near.fresh(index, '1')).toBeUndefined();
    expect(near.kept(`${BASE}1`)?.value).toBe('one');
    near.setLive(true);
    expect(index.retired).toBe(true);
    expect(near.fresh(index, '1')).toBeUndefined();
    const next = near.indexOf(BASE, '');
    expect(next).not.toBe(index);
    keep(near, `${BASE}1`, 'two');
    expect(near.fresh(next, '1')?.value).toBe('two');
    near.invalidate(null);
    expect(next.retired).toBe(true);
    expect(near.fresh(near.indexOf(BASE, ''), '1')).toBeUndefined();
  });

  it('indices of bases no longer used are forgotten once empty', () => {
    const near = live();
    const first = near.indexOf(`${BASE.slice(0, -1)}@0:`, '');
    for (let g = 1; g <= 200; g++) {
      const base = `${BASE.slice(0, -1)}@${g}:`;
      keep(near, `${base}1`, g);
      expect(near.fresh(near.indexOf(base, ''), '1')?.value).toBe(g);
      near.invalidate([`${base}1`]);
    }
    expect(first.retired).toBe(true);
    expect((near as unknown as { indices: Map<string, unknown> }).indices.size).toBeLessThanOrEqual(64);
  });

  it('a hit answers the same settled promise every time; with clone a new copy each time', async () => {
    const near = live();
    keep(near, `${BASE}1`, { id: 1 });
    const index = near.indexOf(BASE, '');
    const a = near.answer(near.fresh(index, '1')!);
    expect(near.answer(near.fresh(index, '1')!)).toBe(a);
    expect(await a).toEqual({ id: 1 });

    const cloning = live({ clone: true });
    keep(cloning, `${BASE}1`, { id: 1 });
    const cIndex = cloning.indexOf(BASE, '');
    const [x, y] = await Promise.all([cloning.answer(cloning.fresh(cIndex, '1')!), cloning.answer(cloning.fresh(cIndex, '1')!)]);
    expect(x).toEqual({ id: 1 });
    expect(x).not.toBe(y);
  });

  it('a thenable value is resolved anew by each hit, as it would be without the near cache', async () => {
    const near = live();
    let calls = 0;
    const thenable = {
      // biome-ignore lint/suspicious/noThenProperty: the value under test is a thenable.
      then(resolve: (v: number) => void) {
        resolve(++calls);
      },
    };
    keep(near, `${BASE}1`, thenable);
    const index = near.indexOf(BASE, '');
    expect(calls).toBe(0);
    expect(await near.answer(near.fresh(index, '1')!)).toBe(1);
    expect(await near.answer(near.fresh(index, '1')!)).toBe(2);
  });

  it('property: through any index, a hit answers exactly what a lookup by the full key answers', () => {
    const keys = ['a', 'b', 'c', 'd'];
    const bases = ['r:1:', 'r:2:'];
    const op = fc.oneof(
      fc.record({ t: fc.constant('keep' as const), b: fc.integer({ min: 0, max: 1 }), k: fc.integer({ min: 0, max: 3 }), v: fc.integer() }),
      fc.record({ t: fc.constant('invalidate' as const), b: fc.integer({ min: 0, max: 1 }), k: fc.integer({ min: 0, max: 3 }) }),
      fc.record({ t: fc.constant('drop' as const), b: fc.integer({ min: 0, max: 1 }), k: fc.integer({ min: 0, max: 3 }) }),
      fc.record({ t: fc.constant('write' as const), b: fc.integer({ min: 0, max: 1 }), k: fc.integer({ min: 0, max: 3 }), v: fc.integer() }),
      fc.record({ t: fc.constant('hit' as const), b: fc.integer({ min: 0, max: 1 }), k: fc.integer({ min: 0, max: 3 }), i: fc.integer({ min: 0, max: 2 }) }),
      fc.record({ t: fc.constant('reset' as const) }),
      fc.record({ t: fc.constant('relive' as const) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80, size: 'max' }), fc.integer({ min: 1, max: 6 }), (ops, maxEntries) => {
        const near = live({ maxEntries });
        // Several holders of an index per base, as several handles of one region path are.
        const held: ReturnType<NearCache['indexOf']>[][] = bases.map((b) => [near.indexOf(b, ''), near.indexOf(b, ''), near.indexOf(b, '')]);
        for (const o of ops) {
          if (o.t === 'reset') near.invalidate(null);
          else if (o.t === 'relive') {
            near.setLive(false);
            near.setLive(true);
          } else {
            const full = bases[o.b]! + keys[o.k]!;
            if (o.t === 'keep') keep(near, full, o.v);
            else if (o.t === 'invalidate') near.invalidate([full]);
            else if (o.t === 'drop') near.drop(full);
            else if (o.t === 'write') {
              const ticket = near.beginWrite(full);
              near.end(full, ticket, { value: o.v, freshUntil: undefined, expiresAt: Date.now() + 60_000 }, 10);
            } else {
              let index = held[o.b]![o.i]!;
              if (index.retired) {
                index = near.indexOf(bases[o.b]!, '');
                held[o.b]![o.i] = index;
              }
              near.fresh(index, keys[o.k]!);
            }
          }
          // Every listing is of an entry held under its full key.
          for (let b = 0; b < bases.length; b++) {
            for (const index of held[b]!) {
              for (const [k, e] of index.byKey) expect(near.get(bases[b]! + k)).toBe(e);
              if (index.retired) continue;
              for (const k of keys) {
                const viaIndex = near.fresh(index, k);
                expect(viaIndex).toBe(near.get(bases[b]! + k));
              }
            }
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});

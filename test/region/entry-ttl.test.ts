/**
 * `deleteMany` and `ttlOf`, and values stored without expiry (`ttl: Infinity`), on the embedded
 * store and on a private redis-server.
 */
import { describe, expect, it } from 'vitest';
import { storeKinds, useStore, useTroves } from '../helpers/troves.js';

for (const kind of storeKinds) {
  describe(`deleteMany and ttlOf (${kind})`, () => {
    const store = useStore(kind);
    let n = 0;
    const { open } = useTroves(() => ({ ...store.opts, prefix: `ttl${++n}` }));

    it('deleteMany deletes exactly those keys, counts those that existed, and drops local copies', async () => {
      const t = open();
      const r = t.region<number>('many');
      await r.setMany([
        ['a', 1],
        ['b', 2],
        ['c', 3],
      ]);
      expect(await r.get('a')).toBe(1);
      expect(await r.deleteMany(['a', 'b', 'missing', 'a'])).toBe(2);
      expect(await r.getMany(['a', 'b', 'c'])).toEqual([undefined, undefined, 3]);
      expect(await r.deleteMany([])).toBe(0);
      const deleted: string[] = [];
      t.on('delete', (e) => deleted.push(e.key));
      expect(await r.deleteMany(['c'])).toBe(1);
      expect(deleted).toEqual(['c']);
    });

    it('ttlOf answers the remaining hard and fresh time of a live entry, undefined otherwise', async () => {
      const t = open();
      const r = t.region('lives', { ttl: '10m', freshFor: '1m' });
      await r.set('k', 'v');
      const left = await r.ttlOf('k');
      expect(left!.ttlMs).toBeGreaterThan(590_000);
      expect(left!.ttlMs).toBeLessThanOrEqual(600_000);
      expect(left!.freshForMs).toBeGreaterThan(50_000);
      expect(left!.freshForMs).toBeLessThanOrEqual(60_000);
      expect(await r.ttlOf('absent')).toBeUndefined();
      await r.set('tagged', 'v', { tags: ['t1'] });
      await t.invalidateTags(['t1']);
      expect(await r.ttlOf('tagged')).toBeUndefined();
    });

    it('getOrSet with ttl: Infinity stores without expiry; fresh until it is replaced', async () => {
      const t = open();
      const r = t.region('forever');
      expect(await r.getOrSet('k', () => 'kept', { ttl: Number.POSITIVE_INFINITY })).toBe('kept');
      expect(await r.ttlOf('k')).toEqual({ ttlMs: Number.POSITIVE_INFINITY, freshForMs: Number.POSITIVE_INFINITY });
    });

    it('ttlOf follows sliding expiry (refreshTtlOnHit), which the entry itself does not record', async () => {
      const t = open();
      const r = t.region('sliding', { ttl: '10m' });
      await r.set('k', 'v', { ttl: '1m' });
      expect((await r.ttlOf('k'))!.ttlMs).toBeLessThanOrEqual(60_000);
      await r.getOrSet('k', () => 'unused', { refreshTtlOnHit: true, ttl: '5m' });
      const left = await r.ttlOf('k');
      expect(left!.ttlMs).toBeGreaterThan(240_000);
    });
  });
}

/**
 * Large batches: setMany of 100k entries completes on both stores with exactly the values
 * written, and a key written twice in one batch keeps its last value, in the store and locally.
 * The work per batch is linear in its entries; the 100k batches here would outlast the test
 * timeout if it were quadratic (a search per entry took 10 s for 32k entries).
 */
import { describe, expect, it } from 'vitest';
import type { ErrorEvent, Region, Trove } from '../../src/index.js';
import { storeKinds, until, useStore, useTroves } from '../helpers/troves.js';

const N = 100_000;
/** Generous for a loaded machine; a quadratic batch takes well over a minute at this size. */
const BIG_TIMEOUT = 60_000;

/** Reads `keys` back with getMany, in slices so that no single read is the size of the batch. */
async function readBack(r: Region<number>, keys: readonly string[]): Promise<(number | undefined)[]> {
  const out: (number | undefined)[] = [];
  for (let i = 0; i < keys.length; i += 10_000) out.push(...(await r.getMany(keys.slice(i, i + 10_000))));
  return out;
}

async function allKeys(r: Region<number>): Promise<string[]> {
  const keys: string[] = [];
  for await (const k of r.keys()) keys.push(k);
  return keys.sort();
}

for (const name of storeKinds) {
  describe(`batches on ${name}`, () => {
    const store = useStore(name);
    let n = 0;
    // One MULTI of 100k writes is one store operation: its deadline must cover it. The
    // embedded store holds 100k entries by default; room for more so none is evicted here.
    const { open } = useTroves(() => ({ ...store.opts, prefix: `b${++n}`, commandTimeout: '30s', memory: { maxEntries: 4 * N } }));

    function openWatched(): { trove: Trove; errors: ErrorEvent[] } {
      const trove = open();
      const errors: ErrorEvent[] = [];
      trove.on('error', (e) => errors.push(e));
      return { trove, errors };
    }

    it(
      `setMany of ${N} entries stores exactly those keys and values`,
      async () => {
        const { trove, errors } = openWatched();
        const r = trove.region<number>('big');
        const keys = Array.from({ length: N }, (_, i) => `k${i}`);
        await r.setMany(keys.map((k, i) => [k, i * 3]));
        expect(errors).toEqual([]);
        const values = await readBack(r, keys);
        expect(values).toEqual(keys.map((_, i) => i * 3));
        expect(await allKeys(r)).toEqual([...keys].sort());
        expect(await r.size()).toBe(N);
      },
      BIG_TIMEOUT,
    );

    it(
      'getMany of 150k keys answers every value in one call (no argument list spread on the call stack)',
      async () => {
        const { trove, errors } = openWatched();
        const r = trove.region<number>('wide');
        const keys = Array.from({ length: 150_000 }, (_, i) => `w${i}`);
        for (let i = 0; i < keys.length; i += 50_000) await r.setMany(keys.slice(i, i + 50_000).map((k, j) => [k, i + j]));
        const values = await r.getMany(keys);
        expect(values.length).toBe(keys.length);
        expect(values.every((v, i) => v === i)).toBe(true);
        expect(errors).toEqual([]);
      },
      BIG_TIMEOUT,
    );

    it(
      `setMany of ${N} entries over fewer keys keeps each key's last value`,
      async () => {
        const { trove, errors } = openWatched();
        const r = trove.region<number>('dups');
        const distinct = 60_000;
        // Entry i writes key i % distinct: keys below 40_000 are written twice, the second time with i + 60_000.
        await r.setMany(Array.from({ length: N }, (_, i) => [`k${i % distinct}`, i] as const));
        expect(errors).toEqual([]);
        const keys = Array.from({ length: distinct }, (_, k) => `k${k}`);
        const values = await readBack(r, keys);
        expect(values).toEqual(keys.map((_, k) => (k < N - distinct ? k + distinct : k)));
        expect(await allKeys(r)).toEqual([...keys].sort());
      },
      BIG_TIMEOUT,
    );

    it('only the last operation on a key counts, locally and in the store', async () => {
      const { trove: writer, errors } = openWatched();
      if (name === 'redis') await until(() => writer.stats().near?.live === true);
      const r = writer.region<number>('twice');
      await r.batch((tx) => {
        tx.set('a', 1);
        tx.set('b', 2);
        tx.set('a', 3);
        tx.set('c', 6);
        tx.delete('c');
        tx.delete('d');
        tx.set('d', 7);
        tx.set('b', 4);
        tx.set('a', 5);
      });
      expect(errors).toEqual([]);
      // Read at once by the writer (on Redis, through its near cache) and by a trove without one.
      expect(await r.getMany(['a', 'b', 'c', 'd'])).toEqual([5, 4, undefined, 7]);
      if (name === 'redis') {
        const reader = open({ prefix: writer.prefix, nearCache: false });
        expect(await reader.region<number>('twice').getMany(['a', 'b', 'c', 'd'])).toEqual([5, 4, undefined, 7]);
      }
      expect(await allKeys(r)).toEqual(['a', 'b', 'd']);
    });
  });
}

/**
 * The near cache's bounded map: bounds by entries and bytes, second chance for entries read
 * lately, exact byte accounting, and a property run over random operation sequences.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SecondChanceMap, type Sized } from '../../src/near/second-chance.js';

interface E extends Sized {
  v: number;
}

function make(maxEntries: number, maxBytes = 1e9, maxEntryBytes = 1e9): { m: SecondChanceMap<E>; evicted: () => number } {
  let evictions = 0;
  const m = new SecondChanceMap<E>(maxEntries, maxBytes, maxEntryBytes, () => evictions++);
  return { m, evicted: () => evictions };
}

const entry = (v: number, size = 1): E => ({ v, size, used: false });

describe('SecondChanceMap', () => {
  it('keeps at most maxEntries, evicting the oldest unread first', () => {
    const { m, evicted } = make(3);
    for (const k of ['a', 'b', 'c']) m.set(k, entry(1));
    m.set('d', entry(1));
    expect(['a', 'b', 'c', 'd'].map((k) => m.get(k)?.v)).toEqual([undefined, 1, 1, 1]);
    expect(m.size).toBe(3);
    expect(evicted()).toBe(1);
  });

  it('an entry read since the hand last passed it is spared once', () => {
    const { m } = make(3);
    for (const k of ['a', 'b', 'c']) m.set(k, entry(1));
    m.get('a');
    m.set('d', entry(1)); // a is spared (moved back, mark cleared); b goes
    expect(['a', 'b', 'c', 'd'].filter((k) => m.get(k) !== undefined)).toEqual(['a', 'c', 'd']);
    // those reads marked a, c and d again: when every entry was read, the oldest goes after one pass
    m.set('e', entry(1));
    expect(m.size).toBe(3);
    expect(m.get('e')?.v).toBe(1);
  });

  it('keeps at most maxBytes, and does not keep a value above maxEntryBytes', () => {
    const { m, evicted } = make(100, 10, 6);
    m.set('a', entry(1, 4));
    m.set('b', entry(2, 4));
    m.set('c', entry(3, 4)); // 12 > 10: a goes
    expect(m.byteSize).toBe(8);
    expect(m.get('a')).toBeUndefined();
    expect(evicted()).toBe(1);
    m.set('b', entry(9, 7)); // too large: not kept, and the old b is gone too
    expect(m.get('b')).toBeUndefined();
    expect(m.byteSize).toBe(4);
    expect(evicted()).toBe(1);
  });

  it('delete and clear keep the byte count exact', () => {
    const { m } = make(10);
    m.set('a', entry(1, 5));
    m.set('b', entry(1, 3));
    m.set('a', entry(2, 2)); // replaced: its old size no longer counts
    expect(m.byteSize).toBe(5);
    m.delete('b');
    m.delete('missing');
    expect([m.size, m.byteSize]).toEqual([1, 2]);
    m.clear();
    expect([m.size, m.byteSize]).toEqual([0, 0]);
  });

  it('random operation sequences: bounds hold, bytes add up, reads return the last value set, nothing lost unaccounted', () => {
    const op = fc.oneof(
      fc.record({ t: fc.constant('set' as const), k: fc.integer({ min: 0, max: 30 }), size: fc.integer({ min: 1, max: 12 }) }),
      fc.record({ t: fc.constant('get' as const), k: fc.integer({ min: 0, max: 30 }) }),
      fc.record({ t: fc.constant('delete' as const), k: fc.integer({ min: 0, max: 30 }) }),
    );
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 12, max: 60 }),
        fc.array(op, { maxLength: 300, size: 'max' }),
        (maxEntries, maxBytes, ops) => {
          const { m, evicted } = make(maxEntries, maxBytes, 10);
          // The model: what was set last for each key (and not deleted since); what the map holds must agree.
          const last = new Map<number, E>();
          let stored = 0;
          let removed = 0; // entries gone by delete or by being replaced
          let version = 0;
          for (const o of ops) {
            const key = String(o.k);
            if (o.t === 'set') {
              if (m.get(key) !== undefined) removed++;
              const e = entry(++version, o.size);
              m.set(key, e);
              last.set(o.k, e);
              if (o.size <= 10) {
                stored++;
                expect(m.get(key)).toBe(e); // the newest entry is always kept
              }
            } else if (o.t === 'get') {
              const got = m.get(key);
              if (got !== undefined) expect(got).toBe(last.get(o.k));
            } else {
              if (m.get(key) !== undefined) removed++;
              m.delete(key);
              last.delete(o.k);
              expect(m.get(key)).toBeUndefined();
            }
            expect(m.size).toBeLessThanOrEqual(maxEntries);
            expect(m.byteSize).toBeLessThanOrEqual(maxBytes);
          }
          let bytes = 0;
          let present = 0;
          for (const [k, e] of last) {
            const got = m.get(String(k));
            if (got === undefined) continue;
            expect(got).toBe(e);
            bytes += e.size;
            present++;
          }
          expect(m.byteSize).toBe(bytes);
          expect(m.size).toBe(present);
          expect(stored).toBe(present + removed + evicted());
        },
      ),
      { numRuns: 500, seed: 20261123 },
    );
  });
});

/**
 * TransientMap renews its table every 64 deletes (more when it holds more entries): whatever
 * the sequence of changes, it must answer exactly as a plain Map would, across renewals.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TransientMap } from '../src/transient-map.js';

const op = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), key: fc.integer({ min: 0, max: 40 }), value: fc.integer() }),
  fc.record({ kind: fc.constant('delete' as const), key: fc.integer({ min: 0, max: 40 }) }),
  fc.record({ kind: fc.constant('clear' as const) }),
);

describe('TransientMap', () => {
  it('answers as a Map does over any sequence of sets, deletes and clears, across renewals', () => {
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 4000, size: 'max' }), (ops) => {
        const model = new Map<number, number>();
        const map = new TransientMap<number, number>();
        for (const o of ops) {
          if (o.kind === 'set') {
            model.set(o.key, o.value);
            map.set(o.key, o.value);
          } else if (o.kind === 'delete') expect(map.delete(o.key)).toBe(model.delete(o.key));
          else {
            model.clear();
            map.clear();
          }
          expect(map.size).toBe(model.size);
        }
        for (let k = 0; k <= 40; k++) {
          expect(map.has(k)).toBe(model.has(k));
          expect(map.get(k)).toBe(model.get(k));
        }
        expect([...map.values()]).toEqual([...model.values()]);
      }),
      { numRuns: 40 },
    );
  });

  it('keeps its entries, in order, through a renewal', () => {
    const map = new TransientMap<string, number>();
    map.set('kept-a', 1);
    map.set('kept-b', 2);
    const table = () => (map as unknown as { map: Map<string, number> }).map;
    const first = table();
    // 64 deletes of other keys: exactly one renewal, at the 64th.
    for (let i = 0; i < 64; i++) {
      map.set(`t${i}`, i);
      expect(map.delete(`t${i}`)).toBe(true);
      expect(table() === first).toBe(i < 63);
    }
    expect(map.delete('never-set')).toBe(false);
    expect([...map.values()]).toEqual([1, 2]);
    expect(map.get('kept-b')).toBe(2);
    expect(map.size).toBe(2);
  });

  it('a map holding more entries than 64 keeps them all, in order, through its renewals', () => {
    const map = new TransientMap<string, number>();
    const model = new Map<string, number>();
    for (let i = 0; i < 3000; i++) {
      map.set(`kept${i}`, i);
      model.set(`kept${i}`, i);
    }
    for (let i = 0; i < 10_000; i++) {
      map.set(`t${i}`, i);
      expect(map.delete(`t${i}`)).toBe(true);
      if (i % 7 === 0) {
        map.delete(`kept${i % 3000}`);
        model.delete(`kept${i % 3000}`);
      }
    }
    expect(map.size).toBe(model.size);
    expect([...map.values()]).toEqual([...model.values()]);
  });
});

/**
 * BoundedMap: a Map of at most `max` entries that forgets the key set longest ago. Checked against
 * a plain Map with that rule over any sequence of sets, deletes, reads and clears.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BoundedMap } from '../src/bounded-map.js';

const key = fc.integer({ min: 0, max: 12 });
const op = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), key, value: fc.integer() }),
  fc.record({ kind: fc.constant('delete' as const), key }),
  fc.record({ kind: fc.constant('get' as const), key }),
  fc.record({ kind: fc.constant('clear' as const) }),
);

describe('BoundedMap', () => {
  it('answers as a Map that forgets the key set longest ago, over any sequence of changes', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.array(op, { minLength: 1, maxLength: 400, size: 'max' }), (max, ops) => {
        const model = new Map<number, number>();
        const map = new BoundedMap<number, number>(max);
        for (const o of ops) {
          if (o.kind === 'set') {
            if (!model.delete(o.key) && model.size >= max) model.delete(model.keys().next().value as number);
            model.set(o.key, o.value);
            map.set(o.key, o.value);
          } else if (o.kind === 'delete') expect(map.delete(o.key)).toBe(model.delete(o.key));
          else if (o.kind === 'get') {
            expect(map.get(o.key)).toBe(model.get(o.key));
            expect(map.has(o.key)).toBe(model.has(o.key));
          } else {
            model.clear();
            map.clear();
          }
          expect(map.size).toBe(model.size);
        }
        expect([...map.keys()]).toEqual([...model.keys()]);
      }),
      { numRuns: 300 },
    );
  });

  it('forgets the key set longest ago, a key set again counting from then; reads do not reorder', () => {
    const map = new BoundedMap<string, number>(2);
    map.set('a', 1);
    map.set('b', 2);
    expect(map.get('a')).toBe(1);
    map.set('c', 3);
    expect([...map.keys()]).toEqual(['b', 'c']);
    map.set('b', 20);
    map.set('d', 4);
    expect([...map.keys()]).toEqual(['b', 'd']);
    expect(map.get('b')).toBe(20);
  });
});

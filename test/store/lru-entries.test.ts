/**
 * LruEntries takes a cache's last entry out by `pop()` where lru-cache would clear all its slots:
 * for any sequence of writes, deletes, reads and clock steps it must answer exactly as lru-cache
 * does, and leave it in the same state (the same keys, values and time left), the reason given to
 * `dispose` aside.
 */
import fc from 'fast-check';
import { LRUCache } from 'lru-cache';
import { describe, expect, it } from 'vitest';
import { LruEntries } from '../../src/store/lru-entries.js';

const key = fc.constantFrom('a', 'b', 'c', 'd');
const op = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), key, value: fc.integer({ min: 0, max: 99 }), ttl: fc.integer({ min: 0, max: 40 }) }),
  fc.record({ kind: fc.constant('delete' as const), key }),
  fc.record({ kind: fc.constant('get' as const), key }),
  fc.record({ kind: fc.constant('has' as const), key }),
  fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 0, max: 25 }) }),
);

/** Both caches with the same options and one clock; `left` records what each disposed (key only). */
function pair(max: number) {
  let now = 1_000;
  const clock = { now: () => now };
  const options = (left: string[]) => ({
    max,
    maxSize: 30,
    sizeCalculation: (v: Buffer, k: string) => v.length + k.length,
    ttlResolution: 0,
    allowStale: false,
    updateAgeOnGet: false,
    perf: clock,
    dispose: (_v: Buffer, k: string, reason: LRUCache.DisposeReason) => {
      if (reason !== 'set') left.push(k);
    },
  });
  const modelLeft: string[] = [];
  const entriesLeft: string[] = [];
  return {
    model: new LRUCache<string, Buffer>(options(modelLeft)),
    entries: new LruEntries<Buffer>(options(entriesLeft)),
    modelLeft,
    entriesLeft,
    tick: (ms: number) => {
      now += ms;
    },
  };
}

/** What a cache holds: keys in order, with values and time left. */
function state(c: LRUCache<string, Buffer>) {
  return [...c.keys()].map((k) => [k, c.peek(k)?.toString(), c.getRemainingTTL(k)]);
}

describe('LruEntries', () => {
  it('answers and ends as lru-cache does over any sequence of writes, deletes, reads and clock steps', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3 }), fc.array(op, { minLength: 1, maxLength: 200, size: 'max' }), (max, ops) => {
        const { model, entries, modelLeft, entriesLeft, tick } = pair(max);
        for (const o of ops) {
          if (o.kind === 'tick') tick(o.ms);
          else if (o.kind === 'set') {
            const v = Buffer.from(String(o.value));
            model.set(o.key, v, { ttl: o.ttl });
            entries.set(o.key, v, { ttl: o.ttl });
          } else if (o.kind === 'delete') expect(entries.delete(o.key)).toBe(model.delete(o.key));
          else if (o.kind === 'get') expect(entries.get(o.key)?.toString()).toBe(model.get(o.key)?.toString());
          else expect(entries.has(o.key)).toBe(model.has(o.key));
          expect(entries.size).toBe(model.size);
          expect(entries.calculatedSize).toBe(model.calculatedSize);
          expect(state(entries)).toEqual(state(model));
          expect(entriesLeft).toEqual(modelLeft);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('takes out the last entry, deleted or expired when read, and is used again as before', () => {
    const { entries, entriesLeft, tick } = pair(3);
    entries.set('a', Buffer.from('1'), { ttl: 10 });
    expect(entries.delete('a')).toBe(true);
    expect(entries.delete('a')).toBe(false);
    entries.set('b', Buffer.from('2'), { ttl: 10 });
    tick(11);
    expect(entries.get('b')).toBeUndefined();
    expect(entries.size).toBe(0);
    expect(entriesLeft).toEqual(['a', 'b']);
    // The slot taken back is reused: no time left carried over from the entry before.
    entries.set('c', Buffer.from('3'));
    expect(entries.getRemainingTTL('c')).toBe(Number.POSITIVE_INFINITY);
    entries.set('d', Buffer.from('4'), { ttl: 5 });
    expect([...entries.keys()]).toEqual(['d', 'c']);
    expect(entries.getRemainingTTL('d')).toBe(5);
  });
});

/**
 * ExpiringKeys: keys with their own expiry, bounded, the least recently set forgotten first. Checked
 * against a model over any sequence of sets, deletes, reads and clock steps.
 */
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ExpiringKeys } from '../../src/load/expiring-keys.js';

const MAX = 5;
const op = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), key: fc.integer({ min: 0, max: 9 }), value: fc.integer(), ttl: fc.integer({ min: 1, max: 50 }) }),
  fc.record({ kind: fc.constant('delete' as const), key: fc.integer({ min: 0, max: 9 }) }),
  fc.record({ kind: fc.constant('get' as const), key: fc.integer({ min: 0, max: 9 }) }),
  fc.record({ kind: fc.constant('has' as const), key: fc.integer({ min: 0, max: 9 }) }),
  fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 0, max: 30 }) }),
);

describe('ExpiringKeys', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 1_000_000 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('answers as its model over any sequence of sets, deletes, reads and clock steps', () => {
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 300, size: 'max' }), (ops) => {
        // The model: insertion-ordered entries with their expiry; an expired one reads as absent and is dropped when read.
        const model = new Map<string, { value: number; until: number }>();
        const keys = new ExpiringKeys<number>(MAX);
        const read = (key: string): number | undefined => {
          const e = model.get(key);
          if (e === undefined) return undefined;
          if (e.until <= Date.now()) {
            model.delete(key);
            return undefined;
          }
          return e.value;
        };
        for (const o of ops) {
          if (o.kind === 'tick') vi.advanceTimersByTime(o.ms);
          else if (o.kind === 'set') {
            const k = String(o.key);
            if (!model.delete(k) && model.size >= MAX) model.delete(model.keys().next().value as string);
            model.set(k, { value: o.value, until: Date.now() + o.ttl });
            keys.set(k, o.value, o.ttl);
          } else if (o.kind === 'delete') {
            model.delete(String(o.key));
            keys.delete(String(o.key));
          } else if (o.kind === 'get') expect(keys.get(String(o.key))).toBe(read(String(o.key)));
          else expect(keys.has(String(o.key))).toBe(read(String(o.key)) !== undefined);
          expect(keys.size).toBe(model.size);
          expect(keys.size).toBeLessThanOrEqual(MAX);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('forgets a key once its time is up, and the least recently set one when full', () => {
    const keys = new ExpiringKeys<string>(2);
    keys.set('a', 'A', 100);
    keys.set('b', 'B', 1_000);
    vi.advanceTimersByTime(99);
    expect(keys.get('a')).toBe('A');
    vi.advanceTimersByTime(1);
    expect(keys.has('a')).toBe(false);
    expect(keys.size).toBe(1);
    // Set again, 'b' is the most recent: the full map forgets 'c' first.
    keys.set('c', 'C', 1_000);
    keys.set('b', 'B2', 1_000);
    keys.set('d', 'D', 1_000);
    expect([keys.get('b'), keys.get('c'), keys.get('d')]).toEqual(['B2', undefined, 'D']);
    expect(keys.size).toBe(2);
  });
});

/**
 * ChangeCount against a model: after a full read at some count, broadcasts numbered past it
 * arrive in any order, some lost, some twice, with more full reads in between; the count followed
 * is always the highest number up to which every change is known, never more.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ChangeCount } from '../../src/region/change-count.js';

type Step = { kind: 'note'; n: number } | { kind: 'sync'; n: number };

describe('ChangeCount', () => {
  it('follows exactly the changes known without a gap, whatever the order of arrival', () => {
    const step = fc.oneof(
      { weight: 9, arbitrary: fc.record({ kind: fc.constant('note' as const), n: fc.integer({ min: 1, max: 60 }) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('sync' as const), n: fc.integer({ min: 0, max: 60 }) }) },
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 20 }), fc.array(step, { maxLength: 200, size: 'max' }), (base, steps: Step[]) => {
        const c = new ChangeCount();
        // Before any full read, nothing is followed: a broadcast cannot be placed.
        c.note(base + 1);
        expect(c.synced).toBeUndefined();
        expect(c.covers(0)).toBe(false);
        c.syncTo(base);
        // The model: every number known here (a full read knows all up to its count).
        const known = new Set<number>();
        let read = base;
        for (const s of steps) {
          if (s.kind === 'note') {
            c.note(s.n);
            known.add(s.n);
          } else {
            c.syncTo(s.n);
            read = Math.max(read, s.n);
          }
          let expected = read;
          while (known.has(expected + 1)) expected++;
          expect(c.synced).toBe(expected);
          expect(c.covers(expected)).toBe(true);
          expect(c.covers(expected + 1)).toBe(false);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('after a reset, follows nothing until the next full read, then from its count even when lower', () => {
    const c = new ChangeCount();
    c.syncTo(10);
    c.note(12);
    c.reset();
    expect(c.synced).toBeUndefined();
    c.note(11);
    expect(c.synced).toBeUndefined();
    c.syncTo(3);
    expect(c.synced).toBe(3);
    // What was held before the reset is gone: 4 alone moves on by one.
    c.note(4);
    expect(c.synced).toBe(4);
    c.note(5);
    expect(c.synced).toBe(5);
  });
});

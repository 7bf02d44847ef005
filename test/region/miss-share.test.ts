import { describe, expect, it } from 'vitest';
import { MissShare } from '../../src/region/miss-share.js';

describe('MissShare', () => {
  it('a fresh region reads plainly, and reads with the lock from the 22nd miss in a row', () => {
    const share = new MissShare();
    const switchedAt: number[] = [];
    for (let i = 1; i <= 40; i++) {
      share.record(true);
      if (share.mostlyMiss && switchedAt.length === 0) switchedAt.push(i);
    }
    expect(switchedAt).toEqual([22]);
  });

  it('a few hits after a long run of misses bring back plain reads; a hit for every miss keeps them', () => {
    const share = new MissShare();
    for (let i = 0; i < 100; i++) share.record(true);
    let hits = 0;
    while (share.mostlyMiss) {
      share.record(false);
      hits++;
    }
    expect(hits).toBe(5);
    for (let i = 0; i < 400; i++) {
      share.record(i % 2 === 0);
      expect(share.mostlyMiss).toBe(false);
    }
  });
});

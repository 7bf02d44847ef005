/** The trove's public surface: listeners can be added and removed, events cannot be forged. */
import { describe, expect, it } from 'vitest';
import { createTrove, type HitEvent } from '../../src/index.js';

describe('public surface', () => {
  it('exposes on, once, off and listenerCount, but no way to emit', async () => {
    const t = createTrove();
    for (const name of ['emit', 'wants', 'removeAll']) expect(name in t).toBe(false);
    const hits: HitEvent[] = [];
    const listener = (e: HitEvent) => hits.push(e);
    t.on('hit', listener);
    expect(t.listenerCount('hit')).toBe(1);
    await t.region('r').set('k', 1);
    await t.region('r').get('k');
    expect(hits.map((e) => e.key)).toEqual(['k']);
    t.off('hit', listener);
    expect(t.listenerCount('hit')).toBe(0);
    await t.close();
  });
});

/**
 * TokenOrder: which token a tag or region path keeps when read replies and broadcasts arrive out of
 * the order of the changes they carry. (TagTokens and Generations use it: their own tests drive
 * the same rules through a real table.)
 */
import { describe, expect, it } from 'vitest';
import { BoundedMap } from '../../src/bounded-map.js';
import { TokenOrder } from '../../src/region/token-order.js';

const order = () => new TokenOrder<string>(new Map(), new Map());

describe('TokenOrder', () => {
  it('admits a numbered change only over an older one', () => {
    const o = order();
    expect(o.admit('a', 5)).toBe(true);
    expect(o.admit('a', 5)).toBe(false);
    expect(o.admit('a', 3)).toBe(false);
    expect(o.admit('a', 6)).toBe(true);
    // Each key on its own.
    expect(o.admit('b', 1)).toBe(true);
  });

  it('admits a numbered change over what a read found at an earlier count, not at the same or a later one', () => {
    const o = order();
    o.read('a', 4);
    expect(o.admit('a', 4)).toBe(false);
    expect(o.admit('a', 5)).toBe(true);
    o.read('b', 9);
    expect(o.admit('b', 7)).toBe(false);
  });

  it('always admits a change without a number', () => {
    const o = order();
    o.read('a', 10);
    expect(o.admit('a', undefined)).toBe(true);
    expect(o.admit('a', undefined)).toBe(true);
  });

  it('a token set after a read was sent is newer than that read: by a later count, or by a change without a number applied after the send', () => {
    const o = order();
    const first = o.send();
    o.admit('counted', 7);
    o.admit('uncounted', undefined);
    const second = o.send();
    // The first read found the table at count 6: both changes came after it.
    expect(o.isNewer('counted', 6, first)).toBe(true);
    expect(o.isNewer('uncounted', 6, first)).toBe(true);
    // The second was sent after the uncounted change and found count 7: neither is newer.
    expect(o.isNewer('counted', 7, second)).toBe(false);
    expect(o.isNewer('uncounted', 7, second)).toBe(false);
    expect(o.isNewer('never-set', 0, first)).toBe(false);
    expect(o.newerKeys(6, first)).toEqual(new Set(['counted', 'uncounted']));
    expect(o.newerKeys(7, second)).toEqual(new Set());
  });

  it('settled(): changes without a number applied before are older than every read sent after', () => {
    const o = order();
    const sent = o.send();
    o.admit('a', undefined);
    expect(o.isNewer('a', 0, sent)).toBe(true);
    o.settled();
    expect(o.isNewer('a', 0, sent)).toBe(false);
  });

  it('restart(): the counts known order nothing any more (a new epoch, or a count that went back)', () => {
    const o = order();
    o.admit('a', 50);
    o.read('b', 50);
    o.restart();
    // The table counts from 1 again: its next change is admitted.
    expect(o.admit('a', 1)).toBe(true);
    expect(o.admit('b', 1)).toBe(true);
    expect(o.newerKeys(0, o.send())).toEqual(new Set(['a', 'b']));
  });

  it('with bounded maps, a key pushed out counts as never set', () => {
    const o = new TokenOrder<string>(new BoundedMap(2), new BoundedMap(2));
    o.admit('a', 5);
    o.admit('b', 5);
    o.admit('c', 5);
    expect(o.admit('a', 1)).toBe(true);
    expect(o.admit('c', 5)).toBe(false);
  });
});

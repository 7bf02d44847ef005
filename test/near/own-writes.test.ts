/**
 * The near cache's accounting of its own writes: a tracked write announces exactly one
 * invalidation of its key to the writer (the store guarantees it), which must not drop the value
 * just written, while any further invalidation must.
 */
import { describe, expect, it } from 'vitest';
import { NearCache } from '../../src/near/index.js';

const entry = (value: unknown) => ({ value, freshUntil: undefined, expiresAt: Date.now() + 60_000 });

function live(): NearCache {
  const near = new NearCache();
  near.setLive(true);
  return near;
}

describe('own writes', () => {
  it('the one invalidation a write announces is absorbed; the next one drops the value', () => {
    const near = live();
    const ticket = near.beginWrite('k');
    near.end('k', ticket, entry('mine'), 4);
    near.invalidate(['k']);
    expect(near.get('k')?.value).toBe('mine');
    near.invalidate(['k']);
    expect(near.get('k')).toBeUndefined();
  });

  it('the announcement may arrive before the reply: the value is still kept, and a later change drops it', () => {
    const near = live();
    const ticket = near.beginWrite('k');
    near.invalidate(['k']);
    near.end('k', ticket, entry('mine'), 4);
    expect(near.get('k')?.value).toBe('mine');
    near.invalidate(['k']);
    expect(near.get('k')).toBeUndefined();
  });

  it('two writes of one key expect two announcements', () => {
    const near = live();
    const t1 = near.beginWrite('k');
    const t2 = near.beginWrite('k');
    near.end('k', t1, entry('one'), 3);
    near.end('k', t2, entry('two'), 3);
    near.invalidate(['k']);
    near.invalidate(['k']);
    expect(near.stats().invalidations).toBe(0);
    near.invalidate(['k']);
    expect(near.stats().invalidations).toBe(1);
  });

  it('a failed write expects nothing: the next invalidation counts as a change', () => {
    const near = live();
    const ticket = near.beginWrite('k');
    near.writeFailed('k', ticket);
    expect(near.get('k')).toBeUndefined();
    const read = near.begin('k');
    near.invalidate(['k']);
    near.end('k', read, entry('read while changed'), 4);
    expect(near.get('k')).toBeUndefined();
  });

  it('a TTL update expects its announcement too, and gives it back when it fails', () => {
    const near = live();
    const ticket = near.beginWrite('k');
    near.end('k', ticket, entry('mine'), 4);
    near.invalidate(['k']);
    const touch = near.expectOwnChange('k');
    near.invalidate(['k']);
    expect(near.get('k')?.value).toBe('mine');
    const failed = near.expectOwnChange('k');
    near.ownChangeFailed('k', failed);
    near.invalidate(['k']);
    expect(near.get('k')).toBeUndefined();
    expect(touch).not.toBe(-1);
  });

  it('a lost channel forgets every expected announcement', () => {
    const near = live();
    near.beginWrite('k');
    near.setLive(false);
    near.setLive(true);
    const read = near.begin('k');
    near.end('k', read, entry('v'), 1);
    near.invalidate(['k']);
    expect(near.get('k')).toBeUndefined();
  });
});

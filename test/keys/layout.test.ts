/** `KeyLayout.parseEntryKey`: an entry key back into its region path, generation tokens and user key. */
import { describe, expect, it } from 'vitest';
import { KeyLayout } from '../../src/keys/index.js';

describe('parseEntryKey', () => {
  it('splits the keys the layout builds, on one server and on a cluster', () => {
    for (const hashTags of [false, true]) {
      const layout = new KeyLayout('app', 'v1', hashTags);
      for (const [keyPath, path] of [
        ['users', 'users'],
        ['users@Tq0v_m1c', 'users'],
        ['users@Tq0v_m1c.profiles@Xk2_9a7Q', 'users.profiles'],
        ['users.profiles@Xk2_9a7Q.avatars', 'users.profiles.avatars'],
      ]) {
        for (const userKey of ['42', '', 'a:b:c', '{x}', 'with space']) {
          const key = layout.regionBase(keyPath!) + userKey + layout.tail;
          expect(layout.parseEntryKey(key)).toEqual({ keyPath, path, userKey });
        }
      }
    }
  });

  it('answers undefined for control keys and keys of other troves', () => {
    const layout = new KeyLayout('app', 'v1');
    for (const key of [
      layout.generationsKey,
      layout.tagsKey,
      layout.lockKey('app:v1:users:42'),
      'app:v1:__stats:29433600',
      'app:v2:users:42',
      'other:v1:users:42',
      'app:v1:users',
    ]) {
      expect(layout.parseEntryKey(key)).toBeUndefined();
    }
    const cluster = new KeyLayout('app', 'v1', true);
    for (const key of [cluster.lockKey('app:v1:users{:42}'), 'app:v1:users:42', 'app:v1:users{:42']) expect(cluster.parseEntryKey(key)).toBeUndefined();
  });
});

/**
 * Shared values behave the same on both stores: with `freezeValues` (the default outside
 * production) every value read, written or computed is deep-frozen, so a handler mutating a
 * cached value throws in tests whatever the store, instead of corrupting the near cache's shared
 * copy in production only. `nearCache.clone` hands out copies instead; `freezeValues: false`, and
 * production by default, leave values as they are.
 */
import { describe, expect, it, vi } from 'vitest';
import { storeKinds, useStore, useTroves } from '../helpers/troves.js';

interface User {
  name: string;
  roles: string[];
  address: { city: string };
}
const user = (): User => ({ name: 'Ada', roles: ['admin'], address: { city: 'London' } });

for (const kind of storeKinds) {
  describe(`freezeValues (${kind})`, () => {
    const store = useStore(kind);
    let n = 0;
    const { open } = useTroves(() => ({ ...store.opts, prefix: `fz${++n}` }));

    it('is on by default outside production: values read, computed and written throw on mutation, at any depth', async () => {
      const t = open();
      const r = t.region<User>('users');
      const computed = await r.getOrSet('1', user);
      expect(() => {
        computed.name = 'Bob';
      }).toThrow(TypeError);
      const read = (await r.get('1'))!;
      expect(() => read.roles.push('root')).toThrow(TypeError);
      expect(() => {
        read.address.city = 'Paris';
      }).toThrow(/read only|read-only/);
      const written = user();
      await r.set('2', written);
      expect(Object.isFrozen(written.address)).toBe(true);
      const [many] = await r.getMany(['2']);
      expect(Object.isFrozen(many!.roles)).toBe(true);
      for await (const [, v] of r.entries()) expect(Object.isFrozen(v)).toBe(true);
      // A second read answers the same, unchanged value.
      expect(await r.get('1')).toEqual(user());
    });

    it('leaves Buffers and typed arrays alone (they cannot be frozen)', async () => {
      const t = open();
      const r = t.region('binary', { codec: 'v8' });
      const v = await r.getOrSet('b', () => ({ bytes: Buffer.from('abc'), list: [1] }));
      expect(Object.isFrozen(v.list)).toBe(true);
      expect(Buffer.isBuffer(v.bytes)).toBe(true);
      expect(Object.isFrozen(v.bytes)).toBe(false);
    });

    it('freezeValues: false leaves values as they are', async () => {
      const t = open({ freezeValues: false });
      const r = t.region<User>('users');
      const v = await r.getOrSet('1', user);
      v.name = 'Bob';
      expect(v.name).toBe('Bob');
    });

    it('is off by default in production', async () => {
      vi.stubEnv('NODE_ENV', 'production');
      try {
        const t = open();
        const v = await t.region<User>('users').getOrSet('1', user);
        expect(Object.isFrozen(v)).toBe(false);
      } finally {
        vi.unstubAllEnvs();
      }
    });
  });
}

describe('nearCache.clone (redis)', () => {
  const store = useStore('redis');
  let n = 0;
  const { open } = useTroves(() => ({ ...store.opts, prefix: `cl${++n}` }));

  it('hands out copies, never the kept value: a mutation by one caller is never seen by the next', async () => {
    const t = open({ nearCache: { clone: true } });
    await t.ready();
    const r = t.region<User>('users');
    const computed = await r.getOrSet('1', user);
    computed.name = 'changed by the computing caller';
    const first = (await r.get('1'))!;
    expect(Object.isFrozen(first)).toBe(false);
    first.roles.push('changed by a reader');
    const written = user();
    await r.set('2', written);
    written.name = 'changed by the writer';
    expect(await r.get('1')).toEqual(user());
    expect(await r.get('2')).toEqual(user());
    expect(t.stats().near!.hits).toBeGreaterThan(0);
  });
});

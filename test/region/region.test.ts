/**
 * Region semantics, run on both stores: the embedded one and a private redis-server.
 */
import { describe, expect, it } from 'vitest';
import type { ErrorEvent } from '../../src/index.js';
import { deferred, expectIdle } from '../load/support.js';
import { fakeDate, storeKinds, until, useStore, useTroves } from '../helpers/troves.js';

for (const name of storeKinds) {
  describe(`regions on ${name}`, () => {
    const store = useStore(name);
    let n = 0;
    const { open, expectErrors } = useTroves(() => ({ ...store.opts, prefix: `t${++n}` }));

    it('set, get, has, delete', async () => {
      const users = open().region<{ name: string }>('users');
      expect(await users.get('42')).toBeUndefined();
      expect(await users.has('42')).toBe(false);
      await users.set('42', { name: 'Ada' });
      expect(await users.get('42')).toEqual({ name: 'Ada' });
      expect(await users.has('42')).toBe(true);
      expect(await users.delete('42')).toBe(true);
      expect(await users.delete('42')).toBe(false);
      expect(await users.get('42')).toBeUndefined();
    });

    it('numbers are keys too', async () => {
      const r = open().region('nums');
      await r.set(7, 'seven');
      expect(await r.get('7')).toBe('seven');
    });

    it('dotted names and nested regions address the same data', async () => {
      const t = open();
      await t.region('users').region('profiles').set('1', 'p1');
      expect(await t.region('users.profiles').get('1')).toBe('p1');
      expect(await t.region('users').get('1')).toBeUndefined();
      // The top-level segment carries the generation table's epoch until it is invalidated.
      expect(t.region('users.profiles').keyOf('1')).toMatch(new RegExp(`^${t.prefix}:0:users@[\\w-]{8}\\.profiles:1$`));
    });

    it('keys carry the prefix and version, so versions never read each other', async () => {
      const v1 = open({ prefix: 'shared', version: 'v1' });
      const v2 = open({ prefix: 'shared', version: 'v2' });
      await v1.region('r').set('k', 'one');
      expect(await v2.region('r').get('k')).toBeUndefined();
      expect(v1.region('r').keyOf('k')).toMatch(/^shared:v1:r@[\w-]{8}:k$/);
    });

    it('ttl expires values; per-call ttl overrides the region', async () => {
      const r = open().region('ttl', { ttl: 80 });
      await r.set('a', 1);
      await r.set('b', 2, { ttl: '10s' });
      await until(async () => (await r.get('a')) === undefined);
      expect(await r.get('b')).toBe(2);
    });

    it('getMany and setMany', async () => {
      const r = open().region('many');
      await r.setMany([
        ['1', 'a'],
        ['2', 'b'],
      ]);
      expect(await r.getMany(['1', 'x', '2'])).toEqual(['a', undefined, 'b']);
      expect(await r.getMany([])).toEqual([]);
    });

    it('setMany writes nothing when one value cannot be encoded', async () => {
      const r = open().region('atomic');
      await expect(
        r.setMany<unknown>([
          ['ok', 1],
          ['bad', () => 1],
        ]),
      ).rejects.toMatchObject({ code: 'SERIALIZATION' });
      expect(await r.get('ok')).toBeUndefined();
    });

    it('getOrSet runs the factory once for concurrent callers and then hits', async () => {
      const t = open();
      const r = t.region('gos');
      let misses = 0;
      t.on('miss', () => misses++);
      let calls = 0;
      const gate = deferred();
      const factory = async () => {
        calls++;
        await gate.promise;
        return { v: 1 };
      };
      const pending = Promise.all(Array.from({ length: 100 }, () => r.getOrSet('k', factory)));
      // Every caller has missed (and so joined the one run) before the factory returns.
      await until(() => misses === 100);
      gate.resolve();
      const results = await pending;
      expect(calls).toBe(1);
      expect(results.every((x) => x.v === 1)).toBe(true);
      expect(await r.getOrSet('k', factory)).toEqual({ v: 1 });
      expect(calls).toBe(1);
    });

    it('past freshFor, getOrSet answers the stale value at once and refreshes it once behind the callers', async () => {
      const clock = fakeDate();
      const t = open();
      const stale: string[] = [];
      t.on('stale', (e) => stale.push(e.reason));
      const r = t.region('fresh', { ttl: '10s', freshFor: 300 });
      let calls = 0;
      const gate = deferred();
      const factory = async () => {
        const n = ++calls;
        if (n > 1) await gate.promise;
        return n;
      };
      expect(await r.getOrSet('k', factory)).toBe(1);
      expect(await r.getOrSet('k', factory)).toBe(1);
      clock.advance(301);
      expect(await r.get('k')).toBe(1); // stale but present
      // Answered while the refresh waits on the gate: nobody waits for it.
      const during = await Promise.all(Array.from({ length: 20 }, () => r.getOrSet('k', factory)));
      expect(during).toEqual(Array(20).fill(1));
      gate.resolve();
      await expectIdle(t);
      expect(calls).toBe(2);
      expect(await r.getOrSet('k', factory)).toBe(2);
      expect(stale).toEqual(Array(20).fill('refreshing'));
    });

    it("staleRefresh 'blocking': the first caller waits for the new value, the others get the stale one", async () => {
      const clock = fakeDate();
      const r = open().region('blocking', { ttl: '10s', freshFor: 50, staleRefresh: 'blocking' });
      let calls = 0;
      const gate = deferred();
      const factory = async () => {
        const n = ++calls;
        if (n > 1) await gate.promise;
        return n;
      };
      await r.getOrSet('k', factory);
      clock.advance(51);
      const [first, ...rest] = Array.from({ length: 10 }, () => r.getOrSet('k', factory));
      // The others are answered while the first caller's refresh waits on the gate.
      expect(await Promise.all(rest)).toEqual(Array(9).fill(1));
      gate.resolve();
      expect(await first).toBe(2);
      expect(calls).toBe(2);
    });

    it('a factory error reaches the caller and nothing is stored', async () => {
      const r = open().region('fail');
      await expect(r.getOrSet('k', () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
      expect(await r.has('k')).toBe(false);
      expect(await r.getOrSet('k', () => 'ok')).toBe('ok');
    });

    it('an unserializable factory result is returned, not cached, and reported', async () => {
      expectErrors();
      const t = open();
      const errors: ErrorEvent[] = [];
      t.on('error', (e) => errors.push(e));
      const r = t.region('unser');
      const fn = () => 1;
      const value = await r.getOrSet('k', () => ({ fn }));
      expect(value.fn).toBe(fn);
      expect(await r.has('k')).toBe(false);
      expect(errors.map((e) => [e.operation, e.error.code])).toEqual([['set', 'SERIALIZATION']]);
    });

    it('set throws a typed error for an unserializable value and for an oversized one', async () => {
      const r = open().region('bad', { maxValueBytes: 100 });
      await expect(r.set('k', Symbol('x'))).rejects.toMatchObject({ code: 'SERIALIZATION' });
      await expect(r.set('k', 'x'.repeat(500))).rejects.toMatchObject({ code: 'VALUE_TOO_LARGE', limit: 100 });
      expect(await r.has('k')).toBe(false);
    });

    it('events: miss, set, hit, delete with region, key and timing', async () => {
      const t = open();
      const seen: string[] = [];
      t.on('miss', (e) => seen.push(`miss ${e.region} ${e.key}`));
      t.on('set', (e) => seen.push(`set ${e.region} ${e.key} ${e.bytes > 0} ${e.ttlMs}`));
      t.on('hit', (e) => seen.push(`hit ${e.region} ${e.key} ${e.durationMs >= 0} ${e.stale}`));
      t.on('delete', (e) => seen.push(`delete ${e.region} ${e.key}`));
      const r = t.region('ev', { ttl: '1m' });
      await r.getOrSet('k', () => 'v');
      await r.get('k');
      await r.delete('k');
      expect(seen).toEqual(['miss ev k', 'set ev k true 60000', 'hit ev k true false', 'delete ev k']);
    });

    it('codec per region: msgpack and v8 round-trip types json cannot store plainly', async () => {
      const t = open();
      const value = { when: new Date(0), big: 10n ** 20n, m: new Map([[1, 'x']]), s: new Set(['a']) };
      for (const codec of ['json', 'msgpack', 'v8'] as const) {
        const r = t.region(`c${codec}`, { codec });
        await r.set('k', value);
        expect(await r.get('k')).toEqual(value);
      }
    });

    it('compression applies above the threshold and values read back', async () => {
      const t = open();
      for (const compression of ['deflate', 'gzip', 'brotli'] as const) {
        const r = t.region(`z${compression}`, { compression, compressThreshold: 100 });
        const big = { text: 'lorem ipsum '.repeat(500) };
        await r.set('k', big);
        expect(await r.get('k')).toEqual(big);
      }
    });

    it('raw mode stores exactly the JSON text', async () => {
      const t = open();
      const r = t.region('raw', { raw: true });
      await r.set('k', { a: [1, 'two'] });
      expect(await r.get('k')).toEqual({ a: [1, 'two'] });
      if (store.server) expect(await store.server.command('GET', r.keyOf('k'))).toBe('{"a":[1,"two"]}');
    });

    it("delete and deleteMany of a raw region count a payload that starts as a claim's marker does: raw regions take no claims", async () => {
      const t = open();
      const text = { name: 'text', encode: (v: unknown) => String(v), decode: (b: Uint8Array) => Buffer.from(b).toString() };
      const r = t.region<string>('raw-marker', { raw: true, codec: text });
      await r.set('k', '\x01tc:looks like a marker');
      expect(await r.get('k')).toBe('\x01tc:looks like a marker');
      expect(await r.delete('k')).toBe(true);
      await r.setMany([
        ['a', '\x01tc:a'],
        ['b', 'b'],
      ]);
      expect(await r.deleteMany(['a', 'b', 'c'])).toBe(2);
      expect(await r.getMany(['k', 'a', 'b'])).toEqual([undefined, undefined, undefined]);
    });

    it('operations after close reject with ClosedError', async () => {
      const t = open();
      const r = t.region('closed');
      await t.close();
      await expect(r.get('k')).rejects.toMatchObject({ code: 'CLOSED' });
      await expect(r.set('k', 1)).rejects.toMatchObject({ code: 'CLOSED' });
    });
  });
}

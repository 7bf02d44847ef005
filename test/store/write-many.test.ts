/**
 * Bulk writes as scripts Trove writes itself (src/store/write-many.ts): byte for byte what ioredis
 * would write for the same EVAL, whatever the keys, prefix, values, expiries and kinds; and applied
 * by a real server as the batch says (sets with and without expiry, deletes, in order per key),
 * large batches as several scripts in one transaction.
 */
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createStore } from '../../src/store/create-store.js';
import type { Store, WriteOp } from '../../src/store/index.js';
import { WRITE_MANY, WRITE_MANY_BYTES, WRITE_MANY_CHUNK, writeManyCommand, writeManyParts } from '../../src/store/write-many.js';
import { RedisServer } from '../helpers/redis-server.js';
import { ioredisBytes, ownBytes } from '../helpers/resp-bytes.js';
import { TEST_COMMAND_TIMEOUT } from '../helpers/troves.js';

const text = fc.string({ unit: 'binary', maxLength: 30 });
const op: fc.Arbitrary<WriteOp> = fc.oneof(
  fc.record({
    type: fc.constant('set' as const),
    key: text,
    value: fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)),
    ttlMs: fc.option(fc.double({ min: 0, max: 2 ** 40, noNaN: true }), { nil: undefined }),
    untracked: fc.boolean(),
  }),
  fc.record({ type: fc.constant('delete' as const), key: text }),
);

describe('bulk writes written by Trove', () => {
  it('EVAL of the script: the bytes ioredis writes, for any keys, prefix, values, expiries and kinds', () => {
    fc.assert(
      fc.property(text, fc.array(op, { minLength: 1, maxLength: 30, size: 'max' }), fc.boolean(), (prefix, ops, track) => {
        // Tracked: only the tracked sets' keys are declared; untracked: every key.
        const declared = (o: WriteOp) => !track || (o.type === 'set' && !o.untracked);
        const keys = ops.filter(declared).map((o) => prefix + o.key);
        const rest: (string | Buffer)[] = [track ? '1' : '0'];
        for (const o of ops) {
          const kind = o.type === 'set' ? 'S' : 'D';
          if (declared(o)) rest.push(kind);
          else rest.push(kind.toLowerCase(), prefix + o.key);
          if (o.type === 'set') rest.push(o.value, o.ttlMs === undefined ? '0' : String(Math.max(1, Math.ceil(o.ttlMs))));
        }
        const args = [WRITE_MANY, String(keys.length), ...keys, ...rest];
        expect(ownBytes(writeManyCommand(prefix, ops, track)).equals(ioredisBytes('eval', args))).toBe(true);
      }),
      { numRuns: 1_000 },
    );
  });

  it('parts: every write once, in order, each part within the count and the bytes unless a single write is larger, each as full as it can be', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.constant(-1), fc.nat({ max: 2 * WRITE_MANY_BYTES })), { maxLength: 3_000, size: 'max' }), (sizes) => {
        // Only a set's value length counts: a stand-in of that length, no bytes allocated. -1: a delete.
        const ops = sizes.map(
          (n): WriteOp => (n < 0 ? { type: 'delete', key: 'k' } : { type: 'set', key: 'k', value: { length: n } as Buffer, ttlMs: undefined }),
        );
        const size = (i: number) => Math.max(0, sizes[i]!);
        const ends = writeManyParts(ops);
        expect(ends[ends.length - 1]).toBe(ops.length);
        let from = 0;
        for (const end of ends) {
          expect(end).toBeGreaterThan(ops.length === 0 ? -1 : from);
          let bytes = 0;
          for (let i = from; i < end; i++) bytes += size(i);
          expect(end - from).toBeLessThanOrEqual(WRITE_MANY_CHUNK);
          if (end - from > 1) expect(bytes).toBeLessThanOrEqual(WRITE_MANY_BYTES);
          // Greedy: the next write would not have fitted.
          if (end < ops.length) expect(end - from === WRITE_MANY_CHUNK || bytes + size(end) > WRITE_MANY_BYTES).toBe(true);
          from = end;
        }
      }),
      { numRuns: 60 },
    );
  });

  describe('against a real server', () => {
    let server: RedisServer;
    let raw: Redis;
    const stores: Store[] = [];

    beforeAll(async () => {
      server = await RedisServer.start();
      raw = new Redis(server.url);
    });

    afterEach(async () => {
      for (const s of stores.splice(0)) await s.close();
      await raw.flushall();
    });

    afterAll(async () => {
      raw.disconnect();
      await server.stop();
    });

    function open(): Store {
      const store = createStore({ redis: server.url, memory: undefined, commandTimeoutMs: TEST_COMMAND_TIMEOUT, listener: {} });
      stores.push(store);
      return store;
    }

    it('applies sets, expiries and deletes in order, with any key and any bytes', async () => {
      const bytes = Buffer.from([0xb1, 0x00, 0xff, 0x0d, 0x0a, 0x80]);
      await raw.set('p:gone', 'x');
      await raw.set('p:kept', 'old');
      const reply = await raw.sendCommand(
        writeManyCommand(
          'p:',
          [
            { type: 'set', key: 'ключ', value: bytes, ttlMs: 60_000 },
            { type: 'delete', key: 'gone' },
            { type: 'set', key: 'twice', value: Buffer.from('first'), ttlMs: undefined },
            { type: 'set', key: 'twice', value: Buffer.from('second'), ttlMs: 59_999.2 },
            { type: 'set', key: 'dropped', value: Buffer.from('v'), ttlMs: undefined },
            { type: 'delete', key: 'dropped' },
            { type: 'set', key: 'kept', value: Buffer.from('new'), ttlMs: undefined, untracked: true },
            // Under a millisecond: rounded up to 1 (PX 0 would fail the whole script).
            { type: 'set', key: 'tiny', value: Buffer.from('t'), ttlMs: 0.4 },
          ],
          true,
        ),
      );
      expect(reply).toBe(8);
      // 'tiny' may have expired by now, on a busy machine: it is left out.
      expect((await raw.keys('*')).filter((k) => k !== 'p:tiny').sort()).toEqual(['p:kept', 'p:twice', 'p:ключ']);
      expect(await raw.getBuffer('p:twice')).toEqual(Buffer.from('second'));
      const twice = await raw.pttl('p:twice');
      expect(twice).toBeGreaterThan(0);
      expect(twice).toBeLessThanOrEqual(60_000);
      expect(await raw.getBuffer('p:ключ')).toEqual(bytes);
      expect(await raw.getBuffer('p:kept')).toEqual(Buffer.from('new'));
      const ttl = await raw.pttl('p:ключ');
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(60_000);
      expect(await raw.pttl('p:kept')).toBe(-1);
    });

    it(`a batch of up to ${WRITE_MANY_CHUNK} writes is one script; a larger one, one script per ${WRITE_MANY_CHUNK} in one transaction`, async () => {
      const store = open();
      const ops = (n: number, tag: string): WriteOp[] =>
        Array.from({ length: n }, (_, i) => ({ type: 'set', key: `${tag}${i}`, value: Buffer.from(`${tag}-${i}`), ttlMs: i % 2 === 0 ? 600_000 : undefined }));
      // The commands Redis ran, those inside scripts included, without the statistics' own, nor a
      // new connection's CLIENT SETINFO (ioredis sends it; Redis 7.2 and later count it).
      const calls = async () => {
        const { 'config|resetstat': _reset, info: _info, 'client|setinfo': _setinfo, ...rest } = await server.commandCalls();
        return rest;
      };
      await server.resetStats();
      await store.exec(ops(WRITE_MANY_CHUNK, 'a'));
      expect(await calls()).toEqual({ eval: 1, set: WRITE_MANY_CHUNK });
      await server.resetStats();
      await store.exec([...ops(2 * WRITE_MANY_CHUNK + 500, 'b'), { type: 'delete', key: 'a0' }]);
      expect(await calls()).toEqual({ multi: 1, eval: 3, exec: 1, set: 2 * WRITE_MANY_CHUNK + 500, unlink: 1 });
      expect(await raw.dbsize()).toBe(3 * WRITE_MANY_CHUNK + 500 - 1);
      expect(await raw.exists('a0')).toBe(0);
      for (const i of [0, 1, WRITE_MANY_CHUNK, 2 * WRITE_MANY_CHUNK + 499]) {
        expect(await raw.get(`b${i}`)).toBe(`b-${i}`);
        const ttl = await raw.pttl(`b${i}`);
        if (i % 2 === 0) {
          expect(ttl).toBeGreaterThan(0);
          expect(ttl).toBeLessThanOrEqual(600_000);
        } else expect(ttl).toBe(-1);
      }
    });

    it('large values go in more scripts, each within the bytes, in one transaction', async () => {
      const store = open();
      const big = Buffer.alloc(Math.floor(WRITE_MANY_BYTES * 0.4), 7);
      await server.resetStats();
      await store.exec(Array.from({ length: 6 }, (_, i) => ({ type: 'set', key: `big${i}`, value: big, ttlMs: undefined })));
      const calls = await server.commandCalls();
      expect([calls.multi, calls.eval, calls.exec, calls.set]).toEqual([1, 3, 1, 6]);
      for (let i = 0; i < 6; i++) expect((await raw.getBuffer(`big${i}`))?.equals(big)).toBe(true);
    });

    it('a failing part fails the whole call', async () => {
      const store = open();
      await raw.config('SET', 'maxmemory', '1');
      await raw.config('SET', 'maxmemory-policy', 'noeviction');
      try {
        const ops: WriteOp[] = Array.from({ length: 1_500 }, (_, i) => ({ type: 'set', key: `k${i}`, value: Buffer.from('v'), ttlMs: undefined }));
        await expect(store.exec(ops)).rejects.toThrow(/EXECABORT|OOM/);
      } finally {
        await raw.config('SET', 'maxmemory', '0');
      }
      expect(await raw.dbsize()).toBe(0);
    });
  });
});

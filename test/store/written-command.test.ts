/**
 * The commands Trove writes itself (src/store/written-command.ts) are byte for byte what ioredis
 * would write for the same arguments, whatever the key (any text, any prefix), the value (text or
 * any bytes), the expiry and NX; and a real server answers them as it answers ioredis's own.
 */
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mgetCommand, setGetCommand } from '../../src/store/written-command.js';
import { RedisServer } from '../helpers/redis-server.js';
import { ioredisBytes, ownBytes } from '../helpers/resp-bytes.js';

const text = fc.string({ unit: 'binary', maxLength: 40 });
const value = fc.oneof(
  text,
  fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
);

describe('commands written by Trove', () => {
  it('SET … GET: the bytes ioredis writes, for any key, prefix, value, expiry and NX or XX', () => {
    fc.assert(
      fc.property(
        text,
        text,
        value,
        fc.option(fc.integer({ min: 1, max: 2 ** 40 }), { nil: undefined }),
        fc.constantFrom(undefined, 'NX' as const, 'XX' as const),
        (prefix, key, v, px, only) => {
          const args: (string | number | Buffer)[] = [prefix + key, v, ...(px === undefined ? [] : ['PX', px]), ...(only === undefined ? [] : [only]), 'GET'];
          expect(ownBytes(setGetCommand(prefix, key, v, px, only)).equals(ioredisBytes('set', args))).toBe(true);
        },
      ),
      { numRuns: 2_000 },
    );
  });

  it('MGET: the bytes ioredis writes, for any keys and prefix', () => {
    fc.assert(
      fc.property(text, fc.array(text, { minLength: 1, maxLength: 50, size: 'max' }), (prefix, keys) => {
        expect(
          ownBytes(mgetCommand(prefix, keys)).equals(
            ioredisBytes(
              'mget',
              keys.map((k) => prefix + k),
            ),
          ),
        ).toBe(true);
      }),
      { numRuns: 2_000 },
    );
  });

  describe('against a real server', () => {
    let server: RedisServer;
    let client: Redis;

    beforeAll(async () => {
      server = await RedisServer.start();
      client = new Redis(server.url);
    });

    afterAll(async () => {
      client.disconnect();
      await server.stop();
    });

    it('answers them as ioredis commands: the old value as bytes, nil, and MGET values in order', async () => {
      const bytes = Buffer.from([0xb1, 0x00, 0xff, 0x0d, 0x0a, 0x80]);
      expect(await client.sendCommand(setGetCommand('p:', 'ключ', bytes, 60_000, 'NX'))).toBeNull();
      expect(await client.getBuffer('p:ключ')).toEqual(bytes);
      const pttl = await client.pttl('p:ключ');
      expect(pttl).toBeGreaterThan(0);
      expect(pttl).toBeLessThanOrEqual(60_000);
      // NX refuses, and answers what is there.
      expect(await client.sendCommand(setGetCommand('p:', 'ключ', 'other', undefined, 'NX'))).toEqual(bytes);
      // XX writes only over a present key.
      expect(await client.sendCommand(setGetCommand('p:', 'absent', 'other', undefined, 'XX'))).toBeNull();
      expect(await client.exists('p:absent')).toBe(0);
      expect(await client.sendCommand(setGetCommand('p:', 'ключ', 'other', undefined, 'XX'))).toEqual(bytes);
      expect(await client.pttl('p:ключ')).toBe(-1);
      expect(await client.sendCommand(mgetCommand('p:', ['ключ', 'absent', 'ключ']))).toEqual([Buffer.from('other'), null, Buffer.from('other')]);
      // A key of another type: SET … GET fails as ioredis's own command does.
      await client.lpush('p:list', 'x');
      await expect(client.sendCommand(setGetCommand('p:', 'list', 'v', undefined))).rejects.toThrow('WRONGTYPE');
    });
  });
});

/**
 * How scripts are sent (src/store/scripts.ts): in full the first time a connection runs one, which
 * loads it, by SHA after that, and in full again when Redis has forgotten it (NOSCRIPT), whatever
 * the connection's history; counted with INFO commandstats on a real redis-server.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CLAIM_PREFIX, DELETE_ENTRIES, Script } from '../../src/store/scripts.js';
import { RedisServer } from '../helpers/redis-server.js';

let server: RedisServer;

beforeAll(async () => {
  server = await RedisServer.start();
});

afterAll(async () => {
  await server.stop();
});

beforeEach(async () => {
  await server.resetStats();
});

/** EVAL and EVALSHA calls since the last reset, with NOSCRIPT answers counted among the EVALSHAs. */
async function sends(): Promise<{ eval: number; evalsha: number }> {
  const calls = await server.commandCalls();
  return { eval: calls.eval ?? 0, evalsha: calls.evalsha ?? 0 };
}

describe('scripts', () => {
  it("a connection's first run sends the script in full, the next ones by SHA; another connection starts in full too", async () => {
    const script = new Script(`return ARGV[1] .. ':' .. KEYS[1] .. ':first'`);
    const a = new Redis(server.url);
    const b = new Redis(server.url);
    try {
      expect(await script.run(a, ['k'], ['x'])).toBe('x:k:first');
      expect(await sends()).toEqual({ eval: 1, evalsha: 0 });
      expect(await script.run(a, ['k'], ['y'])).toBe('y:k:first');
      expect(await script.runBuffer(a, ['k'], ['z'])).toEqual(Buffer.from('z:k:first'));
      expect(await sends()).toEqual({ eval: 1, evalsha: 2 });
      expect(await script.run(b, ['k'], ['w'])).toBe('w:k:first');
      expect(await sends()).toEqual({ eval: 2, evalsha: 2 });
    } finally {
      a.disconnect();
      b.disconnect();
    }
  });

  it('a script Redis has forgotten (SCRIPT FLUSH, a restart, a failover) is answered NOSCRIPT once and sent in full again', async () => {
    const script = new Script(`return 'flushed:' .. ARGV[1]`);
    const client = new Redis(server.url);
    const befores: string[] = [];
    try {
      expect(await script.run(client, [], ['1'])).toBe('flushed:1');
      await client.script('FLUSH');
      await server.resetStats();
      expect(await script.run(client, [], ['2'], () => befores.push('send'))).toBe('flushed:2');
      // The EVALSHA answered NOSCRIPT, then the EVAL: each send announced to `before`.
      expect(await sends()).toEqual({ eval: 1, evalsha: 1 });
      expect(befores).toEqual(['send', 'send']);
      expect(await script.run(client, [], ['3'])).toBe('flushed:3');
      expect(await sends()).toEqual({ eval: 1, evalsha: 2 });
    } finally {
      client.disconnect();
    }
  });

  it('a first run that fails is sent in full again next time; its error is the caller’s', async () => {
    const script = new Script(`return redis.call('INCR', KEYS[1])`);
    const client = new Redis(server.url);
    try {
      await client.set('not-a-number', 'x');
      await expect(script.run(client, ['not-a-number'], [])).rejects.toThrow(/not an integer/);
      expect(await script.run(client, ['counter'], [])).toBe(1);
      expect(await script.run(client, ['counter'], [])).toBe(2);
      expect(await sends()).toEqual({ eval: 2, evalsha: 1 });
    } finally {
      client.disconnect();
    }
  });

  it("DELETE_ENTRIES: a key of another type counts as present, a big value's bytes are not read back, a marker is not counted", async () => {
    const client = new Redis(server.url);
    try {
      await client.hset('a-hash', 'f', 'v');
      await client.set('big', Buffer.alloc(8 << 20, 0xb1));
      await client.set('marker', `${CLAIM_PREFIX}token+`);
      await client.set('prefix-only', CLAIM_PREFIX.slice(0, 3));
      expect(await DELETE_ENTRIES.run(client, ['a-hash', 'big', 'marker', 'prefix-only', 'absent'], [])).toBe(3);
      expect(await client.exists('a-hash', 'big', 'marker', 'prefix-only')).toBe(0);
      const [, reads] = (await client.call('INFO', 'commandstats').then((info) => /cmdstat_getrange:calls=(\d+)/.exec(String(info)))) ?? [];
      expect(reads).toBe('5');
    } finally {
      client.disconnect();
    }
  });
});

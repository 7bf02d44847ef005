import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

/**
 * Lua scripts run atomically in Redis. Sent by SHA (EVALSHA) and re-sent in full when Redis
 * answers NOSCRIPT (after a restart, a failover or SCRIPT FLUSH).
 */
export class Script {
  readonly sha: string;
  constructor(readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  async run(client: Redis, keys: readonly string[], args: readonly (string | number | Buffer)[]): Promise<unknown> {
    try {
      return await client.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (err instanceof Error && err.message.startsWith('NOSCRIPT')) return client.eval(this.source, keys.length, ...keys, ...args);
      throw err;
    }
  }
}

/** -1 when acquired, else the holder's remaining lease in ms (-2: it vanished meanwhile). */
export const ACQUIRE = new Script(`
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return -1 end
return redis.call('PTTL', KEYS[1])`);

export const RENEW = new Script(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`);

export const RELEASE = new Script(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`);

/** KEYS: value, lock. ARGV: bytes, ttl ms (0: none), token, channel, message. */
export const STORE_AND_RELEASE = new Script(`
if ARGV[2] == '0' then redis.call('SET', KEYS[1], ARGV[1]) else redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) end
if redis.call('GET', KEYS[2]) == ARGV[3] then redis.call('DEL', KEYS[2]) end
redis.call('PUBLISH', ARGV[4], ARGV[5])
-- A read of the value registers client-side tracking of it for the writer (a write alone does not).
redis.call('EXISTS', KEYS[1])
return 1`);

/** KEYS: hash. ARGV: channel, message, field, value, field, value, ... */
export const HSET_AND_PUBLISH = new Script(`
for i = 3, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('PUBLISH', ARGV[1], ARGV[2])
return 1`);

/**
 * Configuration from the environment: every variable parsed into its option, every bad value
 * rejected naming the variable, unknown TROVE_* variables refused, overrides winning, and a trove
 * created from the environment working against a real redis-server.
 */
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { createTroveFromEnv, InvalidOptionError, TROVE_ENV_VARIABLES, type TroveEnv, type TroveOptions, troveOptionsFromEnv } from '../../src/index.js';
import { TEST_COMMAND_TIMEOUT, until, useRedisServer, useTroves } from '../helpers/troves.js';

/** The error `troveOptionsFromEnv(env)` throws. */
function rejection(env: TroveEnv): InvalidOptionError {
  try {
    troveOptionsFromEnv(env);
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidOptionError);
    return err as InvalidOptionError;
  }
  throw new Error(`accepted ${JSON.stringify(env)}`);
}

describe('troveOptionsFromEnv: every variable', () => {
  const cases: [TroveEnv, TroveOptions][] = [
    [{ TROVE_REDIS_URL: 'redis://10.0.0.1:6380/2' }, { redis: 'redis://10.0.0.1:6380/2' }],
    [{ TROVE_REDIS_CLUSTER: 'redis://10.0.0.1:7000, redis://10.0.0.2:7000' }, { redis: { cluster: ['redis://10.0.0.1:7000', 'redis://10.0.0.2:7000'] } }],
    [
      { TROVE_REDIS_SENTINELS: '10.0.0.9:26379,[::1]:26380', TROVE_REDIS_SENTINEL_NAME: 'mymaster' },
      {
        redis: {
          sentinels: [
            { host: '10.0.0.9', port: 26379 },
            { host: '::1', port: 26380 },
          ],
          name: 'mymaster',
        },
      },
    ],
    [
      { TROVE_REDIS_URL: 'redis://p:6379', TROVE_REPLICAS: 'redis://r1:6379,redis://r2:6379', TROVE_READ_FROM: 'replica' },
      { redis: 'redis://p:6379', replicas: ['redis://r1:6379', 'redis://r2:6379'], readFrom: 'replica' },
    ],
    [{ TROVE_READ_FROM: 'primary' }, { readFrom: 'primary' }],
    [{ TROVE_PREFIX: 'shop' }, { prefix: 'shop' }],
    [{ TROVE_VERSION: 'a1b2c3d' }, { version: 'a1b2c3d' }],
    [{ TROVE_COMMAND_TIMEOUT: '250ms' }, { commandTimeout: '250ms' }],
    [{ TROVE_LOCK_IN: 'key' }, { lockIn: 'key' }],
    [{ TROVE_SYNC_INTERVAL: '5s' }, { syncInterval: '5s' }],
    [{ TROVE_SYNC_INTERVAL: 'Infinity' }, { syncInterval: Number.POSITIVE_INFINITY }],
    [{ TROVE_NEAR_CACHE: 'false' }, { nearCache: false }],
    [{ TROVE_NEAR_CACHE: 'off' }, { nearCache: false }],
    [{ TROVE_NEAR_CACHE: 'on' }, { nearCache: {} }],
    [{ TROVE_NEAR_CACHE: '5000' }, { nearCache: { maxEntries: 5000 } }],
    [
      { TROVE_NEAR_CACHE: '{"maxEntries": 100, "maxBytes": 1048576, "serveWhileDisconnected": "30s"}' },
      { nearCache: { maxEntries: 100, maxBytes: 1_048_576, serveWhileDisconnected: '30s' } },
    ],
    [{ TROVE_STATS: 'off' }, { stats: false }],
    [{ TROVE_STATS: 'on' }, { stats: {} }],
    [{ TROVE_STATS_FLUSH_INTERVAL: '30s' }, { stats: { flushInterval: '30s' } }],
    [{ TROVE_STATS: 'true', TROVE_STATS_FLUSH_INTERVAL: '30s', TROVE_STATS_RETENTION: '7d' }, { stats: { flushInterval: '30s', retention: '7d' } }],
    [{ TROVE_TTL: '10m' }, { ttl: '10m' }],
    [{ TROVE_TTL: 'infinity' }, { ttl: Number.POSITIVE_INFINITY }],
    [{ TROVE_TTL: '600000' }, { ttl: '600000' }],
    [
      { TROVE_TTL: '1h', TROVE_FRESH_FOR: '1m' },
      { ttl: '1h', freshFor: '1m' },
    ],
    [{ TROVE_FRESH_FOR: '0' }, { freshFor: '0' }],
    [{ TROVE_JITTER: '0.1' }, { jitter: 0.1 }],
    [{ TROVE_JITTER: '.25' }, { jitter: 0.25 }],
    [{ TROVE_JITTER: '0' }, { jitter: 0 }],
    [{ TROVE_CODEC: 'msgpack' }, { codec: 'msgpack' }],
    [{ TROVE_COMPRESSION: 'brotli' }, { compression: 'brotli' }],
    [{ TROVE_COMPRESSION: 'off' }, { compression: false }],
    [{ TROVE_COMPRESS_THRESHOLD: '2KiB' }, { compressThreshold: 2048 }],
    [{ TROVE_MAX_VALUE_BYTES: '1048576' }, { maxValueBytes: 1_048_576 }],
    [{ TROVE_MAX_VALUE_BYTES: '16 MiB' }, { maxValueBytes: 16 * 1024 * 1024 }],
    [{ TROVE_ON_COLD: 'fail' }, { onCold: 'fail' }],
    [{ TROVE_WAIT_TIMEOUT: '2s' }, { waitTimeout: '2s' }],
    [{ TROVE_LOCK_LEASE: '15s' }, { lockLease: '15s' }],
    [{ TROVE_SOFT_TIMEOUT: '100ms' }, { softTimeout: '100ms' }],
    [{ TROVE_HARD_TIMEOUT: '3s' }, { hardTimeout: '3s' }],
    [{ TROVE_FAIL_SAFE: 'no' }, { failSafe: false }],
    [{ TROVE_FAIL_SAFE: 'YES' }, { failSafe: true }],
    [{ TROVE_FAIL_SAFE_BACKOFF: '1m' }, { failSafeBackoff: '1m' }],
  ];

  it.each(cases)('%j', (env, expected) => {
    expect(troveOptionsFromEnv(env)).toEqual(expected);
  });

  it('covers every variable it reads', () => {
    const parsed = new Set(cases.flatMap(([env]) => Object.keys(env)));
    expect([...parsed].sort()).toEqual(Object.keys(TROVE_ENV_VARIABLES).sort());
  });

  it('ignores other variables, unset and empty ones, and whitespace around values', () => {
    expect(troveOptionsFromEnv({ PATH: '/bin', REDIS_URL: 'redis://x:1', TROVE_TTL: '', TROVE_PREFIX: undefined, TROVE_VERSION: '  v2 \n' })).toEqual({
      version: 'v2',
    });
    expect(troveOptionsFromEnv({})).toEqual({});
  });

  it('reads process.env by default', () => {
    const saved = process.env.TROVE_PREFIX;
    process.env.TROVE_PREFIX = 'from-process';
    try {
      expect(troveOptionsFromEnv()).toEqual({ prefix: 'from-process' });
    } finally {
      if (saved === undefined) delete process.env.TROVE_PREFIX;
      else process.env.TROVE_PREFIX = saved;
    }
  });

  it('names each variable with the option it sets', () => {
    expect(TROVE_ENV_VARIABLES.TROVE_TTL).toBe('ttl');
    expect(TROVE_ENV_VARIABLES.TROVE_REDIS_CLUSTER).toBe('redis.cluster');
    expect(Object.isFrozen(TROVE_ENV_VARIABLES)).toBe(true);
  });
});

describe('troveOptionsFromEnv: bad values name the variable', () => {
  const bad: [TroveEnv, string, RegExp][] = [
    [{ TROVE_TTL: 'ten minutes' }, 'TROVE_TTL', /"ten minutes" is not a duration/],
    [{ TROVE_TTL: '-5s' }, 'TROVE_TTL', /"-5s" must not be negative/],
    [{ TROVE_TTL: '0' }, 'TROVE_TTL', /"0" must be greater than zero/],
    [{ TROVE_FRESH_FOR: 'soon' }, 'TROVE_FRESH_FOR', /"soon" is not a duration/],
    [{ TROVE_JITTER: '1' }, 'TROVE_JITTER', /"1" is not a fraction from 0 up to \(not including\) 1/],
    [{ TROVE_JITTER: '10%' }, 'TROVE_JITTER', /"10%" is not a fraction/],
    [{ TROVE_JITTER: '-0.1' }, 'TROVE_JITTER', /"-0.1" is not a fraction/],
    [{ TROVE_TTL: '1m', TROVE_FRESH_FOR: '10m' }, 'TROVE_FRESH_FOR', /"10m": must not exceed ttl/],
    [{ TROVE_COMMAND_TIMEOUT: 'infinity' }, 'TROVE_COMMAND_TIMEOUT', /"infinity": must be finite/],
    [{ TROVE_COMMAND_TIMEOUT: '300 parsecs' }, 'TROVE_COMMAND_TIMEOUT', /is not a duration/],
    [{ TROVE_SYNC_INTERVAL: 'often' }, 'TROVE_SYNC_INTERVAL', /is not a duration/],
    [{ TROVE_WAIT_TIMEOUT: 'x' }, 'TROVE_WAIT_TIMEOUT', /is not a duration/],
    [{ TROVE_LOCK_LEASE: 'x' }, 'TROVE_LOCK_LEASE', /is not a duration/],
    [{ TROVE_SOFT_TIMEOUT: 'x' }, 'TROVE_SOFT_TIMEOUT', /is not a duration/],
    [{ TROVE_HARD_TIMEOUT: 'x' }, 'TROVE_HARD_TIMEOUT', /is not a duration/],
    [{ TROVE_FAIL_SAFE_BACKOFF: 'x' }, 'TROVE_FAIL_SAFE_BACKOFF', /is not a duration/],
    [{ TROVE_STATS_FLUSH_INTERVAL: '0s' }, 'TROVE_STATS_FLUSH_INTERVAL', /must be greater than zero/],
    [{ TROVE_STATS_RETENTION: 'forever' }, 'TROVE_STATS_RETENTION', /is not a duration/],
    [{ TROVE_STATS: 'sometimes' }, 'TROVE_STATS', /"sometimes" is not a boolean/],
    [{ TROVE_FAIL_SAFE: 'maybe' }, 'TROVE_FAIL_SAFE', /is not a boolean/],
    [{ TROVE_REDIS_URL: 'http://example.com' }, 'TROVE_REDIS_URL', /^Invalid option "TROVE_REDIS_URL": "http:\/\/example.com": /],
    [{ TROVE_REDIS_CLUSTER: 'redis://a:1,,redis://b:1' }, 'TROVE_REDIS_CLUSTER', /has an empty item/],
    [{ TROVE_REDIS_CLUSTER: 'redis://a:1,tcp://b:1' }, 'TROVE_REDIS_CLUSTER', /tcp:\/\/b:1/],
    [{ TROVE_REDIS_SENTINELS: 'host-without-port', TROVE_REDIS_SENTINEL_NAME: 'm' }, 'TROVE_REDIS_SENTINELS', /"host-without-port" is not host:port/],
    [{ TROVE_REDIS_SENTINELS: 'h:26379' }, 'TROVE_REDIS_SENTINEL_NAME', /required with TROVE_REDIS_SENTINELS/],
    [{ TROVE_REDIS_SENTINEL_NAME: 'm' }, 'TROVE_REDIS_SENTINEL_NAME', /given without TROVE_REDIS_SENTINELS/],
    [{ TROVE_REDIS_URL: 'redis://a:1', TROVE_REDIS_CLUSTER: 'redis://b:1' }, 'TROVE_REDIS_URL, TROVE_REDIS_CLUSTER', /set only one of them/],
    [{ TROVE_REPLICAS: 'redis://r:1', TROVE_READ_FROM: 'replica' }, 'TROVE_REPLICAS', /replicas need a standalone primary/],
    [{ TROVE_REDIS_URL: 'redis://p:1', TROVE_REPLICAS: 'redis://r:1' }, 'TROVE_READ_FROM', /replicas are read from only with readFrom: 'replica'/],
    [{ TROVE_REDIS_URL: 'redis://p:1', TROVE_REPLICAS: 'ftp://r:1', TROVE_READ_FROM: 'replica' }, 'TROVE_REPLICAS', /ftp:\/\/r:1/],
    [{ TROVE_READ_FROM: 'nearest' }, 'TROVE_READ_FROM', /"nearest" is not one of primary, replica/],
    [{ TROVE_LOCK_IN: 'lock-key' }, 'TROVE_LOCK_IN', /"lock-key" is not one of value, key/],
    [{ TROVE_PREFIX: 'my app' }, 'TROVE_PREFIX', /"my app": must be a non-empty string without whitespace/],
    [{ TROVE_VERSION: 'v1:2' }, 'TROVE_VERSION', /"v1:2": must be a non-empty string without whitespace, ':'/],
    [{ TROVE_NEAR_CACHE: 'lots' }, 'TROVE_NEAR_CACHE', /"lots" is not off, on, a number of entries or a JSON object/],
    [{ TROVE_NEAR_CACHE: '0' }, 'TROVE_NEAR_CACHE', /must be at least 1 \(use off/],
    [{ TROVE_NEAR_CACHE: '{"maxEntries": 10' }, 'TROVE_NEAR_CACHE', /is not valid JSON/],
    [{ TROVE_NEAR_CACHE: '{"maxEntrys": 10}' }, 'TROVE_NEAR_CACHE', /nearCache.maxEntrys: unknown option/],
    [{ TROVE_NEAR_CACHE: '{"maxEntries": -1}' }, 'TROVE_NEAR_CACHE', /nearCache.maxEntries: expected a positive integer/],
    [{ TROVE_CODEC: 'xml' }, 'TROVE_CODEC', /"xml" is not one of json, msgpack, v8/],
    [{ TROVE_COMPRESSION: 'zstd' }, 'TROVE_COMPRESSION', /"zstd" is not one of deflate, gzip, brotli/],
    [{ TROVE_COMPRESS_THRESHOLD: '1.5KiB' }, 'TROVE_COMPRESS_THRESHOLD', /is not a number of bytes/],
    [{ TROVE_MAX_VALUE_BYTES: '8MB' }, 'TROVE_MAX_VALUE_BYTES', /"8MB" is not a number of bytes \(use e.g. 1024, 512KiB, 8MiB\)/],
    [{ TROVE_MAX_VALUE_BYTES: '0' }, 'TROVE_MAX_VALUE_BYTES', /"0": expected a positive integer number of bytes/],
    [{ TROVE_ON_COLD: 'retry' }, 'TROVE_ON_COLD', /"retry" is not one of wait, fail/],
    [{ TROVE_STATS: 'off', TROVE_STATS_RETENTION: '1h' }, 'TROVE_STATS, TROVE_STATS_RETENTION', /statistics are off/],
  ];

  it.each(bad)('%j', (env, variable, message) => {
    const err = rejection(env);
    expect(err.option).toBe(variable);
    expect(err.code).toBe('INVALID_OPTION');
    expect(err.message.startsWith(`Invalid option "${variable}": `)).toBe(true);
    expect(err.message).toMatch(message);
  });

  it('rejects every variable it reads with a bad value', () => {
    const rejected = new Set(bad.flatMap(([, variable]) => variable.split(', ')));
    expect([...rejected].sort()).toEqual(Object.keys(TROVE_ENV_VARIABLES).sort());
  });

  it('refuses an unknown TROVE_* variable, suggesting the nearest known one and listing them all', () => {
    const err = rejection({ TROVE_TTLL: '10m' });
    expect(err.option).toBe('TROVE_TTLL');
    expect(err.message).toMatch(/^Invalid option "TROVE_TTLL": not a variable Trove reads\. Did you mean TROVE_TTL\? Known: TROVE_REDIS_URL, /);
    for (const name of Object.keys(TROVE_ENV_VARIABLES)) expect(err.message).toContain(name);
    expect(rejection({ TROVE_FRESHFOR: '1m' }).message).toContain('Did you mean TROVE_FRESH_FOR?');
    // Nothing close: no suggestion, still refused (an empty value too: the name is the mistake).
    const far = rejection({ TROVE_SOMETHING_ELSE_ENTIRELY: '' });
    expect(far.option).toBe('TROVE_SOMETHING_ELSE_ENTIRELY');
    expect(far.message).not.toContain('Did you mean');
  });
});

describe('createTroveFromEnv', () => {
  const redis = useRedisServer();
  const troves = useTroves(() => ({}));

  it('creates a trove that talks to the Redis the environment names, with its prefix, version, ttl and deadline', async () => {
    const trove = troves.track(
      createTroveFromEnv({
        TROVE_REDIS_URL: redis.server.url,
        TROVE_PREFIX: 'envapp',
        TROVE_VERSION: 'c0ffee',
        TROVE_TTL: '10m',
        TROVE_COMMAND_TIMEOUT: String(TEST_COMMAND_TIMEOUT),
        TROVE_STATS: 'off',
        PATH: '/usr/bin',
      }),
    );
    expect(trove.storeKind).toBe('redis');
    expect(trove.prefix).toBe('envapp');
    expect(trove.version).toBe('c0ffee');
    const users = trove.region('users');
    await users.set('42', { name: 'Ada' });
    const key = users.keyOf('42');
    expect(key.startsWith('envapp:c0ffee:users')).toBe(true);
    const client = new Redis(redis.server.url);
    try {
      expect(await client.exists(key)).toBe(1);
      const ttl = await client.pttl(key);
      expect(ttl).toBeGreaterThan(590_000);
      expect(ttl).toBeLessThanOrEqual(600_000);
    } finally {
      client.disconnect();
    }
    // Another process configured the same way reads it.
    const other = troves.track(createTroveFromEnv({ TROVE_REDIS_URL: redis.server.url, TROVE_PREFIX: 'envapp', TROVE_VERSION: 'c0ffee', TROVE_STATS: 'off' }));
    expect(await other.region('users').get('42')).toEqual({ name: 'Ada' });
    // A different version never reads it.
    const nextDeploy = troves.track(
      createTroveFromEnv({ TROVE_REDIS_URL: redis.server.url, TROVE_PREFIX: 'envapp', TROVE_VERSION: 'beef', TROVE_STATS: 'off' }),
    );
    expect(await nextDeploy.region('users').get('42')).toBeUndefined();
  });

  it('lets overrides win, merging near cache options field by field', async () => {
    const trove = troves.track(
      createTroveFromEnv(
        { TROVE_REDIS_URL: redis.server.url, TROVE_PREFIX: 'from-env', TROVE_NEAR_CACHE: '2', TROVE_STATS: 'off' },
        { prefix: 'from-code', commandTimeout: TEST_COMMAND_TIMEOUT, nearCache: { clone: true } },
      ),
    );
    expect(trove.prefix).toBe('from-code');
    await trove.ready();
    const r = trove.region('r');
    await r.setMany([
      ['a', { n: 1 }],
      ['b', { n: 2 }],
      ['c', { n: 3 }],
    ]);
    for (const k of ['a', 'b', 'c', 'a', 'b', 'c']) await r.get(k);
    // maxEntries from the environment: never more than 2 kept.
    await until(() => trove.stats().near!.evictions > 0, 5_000, 'an eviction');
    expect(trove.stats().near!.entries).toBeLessThanOrEqual(2);
    // clone from the overrides: a near hit hands out a copy.
    let nearHits = 0;
    trove.on('hit', (e) => {
      if (e.tier === 'near') nearHits++;
    });
    await until(async () => {
      const first = await r.get<{ n: number }>('c');
      const second = await r.get<{ n: number }>('c');
      return nearHits >= 2 && first !== second && first!.n === 3 && second!.n === 3;
    });
  });

  it('uses the embedded store when no Redis variable is set', async () => {
    const trove = troves.track(createTroveFromEnv({ TROVE_PREFIX: 'local' }));
    expect(trove.storeKind).toBe('memory');
    await trove.region('r').set('k', 1);
    expect(await trove.region('r').get('k')).toBe(1);
  });

  it('throws before connecting, naming the variable', () => {
    expect(() => createTroveFromEnv({ TROVE_REDIS_URL: redis.server.url, TROVE_TTL: 'ten minutes' })).toThrow(
      'Invalid option "TROVE_TTL": "ten minutes" is not a duration',
    );
    expect(() => createTroveFromEnv({}, { ttl: 'ten minutes' })).toThrow(InvalidOptionError);
  });
});

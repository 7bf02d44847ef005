/**
 * Invalid options throw a typed InvalidOptionError that names the option.
 */
import { describe, expect, it } from 'vitest';
import { createTrove, InvalidOptionError, type TroveOptions } from '../../src/index.js';
import { checkNearCacheOptions } from '../../src/near/index.js';

function optionError(fn: () => unknown): InvalidOptionError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidOptionError);
    return err as InvalidOptionError;
  }
  throw new Error('expected an InvalidOptionError');
}

describe('option validation', () => {
  const cases: [string, TroveOptions, string][] = [
    ['negative ttl', { ttl: -5 }, 'ttl'],
    ['negative ttl string', { ttl: '-5m' }, 'ttl'],
    ['unparsable ttl', { ttl: '10 parsecs' }, 'ttl'],
    ['zero ttl', { ttl: 0 }, 'ttl'],
    ['NaN ttl', { ttl: Number.NaN }, 'ttl'],
    ['freshFor above ttl', { ttl: '1m', freshFor: '2m' }, 'freshFor'],
    ['unknown codec', { codec: 'yaml' as never }, 'codec'],
    ['codec object without decode', { codec: { name: 'x', encode: () => new Uint8Array() } as never }, 'codec'],
    ['bad compression', { compression: 'zip' as never }, 'compression'],
    ['negative threshold', { compressThreshold: -1 }, 'compressThreshold'],
    ['bad URL', { redis: 'not a url' }, 'redis'],
    ['wrong protocol', { redis: 'http://127.0.0.1:6379' }, 'redis'],
    ['bad port', { redis: 'redis://127.0.0.1:99999' }, 'redis'],
    ['prefix with a colon', { prefix: 'a:b' }, 'prefix'],
    ['prefix with a brace (a Cluster hash tag)', { prefix: '{app}' }, 'prefix'],
    ['version with a brace', { version: 'v}1' }, 'version'],
    ['empty cluster node list', { redis: { cluster: [] } }, 'redis.cluster'],
    ['cluster node that is not a URL', { redis: { cluster: ['nope'] } }, 'redis.cluster'],
    ['empty version', { version: '' }, 'version'],
    ['negative commandTimeout', { commandTimeout: -1 }, 'commandTimeout'],
    ['an unknown lockIn', { lockIn: 'lock-key' as 'key' }, 'lockIn'],
    ['unknown option', { tll: '1m' } as never, 'tll'],
    ['bad region option', { regions: { users: { ttl: -1 } } }, 'regions.users.ttl'],
    ['bad region name', { regions: { 'a..b': {} } }, 'regions.a..b'],
    ['regions not an object', { regions: ['users'] as never }, 'regions'],
    ['unparsable syncInterval', { syncInterval: 'abc' }, 'syncInterval'],
    ['near-cache option typo', { nearCache: { maxEntires: 10 } as never }, 'nearCache.maxEntires'],
    ['fractional near-cache bound', { nearCache: { maxBytes: 1.5 } }, 'nearCache.maxBytes'],
    ['nearCache not an object', { nearCache: 'on' as never }, 'nearCache'],
    ['near-cache expiryResolution above 1s', { nearCache: { expiryResolution: '2s' } }, 'nearCache.expiryResolution'],
    ['negative near-cache expiryResolution', { nearCache: { expiryResolution: -1 } }, 'nearCache.expiryResolution'],
    ['unparsable near-cache expiryResolution', { nearCache: { expiryResolution: 'soon' } }, 'nearCache.expiryResolution'],
    ['memory option typo', { memory: { maxEntires: 10 } as never }, 'memory.maxEntires'],
    ['negative memory bound', { memory: { maxEntries: -1 } }, 'memory.maxEntries'],
    ['memory not an object', { memory: 100 as never }, 'memory'],
    ['memory option typo next to redis', { redis: 'redis://127.0.0.1:1', memory: { maxEntires: 10 } as never }, 'memory.maxEntires'],
    ['redis of the wrong type', { redis: 6379 as never }, 'redis'],
  ];
  for (const [what, opts, option] of cases) {
    it(`${what} names "${option}"`, () => {
      const err = optionError(() => createTrove(opts));
      expect(err.option).toBe(option);
      expect(err.code).toBe('INVALID_OPTION');
      expect(err.message).toContain(option);
    });
  }

  it('near-cache options are checked in one place, which returns what it checked', () => {
    const given = { maxEntries: 5, clone: true };
    const checked = checkNearCacheOptions(given);
    expect(checked).toEqual({ maxEntries: 5, clone: true });
    expect(checked).not.toBe(given);
    expect(checkNearCacheOptions(undefined)).toEqual({});
    expect(checkNearCacheOptions({ maxTtlMs: undefined })).toEqual({ maxTtlMs: undefined });
    expect(checkNearCacheOptions({ expiryResolution: '1ms' })).toEqual({ expiryResolution: '1ms' });
    expect(checkNearCacheOptions({ expiryResolution: 0 })).toEqual({ expiryResolution: 0 });
    expect(checkNearCacheOptions({ expiryResolution: '1s' })).toEqual({ expiryResolution: '1s' });
    expect(optionError(() => checkNearCacheOptions({ maxTtlMs: 0 })).option).toBe('nearCache.maxTtlMs');
    expect(optionError(() => checkNearCacheOptions({ size: 1 }, 'near')).option).toBe('near.size');
    expect(optionError(() => checkNearCacheOptions(null, 'near')).option).toBe('near');
  });

  it('region options are checked where they are given', () => {
    const t = createTrove();
    expect(optionError(() => t.region('users', { ttl: -1 })).option).toBe('users.ttl');
    expect(optionError(() => t.region('users').region('p', { codec: 'nope' as never })).option).toBe('users.p.codec');
    expect(optionError(() => t.region('bad name')).option).toBe('region');
    return t.close();
  });

  it('durations accept numbers and strings', () => {
    const t = createTrove({ ttl: '1h30m', freshFor: '90s' });
    const o = t.region('x').options;
    expect(o.ttlMs).toBe(5_400_000);
    expect(o.freshForMs).toBe(90_000);
    expect(t.region('y', { ttl: Number.POSITIVE_INFINITY }).options.ttlMs).toBe(Number.POSITIVE_INFINITY);
    return t.close();
  });

  it('a child region inherits and overrides its parent', () => {
    const t = createTrove({ ttl: '1h', regions: { users: { ttl: '10m', codec: 'msgpack' } } });
    const p = t.region('users.profiles', { ttl: '5m' }).options;
    expect(p.ttlMs).toBe(300_000);
    expect(p.codec.name).toBe('msgpack');
    expect(t.region('users').region('profiles').options.ttlMs).toBe(300_000);
    expect(t.region('other').options.ttlMs).toBe(3_600_000);
    return t.close();
  });

  it('a bad key is a typed rejection, not a synchronous throw', async () => {
    const t = createTrove();
    const r = t.region('k');
    await expect(r.get(Number.NaN)).rejects.toMatchObject({ code: 'INVALID_OPTION', option: 'key' });
    await expect(r.get({} as never)).rejects.toMatchObject({ code: 'INVALID_OPTION', option: 'key' });
    await t.close();
  });
});

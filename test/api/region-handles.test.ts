/**
 * A region is configured once and shared: asking for it again returns the same handle, with the
 * same options it is a no-op, and with other options it is an error instead of a silent
 * reconfiguration under every other holder.
 */
import { describe, expect, it } from 'vitest';
import { createTrove, InvalidOptionError } from '../../src/index.js';

describe('region handles', () => {
  it('asking again without options, or with the same options, returns the same handle', async () => {
    const t = createTrove();
    const a = t.region('users', { ttl: '1h', codec: 'json' });
    expect(t.region('users')).toBe(a);
    expect(t.region('users', { ttl: '1h', codec: 'json' })).toBe(a);
    expect(t.region('users', { codec: 'json', ttl: '1h' })).toBe(a);
    expect(a.options.ttlMs).toBe(3_600_000);
    await t.close();
  });

  it('other options for a configured region are an InvalidOptionError, and the first options stay', async () => {
    const t = createTrove();
    const a = t.region('users', { ttl: '1h' });
    expect(() => t.region('users', { ttl: '5s' })).toThrow(InvalidOptionError);
    expect(() => t.region('users', { ttl: '5s' })).toThrow(/already configured/);
    expect(a.options.ttlMs).toBe(3_600_000);
    await t.close();
  });

  it('regions given to createTrove count as the configuration', async () => {
    const t = createTrove({ regions: { users: { ttl: '1h' } } });
    expect(t.region('users', { ttl: '1h' }).options.ttlMs).toBe(3_600_000);
    expect(() => t.region('users', { ttl: '2h' })).toThrow(expect.objectContaining({ option: 'users' }));
    await t.close();
  });

  it('nested regions follow the same rule', async () => {
    const t = createTrove();
    const users = t.region('users');
    users.region('profiles', { ttl: '1m' });
    expect(() => users.region('profiles', { ttl: '2m' })).toThrow(InvalidOptionError);
    expect(() => t.region('users.profiles', { ttl: '2m' })).toThrow(InvalidOptionError);
    expect(t.region('users.profiles', { ttl: '1m' }).options.ttlMs).toBe(60_000);
    await t.close();
  });
});

describe('exports the docs name', () => {
  it('createJsonCodec: a JSON codec without the extended types rejects what plain JSON cannot store', async () => {
    const { createJsonCodec, SerializationError } = await import('../../src/index.js');
    const t = createTrove();
    const plain = t.region('plain', { codec: createJsonCodec({ extended: false }) });
    await plain.set('ok', { a: 1 });
    expect(await plain.get('ok')).toEqual({ a: 1 });
    await expect(plain.set('date', new Date(0))).rejects.toBeInstanceOf(SerializationError);
    await t.close();
  });
});

describe('rejected region options', () => {
  it('an inconsistent combination throws where it is written and is not kept', async () => {
    const t = createTrove();
    expect(() => t.region('r', { ttl: '1m', freshFor: '2m' })).toThrow(InvalidOptionError);
    const r = t.region('r', { ttl: '1m', freshFor: '30s' });
    await r.set('k', 1);
    expect(await r.get('k')).toBe(1);
    await t.close();
  });
});

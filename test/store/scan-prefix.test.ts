/**
 * scanPrefix takes its prefix literally on both stores: glob metacharacters in it (or in the
 * client's ioredis `keyPrefix`) match only themselves, and both stores yield the same keys.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStore } from '../../src/store/create-store.js';
import { MemoryStore, type Store } from '../../src/store/index.js';
import { RedisServer } from '../helpers/redis-server.js';

/** Prefixes made of glob metacharacters, each with keys that a glob reading of it would match too. */
const PREFIXES = ['a*b:', 'a?b:', 'a[b]:', '[a-z]:', '[^x]:', 'a\\b:', 'a\\*:', 'a^b:', 'a-b:', 'a]b:', '*', '\\', '['];
const KEYS = [
  ...PREFIXES.flatMap((p) => [`${p}1`, `${p}2`, p]),
  // What the prefixes would match as globs, and nothing else.
  'axb:1',
  'ab:1',
  'axxb:1',
  'a*xb:1',
  'ab]:1',
  'a[b:1',
  'm:1',
  '-:1',
  'a:1',
  'z:1',
  'y:1',
  '^:1',
  'ab:2',
  'a\\\\b:1',
  'a\\x:1',
  'ab]b:1',
  'plain:1',
];
/** Enough keys under one prefix for SCAN to take several rounds. */
const MANY = Array.from({ length: 700 }, (_, i) => `a[b]:n${i}`);

function expected(prefix: string): string[] {
  return [...new Set([...KEYS, ...MANY])].filter((k) => k.startsWith(prefix)).sort();
}

async function scanAll(store: Store, prefix: string, count?: number): Promise<string[]> {
  const seen = new Set<string>();
  for await (const batch of store.scanPrefix(prefix, count)) {
    expect(batch.length).toBeGreaterThan(0);
    for (const k of batch) seen.add(k);
  }
  return [...seen].sort();
}

async function fill(store: Store): Promise<void> {
  await store.exec([...KEYS, ...MANY].map((key) => ({ type: 'set', key, value: Buffer.from('v'), ttlMs: undefined })));
}

let server: RedisServer;
const stores: Record<string, Store> = {};

beforeAll(async () => {
  server = await RedisServer.start();
  stores.memory = new MemoryStore();
  stores.redis = createStore({ redis: server.url, memory: undefined, commandTimeoutMs: 2_000, listener: {} });
  // A keyPrefix made of metacharacters, in its own database so the plain store's keys stay apart.
  stores.keyPrefix = createStore({
    redis: { host: '127.0.0.1', port: server.port, db: 1, keyPrefix: 'k[1]*?\\:' },
    memory: undefined,
    commandTimeoutMs: 2_000,
    listener: {},
  });
  for (const store of Object.values(stores)) await fill(store);
  // Keys of db 1 outside the keyPrefix: one its glob reading would match, near misses, another prefix.
  for (const key of ['k1xx:a*b:1', 'k[1]*?:a*b:2', 'k[1]*?\\', 'other:a*b:3']) await rawSet(1, key);
});

afterAll(async () => {
  for (const store of Object.values(stores)) await store.close();
  await server.stop();
});

/** SET in database `db` through a connection of its own. */
async function rawSet(db: number, key: string): Promise<void> {
  const store = createStore({ redis: { host: '127.0.0.1', port: server.port, db }, memory: undefined, commandTimeoutMs: 2_000, listener: {} });
  try {
    await store.set(key, Buffer.from('decoy'), undefined);
  } finally {
    await store.close();
  }
}

describe('scanPrefix', () => {
  for (const name of ['memory', 'redis', 'keyPrefix']) {
    it(`${name}: yields exactly the keys starting with a prefix of glob metacharacters`, async () => {
      const store = stores[name]!;
      for (const prefix of PREFIXES) expect(await scanAll(store, prefix), prefix).toEqual(expected(prefix));
    });

    it(`${name}: walks every key in small batches, and an empty prefix yields them all`, async () => {
      const store = stores[name]!;
      expect(await scanAll(store, 'a[b]:', 50)).toEqual(expected('a[b]:'));
      expect(await scanAll(store, '')).toEqual(expected(''));
      expect(await scanAll(store, 'nothing here')).toEqual([]);
    });
  }

  it('the memory store and Redis (with and without keyPrefix) agree on every prefix', async () => {
    for (const prefix of [...PREFIXES, 'a', 'a\\', '[', '']) {
      const memory = await scanAll(stores.memory!, prefix);
      expect(await scanAll(stores.redis!, prefix), prefix).toEqual(memory);
      expect(await scanAll(stores.keyPrefix!, prefix), prefix).toEqual(memory);
    }
  });

  it('with a keyPrefix, keys outside it are never yielded, even those its glob reading matches', async () => {
    expect(await scanAll(stores.keyPrefix!, '')).toEqual(expected(''));
    expect(await scanAll(stores.keyPrefix!, 'a*b:')).toEqual(expected('a*b:'));
  });
});

/**
 * Real statistics for the CLI tests: two troves (two sets of counters, as two processes would
 * have) call regions and a cached function with a known pattern against a real Redis; their
 * counts reach Redis when `fleetStats()` flushes them.
 */
import { Redis } from 'ioredis';
import { createTrove, type Trove } from '../../src/index.js';
import { TEST_COMMAND_TIMEOUT } from '../helpers/troves.js';

/** What `record` produces, row by row. */
export const EXPECTED = {
  /** 10 misses (computed), 10 store hits from A, 5 store hits then 5 near hits from B. */
  users: { calls: 30, hits: 20, nearHits: 5, misses: 10, computes: 10 },
  /** `slow` on 5 arguments twice: 5 misses (computed), then 5 hits. */
  slow: { calls: 10, hits: 5, misses: 5, computes: 5 },
  /** 3 values written, none read. */
  sessions: { calls: 0, sets: 3 },
  /** One read of bytes that are not an entry: a miss and a DECODE error. */
  bad: { calls: 1, misses: 1, errors: 1 },
} as const;

/** Opens the two troves; `close` them when done (their pending counts are flushed then). */
export function openTroves(url: string, prefix: string): { a: Trove; b: Trove } {
  const common = { redis: url, prefix, version: 'v1', commandTimeout: TEST_COMMAND_TIMEOUT, stats: { flushInterval: '1h' } };
  // Flushed only by fleetStats() and close(), so the counts in Redis change only when a test says so.
  return { a: createTrove({ ...common, nearCache: false }), b: createTrove(common) };
}

/** Calls the regions and the cached function (see `EXPECTED`). */
export async function record(a: Trove, b: Trove, url: string): Promise<void> {
  const usersA = a.region('users');
  const usersB = b.region('users');
  for (let i = 0; i < 10; i++)
    await usersA.getOrSet(String(i), async () => ({ id: i, name: `user ${i}`, bio: 'x'.repeat(40 * i) }), { tags: [`org:${i % 2}`] });
  for (let i = 0; i < 10; i++) await usersA.get(String(i));
  for (let round = 0; round < 2; round++) for (let i = 0; i < 5; i++) await usersB.get(String(i));

  const slow = a.cached(
    async (n: number) => {
      await new Promise((r) => setTimeout(r, 5 + 5 * n));
      return { n, squares: Array.from({ length: 10 * n }, (_, i) => i * i) };
    },
    { name: 'slow', region: 'fn' },
  );
  for (let round = 0; round < 2; round++) for (let n = 0; n < 5; n++) await slow(n);

  const sessions = a.region('sessions', { codec: 'msgpack', compression: 'gzip', compressThreshold: 64 });
  for (let i = 0; i < 3; i++)
    await sessions.set(`s${i}`, { user: i, roles: ['reader', 'writer'], token: 't'.repeat(100 * (i + 1)) }, { ttl: '10m', freshFor: '1m' });

  // Bytes that are not an entry, under the key of one: the read is a miss with a DECODE error.
  const bad = a.region('bad');
  // Reads the region's generation first, so that keyOf names the key a read looks at.
  await bad.has('k');
  const raw = new Redis(url);
  try {
    await raw.set(bad.keyOf('k'), Buffer.from([0xb1, 0x0f, 1, 2]));
  } finally {
    raw.disconnect();
  }
  await bad.get('k');
}

/**
 * A history of `minutes` minutes ending one minute ago, each minute's counts added to that
 * minute's window: `setNow` moves the (faked) clock to each minute before its traffic, and
 * `fleetStats()` flushes the counts into the window of the clock's minute. Hit ratios change
 * from minute to minute, and two minutes have a DECODE error.
 */
export async function recordHistory(a: Trove, url: string, minutes: number, setNow: (ms: number) => void): Promise<void> {
  const now = Date.now();
  const users = a.region('users');
  const catalog = a.region('catalog');
  await users.set('present', { id: 0 });
  await catalog.set('present', { sku: 'x'.repeat(2_000) });
  const raw = new Redis(url);
  try {
    for (let m = 0; m < minutes; m++) {
      // Within the minute, away from its edges.
      setNow(Math.floor(now / 60_000) * 60_000 - (minutes - m) * 60_000 + 20_000);
      for (let i = 0; i < 20 + 5 * m; i++) await users.get('present');
      for (let i = 0; i < 30 - 2 * m; i++) await users.get(`absent-${i}`);
      for (let i = 0; i < 40; i++) await catalog.get('present');
      for (let i = 0; i < 10 + (m % 4) * 5; i++) await catalog.getOrSet(`item-${m}-${i}`, async () => ({ m, i, body: 'y'.repeat(100 * i) }));
      if (m % 5 === 2) {
        const bad = a.region('bad');
        await bad.has('k');
        await raw.set(bad.keyOf('k'), Buffer.from([0xb1, 0x0f, 1, 2]));
        await bad.get('k');
      }
      await a.fleetStats({ since: '1m' });
    }
  } finally {
    raw.disconnect();
  }
}

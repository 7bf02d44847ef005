/**
 * The workloads both exporters' suites drive against a real Redis, with the events each one
 * produces, so every suite asserts exact figures for the same known traffic.
 */
import type { ComputeEvent, SetEvent, Trove } from '../../src/index.js';
import type { RedisServer } from '../helpers/redis-server.js';
import type { fakeDate } from '../helpers/troves.js';

/** The `compute` and `set` events a trove emitted: what the histograms must have recorded. */
export interface Recorded {
  computes: ComputeEvent[];
  sets: SetEvent[];
}

export function record(t: Trove): Recorded {
  const r: Recorded = { computes: [], sets: [] };
  t.on('compute', (e) => r.computes.push(e));
  t.on('set', (e) => r.sets.push(e));
  return r;
}

/**
 * `writer` (another process, no near cache) stores users 1 and 2; `reader` (near cache on) then
 * reads: 1 from Redis, 1 twice from its near cache, 2 from Redis, an absent key, and a getOrSet of
 * an absent key that computes and stores it.
 * Expected in region `users`: hit/store 2, hit/near 2, miss 2; 1 successful run; 1 value written.
 */
export async function reads(reader: Trove, writer: Trove): Promise<void> {
  await writer.region('users').set('1', { name: 'Ada' });
  await writer.region('users').set('2', { name: 'Grace' });
  const users = reader.region('users');
  await users.get('1');
  await users.get('1');
  await users.get('1');
  await users.get('2');
  await users.get('absent');
  await users.getOrSet('3', () => ({ name: 'Barbara' }));
}

/**
 * Region `reports` (no near cache, fresh for 100 ms, blocking refresh): a value goes stale; the
 * factory that should refresh it throws, so fail-safe answers the stale value (and keeps it fresh
 * for the backoff); the next read is a fresh hit. Then a getOrSet of an absent key whose factory
 * throws, with no stale value: the caller gets the error.
 * Expected in `reports`: hit/store 1, stale/store 1, miss 1; 2 failed runs; 1 FACTORY error; 2
 * values written (the set, and fail-safe storing the stale value again).
 */
export async function failures(t: Trove, clock: ReturnType<typeof fakeDate>): Promise<void> {
  const reports = t.region<string>('reports', { nearCache: false, ttl: '10s', freshFor: 100, staleRefresh: 'blocking', failSafeBackoff: '10s' });
  await reports.set('k', 'old');
  clock.advance(101);
  const failing = async (): Promise<string> => {
    throw new Error('source down');
  };
  if ((await reports.getOrSet('k', failing)) !== 'old') throw new Error('fail-safe did not answer the stale value');
  if ((await reports.getOrSet('k', failing)) !== 'old') throw new Error('the fail-safe value was not kept');
  const rejected = await reports.getOrSet('cold', failing).then(
    () => undefined,
    (err: unknown) => err,
  );
  if (!(rejected instanceof Error)) throw new Error('a failing factory with no stale value must reject');
}

/**
 * Garbage bytes written straight into Redis under a key of region `g`: the read is a miss plus a
 * DECODE error. Expected in `g`: miss 1; 1 DECODE error.
 */
export async function garbage(t: Trove, server: RedisServer): Promise<void> {
  const g = t.region('g');
  await server.command('SET', g.keyOf('bad'), '\u00b1\u0001garbage');
  if ((await g.get('bad')) !== undefined) throw new Error('garbage must read as a miss');
}

/**
 * A cached function named `topBooks` in region `books`: a first call computes and stores, a second
 * is a near hit. Expected in `books`, function `topBooks`: miss 1, hit/near 1; 1 successful run;
 * 1 value written.
 */
export async function cachedFunction(t: Trove): Promise<void> {
  const topBooks = t.cached(async (authorId: number) => [`book of ${authorId}`], { name: 'topBooks', region: 'books' });
  await topBooks(7);
  await topBooks(7);
}

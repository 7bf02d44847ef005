/**
 * A short tour of Trove on a real Redis. Uses REDIS_URL when set; otherwise starts a private
 * redis-server; if that is impossible, falls back to the embedded in-memory store and says so.
 */
import { performance } from 'node:perf_hooks';
import { createTrove, type Trove } from '../src/index.js';
import { RedisServer, sleep } from '../tools/redis-server.js';

const ms = (t0: number) => `${(performance.now() - t0).toFixed(1)} ms`;
const say = (text: string) => console.log(text);
const step = (title: string) => console.log(`\n== ${title}`);

async function main(): Promise<void> {
  let server: RedisServer | undefined;
  let redis = process.env.REDIS_URL;
  if (redis) say(`Using Redis at ${redis} (REDIS_URL)`);
  else {
    try {
      server = await RedisServer.start();
      redis = server.url;
      say(`Started a private redis-server on port ${server.port}`);
    } catch (err) {
      say(`Could not start redis-server (${(err as Error).message}); using the embedded in-memory store`);
    }
  }
  const trove = createTrove({ redis, prefix: 'demo', version: 'v1', commandTimeout: 300 });
  const counts = { hit: 0, miss: 0, set: 0, error: 0 };
  trove.on('hit', () => counts.hit++);
  trove.on('miss', () => counts.miss++);
  trove.on('set', () => counts.set++);
  trove.on('error', (e) => {
    counts.error++;
    say(`   event error: ${e.operation} ${e.error.code} ${e.key ?? ''}`);
  });
  if (server) await server.flushall();
  try {
    await tour(trove, server);
  } finally {
    await trove.close();
    await server?.stop();
  }
  step('Events seen');
  say(`   hit=${counts.hit} miss=${counts.miss} set=${counts.set} error=${counts.error}`);
}

async function tour(trove: Trove, server: RedisServer | undefined): Promise<void> {
  say(`Store: ${trove.storeKind}`);
  const users = trove.region<{ id: number; name: string }>('users', { ttl: '10m', freshFor: '1m' });
  let loads = 0;
  const loadUser = async (id: number) => {
    loads++;
    await sleep(200); // a slow database
    return { id, name: `user ${id}` };
  };

  step('Read-through: first call computes, second is a hit');
  let t0 = performance.now();
  await users.getOrSet(42, () => loadUser(42));
  say(`   cold getOrSet(42): ${ms(t0)} (loader ran ${loads}x)`);
  t0 = performance.now();
  const u = await users.getOrSet(42, () => loadUser(42));
  say(`   warm getOrSet(42): ${ms(t0)} -> ${JSON.stringify(u)} (loader ran ${loads}x)`);
  say(`   stored under the Redis key ${users.keyOf(42)}`);

  step('Burst on a cold key: 500 concurrent callers in one process');
  loads = 0;
  t0 = performance.now();
  const burst = await Promise.all(Array.from({ length: 500 }, () => users.getOrSet(7, () => loadUser(7))));
  say(`   ${burst.length} answers in ${ms(t0)}; the loader ran ${loads}x`);

  step('Batching: 1000 concurrent reads become one MGET (a region without near cache)');
  const remote = trove.region<{ id: number; name: string }>('remote', { nearCache: false });
  await remote.setMany(Array.from({ length: 1000 }, (_, i) => [String(i), { id: i, name: `user ${i}` }] as const));
  if (server) await server.resetStats();
  t0 = performance.now();
  const many = await Promise.all(Array.from({ length: 1000 }, (_, i) => remote.get(String(i))));
  const calls = server ? await server.commandCalls() : undefined;
  say(`   ${many.filter(Boolean).length} values in ${ms(t0)}${calls ? `; Redis saw ${calls.mget ?? 0} MGET and ${calls.get ?? 0} GET` : ''}`);

  if (trove.stats().near) {
    step('Near cache: repeated reads are answered in-process, kept correct by Redis invalidations');
    await users.get(42);
    t0 = performance.now();
    for (let i = 0; i < 10_000; i++) await users.get(42);
    const near = trove.stats().near!;
    say(`   10,000 awaited reads of users/42 in ${ms(t0)}; near cache: ${near.hits} hits, ${near.entries} entries, live=${near.live}`);
  }

  step('Nested regions: dotted names and .region() are the same place');
  await trove.region('users').region('profiles').set('42', { bio: 'hello' });
  say(`   users.profiles/42 = ${JSON.stringify(await trove.region('users.profiles').get('42'))}`);

  step('Freshness: past freshFor, getOrSet answers the stale value at once and refreshes it behind');
  const quotes = trove.region('quotes', { ttl: '1m', freshFor: 100 });
  let version = 0;
  await quotes.getOrSet('eur', () => ++version);
  await sleep(150);
  const staleAnswer = await quotes.getOrSet('eur', () => ++version);
  await sleep(20);
  say(`   after 150 ms: getOrSet -> ${staleAnswer} (stale, answered at once); a moment later -> ${await quotes.get('eur')} (refreshed once)`);

  step('markStale: the source changed; the old value is answered while one refresh runs, and kept if it fails');
  await quotes.set('usd', 'old rate');
  await quotes.markStale('usd');
  const marked = await quotes.getOrSet('usd', async () => 'new rate');
  await sleep(20);
  say(`   after markStale: getOrSet -> ${marked} (at once); a moment later -> ${await quotes.get('usd')}`);

  step('getOrSetMany: 20 users, 5 of them cached: the 15 missing in one database query');
  let queries = 0;
  const loadUsers = async (ids: number[]) => {
    queries++;
    await sleep(50); // one round trip to the database, whatever the number of ids
    return ids.map((id) => ({ id, name: `user ${id}` }));
  };
  const ids = Array.from({ length: 20 }, (_, i) => 100 + i);
  await users.setMany(ids.slice(0, 5).map((id) => [String(id), { id, name: `user ${id}` }] as const));
  t0 = performance.now();
  const batch = await users.getOrSetMany(ids, loadUsers);
  say(`   ${batch.length} users in ${ms(t0)}; ${queries} query for the missing ones`);

  step('Codecs: msgpack keeps Map, Date and BigInt');
  const rich = trove.region('rich', { codec: 'msgpack', compression: 'brotli', compressThreshold: 256 });
  const value = { at: new Date(0), big: 2n ** 70n, tags: new Map([['a', 1]]), text: 'x'.repeat(1000) };
  await rich.set('v', value);
  const back = (await rich.get('v')) as typeof value;
  say(`   Date ${back.at instanceof Date}, BigInt ${typeof back.big === 'bigint'}, Map ${back.tags instanceof Map}, text ${back.text.length} chars`);

  if (server) {
    step('Garbage in a key is a miss plus an error event, never an exception');
    await server.command('SET', users.keyOf('bad'), 'not an envelope');
    say(`   get('bad') -> ${await users.get('bad')}`);

    step('Redis paused (SIGSTOP): local copies still answer; other reads miss within the deadline');
    server.pause();
    t0 = performance.now();
    const local = await users.get(42);
    say(`   get(42) while paused -> ${JSON.stringify(local)} after ${ms(t0)} (near cache)`);
    t0 = performance.now();
    const during = await users.get(5000);
    say(`   get(5000) while paused -> ${during} after ${ms(t0)} (deadline)`);
    t0 = performance.now();
    const computed = await users.getOrSet(5001, () => ({ id: 5001, name: 'computed directly' }));
    say(`   getOrSet(5001) while paused -> ${JSON.stringify(computed)} after ${ms(t0)}`);
    server.resume();
    await sleep(50);
    say(`   resumed: get(42) -> ${JSON.stringify(await users.get(42))}`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});

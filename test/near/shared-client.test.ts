/**
 * Several troves with near caches on one client of the user's: Redis keeps one tracking state
 * per connection (one redirect target, on or off), so the troves share it. Every trove must keep
 * hearing the changes of what it keeps, whichever trove opened the channel or closed first.
 */
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import type { RedisOption, Trove } from '../../src/index.js';
import { nodeRedisClient, type TestNodeRedisClient } from '../helpers/drivers.js';
import { until, useRedisServer, useTroves } from '../helpers/troves.js';

const redis = useRedisServer();
const owned: { close(): void }[] = [];
afterEach(() => {
  for (const c of owned.splice(0)) c.close();
});
// Registered after the hook above, so troves close before the clients they share.
const troves = useTroves(() => ({}));

type ClientKind = 'ioredis' | 'node-redis RESP2' | 'node-redis RESP3' | 'node-redis RESP3 push';
const kinds: readonly ClientKind[] = ['ioredis', 'node-redis RESP2', 'node-redis RESP3', 'node-redis RESP3 push'];

async function sharedClient(kind: ClientKind): Promise<RedisOption> {
  const url = redis.server.url;
  if (kind === 'ioredis') {
    const c = new Redis(url);
    owned.push({ close: () => c.disconnect() });
    return c;
  }
  let c: TestNodeRedisClient;
  if (kind === 'node-redis RESP3 push') {
    // node-redis 6, invalidations as pushes on the client's own connection.
    const { createClient } = await import('redis');
    const client = createClient({ url, RESP: 3, emitInvalidate: true } as Parameters<typeof createClient>[0]);
    client.on('error', () => {});
    await client.connect();
    c = client as unknown as TestNodeRedisClient;
  } else c = await nodeRedisClient(url, { RESP: kind === 'node-redis RESP2' ? 2 : 3 });
  owned.push({ close: () => c.destroy() });
  return c as unknown as RedisOption;
}

/** The flags of CLIENT TRACKINGINFO on the shared client's own connection. */
async function trackingFlags(client: RedisOption): Promise<string[]> {
  const reply =
    client instanceof Redis
      ? await client.call('CLIENT', 'TRACKINGINFO')
      : await (client as unknown as TestNodeRedisClient).sendCommand(['CLIENT', 'TRACKINGINFO']);
  // RESP2: a flat list of field, value…; RESP3 (node-redis): an object or a Map.
  const flags = Array.isArray(reply)
    ? reply[reply.findIndex((v) => String(v) === 'flags') + 1]
    : reply instanceof Map
      ? reply.get('flags')
      : (reply as { flags?: unknown }).flags;
  return (flags as unknown[]).map(String);
}

async function nearTrove(client: RedisOption, prefix: string): Promise<Trove> {
  const t = troves.open({ redis: client, prefix, nearCache: {} });
  await t.ready();
  await until(() => t.stats().near?.live === true);
  return t;
}

/** Another process's writes: a trove of its own connection, no near cache. */
function writer(prefix: string): Trove {
  return troves.open({ redis: redis.server.url, prefix, nearCache: false });
}

/** Writes `value` elsewhere and waits until `t` reads it (its local copy dropped by the invalidation). */
async function changedElsewhere(t: Trove, w: Trove, key: string, value: number): Promise<void> {
  await w.region('r').set(key, value);
  await until(async () => (await t.region('r').get(key)) === value, 5000);
}

/** Waits until `t` answers `key` with `value` from its near cache (a read kept while tracking was live). */
async function keep(t: Trove, key: string, value: number): Promise<void> {
  await until(async () => {
    const before = t.stats().near!.hits;
    return (await t.region('r').get(key)) === value && t.stats().near!.hits === before + 1;
  });
}

interface Pair {
  a: Trove;
  b: Trove;
  /** Writers of `a`'s and `b`'s keys, on connections of their own. */
  wa: Trove;
  wb: Trove;
}

/** Two troves with near caches on the given clients (the same one, or views of it), each keeping `k` = 1. */
async function pairOn(clientA: RedisOption, clientB: RedisOption, prefixA: string, prefixB: string): Promise<Pair> {
  const pair = { a: await nearTrove(clientA, prefixA), b: await nearTrove(clientB, prefixB), wa: writer(prefixA), wb: writer(prefixB) };
  await pair.wa.region('r').set('k', 1);
  await pair.wb.region('r').set('k', 1);
  await keep(pair.a, 'k', 1);
  await keep(pair.b, 'k', 1);
  return pair;
}

/** Each trove sees its writer change `k` to `value`, keeps it, and sees the next change too. */
async function bothHear({ a, b, wa, wb }: Pair, value: number): Promise<void> {
  await changedElsewhere(a, wa, 'k', value);
  await changedElsewhere(b, wb, 'k', value);
  await keep(a, 'k', value);
  await keep(b, 'k', value);
  await changedElsewhere(a, wa, 'k', value + 1);
  await changedElsewhere(b, wb, 'k', value + 1);
}

describe.each(kinds)('troves sharing one client (%s)', (kind) => {
  it('each trove hears the changes of what it keeps', async () => {
    const client = await sharedClient(kind);
    await bothHear(await pairOn(client, client, 'sa', 'sb'), 2);
  });

  it.each(['first', 'second'] as const)('when the %s trove closes, the other keeps hearing changes', async (which) => {
    const client = await sharedClient(kind);
    const a = await nearTrove(client, 'sc');
    const b = await nearTrove(client, 'sd');
    const [gone, stays] = which === 'first' ? [a, b] : [b, a];
    const w = writer(stays === a ? 'sc' : 'sd');
    await w.region('r').set('k', 1);
    await keep(stays, 'k', 1);
    await gone.close();
    // Tracking may have moved to a connection of its own: the value is kept again once it is live.
    await keep(stays, 'k', 1);
    await changedElsewhere(stays, w, 'k', 2);
    await keep(stays, 'k', 2);
    await changedElsewhere(stays, w, 'k', 3);
    // The last trove on the client leaves it as it was found: tracking off.
    expect(await trackingFlags(client)).toContain('on');
    await stays.close();
    expect(await trackingFlags(client)).toEqual(['off']);
  });

  it.each(['pubsub', 'normal'] as const)('after Redis kills the %s connections, both troves keep hearing changes', async (type) => {
    troves.expectErrors();
    const client = await sharedClient(kind);
    const pair = await pairOn(client, client, 'se', 'sf');
    const admin = new Redis(redis.server.url);
    try {
      expect(Number(await admin.call('CLIENT', 'KILL', 'TYPE', type))).toBeGreaterThan(0);
    } finally {
      admin.disconnect();
    }
    // The writers' own connections were killed too: they write again once reconnected.
    await until(async () => (await pair.wa.region('r').get('k')) === 1 && (await pair.wb.region('r').get('k')) === 1);
    await keep(pair.a, 'k', 1);
    await keep(pair.b, 'k', 1);
    await bothHear(pair, 2);
  });
});

it("node-redis: a trove given a view of the client (withTypeMapping) shares the client's tracking", async () => {
  const client = (await nodeRedisClient(redis.server.url)) as TestNodeRedisClient & { withTypeMapping(m: object): unknown };
  owned.push({ close: () => client.destroy() });
  await bothHear(await pairOn(client as unknown as RedisOption, client.withTypeMapping({}) as RedisOption, 'sg', 'sh'), 2);
});

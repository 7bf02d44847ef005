/**
 * Faults are inputs: garbage bytes, a SIGKILLed server, a SIGSTOPped server, a server that is not
 * there at start-up, connections cut by a proxy. Calls must still answer, within their deadline.
 */
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import type { ErrorEvent, Trove, TroveOptions } from '../../src/index.js';
import type { RedisStore } from '../../src/store/index.js';
import { freePort, RedisServer } from '../helpers/redis-server.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { until, useTroves } from '../helpers/troves.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
// Registered after the hook above, so it runs before it: troves close before their servers and proxies.
const troves = useTroves(() => ({}));

/** The deadline of the tests that wait one out: short, so a stalled call answers soon. */
const SHORT_DEADLINE = 200;

async function server(): Promise<RedisServer> {
  const s = await RedisServer.start();
  cleanups.push(() => s.stop());
  return s;
}

function trove(url: string, extra: TroveOptions = {}): { t: Trove; errors: ErrorEvent[] } {
  const t = troves.open({ redis: url, ...extra });
  const errors: ErrorEvent[] = [];
  t.on('error', (e) => errors.push(e));
  return { t, errors };
}

function storeOf(t: Trove): RedisStore {
  return (t as unknown as { store: RedisStore }).store;
}

describe('faults', () => {
  it('garbage bytes in a key are a miss plus an error event, never an exception', async () => {
    troves.expectErrors();
    const s = await server();
    const { t, errors } = trove(s.url);
    const r = t.region('g');
    await r.set('ok', 1);
    for (const garbage of ['hello', '\u00b1\u0001xx', '{"truncated":', '']) {
      await s.command('SET', r.keyOf('bad'), garbage);
      expect(await r.get('bad')).toBeUndefined();
    }
    expect(errors.map((e) => [e.operation, e.error.code, e.key])).toEqual(Array(4).fill(['decode', 'DECODE', 'bad']));
    // getOrSet treats garbage as a miss and overwrites it with a good value, reporting it once:
    // the lock step reads the same bytes again, and those are not reported a second time.
    await s.command('SET', r.keyOf('bad'), 'garbage');
    expect(await r.getOrSet('bad', () => 'fixed')).toBe('fixed');
    expect(errors.map((e) => [e.operation, e.error.code, e.key])).toEqual(Array(5).fill(['decode', 'DECODE', 'bad']));
    expect(await r.get('bad')).toBe('fixed');
    expect(await r.get('ok')).toBe(1);
  });

  it('N concurrent gets cost exactly one MGET round trip', async () => {
    const s = await server();
    const { t } = trove(s.url, { nearCache: false });
    const r = t.region('rt');
    await r.setMany(Array.from({ length: 50 }, (_, i) => [String(i), i] as const));
    await s.resetStats();
    const got = await Promise.all(Array.from({ length: 50 }, (_, i) => r.get(String(i))));
    expect(got).toEqual(Array.from({ length: 50 }, (_, i) => i));
    const calls = await s.commandCalls();
    expect(calls.mget).toBe(1);
    expect(calls.get).toBeUndefined();
    // the same holds for getOrSet hits
    await s.resetStats();
    await Promise.all(Array.from({ length: 64 }, (_, i) => r.getOrSet(String(i % 50), () => -1)));
    const again = await s.commandCalls();
    expect(again.mget).toBe(1);
    expect(again.set).toBeUndefined();
  });

  it('a paused Redis: get answers a miss and getOrSet computes, within the deadline', async () => {
    troves.expectErrors();
    const s = await server();
    const { t, errors } = trove(s.url, { commandTimeout: SHORT_DEADLINE });
    const r = t.region('p');
    await r.set('k', 'v');
    s.pause();
    try {
      // Each call answers after one deadline, not two: one timed-out operation each (getOrSet
      // does not go on to wait out the lock's).
      expect(await r.get('k')).toBeUndefined();
      expect(await r.getOrSet('k', () => 'computed')).toBe('computed');
      // (the periodic generation sync may time out too meanwhile: a background error)
      expect(errors.filter((e) => e.operation !== 'sync').map((e) => [e.operation, e.error.code])).toEqual([
        ['get', 'STORE_TIMEOUT'],
        ['get', 'STORE_TIMEOUT'],
      ]);
    } finally {
      s.resume();
    }
    // once resumed, the same connection answers again
    await until(async () => (await r.get('k')) !== undefined);
  });

  it('a SIGKILLed Redis: calls keep answering, and the trove recovers after a restart', async () => {
    troves.expectErrors();
    const s = await server();
    const { t } = trove(s.url, { commandTimeout: SHORT_DEADLINE });
    const r = t.region('k');
    await r.set('a', 1);
    await s.kill();
    // Answered while Redis is still down: nobody waits for it to come back.
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => r.getOrSet(`x${i % 20}`, () => i % 20)));
    expect(results.length).toBe(200);
    expect(results.every((v, i) => v === i % 20)).toBe(true);
    expect(await r.get('a')).toBeUndefined();
    await expect(r.delete('a')).rejects.toMatchObject({ code: 'STORE' });
    await s.restart();
    await until(async () => {
      await r.set('b', 2);
      return (await r.get('b')) === 2;
    });
  });

  it('Redis unreachable at start-up is not fatal; the trove connects once it appears', async () => {
    troves.expectErrors();
    const port = await freePort();
    const { t, errors } = trove(`redis://127.0.0.1:${port}`, { commandTimeout: SHORT_DEADLINE });
    const r = t.region('late');
    // Answered while there is no Redis at all.
    expect(await r.get('k')).toBeUndefined();
    expect(await r.getOrSet('k', () => 'direct')).toBe('direct');
    expect(errors.length).toBeGreaterThan(0);
    const s = await RedisServer.start({ port });
    cleanups.push(() => s.stop());
    await until(async () => {
      await r.set('k', 'stored');
      return (await r.get('k')) === 'stored';
    });
  });

  it('dropped connections: no listener or waiter pile-up across reconnects', async () => {
    troves.expectErrors();
    const s = await server();
    const proxy = await TcpProxy.start(s.port);
    cleanups.push(() => proxy.close());
    const { t } = trove(proxy.url, { commandTimeout: SHORT_DEADLINE });
    const r = t.region('drop');
    await r.set('k', 1);
    const store = storeOf(t);
    let closes = 0;
    store.client.on('close', () => closes++);
    const before = eventCounts(store.client);
    for (let i = 1; i <= 5; i++) {
      proxy.cutAll();
      // The client learns of the cut on a later turn of the event loop; until then its status
      // still reads 'ready' (and near hits may answer the gets at once).
      await until(() => closes === i);
      await Promise.all(Array.from({ length: 50 }, () => r.get('k')));
      await until(() => store.client.status === 'ready');
    }
    expect(await r.get('k')).toBe(1);
    expect(eventCounts(store.client)).toEqual(before);
    expect((store as unknown as { readyGate: { pending: number } }).readyGate.pending).toBe(0);
  });

  it('a user-supplied ioredis instance is used and left open by close()', async () => {
    const s = await server();
    const client = new Redis(s.port, '127.0.0.1');
    cleanups.push(async () => {
      client.disconnect();
    });
    const t = troves.open({ redis: client });
    await t.region('u').set('k', 'v');
    expect(await t.region('u').get('k')).toBe('v');
    const key = t.region('u').keyOf('k');
    await t.close();
    expect(await client.get(key)).not.toBeNull();
    // Tracking was turned on for the user's connection while the trove used it, and off again by close().
    expect(String(await client.call('CLIENT', 'TRACKINGINFO'))).toContain('off');
    expect(client.listenerCount('ready')).toBe(0);
  });
});

function eventCounts(client: Redis): Record<string, number> {
  const out: Record<string, number> = {};
  for (const name of client.eventNames()) out[String(name)] = client.listenerCount(name);
  return out;
}

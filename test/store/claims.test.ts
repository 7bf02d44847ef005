/**
 * Claims (src/store/claims.ts): a miss's lock kept in the missing value's own key, against a real
 * redis-server on both drivers. What each attempt leaves in Redis (marker, waiter mark, lease),
 * what the holder's store replaces and whom it tells, the lock key that a present value's refresh
 * takes and the value it keeps alive, and the lock-key protocol when claims are off.
 */
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type ClaimRequest, ClaimLocks, NOTIFY_INLINE_AFTER_MS } from '../../src/store/claim-locks.js';
import { CLAIM_PREFIX, claimMarker, isClaimMarker, STORE_CLAIMED } from '../../src/store/claims.js';
import { createStore } from '../../src/store/create-store.js';
import type { ReadOrLock, Store } from '../../src/store/index.js';
import { parseNotification } from '../../src/store/notification.js';
import { drivers, nodeRedisClient, type TestNodeRedisClient } from '../helpers/drivers.js';
import { RedisServer } from '../helpers/redis-server.js';
import { TEST_COMMAND_TIMEOUT, until } from '../helpers/troves.js';

let server: RedisServer;
let raw: Redis;
let listener: Redis;
const heard: { key: string; value: string | undefined }[] = [];

beforeAll(async () => {
  server = await RedisServer.start();
  raw = new Redis(server.url);
  listener = new Redis(server.url);
  await listener.subscribe('chan');
  await raw.script('LOAD', STORE_CLAIMED.source);
  listener.on('messageBuffer', (_channel: Buffer, message: Buffer) => {
    const parsed = parseNotification(message);
    if (parsed !== undefined) heard.push({ key: parsed.key, value: parsed.value?.toString() });
  });
});

afterAll(async () => {
  raw.disconnect();
  listener.disconnect();
  await server.stop();
});

/** The lock a won attempt names (the value key and marker for a claim). */
function held(attempt: ReadOrLock): { key: string; token: string; pins?: string } {
  if (!('acquired' in attempt) || !attempt.acquired) throw new Error(`not acquired: ${JSON.stringify(attempt)}`);
  if (attempt.held === undefined) throw new Error('no held lock named');
  return attempt.held;
}

/** Leave to claim, with the channel where waiters of a claim given back are told. */
const CLAIM = { channel: 'chan' };

/**
 * How long the holder had its claim when it stores: briefly (a plain `SET … GET`, then a PUBLISH
 * when the replaced marker says so), or long enough that the store and its notification go as
 * one script.
 */
const HOLDS = [
  { hold: 'held briefly', heldMs: 0, inline: false },
  { hold: 'held for an unknown time', heldMs: undefined, inline: false },
  { hold: 'held long', heldMs: NOTIFY_INLINE_AFTER_MS, inline: true },
];

/** The holder's store of `value` in the claimed key `v:<v>`, its waiters told on `chan` with `v`. */
function storeAs(
  store: Store,
  lock: { key: string; token: string },
  v: string,
  value: string,
  ttlMs: number | undefined,
  heldMs: number | undefined,
): Promise<boolean> {
  return store.storeAndRelease({ key: `v:${v}`, value: Buffer.from(value), ttlMs, lockKey: lock.key, token: lock.token, channel: 'chan', message: v, heldMs });
}

/** Scripts run since the last reset of the server's statistics (loaded beforehand: no NOSCRIPT retry). */
async function scriptsRun(): Promise<number> {
  const calls = await server.commandCalls();
  return (calls.evalsha ?? 0) + (calls.eval ?? 0);
}

describe.each(drivers)('claims (%s)', (driver) => {
  const clients: TestNodeRedisClient[] = [];
  const stores: Store[] = [];
  let n = 0;
  const fresh = () => `c${driver === 'ioredis' ? 'i' : 'n'}${++n}`;

  async function open(claims = true): Promise<Store> {
    const client = driver === 'node-redis' ? await nodeRedisClient(server.url) : undefined;
    if (client !== undefined) clients.push(client);
    const store = createStore({ redis: client ?? server.url, memory: undefined, commandTimeoutMs: TEST_COMMAND_TIMEOUT, listener: {}, claims });
    stores.push(store);
    return store;
  }

  afterEach(async () => {
    heard.length = 0;
    for (const s of stores.splice(0)) await s.close();
    for (const c of clients.splice(0)) c.destroy();
  });

  it('an absent value is claimed in its own key, with a marker that lives for the lease', async () => {
    const store = await open();
    const v = fresh();
    const attempt = await store.readOrLock!(`l:${v}`, 'tok1', 5_000, `v:${v}`, CLAIM);
    expect(attempt).toEqual({ acquired: true, value: null, held: { key: `v:${v}`, token: claimMarker('tok1') } });
    expect(await raw.get(`v:${v}`)).toBe(`${CLAIM_PREFIX}tok1`);
    const pttl = await raw.pttl(`v:${v}`);
    expect(pttl).toBeGreaterThan(0);
    expect(pttl).toBeLessThanOrEqual(5_000);
    // No lock key was made.
    expect(await raw.exists(`l:${v}`)).toBe(0);
  });

  it('a second attempt finds the claim: refused with its remaining lease, the marker marked as waited for', async () => {
    const a = await open();
    const b = await open();
    const v = fresh();
    await a.readOrLock!(`l:${v}`, 'tokA', 5_000, `v:${v}`, CLAIM);
    const second = await b.readOrLock!(`l:${v}`, 'tokB', 5_000, `v:${v}`, CLAIM);
    expect('acquired' in second && second.acquired).toBe(false);
    if (!('acquired' in second) || second.acquired) return;
    expect(second.ttlMs).toBeGreaterThan(0);
    expect(second.ttlMs).toBeLessThanOrEqual(5_000);
    expect(await raw.get(`v:${v}`)).toBe(`${CLAIM_PREFIX}tokA+`);
    // A third marks nothing more, and an acquireLock (a refresh's, a retry's) is refused the same way.
    await b.readOrLock!(`l:${v}`, 'tokC', 5_000, `v:${v}`, CLAIM);
    const retry = await b.acquireLock(`l:${v}`, 'tokD', 5_000, `v:${v}`, CLAIM);
    expect(retry.acquired).toBe(false);
    expect(await raw.get(`v:${v}`)).toBe(`${CLAIM_PREFIX}tokA+`);
    expect(await raw.exists(`l:${v}`)).toBe(0);
  });

  it.each(HOLDS)("the holder's store replaces its marker: no notification when nobody waited ($hold)", async ({ heldMs, inline }) => {
    const store = await open();
    const v = fresh();
    const lock = held(await store.readOrLock!(`l:${v}`, 'tok', 5_000, `v:${v}`, CLAIM));
    await server.resetStats();
    await storeAs(store, lock, v, 'computed', 60_000, heldMs);
    expect(await scriptsRun()).toBe(inline ? 1 : 0);
    expect(await raw.get(`v:${v}`)).toBe('computed');
    const pttl = await raw.pttl(`v:${v}`);
    expect(pttl).toBeGreaterThan(5_000);
    expect(pttl).toBeLessThanOrEqual(60_000);
    // Redis delivers messages in the order it runs the PUBLISHes: once this later one is heard, a
    // notification of the store would have been too.
    await raw.publish('chan', `4:done`);
    await until(() => heard.some((h) => h.key === 'done'));
    expect(heard.filter((h) => h.key === v)).toEqual([]);
  });

  it.each(HOLDS)(
    "a waited-for claim's store tells the waiters once, carrying the value; a value without ttl is stored without one ($hold)",
    async ({ heldMs, inline }) => {
      const a = await open();
      const b = await open();
      const v = fresh();
      const lock = held(await a.readOrLock!(`l:${v}`, 'tok', 5_000, `v:${v}`, CLAIM));
      await b.readOrLock!(`l:${v}`, 'other', 5_000, `v:${v}`, CLAIM);
      await server.resetStats();
      await storeAs(a, lock, v, 'landed', undefined, heldMs);
      // Told in the store's own step (the script), or by a PUBLISH of its own after the write.
      expect(await scriptsRun()).toBe(inline ? 1 : 0);
      expect((await server.commandCalls()).publish).toBe(1);
      expect(await raw.get(`v:${v}`)).toBe('landed');
      expect(await raw.pttl(`v:${v}`)).toBe(-1);
      await until(() => heard.some((h) => h.key === v));
      expect(heard.filter((h) => h.key === v)).toEqual([{ key: v, value: 'landed' }]);
    },
  );

  it.each(HOLDS)(
    'a claim lost meanwhile (deleted, claimed again) does not store over the new claim, and tells whoever waits, carrying nothing ($hold)',
    async ({ heldMs, inline }) => {
      const a = await open();
      const v = fresh();
      const lock = held(await a.readOrLock!(`l:${v}`, 'tok', 5_000, `v:${v}`, CLAIM));
      await raw.del(`v:${v}`);
      const b = await open();
      const again = held(await b.readOrLock!(`l:${v}`, 'tok2', 5_000, `v:${v}`, CLAIM));
      expect(again.key).toBe(`v:${v}`);
      expect(await storeAs(a, lock, v, 'first', 60_000, heldMs)).toBe(false);
      // In one script the write is never made; as plain commands it is made, then taken back at
      // once, which leaves the key empty: the new claim's own store is then refused too, and the
      // next miss computes again.
      expect(await raw.get(`v:${v}`)).toBe(inline ? claimMarker('tok2') : null);
      await until(() => heard.some((h) => h.key === v));
      expect(heard.filter((h) => h.key === v)).toEqual([{ key: v, value: undefined }]);
    },
  );

  it.each(HOLDS)('a claim deleted meanwhile (delete, FLUSHALL, eviction): nothing is written, whoever waits is told ($hold)', async ({ heldMs }) => {
    const a = await open();
    const v = fresh();
    const lock = held(await a.readOrLock!(`l:${v}`, 'tok', 5_000, `v:${v}`, CLAIM));
    await raw.del(`v:${v}`);
    expect(await storeAs(a, lock, v, 'computed before the delete', 60_000, heldMs)).toBe(false);
    expect(await raw.exists(`v:${v}`)).toBe(0);
    await until(() => heard.some((h) => h.key === v));
    expect(heard.filter((h) => h.key === v)).toEqual([{ key: v, value: undefined }]);
  });

  it.each(HOLDS)("a claim overwritten meanwhile by another's set: the newer value is not left overwritten ($hold)", async ({ heldMs, inline }) => {
    const a = await open();
    const v = fresh();
    const lock = held(await a.readOrLock!(`l:${v}`, 'tok', 5_000, `v:${v}`, CLAIM));
    await raw.set(`v:${v}`, 'newer', 'PX', 60_000);
    expect(await storeAs(a, lock, v, 'older', 60_000, heldMs)).toBe(false);
    // One script leaves the newer value; plain commands write, see what they replaced, and take
    // their write back: the key is empty, never 'older'.
    expect(await raw.get(`v:${v}`)).toBe(inline ? 'newer' : null);
    await until(() => heard.some((h) => h.key === v));
    expect(heard.filter((h) => h.key === v)).toEqual([{ key: v, value: undefined }]);
  });

  it("a present value is found and nothing is taken; a refresh's attempt takes its lock key", async () => {
    const store = await open();
    const v = fresh();
    await raw.set(`v:${v}`, 'present', 'PX', 60_000);
    expect(await store.readOrLock!(`l:${v}`, 'tok', 5_000, `v:${v}`, CLAIM)).toEqual({ found: Buffer.from('present') });
    expect(await raw.exists(`l:${v}`)).toBe(0);
    const attempt = await store.acquireLock(`l:${v}`, 'tok', 2_000, `v:${v}`, CLAIM);
    expect(attempt).toEqual({ acquired: true, value: Buffer.from('present'), held: { key: `l:${v}`, token: 'tok' } });
    expect(await raw.get(`l:${v}`)).toBe('tok');
    // Another refresh is refused, and marks the lock key as waited for.
    const other = await open();
    const second = await other.acquireLock(`l:${v}`, 'tok2', 2_000, `v:${v}`, CLAIM);
    expect(second.acquired).toBe(false);
    expect(await raw.get(`l:${v}`)).toBe('tok+');
  });

  it('a value that expires while its refresh holds the lock key is not claimed: the claim is given back, its waiters told', async () => {
    const refresher = await open();
    const v = fresh();
    await raw.set(`v:${v}`, 'old', 'PX', 60_000);
    await refresher.acquireLock(`l:${v}`, 'refresh', 5_000, `v:${v}`, CLAIM);
    await raw.del(`v:${v}`); // as its expiry would
    const claimer = await open();
    // The claim (SET NX) and the lock key's check leave together; the claim is given back.
    const attempt = await claimer.readOrLock!(`l:${v}`, 'miss', 5_000, `v:${v}`, CLAIM);
    expect('acquired' in attempt && attempt.acquired).toBe(false);
    if (!('acquired' in attempt) || attempt.acquired) return;
    expect(attempt.ttlMs).toBeGreaterThan(0);
    expect(await raw.exists(`v:${v}`)).toBe(0);
    expect(await raw.get(`l:${v}`)).toBe('refresh+');
    // Once claims are known, an attempt decides in one script: refused the same way, nothing claimed.
    const retry = await claimer.acquireLock(`l:${v}`, 'miss2', 5_000, `v:${v}`, CLAIM);
    expect(retry.acquired).toBe(false);
    expect(await raw.exists(`v:${v}`)).toBe(0);
    // No waiter had marked the claim: nobody was told.
    await raw.publish('chan', '4:done');
    await until(() => heard.some((h) => h.key === 'done'));
    expect(heard.filter((h) => h.key === `v:${v}`)).toEqual([]);
  });

  it('one tick: a claim beside a held lock key is given back; the others are kept after their own check', async () => {
    const store = await open();
    const [v1, v2] = [fresh(), fresh()];
    await raw.set(`l:${v1}`, 'refresh', 'PX', 5_000);
    const [a, b] = await Promise.all([
      store.readOrLock!(`l:${v1}`, 't1', 5_000, `v:${v1}`, CLAIM),
      store.readOrLock!(`l:${v2}`, 't2', 5_000, `v:${v2}`, CLAIM),
    ]);
    expect('acquired' in a && a.acquired).toBe(false);
    expect(b).toEqual({ acquired: true, value: null, held: { key: `v:${v2}`, token: claimMarker('t2') } });
    expect(await raw.exists(`v:${v1}`)).toBe(0);
    expect(await raw.get(`v:${v2}`)).toBe(claimMarker('t2'));
    expect(await raw.get(`l:${v1}`)).toBe('refresh+');
  });

  it('a claim checked again beside a held lock key, that someone waited for: given back, they are told, and then find the lock key', async () => {
    const v = fresh();
    await raw.set(`l:${v}`, 'refresh', 'PX', 5_000);
    // A claim made just before, already marked as waited for, as its check will find it.
    const claimer = await open();
    // Connected: the step below is sent directly, without the store's wait for the connection.
    await claimer.get('warm');
    const locks = (claimer as unknown as { claims: import('../../src/store/claim-locks.js').ClaimLocks }).claims;
    expect(locks).toBeDefined();
    await raw.set(`v:${v}`, `${claimMarker('mine')}+`, 'PX', 5_000);
    const given = await (locks as unknown as { check(r: object, m: string): Promise<ReadOrLock> }).check(
      { key: `l:${v}`, readKey: `v:${v}`, token: 'mine', lease: 5_000, readFirst: true, channel: 'chan' },
      claimMarker('mine'),
    );
    expect('acquired' in given && given.acquired).toBe(false);
    expect(await raw.exists(`v:${v}`)).toBe(0);
    await until(() => heard.some((h) => h.key === `v:${v}`));
    expect(heard.filter((h) => h.key === `v:${v}`)).toEqual([{ key: `v:${v}`, value: undefined }]);
    const waiter = await open();
    const after = await waiter.readOrLock!(`l:${v}`, 'w', 5_000, `v:${v}`, CLAIM);
    expect('acquired' in after && after.acquired).toBe(false);
    expect(await raw.exists(`v:${v}`)).toBe(0);
  });

  it('acquireLock on an absent value claims it (the first attempt, and once claims are known)', async () => {
    const store = await open();
    for (const v of [fresh(), fresh()]) {
      const attempt = await store.acquireLock(`l:${v}`, 't', 5_000, `v:${v}`, CLAIM);
      expect(attempt).toEqual({ acquired: true, value: null, held: { key: `v:${v}`, token: claimMarker('t') } });
      expect(await raw.exists(`l:${v}`)).toBe(0);
    }
  });

  it('a claim is given up by compare-and-delete: only its own marker goes', async () => {
    const store = await open();
    const v = fresh();
    const lock = held(await store.readOrLock!(`l:${v}`, 'tok', 5_000, `v:${v}`, CLAIM));
    expect(await store.releaseLock(lock.key, claimMarker('someone-else'))).toBe(false);
    expect(await raw.exists(`v:${v}`)).toBe(1);
    await raw.append(`v:${v}`, '+');
    expect(await store.releaseLock(lock.key, lock.token)).toBe(true);
    expect(await raw.exists(`v:${v}`)).toBe(0);
  });

  it('not claimable (raw payloads, buckets), or claims off: the lock key, and the value key untouched', async () => {
    for (const claims of [true, false]) {
      const store = await open(claims);
      const v = fresh();
      const attempt = await store.readOrLock!(`l:${v}`, 'tok', 5_000, `v:${v}`, claims ? undefined : CLAIM);
      expect(attempt).toEqual({ acquired: true, value: null });
      expect(await raw.get(`l:${v}`)).toBe('tok');
      expect(await raw.exists(`v:${v}`)).toBe(0);
    }
  });
});

describe("claims on a user's ioredis client with a keyPrefix", () => {
  it('the claim, its waiter mark and the store land under the prefix; the waiter is told the key the store knows', async () => {
    const client = new Redis(server.url, { keyPrefix: 'kp:' });
    const other = new Redis(server.url, { keyPrefix: 'kp:' });
    const a = createStore({ redis: client, memory: undefined, commandTimeoutMs: TEST_COMMAND_TIMEOUT, listener: {}, claims: true });
    const b = createStore({ redis: other, memory: undefined, commandTimeoutMs: TEST_COMMAND_TIMEOUT, listener: {}, claims: true });
    try {
      const lock = held(await a.readOrLock!('l:p1', 'tok', 5_000, 'v:p1', CLAIM));
      expect(await raw.get('kp:v:p1')).toBe(claimMarker('tok'));
      expect(await raw.exists('v:p1')).toBe(0);
      const second = await b.readOrLock!('l:p1', 'other', 5_000, 'v:p1', CLAIM);
      expect('acquired' in second && second.acquired).toBe(false);
      expect(await raw.get('kp:v:p1')).toBe(`${claimMarker('tok')}+`);
      await a.storeAndRelease({
        key: 'v:p1',
        value: Buffer.from('stored'),
        ttlMs: 60_000,
        lockKey: lock.key,
        token: lock.token,
        channel: 'chan',
        message: 'v:p1',
      });
      expect(await raw.get('kp:v:p1')).toBe('stored');
      expect(await a.get('v:p1')).toEqual(Buffer.from('stored'));
      await until(() => heard.some((h) => h.key === 'v:p1'));
      expect(heard.filter((h) => h.key === 'v:p1')).toEqual([{ key: 'v:p1', value: 'stored' }]);
    } finally {
      heard.length = 0;
      await a.close();
      await b.close();
      client.disconnect();
      other.disconnect();
    }
  });
});

describe('markers', () => {
  it('are told from envelopes and from anything shorter than a token', () => {
    expect(isClaimMarker(Buffer.from(claimMarker('abc')))).toBe(true);
    expect(isClaimMarker(Buffer.from(`${claimMarker('abc')}+`))).toBe(true);
    expect(isClaimMarker(Buffer.from(CLAIM_PREFIX))).toBe(false);
    expect(isClaimMarker(Buffer.from([0xb1, 0x00, 0x01]))).toBe(false);
    expect(isClaimMarker(Buffer.from('tc:abc'))).toBe(false);
  });
});

/** One attempt, alone in its batch. */
const attemptOne = (locks: ClaimLocks, request: ClaimRequest, lockKeys: (r: ClaimRequest) => Promise<ReadOrLock>) =>
  locks.attemptMany([request], lockKeys as (r: unknown) => Promise<ReadOrLock>).then((all) => all[0]!);

describe('a server that refuses claims (Redis before 7.0)', () => {
  it('answers the attempt with the lock key, and from then on asks for lock keys only', async () => {
    const sent: string[] = [];
    const locks = new ClaimLocks(true, {
      anyExists: () => Promise.resolve(false),
      setGet: (key) => {
        sent.push(`SET ${key}`);
        // Redis 6.2's answer to SET … NX … GET.
        return Promise.reject(new Error('ERR syntax error'));
      },
      script: () => Promise.reject(new Error('no script expected')),
      publish: () => Promise.reject(new Error('no publish expected')),
    });
    const viaLockKey = (r: { key: string }) => {
      sent.push(`lock ${r.key}`);
      return Promise.resolve({ acquired: true as const, value: null });
    };
    const request = { key: 'l:a', readKey: 'v:a', token: 't', lease: 1_000, readFirst: true, channel: 'chan' };
    expect(await attemptOne(locks, request, viaLockKey)).toEqual({ acquired: true, value: null });
    expect(locks.supported).toBe(false);
    expect(await attemptOne(locks, { ...request, key: 'l:b', readKey: 'v:b' }, viaLockKey)).toEqual({ acquired: true, value: null });
    expect(sent).toEqual(['SET v:a', 'lock l:a', 'lock l:b']);
  });

  it("any other failure of the claim is the attempt's failure, and decides nothing", async () => {
    const locks = new ClaimLocks(true, {
      anyExists: () => Promise.resolve(false),
      setGet: () => Promise.reject(new Error('WRONGTYPE Operation against a key holding the wrong kind of value')),
      script: () => Promise.reject(new Error('no script expected')),
      publish: () => Promise.reject(new Error('no publish expected')),
    });
    await expect(
      attemptOne(locks, { key: 'l', readKey: 'v', token: 't', lease: 1_000, readFirst: true, channel: 'chan' }, () =>
        Promise.reject(new Error('not this way')),
      ),
    ).rejects.toThrow('WRONGTYPE');
    expect(locks.supported).toBeUndefined();
  });
});

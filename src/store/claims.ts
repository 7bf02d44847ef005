/*
 * Claims: the lock of a missing value kept in the value key itself.
 *
 * A miss used to take a lock key beside the value (`SET lock token NX PX lease`) and release it
 * after the store: a second key made and deleted per miss, in scripts, costing Redis about twice
 * what a plain cache-aside read and write cost (BENCHMARKS.md, "what Redis spends"). Where Redis
 * has `SET … NX GET` (7.0+), a miss instead claims the absent value's own key with a marker:
 *
 *   claim   SET value <marker> NX PX <lease> GET   nil: claimed; a marker: someone else computes
 *                                                  (CLAIM_OR_LOCK then marks it as waited for);
 *                                                  anything else: the value, found
 *           EXISTS lock lock …                     once per tick, after the tick's claims
 *   store   SET value <bytes> [PX <ttl>] XX GET    the old value is our marker: nobody waits; our
 *                                                  marker with '+': PUBLISH (someone waits); nil
 *                                                  (deleted, flushed, evicted): nothing written,
 *                                                  PUBLISH; anything else (another's `set`, or a
 *                                                  claim after ours lapsed): our write is taken
 *                                                  back (RELEASE compares it), PUBLISH. A claim
 *                                                  held long stores by one script that compares
 *                                                  first and writes only over its own marker
 *                                                  (STORE_CLAIMED), its waiters told sooner
 *   renew   RENEW on the value key (compare, PEXPIRE), as for a lock key
 *   give up RELEASE on the value key (compare-and-delete)
 *
 * Two plain commands per miss, as cache-aside, and one EXISTS per tick. A marker is `\x01tc:` and
 * the lock token, with '+' appended once a waiter marked it. An envelope starts with 0xB1 and raw
 * regions keep the lock key (a raw payload may start with any byte), so a marker is never taken
 * for a value: every reader treats one as absent.
 *
 * A present value that must be recomputed (stale, tag-invalidated, undecodable) cannot be
 * claimed: its refresh takes the lock key, as before, and only while the value is present and not
 * a marker (CLAIM_OR_LOCK decides atomically). The value may still expire while its refresh runs;
 * a claim made then finds the lock key (the EXISTS sent after it: the refresh took the lock before
 * the claim, since no lock key is taken over a marker), is checked again on its own and given
 * back (CLAIM_CHECK), and the miss waits for the refresh. So at most one process computes a key at a time, as with lock
 * keys alone.
 *
 * The lock-key scripts (`scripts.ts`) treat a marker as a held lock too, and never take a lock key
 * beside one: a process that claims and one that takes lock keys (the near cache's regions, raw
 * regions, `lockIn: 'key'`, a server that refuses claims) exclude each other the same way.
 *
 * Whether a server takes claims is decided by the server itself: Redis before 7.0 answers the
 * claim with a syntax error, after which that store uses lock keys only.
 */
import { Buffer } from 'node:buffer';
import { luaKeyNotification, luaNotification } from './notification.js';
import { CLAIM_AWARE, CLAIM_PREFIX, Script } from './scripts.js';
import type { ReadOrLock } from './store.js';

export { CLAIM_PREFIX };

/** The prefix's four bytes, compared one by one: a read's bytes are checked on every hit. */
const [P0, P1, P2, P3] = Buffer.from(CLAIM_PREFIX, 'latin1');

/** The marker a claim with this lock token writes. */
export function claimMarker(token: string): string {
  return CLAIM_PREFIX + token;
}

/** Whether stored bytes are a claim's marker (a value being computed), not a value. */
export function isClaimMarker(bytes: Uint8Array): boolean {
  return bytes.length > 4 && bytes[0] === P0 && bytes[1] === P1 && bytes[2] === P2 && bytes[3] === P3;
}

/** Whether the store's answer to a claim says the server does not know `SET … NX GET` (before 7.0). */
export function claimsRefused(err: unknown): boolean {
  return err instanceof Error && /syntax error/i.test(err.message);
}

/**
 * A lock attempt decided in one step: KEYS lock, value; ARGV token, lease ms, marker, read first
 * ('1': a present value is found, no lock taken; '0': its lock key is taken). { 3, nil }: the value
 * was absent and is claimed. { 2, value }: found. { 1, value }: the lock key taken, the value read.
 * { 0, remaining lease }: a claim or the lock key is held elsewhere (marked as waited for). An
 * absent value whose lock key is held (its refresh runs while it expired) is not claimed.
 */
export const CLAIM_OR_LOCK = new Script(`${CLAIM_AWARE}
local v = redis.call('GET', KEYS[2])
if not v then
  if redis.call('EXISTS', KEYS[1]) == 1 then return held(KEYS[1]) end
  redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[2])
  return { 3, false }
end
if is_marker(v) then return held(KEYS[2]) end
if ARGV[4] == '1' then return { 2, v } end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return { 1, v } end
return held(KEYS[1])`);

/**
 * A claim checked again, after the lock keys of its batch were found held (one of them is a
 * refresh's, whose value expired meanwhile): KEYS value, lock; ARGV marker. Still ours and no
 * lock key: { 3, nil, 0 }, claimed. Still ours beside a held lock key: given back, the lock key
 * marked as waited for, { 0, its remaining lease, 1 when someone had marked the claim as waited
 * for (they must be told) }. No longer ours: { 2, value } found, { 0, remaining lease, 0 } claimed
 * by another (marked as waited for), { 4 } absent again (deleted: the attempt starts over).
 */
export const CLAIM_CHECK = new Script(`${CLAIM_AWARE}
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] or v == ARGV[1] .. '+' then
  if redis.call('EXISTS', KEYS[2]) == 0 then return { 3, false, 0 } end
  redis.call('DEL', KEYS[1])
  local waited = 0
  if v ~= ARGV[1] then waited = 1 end
  local h = held(KEYS[2])
  return { 0, h[2], waited }
end
if not v then return { 4, false, 0 } end
if is_marker(v) then
  local h = held(KEYS[1])
  return { 0, h[2], 0 }
end
return { 2, v, 0 }`);

/**
 * Lua that stores one claimed value in `key`, its arguments `arg(1)` to `arg(5)`: bytes, ttl ms
 * (0: none), marker, channel, key the notification names; `written` a Lua expression run with 1
 * or 0. The write replaces the marker, and only the marker: a key that no longer holds it was
 * deleted (`delete`, FLUSHALL, eviction), claimed again after the claim lapsed, or written by
 * another (`set`), all of them after this computation started, so the value is not written and
 * the waiters are told with nothing carried. After a write, unless what it replaced is exactly
 * our marker (someone marked it as waited for), the waiters are told, carrying the bytes when
 * they are small.
 */
function luaStoreClaimed(key: string, arg: (n: number) => string, written: (flag: string) => string): string {
  return `local old = redis.call('GET', ${key})
if old ~= ${arg(3)} and old ~= ${arg(3)} .. '+' then
  redis.call('PUBLISH', ${arg(4)}, ${luaKeyNotification(arg(5))})
  ${written('0')}
else
  if ${arg(2)} == '0' then redis.call('SET', ${key}, ${arg(1)}) else redis.call('SET', ${key}, ${arg(1)}, 'PX', ${arg(2)}) end
  if old ~= ${arg(3)} then redis.call('PUBLISH', ${arg(4)}, ${luaNotification(arg(5), arg(1))}) end
  ${written('1')}
end`;
}

/**
 * Claimed values kept locally (sent right after `CLIENT CACHING yes`), on one server, as
 * STORE_TRACKED_AND_RELEASE_MANY does for lock keys: KEYS the values, all different; ARGV per
 * value: bytes, ttl ms (0: none), marker, channel, key the notification names. Each value is read
 * before the writes and after them, so that each write announces exactly one invalidation to the
 * writer and the new value is tracked. Replies whether each was written (1, 0).
 */
export const STORE_TRACKED_CLAIMED_MANY = new Script(`
redis.call('EXISTS', unpack(KEYS))
local out = {}
for i = 1, #KEYS do
  local a = (i - 1) * 5
${luaStoreClaimed(
  'KEYS[i]',
  (n) => `ARGV[a + ${n}]`,
  (flag) => `out[i] = ${flag}`,
)}
end
redis.call('EXISTS', unpack(KEYS))
return out`);

/**
 * A claimed value's store with its notification in the same step: KEYS the value; ARGV bytes, ttl
 * ms (0: none), marker, channel, key the notification names. As the plain `SET … XX GET` and what
 * follows it (see `ClaimLocks.storeMany`), in one round trip and exactly: used for claims held
 * long enough for waiters (and a `delete` or `set` meanwhile) to be likely, whose waiters would
 * otherwise wait out one more round trip. 1 when written, 0 when not.
 */
export const STORE_CLAIMED = new Script(`local written = 0
${luaStoreClaimed(
  'KEYS[1]',
  (n) => `ARGV[${n}]`,
  (flag) => `written = ${flag}`,
)}
return written`);

/** A claim's lock, for the lease: the value key holding the marker. */
function claimed(key: string, marker: string): ReadOrLock {
  return { acquired: true, value: null, held: { key, token: marker } };
}

/** CLAIM_OR_LOCK's reply as a lock outcome: `lockKey`, `token` the lock key's, `key`, `marker` the value's. */
export function claimOrLockOutcome(reply: unknown, lockKey: string, token: string, key: string, marker: string): ReadOrLock {
  const [kind, second] = reply as [unknown, unknown];
  const k = Number(kind);
  if (k === 3) return claimed(key, marker);
  if (k === 2) return { found: asBuffer(second) };
  if (k === 1) return { acquired: true, value: asBuffer(second), held: { key: lockKey, token } };
  return heldElsewhere(second);
}

/** CLAIM_CHECK's reply: the outcome (undefined: absent again), and whether waiters of a claim given back must be told. */
export function checkOutcome(reply: unknown, key: string, marker: string): { outcome: ReadOrLock | undefined; waited: boolean } {
  const [kind, second, waited] = reply as [unknown, unknown, unknown];
  const k = Number(kind);
  if (k === 3) return { outcome: claimed(key, marker), waited: false };
  if (k === 2) return { outcome: { found: asBuffer(second) }, waited: false };
  if (k === 4) return { outcome: undefined, waited: false };
  return { outcome: heldElsewhere(second), waited: Number(waited) === 1 };
}

function heldElsewhere(left: unknown): ReadOrLock {
  const ms = Number(left);
  return { acquired: false, ttlMs: ms >= 0 ? ms : -1 };
}

function asBuffer(v: unknown): Buffer {
  return Buffer.isBuffer(v) ? v : Buffer.from(String(v));
}

/** A claim's outcome as won. */
export function claimedOutcome(key: string, marker: string): ReadOrLock {
  return claimed(key, marker);
}

/** Whether a claimed value's store replaced exactly its own marker (nobody waits: no notification). */
export function replacedOwnMarker(old: Buffer | null, marker: string): boolean {
  return old !== null && old.length === marker.length && old.toString('latin1') === marker;
}

/** Whether a claimed value's store replaced its own marker as marked by a waiter (`+`: someone waits). */
export function replacedWaitedMarker(old: Buffer | null, marker: string): boolean {
  return old !== null && old.length === marker.length + 1 && old.toString('latin1') === `${marker}+`;
}

import { createHash } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { luaKeyNotification, luaNotification } from './notification.js';

/** What every claim's marker starts with (SOH, then `tc:`; see `claims.ts`), and the same as a Lua string literal. */
export const CLAIM_PREFIX = '\x01tc:';
const CLAIM_PREFIX_LUA = '\\1tc:';

/**
 * ioredis generates a Buffer-returning variant of every command at run time but does not declare
 * these two; `callBuffer('EVALSHA', …)` is no substitute, as auto-pipelining mangles it.
 */
interface BufferEval {
  evalshaBuffer(sha: string, numKeys: number, ...rest: (string | number | Buffer)[]): Promise<unknown>;
  evalBuffer(source: string, numKeys: number, ...rest: (string | number | Buffer)[]): Promise<unknown>;
}

/**
 * Lua scripts run atomically in Redis. Sent in full (EVAL) the first time a connection runs it,
 * which loads it, and by SHA (EVALSHA) after that; re-sent in full when Redis answers NOSCRIPT
 * (after a restart, a failover or SCRIPT FLUSH). Sending the SHA first would cost the first call
 * of every script a round trip more (NOSCRIPT, then EVAL): on a cold start that is the first
 * miss's lock and store, on the path of every caller waiting for them.
 */
export class Script {
  readonly sha: string;
  /** The connections (clients, or a driver's own owner object) that have run this script since their start. */
  private readonly ran = new WeakSet<object>();

  constructor(readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  /** `before` is called right before each send (the script, and its re-send after NOSCRIPT). */
  async run(client: Redis | Cluster, keys: readonly string[], args: readonly (string | number | Buffer)[], before?: () => void): Promise<unknown> {
    return this.runVia((s) => {
      before?.();
      return 'sha' in s ? client.evalsha(s.sha, keys.length, ...keys, ...args) : client.eval(s.source, keys.length, ...keys, ...args);
    }, client);
  }

  /**
   * Runs the script through `send`, which issues EVALSHA (`sha` given) or EVAL (`source` given)
   * in whatever way the caller needs (e.g. inside a pipeline): in full the first time `owner` (the
   * connection, or anything that lives as long) runs it, by SHA after that, and in full again after
   * NOSCRIPT.
   */
  async runVia(send: (script: { sha: string } | { source: string }) => Promise<unknown>, owner?: object): Promise<unknown> {
    if (owner !== undefined && !this.ran.has(owner)) {
      const reply = await send({ source: this.source });
      this.ran.add(owner);
      return reply;
    }
    try {
      return await send({ sha: this.sha });
    } catch (err) {
      if (!isNoScript(err)) throw err;
      return send({ source: this.source });
    }
  }

  /** Like `run`, with bulk replies as Buffers (for scripts that return stored values). */
  async runBuffer(client: Redis | Cluster, keys: readonly string[], args: readonly (string | number | Buffer)[]): Promise<unknown> {
    const buffers = client as unknown as BufferEval;
    return this.runVia(
      (s) => ('sha' in s ? buffers.evalshaBuffer(s.sha, keys.length, ...keys, ...args) : buffers.evalBuffer(s.source, keys.length, ...keys, ...args)),
      client,
    );
  }
}

function isNoScript(err: unknown): boolean {
  return err instanceof Error && err.message.startsWith('NOSCRIPT');
}

/**
 * Lua helpers of the lock scripts: whether a value is a claim's marker (see `claims.ts`), and the
 * answer of an attempt that found a lock held (`key` marked as waited for, its remaining lease).
 */
export const CLAIM_AWARE = `local function is_marker(v) return string.sub(v, 1, ${CLAIM_PREFIX.length}) == '${CLAIM_PREFIX_LUA}' end
local function held(key)
  local l = redis.call('GET', key)
  if l and string.sub(l, -1) ~= '+' then redis.call('APPEND', key, '+') end
  return { 0, redis.call('PTTL', key) }
end`;

/*
 * Lock protocol. The lock holds the holder's token. A process that fails to take it appends '+'
 * (once) to mark that someone waits, so the holder publishes a notification only when a waiter
 * exists (or the lock is no longer its own): uncontended misses cost no pub/sub fan-out.
 */

/** KEYS: lock. -1 when acquired, else the holder's remaining lease in ms (-2: it vanished meanwhile). */
export const ACQUIRE = new Script(`
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return -1 end
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, -1) ~= '+' then redis.call('APPEND', KEYS[1], '+') end
return redis.call('PTTL', KEYS[1])`);

/**
 * KEYS: lock, value. { 1, value or nil } when acquired, else { 0, the holder's remaining lease in
 * ms }. A value key that holds a claim's marker (see `claims.ts`) is held by its claimer: marked
 * as waited for, and never locked beside it, so processes that claim and processes that take lock
 * keys exclude each other.
 */
export const ACQUIRE_AND_READ = new Script(`${CLAIM_AWARE}
local v = redis.call('GET', KEYS[2])
if v and is_marker(v) then return held(KEYS[2]) end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return { 1, v } end
return held(KEYS[1])`);

export const RENEW = new Script(`
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] or v == ARGV[1] .. '+' then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`);

export const RELEASE = new Script(`
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] or v == ARGV[1] .. '+' then return redis.call('DEL', KEYS[1]) end
return 0`);

/**
 * Deletes entry keys (one UNLINK of them all, which must be distinct) and answers how many held a
 * value. A claim's marker (a value being computed: see `claims.ts`) goes too, which refuses that
 * computation's write, but is not counted: no value existed. Only a key's first bytes are read
 * (GETRANGE), whatever its size; a key of another type counts as present. Not for raw regions,
 * whose payloads may start with any byte.
 */
export const DELETE_ENTRIES = new Script(`
local markers = 0
for i = 1, #KEYS do
  if redis.pcall('GETRANGE', KEYS[i], 0, ${CLAIM_PREFIX.length - 1}) == '${CLAIM_PREFIX_LUA}' then markers = markers + 1 end
end
return redis.call('UNLINK', unpack(KEYS)) - markers`);

/**
 * Compare-and-set that keeps the key's time-to-live: KEYS key; ARGV the SHA-1 of the bytes the key
 * must still hold, the new bytes. 1: written; 0: the key holds something else, or nothing (then
 * nothing is written). Only the digest travels, not the expected bytes themselves.
 */
export const REPLACE = new Script(`
local v = redis.call('GET', KEYS[1])
if not v or redis.sha1hex(v) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
return 1`);

/** REPLACE's arguments: the SHA-1 (hex) of the bytes expected, and the new bytes. */
export function replaceArgs(expected: Buffer, value: Buffer): [string, Buffer] {
  return [createHash('sha1').update(expected).digest('hex'), value];
}

/** How many keys one DELETE_ENTRIES call takes: each call's keys go as arguments (a spread, and Lua's `unpack`), and Redis runs a script without interruption. */
export const DELETE_ENTRIES_CHUNK = 1_000;

/**
 * Lua deciding whether a lock holder may still write its value (`may_store(value, v, token, seen,
 * any_present)`, `v` the lock key's content): only while the lock is its own. A `delete` removes
 * the lock key with the value, so a value computed before it is not written after it; a lock that
 * lapsed or passed to another process is not its own either. `seen`, the value as read with the
 * lock ('': not checked; '-': absent; else the SHA-1 of its bytes): a value present now that is
 * not that one (another's `set`; a claim's marker is not a value) is newer than this computation.
 * `any_present`: false when a batch's one EXISTS found none of its values, sparing the common
 * miss a look of its own.
 */
const MAY_STORE = `${CLAIM_AWARE}
local function may_store(value, v, token, seen, any_present)
  if v ~= token and v ~= token .. '+' then return false end
  if seen ~= '' and any_present and redis.call('EXISTS', value) == 1 then
    local cur = redis.call('GET', value)
    if not is_marker(cur) and (seen == '-' or redis.sha1hex(cur) ~= seen) then return false end
  end
  return true
end`;

/**
 * KEYS: value, lock. ARGV: bytes, ttl ms (0: none), token, channel, key the notification names,
 * seen (see MAY_STORE), track (1: read the value before and after writing it, under the
 * caller's CLIENT CACHING yes: the first read makes sure the write announces exactly one
 * invalidation to the writer, the second registers tracking of the new value; a write alone does
 * neither). The notification carries the bytes when they are small (see notification.ts). 1 when
 * written; 0 when not (see MAY_STORE): the lock, if still ours, is released and waiters are told,
 * with nothing carried.
 */
export const STORE_AND_RELEASE = new Script(`${MAY_STORE}
local v = redis.call('GET', KEYS[2])
if not may_store(KEYS[1], v, ARGV[3], ARGV[6], true) then
  if v == ARGV[3] or v == ARGV[3] .. '+' then redis.call('DEL', KEYS[2]) end
  redis.call('PUBLISH', ARGV[4], ${luaKeyNotification('ARGV[5]')})
  return 0
end
if ARGV[7] == '1' then redis.call('EXISTS', KEYS[1]) end
if ARGV[2] == '0' then redis.call('SET', KEYS[1], ARGV[1]) else redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) end
redis.call('DEL', KEYS[2])
if v ~= ARGV[3] then redis.call('PUBLISH', ARGV[4], ${luaNotification('ARGV[5]', 'ARGV[1]')}) end
if ARGV[7] == '1' then redis.call('EXISTS', KEYS[1]) end
return 1`);

/**
 * KEYS: lock, value. Reads the value and, only when it is absent, takes the lock (a getOrSet that
 * will most likely miss: one round trip instead of a read, then a lock attempt). { 2, value } when
 * present (no lock taken), else as ACQUIRE_AND_READ: { 1, nil } when acquired, { 0, remaining lease }.
 */
export const READ_OR_ACQUIRE = new Script(`${CLAIM_AWARE}
local v = redis.call('GET', KEYS[2])
if v and is_marker(v) then return held(KEYS[2]) end
if v then return { 2, v } end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return { 1, false } end
return held(KEYS[1])`);

/**
 * ACQUIRE_AND_READ and READ_OR_ACQUIRE for several locks at once (one tick's misses on one
 * server). KEYS: lock, value, lock, value, ...; ARGV: token, lease ms, read first ('1':
 * READ_OR_ACQUIRE, '0': ACQUIRE_AND_READ), ... three per pair. Replies flat, two items per lock,
 * as those scripts reply.
 */
export const ACQUIRE_AND_READ_MANY = new Script(`${CLAIM_AWARE}
local out = {}
for i = 1, #KEYS, 2 do
  local a = (i - 1) / 2 * 3
  local v = redis.call('GET', KEYS[i + 1])
  local r
  if v and is_marker(v) then r = held(KEYS[i + 1])
  elseif v and ARGV[a + 3] == '1' then r = { 2, v }
  elseif redis.call('SET', KEYS[i], ARGV[a + 1], 'NX', 'PX', ARGV[a + 2]) then r = { 1, v or false }
  else r = held(KEYS[i]) end
  out[i] = r[1]
  out[i + 1] = r[2]
end
return out`);

/**
 * STORE_AND_RELEASE, untracked, for several values at once (one tick's computed values on one
 * server). KEYS: value, lock, value, lock, ...; ARGV: bytes, ttl ms (0: none), token, channel,
 * key the notification names, seen, ... six per pair. Replies whether each was written (1, 0).
 */
export const STORE_AND_RELEASE_MANY = new Script(`${MAY_STORE}
local values = {}
for i = 1, #KEYS, 2 do values[#values + 1] = KEYS[i] end
local any_present = redis.call('EXISTS', unpack(values)) > 0
local out = {}
for i = 1, #KEYS, 2 do
  local a = (i - 1) / 2 * 6
  local v = redis.call('GET', KEYS[i + 1])
  local token = ARGV[a + 3]
  local mine = v == token or v == token .. '+'
  if may_store(KEYS[i], v, token, ARGV[a + 6], any_present) then
    if ARGV[a + 2] == '0' then redis.call('SET', KEYS[i], ARGV[a + 1]) else redis.call('SET', KEYS[i], ARGV[a + 1], 'PX', ARGV[a + 2]) end
    redis.call('DEL', KEYS[i + 1])
    if v ~= token then redis.call('PUBLISH', ARGV[a + 4], ${luaNotification('ARGV[a + 5]', 'ARGV[a + 1]')}) end
    out[#out + 1] = 1
  else
    if mine then redis.call('DEL', KEYS[i + 1]) end
    redis.call('PUBLISH', ARGV[a + 4], ${luaKeyNotification('ARGV[a + 5]')})
    out[#out + 1] = 0
  end
end
return out`);

/**
 * STORE_AND_RELEASE_MANY for values kept locally (sent right after `CLIENT CACHING yes`), on one
 * server. KEYS: the values, all different; ARGV: their lock keys in the same order, then per
 * value: bytes, ttl ms (0: none), token, channel, key the notification names, seen. Every value
 * is read before its write (so the write announces exactly one invalidation to the writer) and
 * after it (so the new value is tracked), as STORE_AND_RELEASE does for one. Redis tracks the keys
 * a script declares, at each read command it runs: the values are declared and read twice in all,
 * and the locks, read in one MGET, are not declared, so they are never tracked (a lock key's
 * change would only cost an invalidation nobody needs). Not for a Cluster, which refuses
 * undeclared keys. Replies whether each was written (1, 0).
 */
export const STORE_TRACKED_AND_RELEASE_MANY = new Script(`${MAY_STORE}
local n = #KEYS
local any_present = redis.call('EXISTS', unpack(KEYS)) > 0
-- Each lock read by GETEX, which counts as a write: Redis 7.4 and later track every key a
-- script's read commands read (7.0 only its declared keys), and a lock key must never be tracked.
-- GETEX came in 6.2: before that, GET, which those versions do not track here.
local locks = {}
for i = 1, n do
  local v = redis.pcall('GETEX', ARGV[i])
  if type(v) == 'table' and v.err then v = redis.call('GET', ARGV[i]) end
  locks[i] = v
end
local out = {}
for i = 1, n do
  local a = n + (i - 1) * 6
  local v = locks[i]
  local token = ARGV[a + 3]
  local mine = v == token or v == token .. '+'
  if may_store(KEYS[i], v, token, ARGV[a + 6], any_present) then
    if ARGV[a + 2] == '0' then redis.call('SET', KEYS[i], ARGV[a + 1]) else redis.call('SET', KEYS[i], ARGV[a + 1], 'PX', ARGV[a + 2]) end
    redis.call('DEL', ARGV[i])
    if v ~= token then redis.call('PUBLISH', ARGV[a + 4], ${luaNotification('ARGV[a + 5]', 'ARGV[a + 1]')}) end
    out[i] = 1
  else
    if mine then redis.call('DEL', ARGV[i]) end
    redis.call('PUBLISH', ARGV[a + 4], ${luaKeyNotification('ARGV[a + 5]')})
    out[i] = 0
  end
end
redis.call('EXISTS', unpack(KEYS))
return out`);

/**
 * Redis Cluster: the values of keys of several slots that one node serves, in one command (MGET
 * refuses keys of different slots even on one node). No KEYS: Redis routes by declared keys and
 * refuses several slots among them; `allow-cross-slot-keys` (Redis 7) lets the script read any
 * key the node serves, and a key it does not serve fails the whole call ("non local key").
 * ARGV: the keys. One GET per key inside Lua costs the node less than one command per key.
 */
export const NODE_MGET = new Script(`#!lua flags=no-writes,allow-cross-slot-keys
local out = {}
for i = 1, #ARGV do out[i] = redis.call('GET', ARGV[i]) end
return out`);

/**
 * A counted table's change count lives in a field named by the byte 0xFF, which no UTF-8 text
 * holds: no tag, path or epoch field can take its name, and a process of a release that does not
 * count reads fields by name only and never sees it.
 *
 * KEYS: hash. ARGV: channel, message (a non-empty JSON object's text), epoch field, then field,
 * value, field, value, ... Adds one to the change count, sets the fields and publishes the
 * message with the new count added as `"n"` and the table's epoch (when it has one) as `"e"`,
 * all in one atomic step; returns the count and the epoch (null when none).
 */
export const HSET_COUNT_AND_PUBLISH = new Script(`
local n = redis.call('HINCRBY', KEYS[1], '\\255', 1)
for i = 4, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
local e = redis.call('HGET', KEYS[1], ARGV[3])
local extra = ',"n":' .. n
if e then extra = extra .. ',"e":' .. cjson.encode(e) end
redis.call('PUBLISH', ARGV[1], string.sub(ARGV[2], 1, -2) .. extra .. '}')
return { n, e }`);

/**
 * KEYS: hash. ARGV: init field, init value, then the fields to read. Creates the init field when
 * missing (HSETNX), so a table that vanished is recreated with a new epoch in the same atomic step
 * that reads it; replies with the change count (see `HSET_COUNT_AND_PUBLISH`; null when never
 * counted) followed by the fields.
 */
export const COUNTED_READ_INIT = new Script(`
redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2])
return redis.call('HMGET', KEYS[1], '\\255', unpack(ARGV, 3))`);

/**
 * KEYS: hash. ARGV: none, or the init field and value (created when missing, as in
 * `COUNTED_READ_INIT`). Replies with the change count (null when never counted), then every
 * other field and value, as HGETALL would.
 */
export const COUNTED_READ_ALL = new Script(`
if #ARGV == 2 then redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) end
local all = redis.call('HGETALL', KEYS[1])
local out = { false }
for i = 1, #all, 2 do
  if all[i] == '\\255' then out[1] = all[i + 1] else out[#out + 1] = all[i]; out[#out + 1] = all[i + 1] end
end
return out`);

/*
 * Hash storage (`storage: 'hash'`): entries are fields of buckets. A bucket's TTL is the latest
 * expiry of its fields, or none while one of them has none: a field is never dropped before its
 * own expiry by its bucket's. Expired fields of a live bucket are a reader's miss until read
 * (deleted then) or swept. On Redis 7.4+ each field also gets its own expiry (HPEXPIRE), so
 * Redis reclaims it on time; older servers answer that HPEXPIRE is unknown, which the caller
 * remembers so as to stop asking (ARGV flag).
 *
 * FIELD_SET(key, field, value, ttl, existed): HSET, then the bucket TTL. `existed`: whether the
 * bucket existed before this script's first write to it (a new bucket has no TTL, which must not
 * read as "a field without expiry lives here"). Returns whether HPEXPIRE was refused.
 */
const FIELD_SET = `
local function field_set(key, field, value, ttl, existed, hpexpire)
  redis.call('HSET', key, field, value)
  if ttl == 0 then
    redis.call('PERSIST', key)
    return 0
  end
  local left = redis.call('PTTL', key)
  if (existed == 0 and left == -1) or (left >= 0 and left < ttl) then redis.call('PEXPIRE', key, ttl) end
  if hpexpire == '1' then
    local r = redis.pcall('HPEXPIRE', key, ttl, 'FIELDS', 1, field)
    if type(r) == 'table' and r.err then return 1 end
  end
  return 0
end
local function check_hash(key)
  local t = redis.call('TYPE', key).ok
  if t ~= 'hash' and t ~= 'none' then return redis.error_reply('WRONGTYPE bucket ' .. key .. ' holds a ' .. t .. ', not a hash') end
  return nil
end
`;

/**
 * KEYS: the buckets. ARGV: the HPEXPIRE flag ('1': try it), then per write 6 values: bucket index
 * (1-based), kind ('s' set, 'l' set without a field expiry of its own, 'd' delete; upper case:
 * only while the field holds `expected`), field, value, ttl ms (0: none), expected. Checks every
 * bucket's type first, so a bucket that is not a hash fails the call before anything is written.
 * Returns { deleted count, HPEXPIRE refused }.
 */
export const FIELD_WRITE = new Script(`${FIELD_SET}
for i = 1, #KEYS do
  local bad = check_hash(KEYS[i])
  if bad then return bad end
end
local existed = {}
local deleted = 0
local refused = 0
for i = 2, #ARGV, 6 do
  local key = KEYS[tonumber(ARGV[i])]
  local kind = ARGV[i + 1]
  local field = ARGV[i + 2]
  local apply = true
  if kind == 'S' or kind == 'L' or kind == 'D' then apply = redis.call('HGET', key, field) == ARGV[i + 5] end
  if apply then
    if kind == 'd' or kind == 'D' then
      deleted = deleted + redis.call('HDEL', key, field)
    else
      if existed[key] == nil then existed[key] = redis.call('EXISTS', key) end
      local hpexpire = ARGV[1]
      if kind == 'l' or kind == 'L' then hpexpire = '0' end
      if field_set(key, field, ARGV[i + 3], tonumber(ARGV[i + 4]), existed[key], hpexpire) == 1 then refused = 1 end
      existed[key] = 1
    end
  end
end
return { deleted, refused }`);

/**
 * KEYS: lock, bucket. ARGV: token, lease ms, field. As ACQUIRE_AND_READ, reading a field; a
 * bucket that is not a hash reads as a missing field (its write will then fail and be reported).
 */
export const ACQUIRE_FIELD_AND_READ = new Script(`
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  if redis.call('TYPE', KEYS[2]).ok ~= 'hash' then return { 1, false } end
  return { 1, redis.call('HGET', KEYS[2], ARGV[3]) }
end
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, -1) ~= '+' then redis.call('APPEND', KEYS[1], '+') end
return { 0, redis.call('PTTL', KEYS[1]) }`);

/**
 * KEYS: bucket, lock. ARGV: bytes, ttl ms (0: none), token, channel, key the notification names,
 * field, HPEXPIRE flag, seen. As STORE_AND_RELEASE for a field, written only while the lock is
 * ours and the field is still what was read with it (`seen` as in MAY_STORE; a field past its
 * recorded expiry reads as absent, and its reader deletes it first): else 2, the lock released if
 * ours, waiters told with nothing carried. A bucket that is not a hash is left alone (the lock is
 * still released and waiters notified, with no value carried) and the call fails with WRONGTYPE.
 * Returns whether HPEXPIRE was refused.
 */
export const STORE_FIELD_AND_RELEASE = new Script(`${FIELD_SET}
local v = redis.call('GET', KEYS[2])
if v ~= ARGV[3] and v ~= ARGV[3] .. '+' then
  redis.call('PUBLISH', ARGV[4], ${luaKeyNotification('ARGV[5]')})
  return 2
end
local bad = check_hash(KEYS[1])
if not bad and ARGV[8] ~= '' then
  local cur = redis.call('HGET', KEYS[1], ARGV[6])
  if cur and (ARGV[8] == '-' or redis.sha1hex(cur) ~= ARGV[8]) then
    redis.call('DEL', KEYS[2])
    redis.call('PUBLISH', ARGV[4], ${luaKeyNotification('ARGV[5]')})
    return 2
  end
end
local refused = 0
if not bad then refused = field_set(KEYS[1], ARGV[6], ARGV[1], tonumber(ARGV[2]), redis.call('EXISTS', KEYS[1]), ARGV[7]) end
redis.call('DEL', KEYS[2])
if v ~= ARGV[3] then
  local stored = ARGV[1]
  if bad then stored = '' end
  redis.call('PUBLISH', ARGV[4], ${luaNotification('ARGV[5]', 'stored')})
end
if bad then return bad end
return refused`);

import { Buffer } from 'node:buffer';
import type { Command } from 'ioredis';
import { trackedSet, type WriteOp } from './store.js';
import { writtenCommand } from './written-command.js';

/**
 * A bulk write (`setMany`, `batch`) as scripts whose bytes Trove writes, instead of a MULTI of one
 * ioredis command per entry. ioredis builds each of those from its arguments, copies every value
 * into a new Buffer, makes a promise per command and parses a `QUEUED` and an `OK` per entry: for
 * 100,000 entries that was most of the call's time and most of its garbage (BENCHMARKS.md,
 * set-many). Here one script writes up to `WRITE_MANY_CHUNK` entries (fewer when their values
 * pass `WRITE_MANY_BYTES`); more go as several scripts in one MULTI/EXEC, so the whole write is
 * still all or none and no script runs long enough for Redis to answer other clients BUSY. One
 * server only, like every command Trove writes.
 *
 * ARGV[1]: '1' when the batch is tracked (sent right after `CLIENT CACHING yes`). KEYS: the keys
 * to track then, else every key. Redis tracks every key a script declares once it reads one, so a
 * set left out of the tracking (`untracked`) names its key among the arguments instead: one server
 * (or one Cluster slot) only, like every command Trove writes. The tracked keys are read before the
 * writes and after them, as `RedisStore.trackedWrite` does, so that each announces exactly one
 * invalidation to this connection and its new value is tracked. Then per write: its kind, 'S' or
 * 's' (set), 'D' or 'd' (delete), upper case when its key is the next of KEYS, lower case when the
 * key follows; a set's bytes and ttl in ms ('0': none).
 */
export const WRITE_MANY = `local track = ARGV[1] == '1' and #KEYS > 0
if track then redis.call('EXISTS', unpack(KEYS)) end
local k, a, n = 0, 2, 0
while a <= #ARGV do
  local kind, key = ARGV[a], nil
  if kind == 'S' or kind == 'D' then
    k = k + 1
    key = KEYS[k]
    a = a + 1
  else
    key = ARGV[a + 1]
    a = a + 2
  end
  if kind == 'D' or kind == 'd' then
    redis.call('UNLINK', key)
  else
    if ARGV[a + 1] == '0' then redis.call('SET', key, ARGV[a])
    else redis.call('SET', key, ARGV[a], 'PX', ARGV[a + 1]) end
    a = a + 2
  end
  n = n + 1
end
if track then redis.call('EXISTS', unpack(KEYS)) end
return n`;

/**
 * Entries per script: short scripts (about 3 ms of Redis for 1,000 small values), and Lua's
 * `unpack` (at most 7,999 values) takes every written key of one.
 */
export const WRITE_MANY_CHUNK = 1_000;

/**
 * Value bytes per script, at most (a single larger value goes alone): one command must stay far
 * below what Redis takes in one request (`client-query-buffer-limit`, 1 GiB by default), which
 * 1,000 values of a megabyte each would pass.
 */
export const WRITE_MANY_BYTES = 4 * 1024 * 1024;

/** Where each script of a bulk write ends: `ops` cut after `WRITE_MANY_CHUNK` writes or `WRITE_MANY_BYTES` of values. */
export function writeManyParts(ops: readonly WriteOp[]): number[] {
  const ends: number[] = [];
  let count = 0;
  let bytes = 0;
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    const size = op.type === 'set' ? op.value.length : 0;
    if (count > 0 && (count === WRITE_MANY_CHUNK || bytes + size > WRITE_MANY_BYTES)) {
      ends.push(i);
      count = 0;
      bytes = 0;
    }
    count++;
    bytes += size;
  }
  ends.push(ops.length);
  return ends;
}

const SOURCE_HEAD = `$${Buffer.byteLength(WRITE_MANY)}\r\n${WRITE_MANY}\r\n`;

/** The length of a RESP bulk string of `bytes` bytes, framing included. */
function bulkLength(bytes: number): number {
  return 1 + String(bytes).length + 2 + bytes + 2;
}

/**
 * `EVAL <WRITE_MANY> …` for `ops` (one part of `writeManyParts`), `prefix` (the client's
 * `keyPrefix`) before each key; with `track`, the sets not marked `untracked` are tracked. The
 * reply is the number of writes.
 */
export function writeManyCommand(prefix: string, ops: readonly WriteOp[], track: boolean): Command {
  const n = ops.length;
  const keys = new Array<string>(n);
  const keyBytes = new Array<number>(n);
  const declared = new Array<boolean>(n);
  const ttls = new Array<string>(n);
  let declaredCount = 0;
  // RESP parts after the keys: the track flag, then each write's kind, key if not declared, bytes and ttl.
  let argvParts = 1;
  let argvSize = bulkLength(1);
  let keysSize = 0;
  for (let i = 0; i < n; i++) {
    const op = ops[i]!;
    const key = prefix === '' ? op.key : prefix + op.key;
    keys[i] = key;
    const bytes = Buffer.byteLength(key);
    keyBytes[i] = bytes;
    const named = !track || trackedSet(op);
    declared[i] = named;
    if (named) {
      declaredCount++;
      keysSize += bulkLength(bytes);
    } else {
      argvParts++;
      argvSize += bulkLength(bytes);
    }
    argvParts++;
    argvSize += bulkLength(1);
    if (op.type === 'set') {
      const ttl = op.ttlMs === undefined ? '0' : String(Math.max(1, Math.ceil(op.ttlMs)));
      ttls[i] = ttl;
      argvParts += 2;
      argvSize += bulkLength(op.value.length) + bulkLength(ttl.length);
    }
  }
  const argc = String(declaredCount);
  // EVAL, the source, the key count, the keys, then the arguments.
  const head = `*${3 + declaredCount + argvParts}\r\n$4\r\neval\r\n${SOURCE_HEAD}$${argc.length}\r\n${argc}\r\n`;
  const out = Buffer.allocUnsafe(head.length + keysSize + argvSize);
  // Everything but the keys and the values is ASCII: written as latin1, one byte per character.
  let at = out.write(head, 0, 'latin1');
  for (let i = 0; i < n; i++) if (declared[i]) at = writeKey(out, at, keys[i]!, keyBytes[i]!);
  at += out.write(track ? '$1\r\n1\r\n' : '$1\r\n0\r\n', at, 'latin1');
  for (let i = 0; i < n; i++) {
    const op = ops[i]!;
    const set = op.type === 'set';
    const kind = set ? (declared[i] ? 'S' : 's') : declared[i] ? 'D' : 'd';
    at += out.write(`$1\r\n${kind}\r\n`, at, 'latin1');
    if (!declared[i]) at = writeKey(out, at, keys[i]!, keyBytes[i]!);
    if (!set) continue;
    at += out.write(`$${op.value.length}\r\n`, at, 'latin1');
    at += op.value.copy(out, at);
    const ttl = ttls[i]!;
    at += out.write(`\r\n$${ttl.length}\r\n${ttl}\r\n`, at, 'latin1');
  }
  return writtenCommand('eval', out);
}

/** Writes `key` (of `bytes` bytes in UTF-8) as a RESP bulk string at `at`; returns where it ends. */
function writeKey(out: Buffer, at: number, key: string, bytes: number): number {
  let to = at + out.write(`$${bytes}\r\n`, at, 'latin1');
  to += out.write(key, to, 'utf8');
  return to + out.write('\r\n', to, 'latin1');
}

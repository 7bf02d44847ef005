/** One tick's lock attempts and lock-holder writes as the arguments and replies of the batch scripts (see `scripts.ts`): shared by the drivers. */
import { createHash } from 'node:crypto';
import { acquireAndReadOutcome, readOrAcquireOutcome } from './lock-replies.js';
import { ACQUIRE_AND_READ, READ_OR_ACQUIRE, type Script } from './scripts.js';
import type { ReadOrLock, StoreAndRelease, StoreFieldAndRelease } from './store.js';

/** A lock attempt that reads the guarded value in the same step. */
export interface LockRequest {
  key: string;
  readKey: string;
  token: string;
  /** Lease in whole ms, at least 1. */
  lease: number;
  /** Read the value first and take the lock only when it is absent (`LockStore.readOrLock`). */
  readFirst: boolean;
}

/** A lock request sent on its own (alone in its tick, or on a Cluster): its single-lock script, keys, arguments, and how the reply reads. */
export function loneLock(r: LockRequest): { script: Script; keys: string[]; args: (string | number)[]; outcome: (reply: unknown) => ReadOrLock } {
  const keys = [r.key, r.readKey];
  const args = [r.token, r.lease];
  return r.readFirst
    ? { script: READ_OR_ACQUIRE, keys, args, outcome: readOrAcquireOutcome }
    : { script: ACQUIRE_AND_READ, keys, args, outcome: acquireAndReadOutcome };
}

/** ACQUIRE_AND_READ_MANY's keys (lock, value, ...) and arguments (token, lease, read first, ...). */
export function acquireManyArgs(requests: readonly LockRequest[]): { keys: string[]; args: (string | number)[] } {
  const keys: string[] = [];
  const args: (string | number)[] = [];
  for (const r of requests) {
    keys.push(r.key, r.readKey);
    args.push(r.token, r.lease, r.readFirst ? '1' : '0');
  }
  return { keys, args };
}

/** ACQUIRE_AND_READ_MANY's flat reply as one outcome per request (`found` only for a request that reads first). */
export function acquireManyOutcomes(reply: unknown, count: number): ReadOrLock[] {
  const flat = reply as unknown[];
  const out: ReadOrLock[] = [];
  for (let i = 0; i < count; i++) out.push(readOrAcquireOutcome([flat[2 * i], flat[2 * i + 1]]));
  return out;
}

/** STORE_AND_RELEASE_MANY's keys (value, lock, ...) and arguments (bytes, ttl ms or 0, token, channel, message, seen, ...). */
export function storeManyArgs(ops: readonly StoreAndRelease[]): { keys: string[]; args: (string | number | Buffer)[] } {
  const keys: string[] = [];
  const args: (string | number | Buffer)[] = [];
  for (const op of ops) {
    keys.push(op.key, op.lockKey);
    args.push(op.value, op.ttlMs === undefined ? 0 : Math.max(1, Math.ceil(op.ttlMs)), op.token, op.channel, op.message, seenArg(op.seen));
  }
  return { keys, args };
}

/**
 * STORE_TRACKED_AND_RELEASE_MANY's keys (the values) and arguments (their locks, then bytes, ttl
 * ms or 0, token, channel, message, seen, ...). The locks travel as arguments, which a client's
 * `keyPrefix` does not reach: `keyPrefix` is put before them here.
 */
export function trackedStoreArgs(ops: readonly StoreAndRelease[], keyPrefix = ''): { keys: string[]; args: (string | number | Buffer)[] } {
  const keys: string[] = [];
  const args: (string | number | Buffer)[] = [];
  for (const op of ops) {
    keys.push(op.key);
    args.push(keyPrefix + op.lockKey);
  }
  for (const op of ops) args.push(op.value, op.ttlMs === undefined ? 0 : Math.max(1, Math.ceil(op.ttlMs)), op.token, op.channel, op.message, seenArg(op.seen));
  return { keys, args };
}

/** Whether two of the writes are of the same key. */
export function repeatsKey(ops: readonly StoreAndRelease[]): boolean {
  if (ops.length < 2) return false;
  const seen = new Set<string>();
  for (const op of ops) {
    if (seen.has(op.key)) return true;
    seen.add(op.key);
  }
  return false;
}

/** Whether each write of a store script was made, from its reply: a flag per write (1 written), or a single 1 or 0 for one write. */
export function writtenOutcomes(reply: unknown, count: number): boolean[] {
  if (Array.isArray(reply)) return reply.map((flag) => Number(flag) === 1);
  return new Array<boolean>(count).fill(Number(reply) === 1);
}

/** The store scripts' `seen` argument (see MAY_STORE): '' nothing checked, '-' absent, else the SHA-1 of the bytes, in hex. */
export function seenArg(seen: Buffer | null | undefined): string {
  if (seen === undefined) return '';
  return seen === null ? '-' : createHash('sha1').update(seen).digest('hex');
}

/** STORE_FIELD_AND_RELEASE's arguments after its keys (bucket, lock); `fieldExpiry`: whether the server takes HPEXPIRE. */
export function fieldStoreArgs(op: StoreFieldAndRelease, fieldExpiry: boolean): (string | number | Buffer)[] {
  const ttl = op.ttlMs === undefined ? 0 : Math.max(1, Math.ceil(op.ttlMs));
  return [op.value, ttl, op.token, op.channel, op.message, op.field, fieldExpiry && op.fieldExpiry !== false ? '1' : '0', seenArg(op.seen)];
}

/**
 * STORE_FIELD_AND_RELEASE's reply: whether the value was written (2: refused, the lock not ours or
 * the field written since), and whether the server refused HPEXPIRE (1: fields get no TTL of their own).
 */
export function fieldStoreOutcome(reply: unknown): { written: boolean; noFieldExpiry: boolean } {
  const n = Number(reply);
  return { written: n !== 2, noFieldExpiry: n === 1 };
}

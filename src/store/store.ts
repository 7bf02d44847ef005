/**
 * What every backend implements. The store layer is the only place that knows about Redis; a
 * node-redis or Cluster driver is one more implementation. `Store` is the sum of small
 * interfaces, one per concern, so that each component depends only on the operations it uses.
 */

/**
 * One write inside an atomic batch. `ttlMs` undefined means no expiry. `untracked`: a set left out
 * of the batch's tracking (its value is not kept locally; see `exec`).
 */
export type WriteOp =
  | { readonly type: 'set'; readonly key: string; readonly value: Buffer; readonly ttlMs: number | undefined; readonly untracked?: boolean }
  | { readonly type: 'delete'; readonly key: string };

/** Whether a batch's write is a set to track when the batch is tracked (see `Store.exec`). */
export function trackedSet(op: WriteOp): boolean {
  return op.type === 'set' && op.untracked !== true;
}

/** The write of a computed value by the holder of its lock (see `LockStore.storeAndRelease`). */
export interface StoreAndRelease {
  readonly key: string;
  readonly value: Buffer;
  /** Time-to-live in milliseconds; undefined means no expiry. */
  readonly ttlMs: number | undefined;
  readonly lockKey: string;
  /** The holder's token: the lock is released only if it still holds it. */
  readonly token: string;
  /**
   * Where waiters are notified, and the key the notification names: the store frames it as
   * `notification.ts` describes, carrying `value` when it is small.
   */
  readonly channel: string;
  readonly message: string;
  /** The writer keeps the value locally: tracked as in `KeyValueStore.set`. */
  readonly track?: boolean;
  /**
   * The value as read when the lock was taken (null: absent; undefined: not read, nothing
   * checked). A value present now that is not that one (written meanwhile by another's `set`) is
   * newer than this computation, which is then not written.
   */
  readonly seen?: Buffer | null;
  /**
   * How long the lock has been held when the store is issued, in ms (undefined: not known). A
   * claim held long enough for others to have found it is stored with its notification in one
   * step (see `ClaimLocks.storeMany`).
   */
  readonly heldMs?: number;
}

/** What a store reports about its connection, forwarded as trove events. */
export interface StoreListener {
  /** A connection-level error (refused, reset, timed out); operations fail with StoreError meanwhile. */
  onConnectionError?(error: Error): void;
  /** The store is (again) able to serve. */
  onReady?(): void;
  /** The connection to the primary (or the cluster) was lost: operations fail until `onReady`. */
  onDisconnect?(): void;
}

/**
 * Outcome of a lock attempt: acquired (with the value of `readKey` read in the same atomic step,
 * when one was given), or held by someone else for `ttlMs` more milliseconds (-1: unknown).
 */
export type LockAttempt =
  | { readonly acquired: true; readonly value?: Buffer | null; readonly held?: HeldLock }
  | { readonly acquired: false; readonly ttlMs: number };

/**
 * Where a won lock lives when it is not the key and token asked for: a claim holds the value key
 * itself, with a marker (see `claims.ts`). Renewals, releases and the holder's store name these.
 */
export interface HeldLock {
  readonly key: string;
  readonly token: string;
}

/** A lock attempt's leave to claim the value's own key (see `LockStore.acquireLock`). */
export interface ClaimOption {
  /** Where waiters are notified (as in `StoreAndRelease`): those of a claim that must be given back are told there. */
  readonly channel: string;
}

/** `LockStore.readOrLock`'s outcome: the value's bytes when it was present (no lock was taken), else the lock attempt made. */
export type ReadOrLock = LockAttempt | { readonly found: Buffer };

/** Receives the messages of a subscribed channel: as text (`onMessage`) or as the bytes Redis sent (`onBytes`, binary-safe). */
export type ChannelListener = ({ onMessage(message: string): void; onBytes?: never } | { onBytes(message: Buffer): void; onMessage?: never }) & {
  /**
   * The subscription was interrupted (connection lost) or restored: messages may have been
   * missed in between, so anything derived from them must be rechecked.
   */
  onReset?(): void;
};

/**
 * A hash field that a hash read creates, atomically with the read, when it is missing: a table
 * that vanished (evicted under `maxmemory`, flushed) then reads as a new epoch, never as empty.
 */
export type HashInit = readonly [field: string, value: string];

/** Receives Redis's invalidations of tracked keys (server-assisted client-side caching). */
export interface TrackingListener {
  /** These keys changed (written, deleted, expired, evicted) since this process read them; `null`: everything (FLUSHALL). */
  onInvalidate(keys: readonly string[] | null): void;
  /**
   * Tracking became live (invalidations will arrive for everything read from now on) or was lost
   * (the channel or the connection broke: invalidations may have been missed).
   */
  onTrackingChange(live: boolean): void;
}

/** Plain keys holding encoded values (the cache entries): reads, writes, atomic batches and a walk by prefix. */
export interface KeyValueStore {
  /**
   * Reads one key; concurrent reads issued in the same tick are sent as one MGET. `track`: the
   * caller keeps the value locally, so Redis must announce the key's next change (see
   * `TrackingStore.enableTracking`); reads of values not kept are not tracked.
   */
  get(key: string, track?: boolean): Promise<Buffer | null>;
  /** Reads several keys in one round trip; results in the order of `keys`. `track` as in `get`. */
  mget(keys: readonly string[], track?: boolean): Promise<(Buffer | null)[]>;
  /**
   * Writes one key, with a time-to-live in milliseconds (undefined: no expiry). `track`: the
   * caller keeps the written value locally, so Redis must announce the key's next change. A
   * tracked write and its tracking are one atomic step, and cause exactly one invalidation of the
   * key on this store's tracking channel (see `TrackingStore.enableTracking`).
   */
  set(key: string, value: Buffer, ttlMs: number | undefined, track?: boolean): Promise<void>;
  /** Deletes keys; resolves to how many existed. */
  delete(keys: readonly string[]): Promise<number>;
  /**
   * Deletes entry keys (of a region that is not raw); resolves to how many held a value. A
   * claim's marker (a value being computed) is deleted, refusing that computation's write, and is
   * not counted.
   */
  deleteEntries(keys: readonly string[]): Promise<number>;
  /**
   * Writes `value` over `key` only while the key still holds exactly `expected` (compare-and-set),
   * keeping the key's time-to-live; resolves to whether it wrote. Untracked: the writer keeps no
   * copy, and every process that tracks the key is told it changed.
   */
  replace(key: string, expected: Buffer, value: Buffer): Promise<boolean>;
  /**
   * Sets a key's time-to-live in milliseconds; resolves to whether the key exists. `track` as in
   * `set` (exactly one invalidation of the key follows).
   */
  expire(key: string, ttlMs: number, track?: boolean): Promise<boolean>;
  /** Whether a key exists (without reading its value). */
  exists(key: string): Promise<boolean>;
  /** A key's remaining time-to-live in milliseconds (PTTL): `Infinity` when it has no expiry, `undefined` when it does not exist. */
  remainingTtl(key: string): Promise<number | undefined>;
  /**
   * Applies the writes atomically (MULTI/EXEC on Redis): all or none. On Redis Cluster, atomic
   * per slot only (one MULTI/EXEC per slot: Redis has no cross-slot transaction). `track` as in `set`: every
   * key set by the batch (but those whose every set is `untracked`) is tracked, with exactly one
   * invalidation per distinct key set.
   */
  exec(ops: readonly WriteOp[], track?: boolean): Promise<void>;
  /**
   * Iterates, in batches and without blocking the server, the keys that start with `prefix`
   * (taken literally: no character in it is a pattern). A key may be yielded more than once, and
   * keys written during the iteration may or may not be seen, as with Redis SCAN.
   */
  scanPrefix(prefix: string, count?: number): AsyncIterable<string[]>;
}

/**
 * Cross-process locks with a lease, so that one process computes a missing value while the
 * others wait for it. A failed `acquireLock` marks the lock as waited for, which
 * `storeAndRelease` uses to decide whether to notify.
 */
export interface LockStore {
  /**
   * Takes a lock: sets `key` to `token` with a lease of `ttlMs` if nobody holds it. With `readKey`,
   * also reads that key in the same atomic step when the lock is won (saving a round trip to
   * re-check a value that may have landed just before). `claim` (with `readKey`): the value key
   * holds envelopes only, so where the server allows, an absent value is claimed in its own key
   * (see `claims.ts`); the attempt's `held` then names the lock.
   */
  acquireLock(key: string, token: string, ttlMs: number, readKey?: string, claim?: ClaimOption): Promise<LockAttempt>;
  /**
   * In one atomic step: reads `readKey` and, only when it is absent, takes the lock as
   * `acquireLock` does (a won lock then comes with `value: null`). For reads that will most likely
   * miss: one round trip where a read followed by a lock attempt takes two. Absent where the
   * entries' locks live elsewhere (hash storage): callers then read first.
   */
  readOrLock?(key: string, token: string, ttlMs: number, readKey: string, claim?: ClaimOption): Promise<ReadOrLock>;
  /** Extends the lease if `token` still holds the lock; resolves to whether it did. */
  renewLock(key: string, token: string, ttlMs: number): Promise<boolean>;
  /** Releases the lock if `token` still holds it (compare-and-delete); resolves to whether it did. */
  releaseLock(key: string, token: string): Promise<boolean>;
  /**
   * In one atomic step, while `token` still holds the lock: stores the value, releases the lock,
   * and publishes `message` on `channel` (carrying the value when small) when someone waits (a
   * failed `acquireLock` marked the lock). A lock no longer held (deleted with its value by
   * `delete`, flushed, expired, taken by another) or a value written since `seen` prevents the
   * write: waiters are then told with nothing carried. Resolves to whether the value was written.
   * A claim's store has `lockKey` equal to `key`: the write itself replaces the marker.
   */
  storeAndRelease(op: StoreAndRelease): Promise<boolean>;
}

/**
 * Small tables (hashes) that every process keeps in memory, such as the generation and tag
 * tables: read whole or by field, and changed together with an announcement to the other
 * processes. They count their changes, so a process can tell by one small read whether it missed one.
 */
export interface TableStore {
  /**
   * Every field of a counted table (none when it does not exist) and its change count (see
   * `hashSetCountAndPublish`), after creating the `init` field if it is missing, in one atomic
   * step. Tracked whenever tracking is enabled: the table is kept locally.
   */
  hashGetAllCounted(key: string, init?: HashInit): Promise<CountedHash>;
  /** Some fields of a counted table, in order (null for a missing field), with its change count; `init` and tracking as in `hashGetAllCounted`. */
  hashGetCounted(key: string, fields: readonly string[], init: HashInit): Promise<CountedFields>;
  /**
   * In one atomic step: adds one to a counted table's change count, sets hash fields and publishes
   * `message` (the text of a non-empty JSON object) on `channel`, with the new count added as its
   * field `n` and the value of the table's `epochField` (when present) as `e`. Resolves to the new
   * count and that epoch. The count is kept where no field name can reach it.
   */
  hashSetCountAndPublish(
    key: string,
    entries: readonly (readonly [string, string])[],
    channel: string,
    message: string,
    epochField: string,
  ): Promise<CountedWrite>;
}

/** What a change of a counted table was numbered, and the table's epoch then (undefined: none yet). */
export interface CountedWrite {
  count: number;
  epoch: string | undefined;
}

/** Every field of a counted table, and its change count when they were read. */
export interface CountedHash {
  /** How many counted changes the table has had: 0 when none (never counted, or the table was recreated). */
  count: number;
  /** Every field but the count, by name. */
  fields: Record<string, string>;
}

/** Fields of a counted table, and its change count when they were read. */
export interface CountedFields {
  /** How many counted changes the table has had: 0 when none (never counted, or the table was recreated). */
  count: number;
  /** The fields asked for, in order (null for a missing field). */
  values: (string | null)[];
}

/**
 * Counters that every process adds to and anyone reads merged: the statistics. Never tracked, never
 * kept locally.
 */
export interface CounterStore {
  /**
   * In one atomic step: adds whole (`counts`) and fractional (`fractions`) increments to fields of
   * a hash, and sets its time-to-live in milliseconds.
   */
  hashIncrement(key: string, counts: readonly (readonly [string, number])[], fractions: readonly (readonly [string, number])[], ttlMs: number): Promise<void>;
  /** Whole hashes, in the order of `keys` (an empty object for a missing one), in one round trip per node. */
  hashReadMany(keys: readonly string[]): Promise<Record<string, string>[]>;
}

/** Publish/subscribe between processes. Messages are not stored: one sent while a subscriber is disconnected is lost to it. */
export interface MessageBus {
  /** Publishes a message to every subscriber of the channel (every process). */
  publish(channel: string, message: string): Promise<void>;
  /** Subscribes to a channel; resolves once the subscription is active, to an unsubscribe function. */
  subscribe(channel: string, listener: ChannelListener): Promise<() => void>;
  /** Whether subscriptions are currently active (messages are being received). */
  readonly subscribed: boolean;
  /**
   * Resolves once the messages published before the call have reached their listeners, where the
   * store can tell: on one server, a PING on the subscribed connection, which Redis answers after
   * every message it queued there before. Elsewhere (a Cluster forwards messages between nodes),
   * or when the PING fails, it resolves without that promise.
   */
  delivered(): Promise<void>;
}

/**
 * Server-assisted client-side caching: the store tells which keys it reads (and writes) on behalf
 * of a local copy, and Redis announces their changes, so the near cache can keep values in
 * process memory without serving them after another process changed them.
 */
export interface TrackingStore {
  /**
   * Turns on invalidation tracking of the keys this store reads (and writes) from now on. Every
   * change of a tracked key is announced, including this store's own writes and evictions caused
   * by its own commands. Returns false when the store cannot track (the embedded store: there is
   * no other writer).
   */
  enableTracking(listener: TrackingListener): boolean;
  /** Whether tracking is live right now. */
  readonly tracking: boolean;
}

/** A field of a bucket: a Redis hash holding many small entries, one per field (`storage: 'hash'`). */
export type FieldRef = readonly [bucket: string, field: string];

/** What a field read gives: the value, `null` when the field (or its bucket) is missing, or the error of its bucket alone (e.g. WRONGTYPE). */
export type FieldValue = Buffer | null | Error;

/**
 * One write of `FieldStore.fieldWrite`. `ttlMs`: the entry's time-to-live in milliseconds
 * (undefined: none); the bucket keeps the latest expiry of its fields. `expected`: applied only
 * while the field still holds these bytes (compare-and-set, compare-and-delete).
 */
export type FieldWriteOp =
  | {
      readonly type: 'set';
      readonly bucket: string;
      readonly field: string;
      readonly value: Buffer;
      readonly ttlMs: number | undefined;
      readonly expected?: Buffer;
      /** false: the field gets no expiry of its own (HPEXPIRE), its envelope's only (`hashFieldExpiry: 'lazy'`). */
      readonly fieldExpiry?: boolean;
    }
  | { readonly type: 'delete'; readonly bucket: string; readonly field: string; readonly expected?: Buffer };

/** The write of a computed value into a bucket field by the holder of its lock (see `FieldStore.storeFieldAndRelease`). */
export interface StoreFieldAndRelease extends Omit<StoreAndRelease, 'key' | 'track'> {
  readonly bucket: string;
  readonly field: string;
  /** false: the field gets no expiry of its own (see `FieldWriteOp`). */
  readonly fieldExpiry?: boolean;
}

/**
 * Entries kept as fields of Redis hashes ("buckets"), for `storage: 'hash'` regions: many small
 * entries per key, so Redis stores them in its compact encoding. A bucket's time-to-live is the
 * latest expiry of its fields (none when one has none); on Redis 7.4+ each field also gets its
 * own (HPEXPIRE). Tracking is per bucket: a change of any field announces the bucket key.
 */
export interface FieldStore {
  /**
   * Reads one field. Reads issued in the same tick go out together: one HMGET per bucket, in one
   * socket write. `track`: Redis must announce the bucket's next change (see `KeyValueStore.get`).
   * Rejects with the bucket's error when it cannot be read as a hash.
   */
  fieldGet(bucket: string, field: string, track?: boolean): Promise<Buffer | null>;
  /** Reads several fields in one round trip (one HMGET per bucket); per read its value, null, or its bucket's error. */
  fieldGetMany(refs: readonly FieldRef[], track?: boolean): Promise<FieldValue[]>;
  /**
   * Applies writes, each bucket's all or none (one script; on one server every bucket in one
   * script, so the whole call). A bucket that is not a hash fails the call before anything is
   * written. Resolves to how many fields the writes deleted (deletes of missing fields count 0).
   */
  fieldWrite(ops: readonly FieldWriteOp[]): Promise<number>;
  /** Every field of a bucket (HGETALL; buckets are small by design); empty when it does not exist. */
  fieldEntries(bucket: string): Promise<[string, Buffer][]>;
  /** `LockStore.acquireLock` that reads a field (`bucket`, `field`) in the same atomic step when the lock is won. */
  acquireFieldLock(lockKey: string, token: string, ttlMs: number, bucket: string, field: string): Promise<LockAttempt>;
  /**
   * `LockStore.storeAndRelease` for a field: stores it (extending the bucket's TTL), releases the
   * lock, notifies; only while the lock is held and the field is what `seen` says. Resolves to
   * whether the value was written.
   */
  storeFieldAndRelease(op: StoreFieldAndRelease): Promise<boolean>;
}

/**
 * A whole backend: what the trove creates, hands out by its narrower parts, and closes. Components
 * depend on the narrowest of those parts they use.
 */
/** A read-only command of the application's own keys, checked and ready to send (see `CommandStore`). */
export interface CommandCall {
  /** The command, e.g. `'HGETALL'` (any case). */
  readonly name: string;
  /** Its arguments as the driver sends them (numbers as their decimal text; node-redis: keys with the client's `keyPrefix`). */
  readonly args: readonly (string | number | Buffer)[];
  /** The keys it reads, without the client's `keyPrefix` (as invalidations name them); on a cluster, the route. */
  readonly keys: readonly string[];
  /** Bulk strings answered as Buffers rather than (UTF-8) strings. */
  readonly buffers: boolean;
}

/**
 * Any read-only command on the application's own keys (no Trove prefix), whose reply the caller
 * may keep locally until Redis announces a change of one of its keys (`trove.cachedCommand`).
 */
export interface CommandStore {
  /**
   * Checks `name` with `args` and finds the keys it reads. Rejects with `InvalidOptionError`
   * naming the command when its reply cannot be kept (not read-only, keyless, keys Redis cannot
   * name: see `command-keys.ts`); the embedded store rejects every command (option `redis`).
   */
  prepareCommand(name: string, args: readonly (string | number | Buffer)[], buffers: boolean): Promise<CommandCall>;
  /**
   * Runs a prepared command; resolves to its reply as ioredis's `call` answers it (RESP2 shapes:
   * strings or Buffers, integers, arrays, null). `track`: sent on the tracked connection right
   * after `CLIENT CACHING yes`, so Redis announces the next change of its keys (on a cluster, on
   * the reader of the master of their slot); sent untracked when tracking is not enabled.
   */
  readCommand(call: CommandCall, track: boolean): Promise<unknown>;
}

export interface Store extends KeyValueStore, LockStore, TableStore, CounterStore, MessageBus, TrackingStore, CommandStore, FieldStore {
  /** `'redis'` for a shared Redis, `'memory'` for the embedded single-process store. */
  readonly kind: 'redis' | 'memory';
  /**
   * Whether keys are spread over Redis Cluster slots: the keys that one operation touches together
   * (an entry and its lock) must then share a hash tag, which the key layout adds.
   */
  readonly hashTags: boolean;
  /** Releases connections and timers that the store owns. */
  close(): Promise<void>;
}

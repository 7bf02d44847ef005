import { Buffer } from 'node:buffer';
import { InvalidOptionError, StoreError } from '../errors.js';
import { deliver } from './channel-delivery.js';
import { LruEntries } from './lru-entries.js';
import { keyNotification, notificationOf } from './notification.js';
import type {
  FieldRef,
  FieldValue,
  FieldWriteOp,
  StoreFieldAndRelease,
  ChannelListener,
  CommandCall,
  CountedFields,
  CountedHash,
  CountedWrite,
  HashInit,
  LockAttempt,
  ReadOrLock,
  Store,
  StoreAndRelease,
  WriteOp,
} from './store.js';

/** Where a counted table keeps its change count: a lone surrogate, which no tag or path can be (they must be well-formed). */
const COUNT_FIELD = '\ud800';

/** Options of the embedded in-memory store (used when no `redis` is configured). */
export interface MemoryStoreOptions {
  /**
   * Most entries kept; the least recently used are evicted beyond it. The store reserves this many
   * slots when created: about 50 bytes each (5 MB at the default) before its first entry.
   * Default 100,000.
   */
  maxEntries?: number;
  /** Most bytes kept (encoded values plus keys); least recently used are evicted beyond it. Default 256 MiB. */
  maxBytes?: number;
}

/**
 * A single-process store with Redis semantics for values, TTLs, atomic batches and SCAN, used for
 * development and single-process services. Values are stored encoded, exactly as Redis would hold
 * them, so codecs and the envelope behave the same on both stores.
 */
export class MemoryStore implements Store {
  readonly kind = 'memory' as const;
  readonly hashTags = false;
  private readonly cache: LruEntries<Buffer>;
  private closed = false;
  private readonly channels = new Map<string, Set<ChannelListener>>();
  /** Hashes are small control data (generations, tag tokens): kept outside the LRU so they are never evicted. */
  private readonly hashes = new Map<string, Map<string, string>>();
  /** Expiry (epoch ms) of the hashes that have one. */
  private readonly hashExpiry = new Map<string, number>();

  constructor(opts: MemoryStoreOptions = {}) {
    this.cache = new LruEntries<Buffer>({
      max: opts.maxEntries ?? 100_000,
      maxSize: opts.maxBytes ?? 256 * 1024 * 1024,
      sizeCalculation: (value, key) => value.length + key.length + 1,
      ttlAutopurge: false,
      // Read the clock on every check: lru-cache otherwise reuses a reading until a 1 ms timer
      // clears it, and a timer late under load made an entry written after that reading report
      // more time left than its TTL (a 120 s entry answered 120,004 ms).
      ttlResolution: 0,
      allowStale: false,
      updateAgeOnGet: false,
      // A field leaving the LRU (evicted, expired, deleted) leaves its bucket's index; not when overwritten.
      dispose: (_value, key, reason) => {
        if (reason !== 'set') this.unindexField(key);
      },
    });
  }

  /*
   * Hash storage: each field is an LRU entry of its own under `<bucket>\0<field>`, so fields are
   * bounded and evicted like values and expire on their own (like HPEXPIRE on Redis 7.4+);
   * `fields` indexes them by bucket for iteration, deletion and SCAN (which yields the bucket).
   */
  private readonly fields = new Map<string, Set<string>>();

  private fieldKey(bucket: string, field: string): string {
    return `${bucket}\u0000${field}`;
  }

  private unindexField(key: string): void {
    const at = key.indexOf('\u0000');
    if (at < 0) return;
    const set = this.fields.get(key.slice(0, at));
    if (set === undefined) return;
    set.delete(key.slice(at + 1));
    if (set.size === 0) this.fields.delete(key.slice(0, at));
  }

  private bucketOfKey(key: string): string | undefined {
    const at = key.indexOf('\u0000');
    return at >= 0 && this.fields.has(key.slice(0, at)) ? key.slice(0, at) : undefined;
  }

  async fieldGet(bucket: string, field: string): Promise<Buffer | null> {
    this.check();
    return this.cache.get(this.fieldKey(bucket, field)) ?? null;
  }

  async fieldGetMany(refs: readonly FieldRef[]): Promise<FieldValue[]> {
    this.check();
    return refs.map(([bucket, field]) => this.cache.get(this.fieldKey(bucket, field)) ?? null);
  }

  async fieldWrite(ops: readonly FieldWriteOp[]): Promise<number> {
    this.check();
    // Applied synchronously: no other operation can observe a partial batch.
    let deleted = 0;
    for (const op of ops) {
      const key = this.fieldKey(op.bucket, op.field);
      if (op.expected !== undefined && !this.cache.get(key)?.equals(op.expected)) continue;
      if (op.type === 'delete') {
        if (this.cache.delete(key)) deleted++;
        continue;
      }
      this.write(key, op.value, op.ttlMs);
      let set = this.fields.get(op.bucket);
      if (set === undefined) {
        set = new Set();
        this.fields.set(op.bucket, set);
      }
      set.add(op.field);
    }
    return deleted;
  }

  async fieldEntries(bucket: string): Promise<[string, Buffer][]> {
    this.check();
    const out: [string, Buffer][] = [];
    for (const field of [...(this.fields.get(bucket) ?? [])]) {
      const value = this.cache.get(this.fieldKey(bucket, field));
      if (value !== undefined) out.push([field, value]);
    }
    return out;
  }

  async acquireFieldLock(lockKey: string, token: string, ttlMs: number, bucket: string, field: string): Promise<LockAttempt> {
    const attempt = await this.acquireLock(lockKey, token, ttlMs);
    return attempt.acquired ? { acquired: true, value: this.cache.get(this.fieldKey(bucket, field)) ?? null } : attempt;
  }

  async storeFieldAndRelease({ bucket, field, value, ttlMs, ...lock }: StoreFieldAndRelease): Promise<boolean> {
    this.check();
    if (!this.holds(lock.lockKey, lock.token)) {
      // As STORE_FIELD_AND_RELEASE: the lock is not ours any more, nothing is written.
      this.deliver(lock.channel, Buffer.from(keyNotification(lock.message)));
      return false;
    }
    const waited = this.cache.get(lock.lockKey)?.toString() !== lock.token;
    if (writtenSince(this.cache.get(this.fieldKey(bucket, field)), lock.seen)) {
      // As STORE_FIELD_AND_RELEASE: the field was written since the lock was taken.
      this.cache.delete(lock.lockKey);
      this.deliver(lock.channel, Buffer.from(keyNotification(lock.message)));
      return false;
    }
    await this.fieldWrite([{ type: 'set', bucket, field, value, ttlMs }]);
    this.cache.delete(lock.lockKey);
    if (waited) this.deliver(lock.channel, notificationOf(lock.message, value));
    return true;
  }

  private check(): void {
    if (this.closed) throw new StoreError('Store is closed');
  }

  async get(key: string): Promise<Buffer | null> {
    this.check();
    return this.cache.get(key) ?? null;
  }

  async mget(keys: readonly string[]): Promise<(Buffer | null)[]> {
    this.check();
    return keys.map((k) => this.cache.get(k) ?? null);
  }

  async set(key: string, value: Buffer, ttlMs: number | undefined): Promise<void> {
    this.check();
    this.write(key, value, ttlMs);
  }

  private write(key: string, value: Buffer, ttlMs: number | undefined): void {
    if (ttlMs === undefined) {
      // lru-cache keeps a previous TTL on overwrite unless told otherwise; Redis SET clears it.
      this.cache.delete(key);
      this.cache.set(key, value);
    } else {
      this.cache.set(key, value, { ttl: Math.max(1, Math.ceil(ttlMs)) });
    }
  }

  async delete(keys: readonly string[]): Promise<number> {
    this.check();
    let n = 0;
    for (const k of keys) {
      const fields = this.fields.get(k);
      if (fields !== undefined) {
        // A bucket: all its fields go.
        for (const f of [...fields]) this.cache.delete(this.fieldKey(k, f));
        n++;
      } else if (this.cache.delete(k)) n++;
    }
    return n;
  }

  /** As `delete`: this store keeps no claims' markers. */
  deleteEntries(keys: readonly string[]): Promise<number> {
    return this.delete(keys);
  }

  async expire(key: string, ttlMs: number): Promise<boolean> {
    this.check();
    const value = this.cache.get(key);
    if (value === undefined) return false;
    this.cache.set(key, value, { ttl: Math.max(1, Math.ceil(ttlMs)) });
    return true;
  }

  async replace(key: string, expected: Buffer, value: Buffer): Promise<boolean> {
    this.check();
    const current = this.cache.get(key);
    if (current === undefined || !current.equals(expected)) return false;
    const left = this.ttlLeft(key);
    this.write(key, value, Number.isFinite(left) ? Math.max(1, left) : undefined);
    return true;
  }

  async exists(key: string): Promise<boolean> {
    this.check();
    return this.cache.has(key);
  }

  async remainingTtl(key: string): Promise<number | undefined> {
    this.check();
    const fields = this.fields.get(key);
    // A bucket: as in Redis, it lives as long as its longest-lived field (none: no expiry).
    if (fields !== undefined) return this.bucketTtl(key, fields);
    return this.cache.has(key) ? this.ttlLeft(key) : undefined;
  }

  /** A present entry's remaining TTL in whole ms; Infinity without one (lru-cache's answer then, like PTTL's -1). */
  private ttlLeft(key: string): number {
    const left = this.cache.getRemainingTTL(key);
    return Number.isFinite(left) ? Math.max(0, Math.round(left)) : Number.POSITIVE_INFINITY;
  }

  private bucketTtl(bucket: string, fields: ReadonlySet<string>): number | undefined {
    let longest: number | undefined;
    for (const field of fields) {
      const key = this.fieldKey(bucket, field);
      if (this.cache.has(key)) longest = Math.max(longest ?? 0, this.ttlLeft(key));
    }
    return longest;
  }

  async exec(ops: readonly WriteOp[]): Promise<void> {
    this.check();
    // Applied synchronously, so no other operation can observe a partial batch.
    for (const op of ops) {
      if (op.type === 'delete') this.cache.delete(op.key);
      else this.write(op.key, op.value, op.ttlMs);
    }
  }

  // Locks live in the same LRU as values, like in Redis: a flush or an eviction drops them too.
  // Same protocol as the Redis scripts: a failed attempt marks the lock with a trailing '+'.
  async acquireLock(key: string, token: string, ttlMs: number, readKey?: string): Promise<LockAttempt> {
    this.check();
    const held = this.cache.get(key);
    if (held !== undefined) {
      const left = this.cache.getRemainingTTL(key);
      if (!held.toString().endsWith('+')) this.cache.set(key, Buffer.concat([held, Buffer.from('+')]), { ttl: Math.max(1, Math.round(left)) });
      return { acquired: false, ttlMs: Number.isFinite(left) ? Math.max(0, Math.round(left)) : -1 };
    }
    this.cache.set(key, Buffer.from(token), { ttl: Math.max(1, Math.ceil(ttlMs)) });
    return readKey === undefined ? { acquired: true } : { acquired: true, value: this.cache.get(readKey) ?? null };
  }

  async readOrLock(key: string, token: string, ttlMs: number, readKey: string): Promise<ReadOrLock> {
    this.check();
    const found = this.cache.get(readKey);
    return found === undefined ? this.acquireLock(key, token, ttlMs, readKey) : { found };
  }

  private holds(key: string, token: string): boolean {
    const v = this.cache.get(key)?.toString();
    return v === token || v === `${token}+`;
  }

  async renewLock(key: string, token: string, ttlMs: number): Promise<boolean> {
    this.check();
    const v = this.cache.get(key);
    if (v === undefined || !this.holds(key, token)) return false;
    this.cache.set(key, v, { ttl: Math.max(1, Math.ceil(ttlMs)) });
    return true;
  }

  async releaseLock(key: string, token: string): Promise<boolean> {
    this.check();
    if (!this.holds(key, token)) return false;
    return this.cache.delete(key);
  }

  async storeAndRelease({ key, value, ttlMs, lockKey, token, channel, message, seen }: StoreAndRelease): Promise<boolean> {
    this.check();
    const mine = this.holds(lockKey, token);
    // As STORE_AND_RELEASE: only while the lock is ours and no other value was written since it was taken.
    if (!mine || writtenSince(this.cache.get(key), seen)) {
      if (mine) this.cache.delete(lockKey);
      this.deliver(channel, Buffer.from(keyNotification(message)));
      return false;
    }
    const waited = this.cache.get(lockKey)?.toString() !== token;
    this.write(key, value, ttlMs);
    this.cache.delete(lockKey);
    if (waited) this.deliver(channel, notificationOf(message, value));
    return true;
  }

  async hashGetAllCounted(key: string, init?: HashInit): Promise<CountedHash> {
    this.check();
    if (init) this.hashInit(key, init);
    const fields = Object.fromEntries(this.hashes.get(key) ?? []);
    const count = Number(fields[COUNT_FIELD] ?? 0);
    delete fields[COUNT_FIELD];
    return { count, fields };
  }

  async hashGetCounted(key: string, fields: readonly string[], init: HashInit): Promise<CountedFields> {
    this.check();
    this.hashInit(key, init);
    const h = this.hashes.get(key);
    return { count: Number(h?.get(COUNT_FIELD) ?? 0), values: fields.map((f) => h?.get(f) ?? null) };
  }

  private hashInit(key: string, [field, value]: HashInit): void {
    let h = this.hashes.get(key);
    if (!h) {
      h = new Map();
      this.hashes.set(key, h);
    }
    if (!h.has(field)) h.set(field, value);
  }

  async hashSetCountAndPublish(
    key: string,
    entries: readonly (readonly [string, string])[],
    channel: string,
    message: string,
    epochField: string,
  ): Promise<CountedWrite> {
    this.check();
    let h = this.hashes.get(key);
    if (!h) {
      h = new Map();
      this.hashes.set(key, h);
    }
    const count = Number(h.get(COUNT_FIELD) ?? 0) + 1;
    h.set(COUNT_FIELD, String(count));
    for (const [f, v] of entries) h.set(f, v);
    const epoch = h.get(epochField);
    this.deliver(channel, `${message.slice(0, -1)},"n":${count}${epoch === undefined ? '' : `,"e":${JSON.stringify(epoch)}`}}`);
    return { count, epoch };
  }

  async hashIncrement(
    key: string,
    counts: readonly (readonly [string, number])[],
    fractions: readonly (readonly [string, number])[],
    ttlMs: number,
  ): Promise<void> {
    this.check();
    this.dropExpiredHashes();
    let h = this.hashes.get(key);
    if (!h) {
      h = new Map();
      this.hashes.set(key, h);
    }
    for (const [f, n] of [...counts, ...fractions]) h.set(f, String(Number(h.get(f) ?? 0) + n));
    this.hashExpiry.set(key, Date.now() + ttlMs);
  }

  async hashReadMany(keys: readonly string[]): Promise<Record<string, string>[]> {
    this.check();
    this.dropExpiredHashes();
    return keys.map((key) => Object.fromEntries(this.hashes.get(key) ?? []));
  }

  /** Hashes given a time-to-live (the counters) go once it has passed; the few there are are checked on each use. */
  private dropExpiredHashes(): void {
    const now = Date.now();
    for (const [key, at] of this.hashExpiry) {
      if (at > now) continue;
      this.hashExpiry.delete(key);
      this.hashes.delete(key);
    }
  }

  async publish(channel: string, message: string): Promise<void> {
    this.check();
    this.deliver(channel, message);
  }

  private deliver(channel: string, message: string | Buffer): void {
    const set = this.channels.get(channel);
    if (!set) return;
    // Asynchronous like a network delivery, so publishers never re-enter listeners synchronously.
    queueMicrotask(() => {
      for (const l of set) deliver(l, message);
    });
  }

  readonly subscribed = true;

  /** Messages are delivered in microtasks queued when published: every one published before has been. */
  async delivered(): Promise<void> {}

  /** The embedded store runs no Redis commands: `cachedCommand` needs the `redis` option. */
  async prepareCommand(name: string): Promise<CommandCall> {
    this.check();
    throw new InvalidOptionError('redis', `cachedCommand runs Redis commands (${name.toUpperCase()}): the embedded store has none; configure redis`);
  }

  readCommand(call: CommandCall): Promise<unknown> {
    return this.prepareCommand(call.name);
  }

  /** Nothing else writes to an embedded store, so there is nothing to track. */
  enableTracking(): boolean {
    return false;
  }

  readonly tracking = false;

  async subscribe(channel: string, listener: ChannelListener): Promise<() => void> {
    this.check();
    let set = this.channels.get(channel);
    if (!set) {
      set = new Set();
      this.channels.set(channel, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
    };
  }

  async *scanPrefix(prefix: string, count = 500): AsyncIterable<string[]> {
    this.check();
    // Snapshot the keys first: like SCAN, keys written during iteration may or may not be seen.
    const keys = [...this.cache.keys()];
    let batch: string[] = [];
    const buckets = new Set<string>();
    for (const k of keys) {
      if (!k.startsWith(prefix) || !this.cache.has(k)) continue;
      // A field of hash storage: its bucket is the key, as in Redis.
      const bucket = this.bucketOfKey(k);
      if (bucket === undefined) batch.push(k);
      else if (!buckets.has(bucket)) {
        buckets.add(bucket);
        batch.push(bucket);
      }
      if (batch.length >= count) {
        yield batch;
        batch = [];
      }
    }
    if (batch.length > 0) yield batch;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.channels.clear();
    this.hashes.clear();
    this.hashExpiry.clear();
    this.cache.clear();
    this.fields.clear();
  }
}

/** Whether a value other than `seen` (the one read with the lock; null: absent, undefined: not read) is there now. */
function writtenSince(now: Buffer | undefined, seen: Buffer | null | undefined): boolean {
  return seen !== undefined && now !== undefined && (seen === null || !now.equals(seen));
}

import { LRUCache } from 'lru-cache';
import { StoreError } from '../errors.js';
import type { ChannelListener, HashInit, LockAttempt, Store, StoreAndRelease, WriteOp } from './store.js';

/** Options of the embedded in-memory store (used when no `redis` is configured). */
export interface MemoryStoreOptions {
  /** Most entries kept; the least recently used are evicted beyond it. Default 100,000. */
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
  private readonly cache: LRUCache<string, Buffer>;
  private closed = false;
  private readonly channels = new Map<string, Set<ChannelListener>>();
  /** Hashes are small control data (generations, tag tokens): kept outside the LRU so they are never evicted. */
  private readonly hashes = new Map<string, Map<string, string>>();
  /** Expiry (epoch ms) of the hashes that have one. */
  private readonly hashExpiry = new Map<string, number>();

  constructor(opts: MemoryStoreOptions = {}) {
    this.cache = new LRUCache<string, Buffer>({
      max: opts.maxEntries ?? 100_000,
      maxSize: opts.maxBytes ?? 256 * 1024 * 1024,
      sizeCalculation: (value, key) => value.length + key.length + 1,
      ttlAutopurge: false,
      allowStale: false,
      updateAgeOnGet: false,
    });
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
    for (const k of keys) if (this.cache.delete(k)) n++;
    return n;
  }

  async expire(key: string, ttlMs: number): Promise<boolean> {
    this.check();
    const value = this.cache.get(key);
    if (value === undefined) return false;
    this.cache.set(key, value, { ttl: Math.max(1, Math.ceil(ttlMs)) });
    return true;
  }

  async exists(key: string): Promise<boolean> {
    this.check();
    return this.cache.has(key);
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

  async storeAndRelease({ key, value, ttlMs, lockKey, token, channel, message }: StoreAndRelease): Promise<void> {
    this.check();
    this.write(key, value, ttlMs);
    const v = this.cache.get(lockKey)?.toString();
    if (v === token) {
      this.cache.delete(lockKey);
      return;
    }
    if (v === `${token}+`) this.cache.delete(lockKey);
    this.deliver(channel, message);
  }

  async hashGetAll(key: string, init?: HashInit): Promise<Record<string, string>> {
    this.check();
    if (init) this.hashInit(key, init);
    return Object.fromEntries(this.hashes.get(key) ?? []);
  }

  async hashGet(key: string, fields: readonly string[], init?: HashInit): Promise<(string | null)[]> {
    this.check();
    if (init) this.hashInit(key, init);
    const h = this.hashes.get(key);
    return fields.map((f) => h?.get(f) ?? null);
  }

  private hashInit(key: string, [field, value]: HashInit): void {
    let h = this.hashes.get(key);
    if (!h) {
      h = new Map();
      this.hashes.set(key, h);
    }
    if (!h.has(field)) h.set(field, value);
  }

  async hashSetAndPublish(key: string, entries: readonly (readonly [string, string])[], channel: string, message: string): Promise<void> {
    this.check();
    let h = this.hashes.get(key);
    if (!h) {
      h = new Map();
      this.hashes.set(key, h);
    }
    for (const [f, v] of entries) h.set(f, v);
    this.deliver(channel, message);
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

  private deliver(channel: string, message: string): void {
    const set = this.channels.get(channel);
    if (!set) return;
    // Asynchronous like a network delivery, so publishers never re-enter listeners synchronously.
    queueMicrotask(() => {
      for (const l of set) l.onMessage(message);
    });
  }

  readonly subscribed = true;

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
    for (const k of keys) {
      if (k.startsWith(prefix) && this.cache.has(k)) batch.push(k);
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
  }
}

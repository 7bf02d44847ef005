import { entryExpiresAt } from '../codec/index.js';
import type { FieldStore, FieldWriteOp, KeyValueStore } from '../store/index.js';
import type { Generations } from './generations.js';

/** What one sweep pass did. */
export interface SweepResult {
  /** Keys looked at. */
  scanned: number;
  /** Keys of invalidated generations removed. */
  removed: number;
  /**
   * Expired entries removed from the buckets of hash-storage regions (`storage: 'hash'`), which
   * Redis before 7.4 cannot expire one by one.
   */
  expiredFields: number;
}

/**
 * Reclaims the space of invalidated regions. Entries with a TTL expire by themselves; those
 * without one would stay forever, so a sweep walks the trove's keys with SCAN in small steps and
 * UNLINKs (non-blocking delete) those whose generation is no longer current. Never KEYS, never
 * a long blocking call: each step is one SCAN of `count` keys and one UNLINK.
 *
 * Buckets of hash-storage regions in their current generation are read (HGETALL: buckets are
 * small) and their expired fields removed, compare-and-delete so that a value written meanwhile
 * stays: one read and at most one script per bucket.
 */
export class Sweeper {
  constructor(
    private readonly store: KeyValueStore & FieldStore,
    private readonly keyspace: string,
    private readonly generations: Generations,
  ) {}

  async sweep(opts: { count?: number; pauseMs?: number } = {}): Promise<SweepResult> {
    const count = opts.count ?? 200;
    const pauseMs = opts.pauseMs ?? 0;
    await this.generations.load();
    let scanned = 0;
    let removed = 0;
    let expiredFields = 0;
    for await (const keys of this.store.scanPrefix(this.keyspace, count)) {
      scanned += keys.length;
      const dead = keys.filter((k) => this.isDead(k));
      if (dead.length > 0) removed += await this.store.delete(dead);
      for (const key of keys) if (!dead.includes(key) && this.isBucket(key)) expiredFields += await this.sweepBucket(key);
      if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
    }
    return { scanned, removed, expiredFields };
  }

  /** The expired fields of a bucket, removed; 0 when it is not a hash (someone else's key). */
  private async sweepBucket(bucket: string): Promise<number> {
    const fields = this.store;
    let entries: [string, Buffer][];
    try {
      entries = await fields.fieldEntries(bucket);
    } catch (err) {
      if (err instanceof Error && /WRONGTYPE/.test(`${err.message} ${String(err.cause)}`)) return 0;
      throw err;
    }
    const now = Date.now();
    const expired: FieldWriteOp[] = [];
    for (const [field, bytes] of entries) {
      const at = entryExpiresAt(bytes);
      if (at !== undefined && at <= now) expired.push({ type: 'delete', bucket, field, expected: bytes });
    }
    return expired.length === 0 ? 0 : fields.fieldWrite(expired);
  }

  /** Where the region path ends in a key of this trove: at the entry's `:`, a hash tag's `{` or a bucket's `#`. */
  private pathEnd(rest: string): number {
    for (let i = 0; i < rest.length; i++) {
      const c = rest[i];
      if (c === ':' || c === '{' || c === '#') return i;
    }
    return -1;
  }

  /** Whether a key is a bucket of a hash-storage region (`<path>#…` or `<path>{#…}`). */
  private isBucket(key: string): boolean {
    const rest = key.slice(this.keyspace.length);
    const end = this.pathEnd(rest);
    if (end <= 0 || rest.startsWith('__')) return false;
    return rest[end] === '#' || rest.startsWith('{#', end);
  }

  private isDead(key: string): boolean {
    const rest = key.slice(this.keyspace.length);
    // On Redis Cluster the entry's hash tag opens right after the region path (`users{:42}`); a
    // bucket's id follows it (`users#1024.5`, `users{#1024.5.x}`).
    const end = this.pathEnd(rest);
    if (end <= 0) return false;
    const keyPath = rest.slice(0, end);
    // Control keys (locks, generations, tags) live under names starting with '__'.
    if (keyPath.startsWith('__')) return false;
    return !this.generations.isCurrent(keyPath);
  }
}

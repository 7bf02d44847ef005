import type { EntryLocks } from '../load/index.js';
import type { WriteOp } from '../store/index.js';
import type { RegionCore } from './region-core.js';

/**
 * Where a region's entries live in the store, by entry key (`<base><key><tail>`, the name the
 * near cache, the loader and events use): one Redis key each (`storage: 'string'`, this file), or
 * fields of buckets (`storage: 'hash'`, see hash-storage.ts). The region's modules read and write
 * through this, and nothing else about the storage differs between them.
 */
export interface EntryBackend {
  /** One entry's bytes; reads of one tick are batched. `track`: kept in the near cache. */
  get(full: string, track: boolean): Promise<Buffer | null>;
  /**
   * Several entries in one round trip. A part of the store failing alone (a hash bucket of the
   * wrong type) is reported as an `error` event of `operation` for each of its `keys` and read as
   * missing; a failure of the whole read rejects.
   */
  mget(fulls: readonly string[], track: boolean, keys: readonly string[], operation: string): Promise<(Buffer | null)[]>;
  set(full: string, bytes: Buffer, ttlMs: number | undefined, track: boolean): Promise<void>;
  /** Deletes entries; resolves to how many existed. */
  delete(fulls: readonly string[]): Promise<number>;
  /**
   * Writes `next` over an entry only while it still holds exactly `expected`, keeping its hard
   * expiry; untracked. A changed entry (written, deleted) is left as it is.
   */
  replace(full: string, expected: Buffer, next: Buffer): Promise<void>;
  /** Moves an entry's hard expiry to `ttlMs` from now; resolves to whether it exists. */
  expire(full: string, ttlMs: number, track: boolean): Promise<boolean>;
  /** An entry's remaining time-to-live in ms (`Infinity`: none; undefined: absent). */
  remainingTtl(full: string): Promise<number | undefined>;
  /** Writes and deletes applied together (see `Region.batch`). */
  exec(ops: readonly WriteOp[], track: boolean): Promise<void>;
  /** The entries of a region generation (`base`), in batches of `[user key, bytes]`; a key may come twice. */
  scan(base: string, count: number, operation: string): AsyncIterable<(readonly [string, Buffer])[]>;
  /** Locks for the loader, when they are not the trove's default (entry key → `__lock:` key). */
  readonly locks: EntryLocks | undefined;
}

/** One Redis key per entry. */
export function stringEntries(core: RegionCore): EntryBackend {
  const store = core.ctx.store;
  return {
    get: (full, track) => store.get(full, track),
    mget: (fulls, track) => store.mget(fulls, track),
    set: (full, bytes, ttlMs, track) => store.set(full, bytes, ttlMs, track),
    // A claim's marker is not a value (raw payloads may start with any byte: plain deletes there).
    delete: (fulls) => (core.options.raw ? store.delete(fulls) : store.deleteEntries(fulls)),
    replace: (full, expected, next) => store.replace(full, expected, next).then(() => undefined),
    expire: (full, ttlMs, track) => store.expire(full, ttlMs, track),
    remainingTtl: (full) => store.remainingTtl(full),
    exec: (ops, track) => store.exec(ops, track),
    async *scan(base, count) {
      const seen = new Set<string>();
      for await (const keys of store.scanPrefix(base, count)) {
        // SCAN may return a key more than once: each is read once.
        const fresh = keys.filter((key) => !seen.has(key));
        for (const key of fresh) seen.add(key);
        if (fresh.length === 0) continue;
        const bufs = await store.mget(fresh);
        const out: (readonly [string, Buffer])[] = [];
        for (let i = 0; i < fresh.length; i++) {
          const buf = bufs[i];
          if (buf) out.push([core.keyBase.userKey(fresh[i]!, base), buf]);
        }
        if (out.length > 0) yield out;
      }
    },
    locks: undefined,
  };
}

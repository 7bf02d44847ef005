/*
 * Where a hash-storage entry lives (`storage: 'hash'`). An entry's key as the rest of Trove sees
 * it stays `<base><key><tail>` (what the near cache, the loader and events name); in Redis it is
 * the field `<key>` of a bucket:
 *
 *   one server:     <prefix>:<version>:<keyPath>#<n>.<i>            e.g. app:v1:users#1024.17
 *   Redis Cluster:  <prefix>:<version>:<keyPath>{#<n>.<i>.<salt>}   e.g. app:v1:users{#1024.17.1kx9q}
 *
 * `keyPath` is the region path with its generation tokens, so `invalidate()` stays one write: the
 * next generation's buckets are other keys. `n` is the bucket count (`hashBuckets`) and `i` the
 * bucket, FNV-1a of the key modulo `n`: processes configured with different counts never read
 * each other's buckets (a key would be in another bucket, where an older value may wait). On
 * Cluster the bucket id is the hash tag, so one region's buckets spread over the slots; the salt
 * (from the key path) keeps bucket 17 of every region from sharing one slot. Region paths and
 * tokens never hold `#`, `{` or `:`, so a bucket key never reads as an entry key of a
 * string-storage region, and the sweep recognises it.
 *
 * The lock guarding an entry's computation is per entry and shares the bucket's slot:
 * `<prefix>:<version>:__lock:<keyPath>#<n>.<i>:<key>` (the bucket's hash tag, if any, included).
 */

/** An entry's place in hash storage. */
export interface BucketRef {
  readonly bucket: string;
  readonly field: string;
}

/** FNV-1a (32-bit) over UTF-16 code units: fast, and spreads short numeric keys evenly. */
export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Builds bucket keys for one trove (its keyspace and whether keys carry hash tags). */
export class BucketLayout {
  private readonly salts = new Map<string, string>();

  constructor(
    /** `<prefix>:<version>:` */
    readonly keyspace: string,
    readonly hashTags: boolean,
  ) {}

  /**
   * The bucket and field of the entry key `full` (`<keyspace><keyPath>:<key>`, or
   * `<keyspace><keyPath>{:<key>}` on Cluster) in a region of `n` buckets.
   */
  of(full: string, n: number): BucketRef {
    const sep = this.hashTags ? full.indexOf('{:', this.keyspace.length) : full.indexOf(':', this.keyspace.length);
    const keyPath = full.slice(this.keyspace.length, sep);
    const field = full.slice(sep + (this.hashTags ? 2 : 1), this.hashTags ? full.length - 1 : full.length);
    return { bucket: this.bucketKey(keyPath, n, n === 1 ? 0 : fnv1a(field) % n), field };
  }

  /** The key of bucket `i` of `n` of a region generation (`keyPath`). */
  bucketKey(keyPath: string, n: number, i: number): string {
    return this.hashTags ? `${this.keyspace}${keyPath}{#${n}.${i}.${this.salt(keyPath)}}` : `${this.keyspace}${keyPath}#${n}.${i}`;
  }

  /** What every bucket key of a region generation with `n` buckets starts with (for SCAN). */
  bucketPrefix(keyPath: string, n: number): string {
    return this.hashTags ? `${this.keyspace}${keyPath}{#${n}.` : `${this.keyspace}${keyPath}#${n}.`;
  }

  /** The key path of an entry key or a region base (`<keyspace><keyPath>:` or `…{:`). */
  keyPathOf(base: string): string {
    const sep = this.hashTags ? base.indexOf('{:', this.keyspace.length) : base.indexOf(':', this.keyspace.length);
    return base.slice(this.keyspace.length, sep);
  }

  /** The lock of an entry: per entry, in the bucket's slot. */
  lockKey(ref: BucketRef): string {
    return `${this.keyspace}__lock:${ref.bucket.slice(this.keyspace.length)}:${ref.field}`;
  }

  private salt(keyPath: string): string {
    let s = this.salts.get(keyPath);
    if (s === undefined) {
      s = fnv1a(keyPath).toString(36);
      // Bounded: one per region generation seen; cleared rather than grown without end.
      if (this.salts.size >= 10_000) this.salts.clear();
      this.salts.set(keyPath, s);
    }
    return s;
  }
}

/*
 * Hash storage (`storage: 'hash'`): a region's entries as fields of Redis hashes ("buckets", see
 * bucket-of.ts for the keys), so that small entries cost a few dozen bytes instead of a key each.
 * Every region operation goes through `HashEntries` (an `EntryBackend`) and keeps its meaning:
 *
 * - Expiry. Redis before 7.4 expires keys, not fields, so each entry's hard expiry is the one its
 *   envelope records (`expiresAt`): a field past it reads as a miss and is deleted when read
 *   (compare-and-delete: a newer value written meanwhile stays). The bucket's TTL is the latest
 *   expiry of its fields, so a bucket whose entries all expired goes by itself; `trove.sweep()`
 *   removes expired fields of live buckets. On Redis 7.4+ each field also gets its own expiry
 *   (HPEXPIRE) and Redis reclaims it on time, unless the region keeps expiry lazy
 *   (`hashFieldExpiry: 'lazy'`: ~12 B less per entry). Raw entries record no expiry: they live as
 *   long as their bucket.
 * - Sliding expiry (`refreshTtlOnHit`) rewrites the entry with its recorded expiry moved
 *   (compare-and-set, so a newer value is never overwritten).
 * - Locks (`getOrSet`, exactly once) are per entry and share the bucket's slot: the lock is taken
 *   and the field read in one script, and the value stored with the lock released in another.
 * - The near cache: Redis tracks the bucket, so a change of any of its fields drops every local
 *   copy read from it (`NearCache.join`). Writes are sent untracked and their value is not kept
 *   locally: its own announcement would drop it at once.
 * - Bad input: a field that cannot be decoded is a miss with an `error` event (as for a key); a
 *   bucket key that is not a hash fails the reads of that bucket alone (miss, `error` event) and
 *   writes to it without touching anything.
 */
import { entryExpiresAt, withEntryExpiresAt } from '../codec/index.js';
import type { EntryLocks } from '../load/index.js';
import type { FieldStore, FieldWriteOp, LockAttempt, StoreAndRelease, WriteOp } from '../store/index.js';
import { BucketLayout, type BucketRef } from './bucket-of.js';
import type { EntryBackend } from './entry-backend.js';
import { emitError } from './event-emission.js';
import type { RegionCore } from './region-core.js';

export class HashEntries implements EntryBackend {
  private readonly fields: FieldStore;
  private readonly layout: BucketLayout;
  /** Whether this region's field sets ask for a field expiry of their own (false: `hashFieldExpiry: 'lazy'`). */
  private readonly fieldExpiry: boolean;
  readonly locks: EntryLocks;

  constructor(private readonly core: RegionCore) {
    this.fields = core.ctx.store;
    this.layout = new BucketLayout(core.ctx.layout.keyspace, core.ctx.layout.hashTags);
    this.fieldExpiry = core.options.hashFieldExpiry !== 'lazy';
    const store = core.ctx.store;
    const fields = this.fields;
    this.locks = {
      lockKey: (full) => this.layout.lockKey(this.ref(full)),
      acquireLock: async (key, token, ttlMs, readKey): Promise<LockAttempt> => {
        if (readKey === undefined) return store.acquireLock(key, token, ttlMs);
        const ref = this.ref(readKey);
        const attempt = await fields.acquireFieldLock(key, token, ttlMs, ref.bucket, ref.field);
        if (!attempt.acquired || attempt.value == null) return attempt;
        return { acquired: true, value: this.unexpired(ref, attempt.value) };
      },
      renewLock: (key, token, ttlMs) => store.renewLock(key, token, ttlMs),
      releaseLock: (key, token) => store.releaseLock(key, token),
      storeAndRelease: ({ key, track: _track, ...rest }: StoreAndRelease) => {
        const ref = this.ref(key);
        return fields.storeFieldAndRelease({ ...rest, bucket: ref.bucket, field: ref.field, fieldExpiry: this.fieldExpiry });
      },
    };
  }

  private ref(full: string): BucketRef {
    return this.layout.of(full, this.core.options.hashBuckets);
  }

  /** The bytes, unless the entry is past its recorded expiry: then a miss, and the field is deleted unless it changed meanwhile. */
  private unexpired(ref: BucketRef, bytes: Buffer | null): Buffer | null {
    if (bytes === null) return null;
    const at = entryExpiresAt(bytes);
    if (at === undefined || at > Date.now()) return bytes;
    this.fields
      .fieldWrite([{ type: 'delete', bucket: ref.bucket, field: ref.field, expected: bytes }])
      .catch((err: unknown) => emitError(this.core, err, 'expire', ref.field));
    return null;
  }

  get(full: string, track: boolean): Promise<Buffer | null> {
    const ref = this.ref(full);
    if (track) this.core.ctx.near?.join(ref.bucket, full);
    return this.fields.fieldGet(ref.bucket, ref.field, track).then((bytes) => this.unexpired(ref, bytes));
  }

  async mget(fulls: readonly string[], track: boolean, keys: readonly string[], operation: string): Promise<(Buffer | null)[]> {
    const refs = fulls.map((f) => this.ref(f));
    if (track) for (let i = 0; i < fulls.length; i++) this.core.ctx.near?.join(refs[i]!.bucket, fulls[i]!);
    const values = await this.fields.fieldGetMany(
      refs.map((r) => [r.bucket, r.field] as const),
      track,
    );
    return values.map((v, i) => {
      if (v instanceof Error) {
        emitError(this.core, v, operation, keys[i] ?? refs[i]!.field);
        return null;
      }
      return this.unexpired(refs[i]!, v);
    });
  }

  async set(full: string, bytes: Buffer, ttlMs: number | undefined): Promise<void> {
    const ref = this.ref(full);
    await this.fields.fieldWrite([{ type: 'set', bucket: ref.bucket, field: ref.field, value: bytes, ttlMs, fieldExpiry: this.fieldExpiry }]);
  }

  delete(fulls: readonly string[]): Promise<number> {
    return this.fields.fieldWrite(
      fulls.map((f) => {
        const ref = this.ref(f);
        return { type: 'delete', bucket: ref.bucket, field: ref.field } as const;
      }),
    );
  }

  async expire(full: string, ttlMs: number): Promise<boolean> {
    const ref = this.ref(full);
    const bytes = this.unexpired(ref, await this.fields.fieldGet(ref.bucket, ref.field));
    if (bytes === null) return false;
    // A raw entry records no expiry: only its bucket's can be pushed back.
    const moved = withEntryExpiresAt(bytes, Date.now() + Math.ceil(ttlMs)) ?? bytes;
    await this.fields.fieldWrite([{ type: 'set', bucket: ref.bucket, field: ref.field, value: moved, ttlMs, expected: bytes, fieldExpiry: this.fieldExpiry }]);
    return true;
  }

  async replace(full: string, expected: Buffer, next: Buffer): Promise<void> {
    const ref = this.ref(full);
    // The field keeps the hard expiry its entry records (none recorded: none, as it was written).
    const at = entryExpiresAt(expected);
    const ttlMs = at === undefined ? undefined : Math.max(1, at - Date.now());
    await this.fields.fieldWrite([{ type: 'set', bucket: ref.bucket, field: ref.field, value: next, ttlMs, expected, fieldExpiry: this.fieldExpiry }]);
  }

  async remainingTtl(full: string): Promise<number | undefined> {
    const ref = this.ref(full);
    const bytes = this.unexpired(ref, await this.fields.fieldGet(ref.bucket, ref.field));
    if (bytes === null) return undefined;
    const at = entryExpiresAt(bytes);
    if (at !== undefined) return Math.max(0, at - Date.now());
    return this.core.ctx.store.remainingTtl(ref.bucket);
  }

  async exec(ops: readonly WriteOp[]): Promise<void> {
    const writes: FieldWriteOp[] = ops.map((op) => {
      const ref = this.ref(op.key);
      return op.type === 'delete'
        ? { type: 'delete', bucket: ref.bucket, field: ref.field }
        : { type: 'set', bucket: ref.bucket, field: ref.field, value: op.value, ttlMs: op.ttlMs, fieldExpiry: this.fieldExpiry };
    });
    await this.fields.fieldWrite(writes);
  }

  async *scan(base: string, count: number, operation: string): AsyncIterable<(readonly [string, Buffer])[]> {
    const prefix = this.layout.bucketPrefix(this.layout.keyPathOf(base), this.core.options.hashBuckets);
    const seen = new Set<string>();
    for await (const buckets of this.core.ctx.store.scanPrefix(prefix, count)) {
      for (const bucket of buckets) {
        if (seen.has(bucket)) continue;
        seen.add(bucket);
        let fields: [string, Buffer][];
        try {
          fields = await this.fields.fieldEntries(bucket);
        } catch (err) {
          // A bucket key someone overwrote with another type: its entries are lost, not the walk.
          if (!isWrongType(err)) throw err;
          emitError(this.core, err, operation);
          continue;
        }
        const out: (readonly [string, Buffer])[] = [];
        for (const [field, bytes] of fields) {
          if (this.unexpired({ bucket, field }, bytes) !== null) out.push([field, bytes]);
        }
        if (out.length > 0) yield out;
      }
    }
  }
}

function isWrongType(err: unknown): boolean {
  for (let e: unknown = err; e instanceof Error; e = e.cause) if (e.message.includes('WRONGTYPE')) return true;
  return false;
}

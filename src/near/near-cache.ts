import type { TagStamp } from '../codec/index.js';
import { type Duration, toMs } from '../duration.js';
import { isThenable } from '../thenable.js';
import { TransientMap } from '../transient-map.js';
import { deepFreeze } from './deep-freeze.js';
import { ExpiryClock } from './expiry-clock.js';
import { SecondChanceMap, type Sized } from './second-chance.js';

/** Options of the near cache (the in-process tier in front of Redis). */
export interface NearCacheOptions {
  /**
   * Most entries kept in this process. Beyond it the oldest entry not read since the eviction hand
   * last passed it is evicted (second chance, an approximation of least recently used).
   * @defaultValue `10_000`
   */
  maxEntries?: number;
  /**
   * Most bytes kept, approximated by the encoded size of each value; evicted like `maxEntries` beyond it. A single
   * value larger than a tenth of it is not kept.
   * @defaultValue `64 MiB`
   */
  maxBytes?: number;
  /**
   * Longest a local copy is kept when its entry does not record its expiry (written by a process
   * without near cache), in ms. Expiry and changes still reach it through Redis's invalidations.
   * @defaultValue `60_000`
   */
  maxTtlMs?: number;
  /**
   * How often the connection that receives invalidations is checked with PING, in ms or a string
   * like `'500ms'`. It bounds staleness after a silent network partition (no reset, no close: the
   * packets just stop): a process may answer a value changed elsewhere for at most this period plus
   * the PING's deadline (`commandTimeout`, at least 500 ms), after which its near cache is emptied
   * and bypassed until the channel is back. Shorter costs one PING per period per process.
   * @defaultValue `'1s'`
   */
  pingInterval?: Duration;
  /**
   * Hand out a `structuredClone` of local values (and keep a clone of each value written or read,
   * never the caller's object), so callers that mutate what they read cannot change the cached
   * copy. Costs a clone per near hit (see the README's "Values are shared"). Off: values are
   * shared between callers, and deep-frozen while the trove's `freezeValues` is on (by default
   * outside production), so a mutation throws in development and tests rather than corrupting
   * the shared copy in production.
   * @defaultValue `false`
   */
  clone?: boolean;
  /**
   * How long, in ms or a string like `'30s'`, local entries are kept after tracking is lost (the
   * connection or the invalidation channel down), to answer reads that Redis fails meanwhile.
   * Counted from the moment tracking was lost. A kept entry is answered only when a read of Redis fails or times
   * out, as a stale value (`stale` event, reason `'disconnected'`), never past its own TTL; a
   * read Redis answers drops it, and all are dropped when tracking is back. Such a value may have
   * been changed elsewhere meanwhile (no invalidation can arrive), so this trades correctness for
   * availability for at most this long. `0`: off, the near cache is emptied at once.
   * @defaultValue `0`
   */
  serveWhileDisconnected?: Duration;
  /**
   * How long one reading of the clock serves the expiry checks of near hits, in ms or a string
   * like `'1ms'`, at most 1 s. Reading the clock costs about a third of a near hit; with `'1ms'` it
   * is read at most once per millisecond, as lru-cache does by default (`ttlResolution`). The price:
   * an entry may be answered up to this long past its expiry (its TTL, `freshFor`, or `maxTtlMs`),
   * and longer while the event loop is held by synchronous work, during which no invalidation can
   * be received either. Changes made elsewhere still reach the near cache by invalidation, as
   * without it. With fake timers, a clock set forward (e.g. `vi.setSystemTime`) is seen once the
   * timers run. `0`: the clock is read on every hit.
   * @defaultValue `0`
   */
  expiryResolution?: Duration;
}

/** A decoded entry kept locally. */
export interface NearEntry {
  readonly value: unknown;
  readonly freshUntil: number | undefined;
  readonly tags?: readonly TagStamp[];
  /** Epoch ms after which the local copy must not be used (hard expiry or freshness, whichever first). */
  readonly until: number;
}

/**
 * A local entry as kept: its size and recency mark too, its hard expiry (epoch ms, the bound of
 * serving it while disconnected), and the region index it is listed in, if any (see `NearIndex`).
 */
type Kept = NearEntry &
  Sized & {
    readonly expiresAt: number;
    index: NearIndex | undefined;
    /** Its key in `index`: the caller's key. */
    indexKey: string;
    /** The value as a hit answers it; none with `clone`, or for a thenable value, which each hit resolves anew (see `answer`). */
    readonly answer: Promise<unknown> | undefined;
  };

/**
 * The entries of one key base (a region in one generation), by the caller's key, so that a hit
 * finds its entry without building the Redis key (a new string, hashed on every call). Exact:
 * it lists an entry only while the near cache holds it under `base + key + tail`; every removal
 * (delete, replacement, eviction, reset) takes it out. A new generation has a new base, so
 * entries of an old one are never found through the current index.
 */
export class NearIndex {
  /** Entries by the caller's key. */
  readonly byKey = new Map<string, Kept>();
  /** Set when the near cache stops listing entries here (emptied, or forgotten while empty): ask `indexOf` again. */
  retired = false;

  constructor(
    readonly base: string,
    readonly tail: string,
  ) {}
}

/** Counters of the near cache, since the trove was created. */
export interface NearStats {
  hits: number;
  misses: number;
  /** Entries dropped to respect maxEntries / maxBytes. */
  evictions: number;
  /** Keys Redis told this process had changed. */
  invalidations: number;
  /**
   * Local copies of hash-storage entries dropped because their bucket changed: another entry of
   * the same Redis hash was written (or deleted, or expired). Each costs a re-read from Redis.
   */
  bucketDrops: number;
  /**
   * Times the local tier was emptied because invalidations could have been missed (channel lost,
   * FLUSHALL); with `serveWhileDisconnected`, a lost channel sets the entries aside instead.
   */
  resets: number;
  /** Whether tracking is live (the tier is in use). */
  live: boolean;
  entries: number;
  bytes: number;
}

/** `keepable`'s answer for a value it cannot copy. */
const UNCLONEABLE: unique symbol = Symbol('uncloneable');

interface Pending {
  count: number;
  poisoned: boolean;
}

/**
 * The in-process tier: deserialized values, kept correct by Redis's invalidations.
 *
 * Race-freedom: a read (or write) marks its key pending before it is sent. An invalidation of a
 * pending key poisons it, so the reply is answered but not kept: a value read while its
 * invalidation was in flight never stays. Each (re)start of tracking begins a new epoch, and a
 * reply is kept only if its read began in the current epoch with tracking live.
 *
 * Own writes: Redis announces this process's own changes too (no NOLOOP, so that keys evicted by
 * its own commands are announced). A tracked write causes exactly one invalidation of its key on
 * this process's channel (the store guarantees it), arriving after any invalidation caused
 * earlier and before any caused later. `beginWrite` counts it, and the first that many
 * invalidations of the key are absorbed: each is either that one or an older change the write
 * overwrote. Absorbing fewer is always safe (a copy is dropped for nothing), so a write that
 * failed gives its count back.
 */
export class NearCache {
  private readonly entries: SecondChanceMap<Kept>;
  /** Keys read or written right now (see TransientMap: one entry per call under way). */
  private readonly pending = new TransientMap<string, Pending>();
  /** Invalidations this process's own tracked writes will cause, per key, not yet received. */
  private readonly ownChanges = new TransientMap<string, number>();
  private epoch = 0;
  private live = false;
  readonly clone: boolean;
  private readonly maxTtlMs: number;
  /** `serveWhileDisconnected` in ms; 0: entries are emptied when tracking is lost. */
  private readonly keepMs: number;
  /** What hits check expiry against with `expiryResolution` set; undefined: `Date.now()` on every hit. */
  private readonly clock: ExpiryClock | undefined;
  /**
   * Date.now() when tracking was lost with entries kept; undefined otherwise. While set, `entries`
   * holds only entries read before the loss (nothing is added until tracking is live again).
   */
  private lostAt: number | undefined = undefined;
  /** Releases kept entries at the end of the window even when nothing reads them. */
  private keptTimer: NodeJS.Timeout | undefined = undefined;
  private readonly counters = { hits: 0, misses: 0, evictions: 0, invalidations: 0, bucketDrops: 0, resets: 0 };
  /**
   * Hash storage: the local keys read from each bucket (one Redis key holding many entries).
   * Redis tracks the bucket, so its invalidation must drop every one of them. Bounded: past
   * `maxGrouped` memberships the tier is emptied (safe, and rare: an invalidation of a bucket
   * ends its memberships).
   */
  private readonly groups = new Map<string, Set<string>>();
  private grouped = 0;
  private readonly maxGrouped: number;
  private readonly maxEntries: number;

  /** Whether kept values are deep-frozen (the trove's `freezeValues`; never with `clone`, whose copies are the caller's). */
  private readonly freeze: boolean;

  /** The index of each key base asked for (`indexOf`); empty ones are forgotten when new ones come. */
  private readonly indices = new Map<string, NearIndex>();
  private sweepIndicesAt = 64;

  constructor(opts: NearCacheOptions = {}, values: { freeze?: boolean } = {}) {
    this.clone = opts.clone ?? false;
    this.freeze = !this.clone && values.freeze === true;
    this.maxTtlMs = opts.maxTtlMs ?? 60_000;
    this.maxEntries = opts.maxEntries ?? 10_000;
    this.maxGrouped = 4 * this.maxEntries;
    this.keepMs = opts.serveWhileDisconnected === undefined ? 0 : toMs(opts.serveWhileDisconnected, 'nearCache.serveWhileDisconnected', { allowZero: true });
    const resolutionMs = opts.expiryResolution === undefined ? 0 : toMs(opts.expiryResolution, 'nearCache.expiryResolution', { allowZero: true });
    this.clock = resolutionMs === 0 ? undefined : new ExpiryClock(resolutionMs);
    const maxBytes = opts.maxBytes ?? 64 * 1024 * 1024;
    // A single value may take at most a tenth of the tier.
    this.entries = new SecondChanceMap<Kept>(
      this.maxEntries,
      maxBytes,
      Math.max(1, Math.floor(maxBytes / 10)),
      (_, e) => {
        this.counters.evictions++;
        unlist(e);
      },
      unlist,
    );
  }

  /** The time hits check expiry against: the clock itself, or its reading with `expiryResolution`. */
  private expiryNow(): number {
    return this.clock === undefined ? Date.now() : this.clock.now();
  }

  /** A usable local entry, or undefined (absent, past its time, or tracking not live). */
  get(key: string): NearEntry | undefined {
    if (!this.live) return undefined;
    const e = this.entries.get(key);
    if (e === undefined) {
      this.counters.misses++;
      return undefined;
    }
    if (e.until <= this.expiryNow()) {
      this.entries.delete(key);
      this.counters.misses++;
      return undefined;
    }
    this.counters.hits++;
    return e;
  }

  /**
   * The hot path: the local value of `index.base + key + index.tail` if it is usable and fresh
   * right now (its tags, if any, are the caller's to check), or undefined when the caller must
   * take the general path. Found by the caller's key in the index: one lookup, one clock read.
   * `index` must not be retired (see `indexOf`).
   */
  fresh(index: NearIndex, key: string): NearEntry | undefined {
    if (!this.live) return undefined;
    let e = index.byKey.get(key);
    if (e === undefined) {
      e = this.entries.get(index.base + key + index.tail);
      if (e === undefined) return undefined;
      list(index, key, e);
    } else if (!e.used) e.used = true;
    // `until` is capped by `freshUntil`: a copy in time is fresh.
    if (e.until <= this.expiryNow()) return undefined;
    this.counters.hits++;
    return e;
  }

  /**
   * A local entry's value as a call answers it: a promise of a clone with `clone`, else the
   * entry's own promise of its value, made with the entry and handed to every hit (the value is
   * shared between callers anyway), so a hit allocates nothing.
   */
  answer(entry: NearEntry): Promise<unknown> {
    const made = (entry as Kept).answer;
    if (made !== undefined) return made;
    return Promise.resolve(this.clone ? structuredClone(entry.value) : entry.value);
  }

  /** The index of the entries whose keys start with `base` and end with `tail` (a region's in its current generation). */
  indexOf(base: string, tail: string): NearIndex {
    let index = this.indices.get(base);
    if (index === undefined || index.tail !== tail) {
      if (this.indices.size >= this.sweepIndicesAt) this.sweepIndices();
      index = new NearIndex(base, tail);
      this.indices.set(base, index);
    }
    return index;
  }

  /** Forgets the empty indices (of old generations, mostly): the map of indices stays within twice those in use. */
  private sweepIndices(): void {
    for (const [base, index] of this.indices) {
      if (index.byKey.size > 0) continue;
      index.retired = true;
      this.indices.delete(base);
    }
    this.sweepIndicesAt = Math.max(64, 2 * this.indices.size);
  }

  /** Empties and retires every index (the entries were all dropped). */
  private retireIndices(): void {
    for (const index of this.indices.values()) {
      index.byKey.clear();
      index.retired = true;
    }
    this.indices.clear();
    this.sweepIndicesAt = 64;
  }

  /** Marks a key pending before its read or write is sent; returns the ticket to pass to `end`. */
  begin(key: string): number {
    if (!this.live) return -1;
    const p = this.pending.get(key);
    if (p) p.count++;
    else this.pending.set(key, { count: 1, poisoned: false });
    return this.epoch;
  }

  /**
   * Before a tracked read of `key` that Redis tracks as `group` (a hash-storage bucket): an
   * invalidation of `group` then drops (and poisons reads in flight of) `key` too.
   */
  join(group: string, key: string): void {
    if (!this.live) return;
    let members = this.groups.get(group);
    if (members === undefined) {
      members = new Set();
      this.groups.set(group, members);
    }
    if (members.has(key)) return;
    members.add(key);
    if (++this.grouped > this.maxGrouped) this.reset();
  }

  /**
   * Ends a pending read or write. The entry is kept only if no invalidation of the key arrived
   * meanwhile and tracking stayed live in the same epoch; `undefined` drops any local copy.
   */
  end(
    key: string,
    ticket: number,
    entry: { value: unknown; freshUntil: number | undefined; tags?: readonly TagStamp[]; expiresAt?: number } | undefined,
    bytes: number,
  ): void {
    if (ticket === -1) return;
    const p = this.pending.get(key);
    let poisoned = false;
    if (p) {
      poisoned = p.poisoned;
      if (--p.count === 0) this.pending.delete(key);
    }
    if (!this.live || ticket !== this.epoch || poisoned) return;
    if (entry === undefined) {
      this.entries.delete(key);
      return;
    }
    const now = Date.now();
    const expiresAt = entry.expiresAt ?? now + this.maxTtlMs;
    const until = Math.min(expiresAt, entry.freshUntil ?? Number.POSITIVE_INFINITY);
    if (until <= now) return;
    const size = Math.max(1, bytes);
    const { freshUntil, tags } = entry;
    const value = this.keepable(entry.value);
    if (value === UNCLONEABLE) return;
    // One shape for every entry, tagged or not, keeps the hit path's property reads monomorphic;
    // what a hit reads comes first, and its answer is allocated beside it: a hit touches little memory.
    const answer = this.clone || isThenable(value) ? undefined : Promise.resolve(value);
    this.entries.set(key, { until, used: false, answer, tags, value, freshUntil, expiresAt, size, index: undefined, indexKey: '' });
  }

  /**
   * Before a tracked write of `key` is sent (the store makes it announce exactly one
   * invalidation): drops the local copy, poisons reads in flight, marks the key pending, and
   * expects that invalidation. Returns the ticket for `end` (or `writeFailed`); -1 when tracking
   * is not live, and then the write must be sent untracked.
   */
  beginWrite(key: string): number {
    this.drop(key);
    const ticket = this.begin(key);
    if (ticket !== -1) this.expectOwnChange(key);
    return ticket;
  }

  /** A write begun with `beginWrite` failed (or may not have reached Redis): keep nothing, expect nothing. */
  writeFailed(key: string, ticket: number): void {
    this.end(key, ticket, undefined, 0);
    if (ticket === this.epoch) this.ownChangeFailed(key, ticket);
  }

  /**
   * A tracked change of `key` that keeps its value (a TTL update) is about to be sent: expects its
   * one invalidation. Returns a ticket for `ownChangeFailed`; -1 when tracking is not live.
   */
  expectOwnChange(key: string): number {
    if (!this.live) return -1;
    this.ownChanges.set(key, (this.ownChanges.get(key) ?? 0) + 1);
    return this.epoch;
  }

  /** The change announced with `expectOwnChange` failed: its invalidation may never come. */
  ownChangeFailed(key: string, ticket: number): void {
    if (ticket !== this.epoch) return;
    const n = this.ownChanges.get(key);
    if (n === undefined) return;
    if (n <= 1) this.ownChanges.delete(key);
    else this.ownChanges.set(key, n - 1);
  }

  /**
   * The value as kept: a private clone with `clone` (the object given is the caller's, who may
   * mutate it), frozen with `freeze` (the object given is handed to the caller and kept: shared).
   */
  private keepable(value: unknown): unknown {
    if (this.clone) {
      try {
        return structuredClone(value);
      } catch {
        // A value a custom codec can hold but structuredClone cannot: not kept, read from Redis.
        return UNCLONEABLE;
      }
    }
    return this.freeze ? deepFreeze(value) : value;
  }

  /** Drops a local copy and poisons reads of it in flight (a local delete, or a write about to be sent). */
  drop(key: string): void {
    this.entries.delete(key);
    const p = this.pending.get(key);
    if (p) p.poisoned = true;
  }

  /** Redis says these keys changed; `null`: everything did. */
  invalidate(keys: readonly string[] | null): void {
    if (keys === null) {
      this.reset();
      return;
    }
    for (const key of keys) {
      const own = this.ownChanges.get(key);
      if (own !== undefined) {
        // The announcement of this process's own write (or of an older change it overwrote).
        if (own <= 1) this.ownChanges.delete(key);
        else this.ownChanges.set(key, own - 1);
        continue;
      }
      this.counters.invalidations++;
      this.drop(key);
      const members = this.groups.get(key);
      if (members !== undefined) {
        this.groups.delete(key);
        this.grouped -= members.size;
        for (const m of members) {
          if (this.entries.get(m) !== undefined) this.counters.bucketDrops++;
          this.drop(m);
        }
      }
    }
  }

  /**
   * Tracking went live or was lost. Either way nothing read before can be trusted as fresh: on a
   * loss the entries are emptied, or with `serveWhileDisconnected` set aside (see `kept`); on
   * return whatever was set aside is emptied, before anything new can be kept.
   */
  setLive(live: boolean): void {
    if (live === this.live && live) return;
    const wasLive = this.live;
    this.live = live;
    this.epoch++;
    if (live) {
      if (this.lostAt !== undefined) this.dropKept();
    } else if (this.keepMs === 0) this.reset();
    else if (wasLive) {
      this.counters.resets++;
      this.forgetInFlight();
      this.lostAt = Date.now();
      this.keptTimer = setTimeout(() => this.dropKept(), this.keepMs);
      this.keptTimer.unref();
    } else this.forgetInFlight();
  }

  /**
   * While tracking is lost (and within `serveWhileDisconnected` of the loss): the entry kept for
   * `key`, if any and not past its hard expiry, to answer a read that Redis failed. It is stale:
   * it may have changed elsewhere since the loss.
   */
  kept(key: string): NearEntry | undefined {
    if (this.lostAt === undefined) return undefined;
    const now = Date.now();
    if (now - this.lostAt >= this.keepMs) {
      this.dropKept();
      return undefined;
    }
    const e = this.entries.get(key);
    if (e === undefined) return undefined;
    if (e.expiresAt <= now) {
      this.entries.delete(key);
      return undefined;
    }
    this.counters.hits++;
    return e;
  }

  /** Whether entries are set aside after a loss of tracking (a read Redis answers must then drop its key's, see `kept`). */
  get keeping(): boolean {
    return this.lostAt !== undefined;
  }

  private dropKept(): void {
    clearTimeout(this.keptTimer);
    this.keptTimer = undefined;
    this.lostAt = undefined;
    this.entries.clear();
    this.retireIndices();
    this.groups.clear();
    this.grouped = 0;
  }

  private reset(): void {
    this.counters.resets++;
    this.entries.clear();
    this.retireIndices();
    this.groups.clear();
    this.grouped = 0;
    this.forgetInFlight();
  }

  private forgetInFlight(): void {
    // Pending writes are poisoned below, so nothing they wrote is kept: no announcement needs absorbing.
    this.ownChanges.clear();
    for (const p of this.pending.values()) p.poisoned = true;
  }

  get isLive(): boolean {
    return this.live;
  }

  /** The most entries kept (`maxEntries`): a bulk write keeps at most its last this many values. */
  get capacity(): number {
    return this.maxEntries;
  }

  stats(): NearStats {
    return { ...this.counters, live: this.live, entries: this.entries.size, bytes: this.entries.byteSize };
  }

  clear(): void {
    this.dropKept();
    this.pending.clear();
    this.ownChanges.clear();
  }
}

/** Lists `e`, the entry kept under `index.base + key + index.tail`, in `index` (and no other). */
function list(index: NearIndex, key: string, e: Kept): void {
  if (index.retired) return;
  if (e.index !== undefined) unlist(e);
  e.index = index;
  e.indexKey = key;
  index.byKey.set(key, e);
}

/** Takes an entry the near cache no longer holds out of its index. */
function unlist(e: Kept): void {
  const index = e.index;
  if (index === undefined) return;
  e.index = undefined;
  if (index.byKey.get(e.indexKey) === e) index.byKey.delete(e.indexKey);
}

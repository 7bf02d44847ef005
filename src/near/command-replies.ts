import { Buffer } from 'node:buffer';
import { deepFreeze } from './deep-freeze.js';
import { SecondChanceMap, type Sized } from './second-chance.js';
import { TransientMap } from '../transient-map.js';

/** Counters of the kept command replies (`trove.cachedCommand`), since the trove was created. */
export interface CommandReplyStats {
  /** Calls answered from a kept reply. */
  hits: number;
  /** Calls sent to Redis while replies could be kept (tracking live). */
  misses: number;
  /** Replies dropped to respect the near cache's `maxEntries` / `maxBytes`. */
  evictions: number;
  /** Replies dropped because Redis announced a change of a key they read. */
  invalidations: number;
  /** Times every reply was dropped because invalidations could have been missed (channel lost, FLUSHALL). */
  resets: number;
  /** Replies kept now. */
  entries: number;
  /** Approximate bytes of the kept replies (the length of their strings and Buffers). */
  bytes: number;
}

export interface CommandRepliesOptions {
  /** Most replies kept. */
  maxEntries: number;
  /** Most bytes kept (approximate); a reply larger than a tenth of it is not kept. */
  maxBytes: number;
  /** Deep-freeze kept replies (shared by every caller). */
  freeze: boolean;
  /** Hand out a copy of the kept reply on every hit (the near cache's `clone`). */
  clone: boolean;
}

/** A reply as kept: the Redis keys it read, when it arrived and its deadline (epoch ms), its size and recency mark. */
interface Kept extends Sized {
  readonly reply: unknown;
  readonly keys: readonly string[];
  readonly at: number;
  readonly until: number;
}

interface Pending {
  count: number;
  poisoned: boolean;
}

/**
 * Replies of read-only Redis commands kept in process, by call (`name` and arguments), until
 * Redis announces a change of any key the command read, or their time is up.
 *
 * Race-freedom, as in the near cache (`NearCache`): every key a command reads is marked pending
 * before the command is sent; an invalidation of a pending key poisons it, and a reply whose keys
 * were poisoned is answered but not kept. Each (re)start of tracking begins a new epoch, and a
 * reply is kept only if its command was sent in the current epoch with tracking live. There are no
 * own writes to absorb: these commands only read.
 *
 * An index from Redis key to the calls that read it makes an invalidation cost the replies it
 * drops, not the number kept. Bounded by entries and approximate bytes with the same
 * second-chance eviction as the near cache.
 */
export class CommandReplies {
  private readonly entries: SecondChanceMap<Kept>;
  /** Redis key → ids of the kept replies that read it. */
  private readonly byKey = new Map<string, Set<string>>();
  /** Keys of commands in flight (see TransientMap: one entry per command under way). */
  private readonly pending = new TransientMap<string, Pending>();
  private epoch = 0;
  private live = false;
  private readonly counters = { hits: 0, misses: 0, evictions: 0, invalidations: 0, resets: 0 };

  private readonly maxEntryBytes: number;

  constructor(private readonly opts: CommandRepliesOptions) {
    this.maxEntryBytes = Math.max(1, Math.floor(opts.maxBytes / 10));
    this.entries = new SecondChanceMap<Kept>(opts.maxEntries, opts.maxBytes, this.maxEntryBytes, (id, kept) => {
      this.counters.evictions++;
      this.unindex(id, kept.keys);
    });
  }

  /**
   * The kept reply of call `id` (wrapped, so a kept `null` is told from none), if tracking is live,
   * it is within the time it was kept for, and it arrived less than `maxAgeMs` ago (this caller's ttl).
   */
  get(id: string, maxAgeMs: number): { reply: unknown } | undefined {
    if (!this.live) return undefined;
    const e = this.entries.get(id);
    if (e === undefined) {
      this.counters.misses++;
      return undefined;
    }
    const now = Date.now();
    if (e.until <= now || e.at + maxAgeMs <= now) {
      // Past its own time it goes; merely older than this caller accepts, it is replaced by the answer on its way.
      if (e.until <= now) this.remove(id, e);
      this.counters.misses++;
      return undefined;
    }
    this.counters.hits++;
    return { reply: this.opts.clone ? copyReply(e.reply) : e.reply };
  }

  /** Marks the keys of a command about to be sent; returns the ticket for `end` (-1: tracking not live, send it untracked and keep nothing). */
  begin(keys: readonly string[]): number {
    if (!this.live) return -1;
    for (const key of keys) {
      const p = this.pending.get(key);
      if (p) p.count++;
      else this.pending.set(key, { count: 1, poisoned: false });
    }
    return this.epoch;
  }

  /**
   * Ends a command begun with `begin`: keeps `reply` for `ttlMs` unless a key it read was
   * invalidated meanwhile or tracking was lost or restarted. `reply` undefined: the command failed.
   * With `freeze`, the reply kept (and handed to this caller) is frozen; with `clone`, a copy is kept.
   */
  end(id: string, keys: readonly string[], ticket: number, reply: unknown, ttlMs: number): void {
    if (ticket === -1) return;
    let poisoned = false;
    for (const key of keys) {
      const p = this.pending.get(key);
      if (p === undefined) continue;
      if (p.poisoned) poisoned = true;
      if (--p.count === 0) this.pending.delete(key);
    }
    if (!this.live || ticket !== this.epoch || poisoned || reply === undefined || ttlMs <= 0) return;
    const size = Math.max(1, replyBytes(reply) + id.length);
    // A single reply may take at most a tenth of the bound, as in the near cache.
    if (size > this.maxEntryBytes) return;
    const kept = this.opts.clone ? copyReply(reply) : this.opts.freeze ? deepFreeze(reply) : reply;
    // Replacing a reply of the same call: same arguments, same keys, so the index stands.
    const at = Date.now();
    this.entries.set(id, { reply: kept, keys, at, until: at + ttlMs, size, used: false });
    for (const key of keys) {
      const ids = this.byKey.get(key);
      if (ids === undefined) this.byKey.set(key, new Set([id]));
      else ids.add(id);
    }
  }

  /** Redis says these keys changed; `null`: everything did (FLUSHALL). */
  invalidate(keys: readonly string[] | null): void {
    if (keys === null) {
      this.reset();
      return;
    }
    for (const key of keys) {
      const p = this.pending.get(key);
      if (p) p.poisoned = true;
      const ids = this.byKey.get(key);
      if (ids === undefined) continue;
      this.byKey.delete(key);
      for (const id of ids) {
        const e = this.entries.get(id);
        if (e === undefined) continue;
        this.counters.invalidations++;
        this.remove(id, e);
      }
    }
  }

  /** Tracking went live or was lost: either way nothing kept before can be trusted. */
  setLive(live: boolean): void {
    if (live === this.live && live) return;
    this.live = live;
    this.epoch++;
    this.reset();
  }

  get isLive(): boolean {
    return this.live;
  }

  stats(): CommandReplyStats {
    return { ...this.counters, entries: this.entries.size, bytes: this.entries.byteSize };
  }

  clear(): void {
    this.entries.clear();
    this.byKey.clear();
    this.pending.clear();
  }

  private reset(): void {
    if (this.entries.size > 0 || this.pending.size > 0) this.counters.resets++;
    this.entries.clear();
    this.byKey.clear();
    for (const p of this.pending.values()) p.poisoned = true;
  }

  private remove(id: string, e: Kept): void {
    this.entries.delete(id);
    this.unindex(id, e.keys);
  }

  private unindex(id: string, keys: readonly string[]): void {
    for (const key of keys) {
      const ids = this.byKey.get(key);
      if (ids === undefined) continue;
      ids.delete(id);
      if (ids.size === 0) this.byKey.delete(key);
    }
  }
}

/**
 * The identity of a call: the reply type, the command name (case-insensitive) and each argument,
 * length-prefixed so that no two argument lists share an id. A number is sent as its decimal
 * text, so `1` and `'1'` are one call; a Buffer is marked apart from a string (at worst one reply
 * kept twice).
 */
export function callId(name: string, args: readonly (string | number | Buffer)[], buffers: boolean): string {
  let id = `${buffers ? 'b' : 's'}${name.toUpperCase()}`;
  for (const a of args) {
    if (typeof a === 'string') id += `\u0000${a.length}:${a}`;
    else if (typeof a === 'number') {
      const s = String(a);
      id += `\u0000${s.length}:${s}`;
    } else id += `\u0001${a.length}:${a.toString('latin1')}`;
  }
  return id;
}

/** Approximate bytes of a reply: its strings and Buffers, plus a little per element. */
function replyBytes(reply: unknown): number {
  if (typeof reply === 'string') return reply.length;
  if (Buffer.isBuffer(reply)) return reply.length;
  if (Array.isArray(reply)) {
    let n = 8;
    for (const r of reply) n += 8 + replyBytes(r);
    return n;
  }
  return 8;
}

/** A copy of a reply that shares nothing mutable with it (arrays and Buffers copied). */
function copyReply(reply: unknown): unknown {
  if (Array.isArray(reply)) return reply.map(copyReply);
  if (Buffer.isBuffer(reply)) return Buffer.from(reply);
  return reply;
}

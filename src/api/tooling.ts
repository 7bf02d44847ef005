/**
 * Read-only views of a trove's keyspace for the `trove` CLI, which needs what no application
 * does: entries read whatever the options of the region that wrote them (the envelope names its
 * codec and compression), whether an entry's generation and tags are still current, and whether a
 * region exists at all. A region's own `keys()` decodes with the reading process's options, so a
 * tool that does not know a region's codec would drop its entries as undecodable.
 * Internal: not exported by the package's entry points.
 */
import { type DescribedEntry, describeEntry, readEntryHeader, type TagStamp } from '../codec/index.js';
import { DecodeError } from '../errors.js';
import { KeyLayout, keyToken, regionSegments } from '../keys/index.js';
import { Generations, TagTokens } from '../region/index.js';
import { createStore, isClaimMarker, type Store } from '../store/index.js';

export interface ToolingOptions {
  /** A `redis://` or `rediss://` URL. */
  redis: string;
  prefix: string;
  version: string;
  /** Deadline of each Redis operation, in ms. */
  commandTimeoutMs: number;
  /** A connection error, as the store reports it (the last one explains a later failure). */
  onConnectionError?: (error: Error) => void;
}

/** A tag of an entry, with the token it had when the value was computed. */
export interface TagReport {
  tag: string;
  token: string;
  /** Whether the tag has not been invalidated since. */
  current: boolean;
}

/** One stored entry of a region under a user key. */
export interface EntryReport {
  /** The Redis key. */
  redisKey: string;
  /** Whether the key is in the region's current generation (else the region, or one above it, was invalidated after it was written). */
  currentGeneration: boolean;
  /** The envelope and value; undefined when the bytes are not a trove entry (see `decodeError`). */
  entry: DescribedEntry | undefined;
  /** Why the bytes could not be read as an entry (a raw-mode region's payload, garbage). */
  decodeError?: string;
  /** The stored bytes, for display when they are not an entry. */
  bytes: Buffer;
  tags: TagReport[];
  /** Whether a read would answer it: a current generation, every tag current, not past its expiry. */
  live: boolean;
}

/** Keys asked for per SCAN step. */
const SCAN_COUNT = 1_000;

export class Tooling {
  private readonly store: Store;
  private readonly layout: KeyLayout;
  private readonly generations: Generations;
  private readonly tags: TagTokens;

  constructor(opts: ToolingOptions) {
    const prefix = keyToken(opts.prefix, 'prefix');
    const version = keyToken(opts.version, 'version');
    this.store = createStore({
      redis: opts.redis,
      memory: undefined,
      commandTimeoutMs: opts.commandTimeoutMs,
      listener: { onConnectionError: (err) => opts.onConnectionError?.(err) },
    });
    this.layout = new KeyLayout(prefix, version, this.store.hashTags);
    this.generations = new Generations(this.store, this.layout.generationsKey);
    this.tags = new TagTokens(this.store, this.layout.tagsKey);
  }

  /**
   * The entry of `region` under `key` in the current generation and, when there is none, those
   * left in earlier generations (found with SCAN; at most `olderLimit`, default 10).
   * `onScanned` reports how many keys the walk has looked at.
   */
  async inspect(
    region: string,
    key: string,
    opts: { olderLimit?: number; onScanned?: (n: number) => void } = {},
  ): Promise<{ current?: EntryReport; older: EntryReport[] }> {
    const redisKey = (await this.base(region)) + key + this.layout.tail;
    const bytes = await this.store.get(redisKey);
    if (bytes !== null) return { current: await this.report(redisKey, bytes, true), older: [] };
    const older: EntryReport[] = [];
    const limit = opts.olderLimit ?? 10;
    for await (const k of this.walk(region, opts.onScanned)) {
      const parsed = this.layout.parseEntryKey(k);
      if (parsed === undefined || parsed.path !== region || parsed.userKey !== key || k === redisKey) continue;
      const found = await this.store.get(k);
      if (found !== null) older.push(await this.report(k, found, this.generations.isCurrent(parsed.keyPath)));
      if (older.length >= limit) break;
    }
    return { older };
  }

  /**
   * The user keys of the live entries of `region` (not of regions below it), walked with SCAN and
   * read with MGET in batches; a key is yielded once. A value that is not an envelope (a raw-mode
   * region's payload) counts as live: nothing in it says otherwise.
   */
  async *keys(region: string, opts: { onScanned?: (n: number) => void } = {}): AsyncGenerator<string> {
    const base = await this.base(region);
    const seen = new Set<string>();
    let scanned = 0;
    for await (const batch of this.store.scanPrefix(base, SCAN_COUNT)) {
      scanned += batch.length;
      opts.onScanned?.(scanned);
      const fresh = batch.filter((k) => !seen.has(k));
      if (fresh.length === 0) continue;
      for (const k of fresh) seen.add(k);
      const values = await this.store.mget(fresh);
      for (let i = 0; i < fresh.length; i++) {
        const bytes = values[i];
        if (bytes && (await this.isLive(bytes))) yield this.layout.userKey(fresh[i]!, base);
      }
    }
  }

  /** Region paths that have been invalidated at least once. */
  async invalidatedRegions(): Promise<string[]> {
    const { fields } = await this.store.hashGetAllCounted(this.layout.generationsKey);
    return Object.keys(fields)
      .filter((path) => path !== '')
      .sort();
  }

  /** Whether any key, of any generation, belongs to `region` or a region below it. */
  async hasKeys(region: string, onScanned?: (n: number) => void): Promise<boolean> {
    regionSegments(region);
    for await (const k of this.walk(region, onScanned)) {
      const path = this.layout.parseEntryKey(k)?.path;
      if (path !== undefined && (path === region || path.startsWith(`${region}.`))) return true;
    }
    return false;
  }

  close(): Promise<void> {
    return this.store.close();
  }

  /** The start of the keys of `region` in its current generation. */
  private async base(region: string): Promise<string> {
    regionSegments(region);
    await this.generations.load();
    return this.layout.regionBase(this.generations.keyPath(region));
  }

  /** The keys that may belong to `region`, of any generation: those starting with its top-level name. */
  private async *walk(region: string, onScanned?: (n: number) => void): AsyncGenerator<string> {
    const top = region.split('.')[0]!;
    let scanned = 0;
    for await (const batch of this.store.scanPrefix(this.layout.keyspace + top, SCAN_COUNT)) {
      scanned += batch.length;
      onScanned?.(scanned);
      yield* batch;
    }
  }

  private async isLive(bytes: Buffer): Promise<boolean> {
    // A miss's claim: no value yet.
    if (isClaimMarker(bytes)) return false;
    let header: ReturnType<typeof readEntryHeader>;
    try {
      header = readEntryHeader(bytes);
    } catch (err) {
      if (err instanceof DecodeError) return true;
      throw err;
    }
    if (header.expiresAt !== undefined && header.expiresAt <= Date.now()) return false;
    // Tokens fetched once are reused for the rest of the walk: one read per distinct tag, not per entry.
    return header.tags === undefined || this.tags.check(header.tags);
  }

  private async tagReports(stamps: readonly TagStamp[]): Promise<TagReport[]> {
    if (stamps.length === 0) return [];
    const current = await this.tags.fetch(stamps.map(([t]) => t));
    return stamps.map(([tag, token]) => ({ tag, token, current: current.get(tag) === token }));
  }

  private async report(redisKey: string, bytes: Buffer, currentGeneration: boolean): Promise<EntryReport> {
    let entry: DescribedEntry | undefined;
    let decodeError: string | undefined;
    const claimed = isClaimMarker(bytes);
    if (claimed) decodeError = 'no value yet: a miss holds this key while it computes the value';
    else
      try {
        entry = describeEntry(bytes);
      } catch (err) {
        if (!(err instanceof DecodeError)) throw err;
        decodeError = err.message;
      }
    const tags = await this.tagReports(entry?.tags ?? []);
    const expired = entry?.expiresAt !== undefined && entry.expiresAt <= Date.now();
    const out: EntryReport = {
      redisKey,
      currentGeneration,
      entry,
      bytes,
      tags,
      live: currentGeneration && !claimed && tags.every((t) => t.current) && !expired,
    };
    if (decodeError !== undefined) out.decodeError = decodeError;
    return out;
  }
}

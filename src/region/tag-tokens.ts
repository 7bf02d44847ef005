import { BoundedMap } from '../bounded-map.js';
import type { TagStamp } from '../codec/index.js';
import { InvalidOptionError } from '../errors.js';
import { checkWellFormed } from '../keys/index.js';
import type { TableStore } from '../store/index.js';
import { type TableState, TableSync } from './table-sync.js';
import { TokenOrder } from './token-order.js';
import { newToken } from './tokens.js';

/** The hash field holding the epoch: an empty name, which no tag can have. */
const EPOCH_FIELD = '';

/** Tags whose token (and last change) this process keeps at most: beyond, the one set longest ago is read again when next needed. */
const TAGS_KEPT = 100_000;

/** Tags read from the store in one command at most (the script passes them through Lua's unpack). */
const FETCH_CHUNK = 1_000;

/**
 * The current invalidation token of every tag this process has seen. An entry stores its tags'
 * tokens from when its value was computed; it is live only while all of them are still current,
 * so `invalidateTags` costs one write per tag whatever the number of entries, and a value computed
 * before an invalidation can never be served after it.
 *
 * A tag never invalidated has the table's epoch as its token, never a fixed value: the table is
 * an ordinary Redis hash that an `allkeys-*` eviction policy may evict, and then every tag would
 * read as never invalidated again. The epoch is created, with a new random value, by the same
 * atomic step that reads the table whenever it is missing, so after an eviction every stamp
 * taken before it is stale: tagged entries become misses instead of coming back.
 *
 * The table also counts its changes, and each broadcast carries its number (`TableSync`): a check
 * reads the epoch and the count alone, and the known tags are read again only when a change was
 * missed, so it costs the same whatever the number of tags.
 */
export class TagTokens {
  private readonly tokens: BoundedMap<string, string>;
  private epoch: string | undefined;
  /** Counts the changes of tokens this process learnt of (see `changedSince`). */
  private changes = 0;
  /** The value of `changes` when each tag's token last changed here; bounded like `tokens`. */
  private readonly changedAt: BoundedMap<string, number>;
  /** `changes` when the known tokens were last voided at once (a new epoch). */
  private voidedAt = 0;
  /** Keeps a tag's token from being replaced by an older one that arrives late (bounded like `tokens`). */
  private readonly order: TokenOrder<string>;
  /** Follows the table's changes by their count. */
  private readonly following: TableSync;

  /** A reading of the change counter, for `changedSince`. */
  get clock(): number {
    return this.changes;
  }

  /**
   * Whether any of `tags` was invalidated, as far as this process knows, after the counter read
   * `since`: the question a computation asks about tags it chose once it had started.
   */
  changedSince(tags: readonly string[], since: number): boolean {
    if (this.voidedAt > since) return true;
    return tags.some((t) => (this.changedAt.get(t) ?? 0) > since);
  }

  constructor(
    private readonly store: TableStore,
    private readonly hashKey: string,
    /** Tells the other processes that this one created a new epoch (so they re-read their tags at once). */
    private readonly announceEpoch: (epoch: string) => void = () => {},
    /** How many tags this process keeps at most. */
    kept = TAGS_KEPT,
    /** Resolves once the broadcasts published before the call have arrived, as far as the store can tell (see `MessageBus.delivered`). */
    delivered?: () => Promise<void>,
  ) {
    const self = this;
    this.following = new TableSync(
      {
        get epoch() {
          return self.epoch;
        },
        readState: () => this.read([], new Map()),
        readAll: () => this.refresh(),
      },
      delivered,
    );
    this.tokens = new BoundedMap(kept);
    this.changedAt = new BoundedMap(kept);
    this.order = new TokenOrder(new BoundedMap(kept), new BoundedMap(kept));
  }

  /** Stamps for the given tags (fetching tokens not known yet). */
  async stamp(tags: readonly string[]): Promise<TagStamp[]> {
    checkTags(tags);
    const unique = [...new Set(tags)];
    const known = unique.map((t) => this.tokens.get(t));
    const voidedAt = this.voidedAt;
    let fetched = await this.fetch(unique.filter((_, i) => known[i] === undefined));
    const voided = this.voidedAt !== voidedAt;
    if (voided) {
      // A new epoch seen meanwhile voids the tokens known before: read those again.
      const lost = unique.filter((t) => !this.tokens.has(t) && !fetched.has(t));
      if (lost.length > 0) fetched = new Map([...fetched, ...(await this.fetch(lost))]);
    }
    // A tag known before may have been pushed out of a full map by those just read: its token is the one known.
    return unique.map((t, i) => [t, fetched.get(t) ?? this.tokens.get(t) ?? (voided ? undefined : known[i]) ?? ''] as const);
  }

  /** true: every stamp is current; false: one was invalidated; undefined: some tags are unknown here yet. */
  isLive(stamps: readonly TagStamp[]): boolean | undefined {
    let unknown = false;
    for (const [tag, token] of stamps) {
      const current = this.tokens.get(tag);
      if (current === undefined) unknown = true;
      else if (current !== token) return false;
    }
    return unknown ? undefined : true;
  }

  /** Like `isLive`, fetching unknown tags first. */
  async check(stamps: readonly TagStamp[]): Promise<boolean> {
    const quick = this.isLive(stamps);
    if (quick !== undefined) return quick;
    const known = stamps.map(([tag]) => this.tokens.get(tag));
    const voidedAt = this.voidedAt;
    const fetched = await this.fetch(stamps.filter((_, i) => known[i] === undefined).map(([tag]) => tag));
    // As in `stamp`: a tag pushed out by those just read is judged by the token known before, unless a new epoch voided it.
    const voided = this.voidedAt !== voidedAt;
    return stamps.every(([tag, token], i) => (this.tokens.get(tag) ?? fetched.get(tag) ?? (voided ? undefined : known[i])) === token);
  }

  /** Reads the tokens of `tags` (creating the epoch if the table is missing); resolves to what was read. */
  async fetch(tags: readonly string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (let i = 0; i < tags.length; i += FETCH_CHUNK) await this.read(tags.slice(i, i + FETCH_CHUNK), out);
    return out;
  }

  private async read(chunk: readonly string[], out: Map<string, string>): Promise<TableState> {
    const candidate = newToken();
    const sent = this.order.send();
    // Every change followed so far had been made when this read was sent.
    const floor = this.following.synced;
    const { count, values } = await this.store.hashGetCounted(this.hashKey, [EPOCH_FIELD, ...chunk], [EPOCH_FIELD, candidate]);
    const current = values[0] ?? candidate;
    if (current !== this.epoch) {
      // A new table: every token known from the old one is void, and its count starts anew.
      if (this.epoch !== undefined) {
        this.tokens.clear();
        this.voidedAt = ++this.changes;
      }
      this.order.restart();
      this.following.restart();
      this.epoch = current;
    } else if (floor !== undefined && count < floor) {
      // Fewer changes than were known when this read was sent: a failover lost writes, and the
      // counts known here no longer order anything against the table's.
      this.order.restart();
      this.following.restart();
    }
    if (current === candidate) this.announceEpoch(current);
    for (let j = 0; j < chunk.length; j++) {
      const tag = chunk[j]!;
      const token = values[j + 1] ?? current;
      // A token set here after this read was sent can be newer than what it found.
      const newer = this.order.isNewer(tag, count, sent) ? this.tokens.get(tag) : undefined;
      if (newer === undefined) {
        this.note(tag, token);
        this.order.read(tag, count);
      }
      out.set(tag, newer ?? token);
    }
    return { epoch: current, count };
  }

  /** Re-reads every known tag (after a lost broadcast, a change of the table, and periodically). */
  async refresh(): Promise<void> {
    const known = [...this.tokens.keys()];
    const before = this.following.synced;
    const out = new Map<string, string>();
    // With no tag known, still read the epoch: a new table voids what the next stamps compare with.
    let base: TableState | undefined;
    let i = 0;
    do {
      const state = await this.read(known.slice(i, i + FETCH_CHUNK), out);
      // Counted from the first read of the current epoch: every known tag was read after it.
      if (base === undefined || state.epoch !== base.epoch) base = state;
      i += FETCH_CHUNK;
    } while (i < known.length);
    this.following.fullRead(before, base);
  }

  /** Checks the table by its change count, reading every known tag only when a change was missed here (see `TableSync`). */
  sync(periodic = false): Promise<void> {
    return this.following.check(periodic);
  }

  /** Another process announced an epoch: re-read unless it is ours already (the store is the authority, not the message). */
  noteEpoch(epoch: string): Promise<void> {
    return epoch === this.epoch ? Promise.resolve() : this.refresh();
  }

  /**
   * A broadcast invalidation: its tags' new tokens, its number in the table's count (`n`) and the
   * table's epoch when it was made (`e`). Resolves once what it asks for is done (a re-read when
   * it was made in another epoch).
   */
  receive(entries: readonly (readonly [string, string])[], n: number | undefined, e: string | undefined): Promise<void> {
    return this.following.receive(n, e, (counted) => {
      for (const [tag, token] of entries) this.apply(tag, token, counted ? n : undefined);
    });
  }

  /**
   * A tag's new token, from an invalidation made here or announced by another process: numbered
   * `n` in the epoch known here, or without a number (an earlier release's, or made in another epoch).
   */
  apply(tag: string, token: string, n?: number): void {
    if (this.order.admit(tag, n)) this.note(tag, token);
  }

  /** Records a tag's token, counting a change of a token known before. */
  private note(tag: string, token: string): void {
    const known = this.tokens.get(tag);
    if (known !== undefined && known !== token) this.changedAt.set(tag, ++this.changes);
    this.tokens.set(tag, token);
  }

  /** Invalidates tags: one atomic HSET of new tokens + PUBLISH. */
  async invalidate(tags: readonly string[], channel: string, origin: string): Promise<void> {
    checkTags(tags);
    const entries = [...new Set(tags)].map((t) => [t, newToken()] as const);
    if (entries.length === 0) return;
    const { count, epoch } = await this.store.hashSetCountAndPublish(this.hashKey, entries, channel, JSON.stringify({ t: entries, o: origin }), EPOCH_FIELD);
    const n = epoch !== undefined && epoch === this.epoch ? count : undefined;
    for (const [t, token] of entries) this.apply(t, token, n);
  }
}

export function checkTags(tags: unknown): asserts tags is readonly string[] {
  if (!Array.isArray(tags)) throw new InvalidOptionError('tags', 'expected an array of strings');
  for (const t of tags) {
    if (typeof t !== 'string' || t === '') throw new InvalidOptionError('tags', `each tag must be a non-empty string (got ${JSON.stringify(t)})`);
    // Tags name Redis hash fields: a lone surrogate would become U+FFFD there and merge two tags.
    checkWellFormed(t, 'tags', 'the tag');
  }
}

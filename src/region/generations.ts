import type { TableStore } from '../store/index.js';
import { type TableState, TableSync } from './table-sync.js';
import { TokenOrder } from './token-order.js';
import { newToken } from './tokens.js';

/** The hash field holding the epoch: an empty name, which no region path can have. */
export const EPOCH_FIELD = '';

/**
 * The current generation token of every region path, kept locally so a hit costs no round trip.
 * Entry keys embed the tokens of their region and every ancestor, so replacing one token
 * invalidates the region and everything below it in O(1): old keys are simply never read again.
 *
 * The table is an ordinary Redis hash, and under an `allkeys-*` eviction policy Redis may evict
 * it like any key. Its absence must never read as "nothing was ever invalidated", or entries
 * written before an invalidation would be answered again. So the table carries an epoch, created
 * (with a new random value) by the same atomic step that reads the table whenever it is missing,
 * and a top-level region never invalidated in this epoch has the epoch as its token. A table that
 * vanished comes back with a new epoch: every key changes, and the cache starts empty instead of
 * resurrecting anything.
 *
 * The table also counts its changes, and each broadcast carries its number (`TableSync`): a check
 * reads the epoch and the count alone, and the whole table only when a change was missed.
 */
export class Generations {
  private tokens = new Map<string, string>();
  private epoch: string | undefined;
  private loading: Promise<void> | undefined;
  /** A load was asked for while one was under way: it must run again, as the table may have changed since that one read it. */
  private again = false;
  /** Bumped on every change, so regions can cache their key prefix and notice changes cheaply. */
  version = 0;
  /** Keeps a path's token from being replaced by an older one that arrives late: no invalidated generation comes back. */
  private readonly order = new TokenOrder<string>(new Map(), new Map());
  /** Follows the table's changes by their count. */
  private readonly following: TableSync;

  constructor(
    private readonly store: TableStore,
    private readonly hashKey: string,
    /** Tells the other processes that this one created a new epoch (so they reload at once). */
    private readonly announceEpoch: (epoch: string) => void = () => {},
    /** Resolves once the broadcasts published before the call have arrived, as far as the store can tell (see `MessageBus.delivered`). */
    delivered?: () => Promise<void>,
  ) {
    const self = this;
    this.following = new TableSync(
      {
        get epoch() {
          return self.epoch;
        },
        readState: () => this.readState(),
        readAll: () => this.load(),
      },
      delivered,
    );
  }

  /** Whether the tokens have been read at least once (keys can be built without waiting). */
  get ready(): boolean {
    return this.epoch !== undefined;
  }

  /** Reads every token from the store (at start, after a lost broadcast or a change of the table, and when a check calls for it). */
  load(): Promise<void> {
    if (this.loading) {
      this.again = true;
      return this.loading;
    }
    const candidate = newToken();
    const sent = this.order.send();
    const before = this.following.synced;
    this.loading = this.store
      .hashGetAllCounted(this.hashKey, [EPOCH_FIELD, candidate])
      .then(({ count, fields }) => {
        const epoch = fields[EPOCH_FIELD] ?? candidate;
        // A new table, or fewer changes than were known when this load was sent (a failover lost
        // writes): the counts known here no longer order anything against the table's.
        if (epoch !== this.epoch || (before !== undefined && count < before)) {
          this.order.restart();
          this.following.restart();
        }
        const next = new Map(Object.entries(fields));
        next.delete(EPOCH_FIELD);
        // A token set here after this load was sent can be newer than what it found.
        const kept = this.order.newerKeys(count, sent);
        for (const path of next.keys()) if (!kept.has(path)) this.order.read(path, count);
        for (const path of kept) {
          const mine = this.tokens.get(path);
          if (mine !== undefined) next.set(path, mine);
        }
        this.order.settled();
        if (epoch !== this.epoch || !sameMap(next, this.tokens)) {
          this.tokens = next;
          this.epoch = epoch;
          this.version++;
        }
        if (epoch === candidate) this.announceEpoch(epoch);
        this.following.fullRead(before, { epoch, count });
      })
      .finally(() => {
        this.loading = undefined;
        if (this.again) {
          this.again = false;
          this.load().catch(() => {});
        }
      });
    return this.loading;
  }

  /** Reads the table's epoch and change count alone (a new epoch is applied as `load` would: by loading). */
  private async readState(): Promise<TableState> {
    const candidate = newToken();
    const { count, values } = await this.store.hashGetCounted(this.hashKey, [EPOCH_FIELD], [EPOCH_FIELD, candidate]);
    const epoch = values[0] ?? candidate;
    if (epoch === candidate) this.announceEpoch(epoch);
    return { epoch, count };
  }

  /** Checks the table by its change count, reading it whole only when a change was missed here (see `TableSync`). */
  sync(periodic = false): Promise<void> {
    return this.following.check(periodic);
  }

  /** A broadcast change of a path's token, with its number in the table's count and the table's epoch (see `TableSync.receive`). */
  receive(path: string, token: string, n: number | undefined, e: string | undefined): Promise<void> {
    return this.following.receive(n, e, (counted) => this.apply(path, token, counted ? n : undefined));
  }

  tokenOf(path: string): string {
    return this.tokens.get(path) ?? '';
  }

  /**
   * Applies a token learnt from a broadcast or set locally: numbered `n` in the epoch known here,
   * or without a number (an earlier release's, or made in another epoch).
   */
  apply(path: string, token: string, n?: number): void {
    if (!this.order.admit(path, n)) return;
    if (this.tokens.get(path) === token) return;
    this.tokens.set(path, token);
    this.version++;
  }

  /** Another process announced an epoch: reload unless it is ours already (the store is the authority, not the message). */
  noteEpoch(epoch: string): Promise<void> {
    return epoch === this.epoch ? Promise.resolve() : this.load();
  }

  /**
   * The region path as it appears in keys: each segment followed by `@token` once it has been
   * invalidated, and the first segment always, with the epoch until it is invalidated.
   */
  keyPath(path: string): string {
    let out = '';
    let prefix = '';
    for (const seg of path.split('.')) {
      prefix = prefix === '' ? seg : `${prefix}.${seg}`;
      const token = this.expected(prefix, out === '');
      out += (out === '' ? '' : '.') + (token === '' ? seg : `${seg}@${token}`);
    }
    return out;
  }

  private expected(path: string, top: boolean): string {
    const token = this.tokenOf(path);
    return token === '' && top ? (this.epoch ?? '') : token;
  }

  /**
   * Whether a key path (as stored) is the current one: every segment's token matches.
   * Used by the sweep to find entries of invalidated generations and of earlier epochs.
   */
  isCurrent(keyPath: string): boolean {
    let prefix = '';
    for (const seg of keyPath.split('.')) {
      const at = seg.indexOf('@');
      const name = at < 0 ? seg : seg.slice(0, at);
      const token = at < 0 ? '' : seg.slice(at + 1);
      const top = prefix === '';
      prefix = top ? name : `${prefix}.${name}`;
      if (this.expected(prefix, top) !== token) return false;
    }
    return true;
  }

  /** Invalidates a region path (and so every path below it): one atomic HSET + PUBLISH. */
  async invalidate(path: string, channel: string, origin: string): Promise<string> {
    const token = newToken();
    const { count, epoch } = await this.store.hashSetCountAndPublish(
      this.hashKey,
      [[path, token]],
      channel,
      JSON.stringify({ g: [path, token], o: origin }),
      EPOCH_FIELD,
    );
    this.apply(path, token, epoch !== undefined && epoch === this.epoch ? count : undefined);
    return token;
  }
}

function sameMap(a: Map<string, string>, b: Map<string, string>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}

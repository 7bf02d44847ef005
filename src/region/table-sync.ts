import { ChangeCount } from './change-count.js';

/** Every this many periodic checks, a table is read in full even when its count says nothing was missed. */
export const FULL_EVERY = 60;

/** After a broadcast without a count (from a release that does not count changes), this many periodic checks read in full. */
export const UNCOUNTED_CHECKS = 600;

/** What a read of a counted table found besides its fields. */
export interface TableState {
  epoch: string;
  count: number;
}

/** The table a `TableSync` keeps current: the generations, or the tag tokens. */
export interface SyncedTable {
  /** The epoch known here; undefined before the first read. */
  readonly epoch: string | undefined;
  /** Reads the epoch and change count alone (a new epoch voids what was known, as every read does). */
  readState(): Promise<TableState>;
  /** Reads everything known again, then calls `sync.fullRead` with what its first read found. */
  readAll(): Promise<void>;
}

/**
 * Keeps a counted table current at the cost of one small read per check. Each change of the table
 * is numbered by the Lua call that makes it, and its broadcast carries the number and the table's
 * epoch; `ChangeCount` follows the numbers as broadcasts arrive. A check (every `syncInterval`,
 * and whenever Redis announces the table changed) reads the epoch and the count alone, and the
 * table is read in full only when the count says a change did not arrive here, the epoch is new,
 * the count went back (a failover lost writes), a release that does not count was heard from
 * lately, or every `FULL_EVERY` periodic checks whatever the count says.
 */
export class TableSync {
  private readonly followed = new ChangeCount();
  /** Periodic checks so far. */
  private checks = 0;
  /** Whether the next check reads in full (see `FULL_EVERY`). */
  private fullDue = false;
  /** Until this many periodic checks, every check reads in full: a release that does not count changes was heard from. */
  private uncountedUntil = 0;
  /** The check under way, and whether another was asked for meanwhile. */
  private syncing: Promise<void> | undefined;
  private again = false;

  constructor(
    private readonly table: SyncedTable,
    /** Resolves once the broadcasts published before the call have arrived, as far as the store can tell (see `MessageBus.delivered`). */
    private readonly delivered: () => Promise<void> = () => new Promise((resolve) => setImmediate(resolve)),
  ) {}

  /** The count followed so far; undefined until a full read. */
  get synced(): number | undefined {
    return this.followed.synced;
  }

  /** The table's count starts anew (a new epoch) or went back (a failover lost writes): follow it from the next full read. */
  restart(): void {
    this.followed.reset();
  }

  /**
   * A full read ended. `before`: the count followed when it began; `base`: what its first read in
   * the current epoch found (everything was read after it).
   */
  fullRead(before: number | undefined, base: TableState): void {
    if (base.epoch !== this.table.epoch) return;
    // Fewer changes than followed, in the same epoch: the table lost writes (a failover).
    if (before !== undefined && base.count < before) this.followed.reset();
    this.followed.syncTo(base.count);
  }

  /**
   * Checks the table (see the class). `periodic`: the check of every `syncInterval`, as opposed to
   * one made because the table was announced changed. Checks asked for while one runs join it and
   * one more after it.
   */
  check(periodic = false): Promise<void> {
    if (periodic && ++this.checks % FULL_EVERY === 0) this.fullDue = true;
    if (this.syncing !== undefined) {
      this.again = true;
      return this.syncing;
    }
    this.syncing = this.run().finally(() => {
      this.syncing = undefined;
      if (this.again) {
        this.again = false;
        this.check().catch(() => {});
      }
    });
    return this.syncing;
  }

  private async run(): Promise<void> {
    const synced = this.followed.synced;
    if (synced === undefined || this.fullDue || this.checks < this.uncountedUntil) {
      this.fullDue = false;
      return this.table.readAll();
    }
    const epoch = this.table.epoch;
    const state = await this.table.readState();
    if (state.epoch !== epoch) return this.table.readAll();
    if (state.count < synced) {
      this.followed.reset();
      return this.table.readAll();
    }
    if (this.followed.covers(state.count)) return;
    // A broadcast published before this read may still be on its way (it comes on another connection).
    await this.delivered();
    if (!this.followed.covers(state.count)) await this.table.readAll();
  }

  /**
   * A broadcast change: `n`, its number in the table's count, and `e`, the table's epoch when it was
   * made (both absent from a release that does not count). Runs `apply`, told whether the number
   * holds in the epoch known here (the table then keeps a token only over an older one: see
   * `TagTokens.apply`); resolves once what the broadcast calls for is done (a full read when it
   * was made in another epoch).
   */
  receive(n: number | undefined, e: string | undefined, apply: (counted: boolean) => void): Promise<void> {
    const counted = n !== undefined && e !== undefined && e === this.table.epoch;
    apply(counted);
    if (counted) this.followed.note(n);
    else if (n === undefined) this.uncountedUntil = this.checks + UNCOUNTED_CHECKS;
    // Made in another epoch, or in a table recreated by the change itself: read it now.
    else if (e !== this.table.epoch) return this.table.readAll();
    return Promise.resolve();
  }
}

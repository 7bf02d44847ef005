/** Numbers by key: a `Map`, or a `BoundedMap` where only so many keys are kept. */
export interface KeyedNumbers<K> {
  get(key: K): number | undefined;
  set(key: K, value: number): void;
  keys(): IterableIterator<K>;
  clear(): void;
}

/**
 * Orders the tokens a process learns of one counted table's keys (tags, or region paths), so that
 * no read reply or broadcast that arrives late takes a key back to an earlier token. Replies and
 * broadcasts come on different connections (on a Cluster, reads and writes too), so their order
 * of arrival is not the order of the changes.
 *
 * A change numbered in the table's count replaces a token only when it is later than the change
 * or read that set it. A change without a number (from a release that does not count, or made in
 * another epoch) is ordered against reads instead: it wins over every read sent before it was
 * applied.
 */
export class TokenOrder<K> {
  /** Counts the reads sent and the changes without a number applied, in order. */
  private sequence = 0;

  constructor(
    /** The table's count when each key's token was set here: by a read (the count it found), or by a numbered change. */
    private readonly countAt: KeyedNumbers<K>,
    /** `sequence` when each key's token was last set by a change without a number. */
    private readonly appliedAt: KeyedNumbers<K>,
  ) {}

  /** A read is being sent: returns its place, for `isNewer`. */
  send(): number {
    return ++this.sequence;
  }

  /** A change of `key`, numbered `n` in the epoch known here or without a number: whether its token is to be kept. */
  admit(key: K, n: number | undefined): boolean {
    if (n === undefined) {
      this.appliedAt.set(key, ++this.sequence);
      return true;
    }
    // This change, or a later one, is known here already: its token would take the key back.
    if ((this.countAt.get(key) ?? -1) >= n) return false;
    this.countAt.set(key, n);
    return true;
  }

  /** Whether the token known here for `key` is newer than what a read sent at `sent` found at count `count`. */
  isNewer(key: K, count: number, sent: number): boolean {
    return (this.countAt.get(key) ?? -1) > count || (this.appliedAt.get(key) ?? 0) > sent;
  }

  /** The keys whose token known here is newer than what such a read found (see `isNewer`). */
  newerKeys(count: number, sent: number): Set<K> {
    const out = new Set<K>();
    for (const key of this.countAt.keys()) if (this.isNewer(key, count, sent)) out.add(key);
    for (const key of this.appliedAt.keys()) if (this.isNewer(key, count, sent)) out.add(key);
    return out;
  }

  /** A read that found the table at count `count` set `key`'s token. */
  read(key: K, count: number): void {
    this.countAt.set(key, count);
  }

  /**
   * Only reads sent from now on are still to answer (reads go one at a time): every change without
   * a number applied so far is older than all of them.
   */
  settled(): void {
    this.appliedAt.clear();
  }

  /** The table was recreated, or its count went back (a failover lost writes): the counts known here order nothing any more. */
  restart(): void {
    this.countAt.clear();
  }
}

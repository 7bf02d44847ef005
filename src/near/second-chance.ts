/** What the near cache stores per key: its byte size and whether it was read lately. */
export interface Sized {
  /** Approximate bytes, counted against `maxBytes`. */
  readonly size: number;
  /** Set by every read; cleared when the eviction hand passes the entry and spares it. */
  used: boolean;
}

/**
 * A bounded map that evicts approximately the least recently used entry, by the second-chance
 * (CLOCK) rule over a Map's insertion order: the oldest entry goes, unless it was read since it
 * was last looked at, in which case it moves to the back once, its mark cleared.
 *
 * Written here instead of using lru-cache because a hit is the near cache's whole job: a read
 * here sets a flag on the entry it returns, where lru-cache's `get` also relinks the entry in
 * its recency list, touching three or four more memory locations. With the CPU cache cold, as
 * in a server doing other work between hits, that made a near hit about a fifth slower in
 * `npm run bench` (l1-hit). The exact LRU order is not needed: what matters is that entries
 * still being read stay, and that the bounds hold.
 */
export class SecondChanceMap<V extends Sized> {
  private readonly map = new Map<string, V>();
  private bytes = 0;
  /**
   * The CLOCK hand: one live iterator over the map, kept between evictions. Every entry it passes
   * is deleted (evicted, or re-appended behind it), so it always stands at the oldest entry. A new
   * iterator per eviction would start from the table's beginning and step over every deleted
   * slot V8 has not compacted yet: 100k evictions at 100k entries took 1.9 s that way, 54 ms so.
   */
  private hand: IterableIterator<[string, V]> | undefined;

  /**
   * @param maxEntries - most entries kept
   * @param maxBytes - most bytes kept (sum of `size`)
   * @param maxEntryBytes - larger values are not kept at all (nor values larger than maxBytes)
   * @param onEvict - called once per entry evicted to respect the bounds, with its key and entry
   * @param onDelete - called once per entry deleted or replaced (not evicted, not cleared)
   */
  constructor(
    private readonly maxEntries: number,
    private readonly maxBytes: number,
    private readonly maxEntryBytes: number,
    private readonly onEvict: (key: string, entry: V) => void,
    private readonly onDelete?: (entry: V) => void,
  ) {}

  get(key: string): V | undefined {
    const entry = this.map.get(key);
    if (entry !== undefined) entry.used = true;
    return entry;
  }

  /**
   * Stores `value` as the newest entry, replacing any entry of `key`. Room is made first, so the
   * new entry is never the one evicted, and entries spared on the way stay ahead of it: it is
   * looked at last, as a CLOCK hand would.
   */
  set(key: string, value: V): void {
    this.delete(key);
    if (value.size > this.maxEntryBytes || value.size > this.maxBytes) return;
    while (this.map.size > 0 && (this.map.size >= this.maxEntries || this.bytes + value.size > this.maxBytes)) this.evictOne();
    this.map.set(key, value);
    this.bytes += value.size;
  }

  private evictOne(): void {
    // Terminates: each entry is spared at most once per pass, its mark cleared.
    for (;;) {
      let step = this.hand?.next();
      if (step === undefined || step.done === true) {
        this.hand = this.map.entries();
        step = this.hand.next();
      }
      const [key, entry] = step.value as [string, V];
      this.map.delete(key);
      if (!entry.used) {
        this.bytes -= entry.size;
        this.onEvict(key, entry);
        return;
      }
      entry.used = false;
      this.map.set(key, entry);
    }
  }

  delete(key: string): void {
    const entry = this.map.get(key);
    if (entry === undefined) return;
    this.map.delete(key);
    this.bytes -= entry.size;
    this.onDelete?.(entry);
  }

  clear(): void {
    this.map.clear();
    this.bytes = 0;
    this.hand = undefined;
  }

  /** Entries kept. */
  get size(): number {
    return this.map.size;
  }

  /** Bytes kept (sum of the entries' `size`). */
  get byteSize(): number {
    return this.bytes;
  }
}

import { BoundedMap } from '../bounded-map.js';

/**
 * Keys remembered for a while, each with a value and its own expiry, at most `max` of them (the
 * least recently set is forgotten first). An expired key reads as absent and is dropped when read.
 *
 * Why not lru-cache: deleting its last entry clears every slot it allocated, O(max). These maps
 * are mostly empty or hold one key (a hot key another process computes), and each notification
 * deletes its key from them: with lru-cache, a waiting process paid two clears of 10,000 slots
 * each before it woke its callers. Here every operation is O(1).
 */
export class ExpiringKeys<V> {
  private readonly entries: BoundedMap<string, { value: V; until: number }>;

  /** `max`: how many keys at most (at least 1). */
  constructor(max: number) {
    this.entries = new BoundedMap(max);
  }

  /** Keys held, expired ones not yet dropped included. */
  get size(): number {
    return this.entries.size;
  }

  /** Remembers `key` for `ttlMs` (from now, in ms), replacing what it had. */
  set(key: string, value: V, ttlMs: number): void {
    this.entries.set(key, { value, until: Date.now() + ttlMs });
  }

  /** The value of `key`, undefined when absent or expired. */
  get(key: string): V | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.until <= Date.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  /** Whether `key` is held and not expired. */
  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  delete(key: string): void {
    this.entries.delete(key);
  }
}

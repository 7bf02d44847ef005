/**
 * Deletes between two renewals of a TransientMap's table, at least. 1,024 still let a chain grow
 * long enough to promote most misses' objects in 11 of 14 runs of `tools/miss-cost.ts`; 64 did in
 * 4 of 14 (BENCHMARKS.md). A renewal copies the live entries: at most one per delete.
 */
const RENEW_EVERY = 64;

/**
 * A Map for entries that live as long as one call under way: many are added and deleted each
 * second while few are present at once.
 *
 * Why not a plain Map: when V8 rehashes a Map (it grows, shrinks or compacts every few dozen
 * changes under such churn), the table it leaves keeps a link to the new one and the entries it
 * held. Once a table has reached the old generation, each table after it is kept alive by that
 * link through every young collection, and so is every value they held: under a steady stream of
 * misses, nearly every call's whole object graph was promoted, and the process ran a full
 * collection every 400 ms (see BENCHMARKS.md, misses). Copying the live entries into a new Map
 * every 64 deletes (or as many deletes as there are entries, when more) starts a young chain
 * again; the old one dies with little young behind it.
 */
export class TransientMap<K, V> {
  private map = new Map<K, V>();
  private deletes = 0;

  get(key: K): V | undefined {
    return this.map.get(key);
  }

  has(key: K): boolean {
    return this.map.has(key);
  }

  set(key: K, value: V): void {
    this.map.set(key, value);
  }

  delete(key: K): boolean {
    if (!this.map.delete(key)) return false;
    // At least as many deletes as entries copied: constant work per delete, however large the map.
    if (++this.deletes >= RENEW_EVERY && this.deletes >= this.map.size) {
      this.deletes = 0;
      this.map = new Map(this.map);
    }
    return true;
  }

  get size(): number {
    return this.map.size;
  }

  /** The keys present now. */
  keys(): IterableIterator<K> {
    return this.map.keys();
  }

  /** The values present now. */
  values(): IterableIterator<V> {
    return this.map.values();
  }

  clear(): void {
    this.map = new Map();
  }
}

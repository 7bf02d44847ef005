import type { KeyValueStore } from '../store/index.js';
import type { Generations } from './generations.js';

/** What one sweep pass did. */
export interface SweepResult {
  /** Keys looked at. */
  scanned: number;
  /** Keys of invalidated generations removed. */
  removed: number;
}

/**
 * Reclaims the space of invalidated regions. Entries with a TTL expire by themselves; those
 * without one would stay forever, so a sweep walks the trove's keys with SCAN in small steps and
 * UNLINKs (non-blocking delete) those whose generation is no longer current. Never KEYS, never
 * a long blocking call: each step is one SCAN of `count` keys and one UNLINK.
 */
export class Sweeper {
  constructor(
    private readonly store: KeyValueStore,
    private readonly keyspace: string,
    private readonly generations: Generations,
  ) {}

  async sweep(opts: { count?: number; pauseMs?: number } = {}): Promise<SweepResult> {
    const count = opts.count ?? 200;
    const pauseMs = opts.pauseMs ?? 0;
    await this.generations.load();
    let scanned = 0;
    let removed = 0;
    for await (const keys of this.store.scanPrefix(this.keyspace, count)) {
      scanned += keys.length;
      const dead = keys.filter((k) => this.isDead(k));
      if (dead.length > 0) removed += await this.store.delete(dead);
      if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
    }
    return { scanned, removed };
  }

  private isDead(key: string): boolean {
    const rest = key.slice(this.keyspace.length);
    const end = rest.indexOf(':');
    if (end <= 0) return false;
    let keyPath = rest.slice(0, end);
    // On Redis Cluster the entry's hash tag opens right after the region path: `users{:42}`.
    const tag = keyPath.indexOf('{');
    if (tag >= 0) keyPath = keyPath.slice(0, tag);
    // Control keys (locks, generations, tags) live under names starting with '__'.
    if (keyPath.startsWith('__')) return false;
    return !this.generations.isCurrent(keyPath);
  }
}

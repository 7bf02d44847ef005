import { LRUCache } from 'lru-cache';
import type { TagStamp } from '../codec/index.js';
import { InvalidOptionError } from '../errors.js';
import type { Store } from '../store/index.js';
import { newToken } from './tokens.js';

/**
 * The current invalidation token of every tag this process has seen. An entry stores its tags'
 * tokens from when its value was computed; it is live only while all of them are still current,
 * so `invalidateTags` costs one write per tag whatever the number of entries, and a value computed
 * before an invalidation can never be served after it.
 */
export class TagTokens {
  private readonly tokens = new LRUCache<string, string>({ max: 100_000 });

  constructor(
    private readonly store: Store,
    private readonly hashKey: string,
  ) {}

  /** Stamps for the given tags (fetching tokens not known yet). */
  async stamp(tags: readonly string[]): Promise<TagStamp[]> {
    checkTags(tags);
    const unique = [...new Set(tags)];
    await this.fetch(unique.filter((t) => !this.tokens.has(t)));
    return unique.map((t) => [t, this.tokens.get(t) ?? ''] as const);
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
    await this.fetch(stamps.map(([t]) => t).filter((t) => !this.tokens.has(t)));
    return this.isLive(stamps) === true;
  }

  async fetch(tags: readonly string[]): Promise<void> {
    if (tags.length === 0) return;
    const values = await this.store.hashGet(this.hashKey, tags);
    for (let i = 0; i < tags.length; i++) this.tokens.set(tags[i]!, values[i] ?? '');
  }

  /** Re-reads every known tag (after a lost broadcast, and periodically). */
  async refresh(): Promise<void> {
    const known = [...this.tokens.keys()];
    for (let i = 0; i < known.length; i += 1_000) await this.fetch(known.slice(i, i + 1_000));
  }

  apply(tag: string, token: string): void {
    this.tokens.set(tag, token);
  }

  /** Invalidates tags: one atomic HSET of new tokens + PUBLISH. */
  async invalidate(tags: readonly string[], channel: string, origin: string): Promise<void> {
    checkTags(tags);
    const entries = [...new Set(tags)].map((t) => [t, newToken()] as const);
    if (entries.length === 0) return;
    await this.store.hashSetAndPublish(this.hashKey, entries, channel, JSON.stringify({ t: entries, o: origin }));
    for (const [t, token] of entries) this.apply(t, token);
  }
}

export function checkTags(tags: unknown): asserts tags is readonly string[] {
  if (!Array.isArray(tags)) throw new InvalidOptionError('tags', 'expected an array of strings');
  for (const t of tags) {
    if (typeof t !== 'string' || t === '') throw new InvalidOptionError('tags', `each tag must be a non-empty string (got ${JSON.stringify(t)})`);
  }
}

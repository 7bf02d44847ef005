/**
 * The generation and tag tables are read whole or by field, and changed by this process's own
 * invalidations. A read's reply can arrive after an invalidation made later (on a Cluster, reads
 * and writes go on different connections): what the read found is then older than the token
 * applied, and must not replace it, or invalidated entries would be served again. The store below
 * answers reads only when told to, so the order is exact.
 */
import { describe, expect, it } from 'vitest';
import { Generations } from '../../src/region/generations.js';
import { TagTokens } from '../../src/region/tag-tokens.js';
import type { CountedFields, CountedHash, CountedWrite, HashInit, TableStore } from '../../src/store/index.js';

/** A table store whose reads are answered from a snapshot taken when sent, once `release` is called. */
class HeldReads implements TableStore {
  readonly hashes = new Map<string, Map<string, string>>();
  private readonly counts = new Map<string, number>();
  private held: (() => void)[] = [];

  private table(key: string, init?: HashInit): Map<string, string> {
    let h = this.hashes.get(key);
    if (h === undefined) {
      h = new Map();
      this.hashes.set(key, h);
    }
    if (init !== undefined && !h.has(init[0])) h.set(init[0], init[1]);
    return h;
  }

  /** Answers every read sent so far, in order. */
  release(): void {
    const held = this.held;
    this.held = [];
    for (const answer of held) answer();
  }

  hashGetAllCounted(key: string, init?: HashInit): Promise<CountedHash> {
    const snapshot = { count: this.counts.get(key) ?? 0, fields: Object.fromEntries(this.table(key, init)) };
    return new Promise((resolve) => this.held.push(() => resolve(snapshot)));
  }

  hashGetCounted(key: string, fields: readonly string[], init: HashInit): Promise<CountedFields> {
    const h = this.table(key, init);
    const snapshot = { count: this.counts.get(key) ?? 0, values: fields.map((f) => h.get(f) ?? null) };
    return new Promise((resolve) => this.held.push(() => resolve(snapshot)));
  }

  async hashSetCountAndPublish(key: string, entries: readonly (readonly [string, string])[]): Promise<CountedWrite> {
    const h = this.table(key);
    for (const [f, v] of entries) h.set(f, v);
    const count = (this.counts.get(key) ?? 0) + 1;
    this.counts.set(key, count);
    return { count, epoch: h.get('') };
  }
}

/** Lets the microtasks queued so far run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('reads of the invalidation tables', () => {
  it('a tag read sent before an invalidation and answered after it leaves the new token in place', async () => {
    const store = new HeldReads();
    const tags = new TagTokens(store, 'tags');
    const first = tags.fetch(['org']);
    store.release();
    const before = (await first).get('org')!;
    expect(tags.isLive([['org', before]])).toBe(true);

    // A re-read (as after a broadcast was lost) is sent, then the tag is invalidated here.
    const reread = tags.refresh();
    await settle();
    const invalidated = tags.invalidate(['org'], 'chan', 'me');
    await invalidated;
    const after = store.hashes.get('tags')!.get('org')!;
    expect(after).not.toBe(before);
    expect(tags.isLive([['org', before]])).toBe(false);

    // The re-read answers now, with the token from before the invalidation.
    store.release();
    await reread;
    expect(tags.isLive([['org', before]])).toBe(false);
    expect(tags.isLive([['org', after]])).toBe(true);
    // A read sent after the invalidation is believed.
    const later = tags.refresh();
    await settle();
    store.release();
    await later;
    expect(tags.isLive([['org', after]])).toBe(true);
  });

  it('a stamp whose read is overtaken by an invalidation takes the newer token', async () => {
    const store = new HeldReads();
    const tags = new TagTokens(store, 'tags');
    const stamping = tags.stamp(['team']);
    await settle();
    await tags.invalidate(['team'], 'chan', 'me');
    const current = store.hashes.get('tags')!.get('team')!;
    store.release();
    expect(await stamping).toEqual([['team', current]]);
  });

  it("a tag read sent before a change and answered after a full read that saw it: the change's late broadcast still applies", async () => {
    const store = new HeldReads();
    const tags = new TagTokens(store, 'tags');
    const first = tags.refresh();
    store.release();
    await first;
    const epoch = store.hashes.get('tags')!.get('')!;
    // A stamp reads 'x' (never invalidated: the epoch is its token); then another process invalidates it.
    const stamping = tags.stamp(['x']);
    await settle();
    const { count } = await store.hashSetCountAndPublish('tags', [['x', 'new']]);
    // A full read sent now (of the tags known: not 'x' yet) finds the change counted.
    const full = tags.refresh();
    await settle();
    store.release();
    expect(await stamping).toEqual([['x', epoch]]);
    await full;
    // The change's broadcast arrives last: the stamp's reply was older than it.
    await tags.receive([['x', 'new']], count, epoch);
    expect(tags.isLive([['x', 'new']])).toBe(true);
    expect(tags.isLive([['x', epoch]])).toBe(false);
  });

  it('a generation load sent before an invalidation and answered after it leaves the new generation in place', async () => {
    const store = new HeldReads();
    const generations = new Generations(store, 'gens');
    const first = generations.load();
    store.release();
    await first;
    const before = generations.keyPath('users');

    const reload = generations.load();
    await settle();
    const token = await generations.invalidate('users', 'chan', 'me');
    expect(generations.keyPath('users')).toBe(`users@${token}`);

    store.release();
    await reload;
    expect(generations.keyPath('users')).toBe(`users@${token}`);
    expect(generations.keyPath('users')).not.toBe(before);
    // A load sent after it is believed: another process's later invalidation, read from the table.
    store.hashes.get('gens')!.set('users', 'theirs');
    const later = generations.load();
    await settle();
    store.release();
    await later;
    expect(generations.keyPath('users')).toBe('users@theirs');
  });
});

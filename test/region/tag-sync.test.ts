/**
 * The tag table counts its changes, and each broadcast carries its number and the table's epoch.
 * A process's check then reads the epoch and the count alone, and reads the tags it knows again
 * only when a change did not reach it: lost, still missing behind a later one, sent by a release
 * that does not count, made in another epoch, or undone by a failover. Against redis-server, with
 * broadcasts handed to each TagTokens by the test, so that losing or reordering them is exact.
 */
import { describe, expect, it } from 'vitest';
import { TagTokens } from '../../src/region/tag-tokens.js';
import type { Store } from '../../src/store/index.js';
import { useTableServer } from '../helpers/table-server.js';
import { until } from '../helpers/troves.js';

const tables = useTableServer();
let n = 0;

interface Broadcast {
  entries: [string, string][];
  n?: number;
  e?: string;
}

/** A table of its own, its channel's broadcasts as heard, and the tags each read of the table asked for. */
async function table() {
  const key = `tags:${++n}`;
  const channel = `bus:${n}`;
  const heard: Broadcast[] = [];
  const unsubscribe = await tables.store.subscribe(channel, {
    onMessage: (m) => {
      const { t, n: count, e } = JSON.parse(m) as { t: [string, string][]; n?: number; e?: string };
      heard.push({ entries: t, n: count, e });
    },
  });
  const reads: string[][] = [];
  const tokens = (kept?: number) => {
    const t = new TagTokens(tables.store, key, undefined, kept);
    const read = tables.store.hashGetCounted.bind(tables.store);
    // Only this instance's reads are recorded: the store is shared.
    (t as unknown as { store: Store }).store = {
      ...tables.store,
      hashGetCounted: (k: string, fields: readonly string[], init: readonly [string, string]) => {
        // In name order: the order of the tags known follows their last change.
        reads.push(fields.filter((f) => f !== '').sort());
        return read(k, fields, init);
      },
      hashSetCountAndPublish: tables.store.hashSetCountAndPublish.bind(tables.store),
    } as Store;
    return t;
  };
  /** Invalidates through another process's TagTokens and resolves to its broadcast, as heard. */
  const elsewhere = tokens();
  const invalidate = async (...tags: string[]) => {
    const before = heard.length;
    await elsewhere.invalidate(tags, channel, 'elsewhere');
    await until(() => heard.length > before);
    return heard[before]!;
  };
  const deliver = (to: TagTokens, b: Broadcast) => to.receive(b.entries, b.n, b.e);
  return { key, channel, heard, reads, tokens, invalidate, deliver, unsubscribe };
}

describe('TagTokens follow the table by its change count', () => {
  it('a check reads the epoch and the count alone, whatever the number of tags known, when every change arrived', async () => {
    const t = await table();
    const here = t.tokens();
    const many = Array.from({ length: 2_500 }, (_, i) => `user:${i}`);
    const stamps = await here.stamp(many);
    await here.refresh();
    const b = await t.invalidate('user:7');
    expect(b.n).toBe(1);
    expect(typeof b.e).toBe('string');
    await t.deliver(here, b);
    expect(here.isLive([stamps[7]!])).toBe(false);
    t.reads.length = 0;
    for (let i = 0; i < 5; i++) await here.sync(true);
    expect(t.reads).toEqual([[], [], [], [], []]);
    t.unsubscribe();
  });

  it('a lost broadcast is found by the next check, which reads the known tags again', async () => {
    const t = await table();
    const here = t.tokens();
    const stamps = await here.stamp(['a', 'b']);
    await here.sync(true);
    await t.invalidate('b'); // never delivered here
    expect(here.isLive(stamps)).toBe(true); // stale, until the check
    t.reads.length = 0;
    await here.sync(true);
    expect(t.reads).toEqual([[], ['a', 'b']]);
    expect(here.isLive(stamps)).toBe(false);
    expect(here.isLive([stamps[0]!])).toBe(true);
    // Followed again: the next check reads nothing more.
    await here.sync(true);
    expect(t.reads).toEqual([[], ['a', 'b'], []]);
    t.unsubscribe();
  });

  it('broadcasts out of order: a gap is read over at the check while it lasts, and nothing once it closes', async () => {
    const t = await table();
    const here = t.tokens();
    await here.stamp(['x', 'y', 'z']);
    await here.refresh();
    const bx = await t.invalidate('x');
    const by = await t.invalidate('y');
    const bz = await t.invalidate('z');
    await t.deliver(here, bz);
    await t.deliver(here, bx);
    t.reads.length = 0;
    // 'y' is missing: the check cannot tell it is on its way, so it reads.
    await here.sync(true);
    expect(t.reads).toEqual([[], ['x', 'y', 'z']]);
    // Then it arrives, late: the read has seen it already, nothing more to do.
    await t.deliver(here, by);
    const bw = await t.invalidate('x');
    const bv = await t.invalidate('y');
    await t.deliver(here, bv);
    await t.deliver(here, bw);
    t.reads.length = 0;
    await here.sync(true);
    expect(t.reads).toEqual([[]]);
    const current = await here.stamp(['x', 'y']);
    expect(current).toEqual([
      ['x', bw.entries[0]![1]],
      ['y', bv.entries[0]![1]],
    ]);
    t.unsubscribe();
  });

  it('a broadcast older than a full read is not applied: one delivered late cannot take a tag back', async () => {
    const t = await table();
    const here = t.tokens();
    await here.stamp(['x']);
    const first = await t.invalidate('x');
    const second = await t.invalidate('x');
    await here.refresh();
    const [now] = await here.stamp(['x']);
    expect(now).toEqual(['x', second.entries[0]![1]]);
    await t.deliver(here, first);
    expect(here.isLive([now!])).toBe(true);
    expect(here.isLive([['x', first.entries[0]![1]]])).toBe(false);
    t.unsubscribe();
  });

  it('a broadcast without a count (an earlier release): every check reads in full for a while, and a lost one is found', async () => {
    const t = await table();
    const here = t.tokens();
    const stamps = await here.stamp(['a']);
    await here.refresh();
    // An earlier release's invalidation: the field set and broadcast, the count left alone.
    await tables.raw.hset(t.key, 'a', 'old-release-1');
    await here.receive([['a', 'old-release-1']], undefined, undefined);
    expect(here.isLive(stamps)).toBe(false);
    // Its next one is lost.
    await tables.raw.hset(t.key, 'a', 'old-release-2');
    t.reads.length = 0;
    await here.sync(true);
    expect(t.reads).toEqual([['a']]);
    expect(here.isLive([['a', 'old-release-2']])).toBe(true);
    t.unsubscribe();
  });

  it('with no broadcast heard from an earlier release, a change it made is still read at every 60th periodic check', async () => {
    const t = await table();
    const here = t.tokens();
    await here.stamp(['a', 'b']);
    await here.refresh();
    await tables.raw.hset(t.key, 'b', 'unannounced');
    t.reads.length = 0;
    let checks = 0;
    while (!here.isLive([['b', 'unannounced']])) {
      await here.sync(true);
      checks++;
      expect(checks).toBeLessThanOrEqual(60);
    }
    expect(checks).toBe(60);
    expect(t.reads).toEqual([...Array.from({ length: 59 }, () => []), ['a', 'b']]);
    t.unsubscribe();
  });

  it('a broadcast from a table recreated by the invalidation itself (no epoch yet) makes it read the table again', async () => {
    const t = await table();
    const here = t.tokens();
    const before = await here.stamp(['a', 'b']);
    await here.refresh();
    await tables.raw.del(t.key);
    const b = await t.invalidate('a');
    expect(b.n).toBe(1);
    expect(b.e).toBeUndefined();
    await t.deliver(here, b);
    // A new epoch (created by this read) voids every stamp taken before.
    expect(here.isLive([before[1]!])).toBe(false);
    expect(here.isLive([['a', b.entries[0]![1]]])).toBe(true);
    t.reads.length = 0;
    await here.sync(true);
    expect(t.reads).toEqual([[]]);
    t.unsubscribe();
  });

  it('a broadcast made in another epoch than the one known here makes it read the table again', async () => {
    const t = await table();
    const here = t.tokens();
    const before = await here.stamp(['a', 'b']);
    await here.refresh();
    await tables.raw.hset(t.key, '', 'another-epoch');
    const b = await t.invalidate('a');
    expect(b.e).toBe('another-epoch');
    t.reads.length = 0;
    await t.deliver(here, b);
    expect(t.reads).toEqual([['a', 'b']]);
    expect(here.isLive([before[1]!])).toBe(false);
    expect(here.isLive([['b', 'another-epoch']])).toBe(true);
    t.unsubscribe();
  });

  /** A process that followed two changes of tag 'a', then a failover to a primary that had only the first (its token `first`). */
  async function afterLostWrite() {
    const t = await table();
    const here = t.tokens();
    await here.stamp(['a']);
    await t.deliver(here, await t.invalidate('a'));
    await t.deliver(here, await t.invalidate('a'));
    await here.sync(true);
    const first = 'token-after-1';
    await tables.raw.hset(t.key, Buffer.from([0xff]), '1', 'a', first);
    return { t, here, first };
  }

  it('the count gone back in the same epoch (a failover lost writes): it reads in full and follows the table from there', async () => {
    const { t, here, first } = await afterLostWrite();
    t.reads.length = 0;
    await here.sync(true);
    expect(t.reads).toEqual([[], ['a']]);
    expect(here.isLive([['a', first]])).toBe(true);
    // The next change (numbered 2 again) is followed, not taken for one already seen.
    const next = await t.invalidate('a');
    expect(next.n).toBe(2);
    await t.deliver(here, next);
    expect(here.isLive([['a', next.entries[0]![1]]])).toBe(true);
    t.reads.length = 0;
    await here.sync(true);
    expect(t.reads).toEqual([[]]);
    t.unsubscribe();
  });

  it('the count gone back, found by the full read after a reconnect: the next change is followed, not taken for one already seen', async () => {
    const { t, here, first } = await afterLostWrite();
    await here.refresh();
    expect(here.isLive([['a', first]])).toBe(true);
    const next = await t.invalidate('a');
    expect(next.n).toBe(2);
    await t.deliver(here, next);
    expect(here.isLive([['a', next.entries[0]![1]]])).toBe(true);
    t.unsubscribe();
  });

  it('a tag table written by an earlier release reads as it did: no field name reaches the count', async () => {
    const t = await table();
    const here = t.tokens();
    await t.invalidate('a');
    // What an earlier release asks: HMGET of the epoch and its tags, by name.
    const [epoch, a] = (await tables.raw.hmget(t.key, '', 'a')) as [string | null, string | null];
    expect(epoch).toBeNull(); // no reader created it yet
    expect(a).toMatch(/^[\w-]+$/);
    const fields = await tables.raw.hkeys(t.key);
    expect(fields).toHaveLength(2);
    expect(fields).toContain('a');
    const count = await tables.raw.hgetBuffer(t.key, Buffer.from([0xff]));
    expect(count?.toString()).toBe('1');
    await here.stamp(['a']);
    t.unsubscribe();
  });
});

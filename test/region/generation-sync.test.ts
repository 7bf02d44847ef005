/**
 * The generation table counts its changes as the tag table does (see tag-sync.test.ts for the
 * rules, tested there on tags): a check reads the epoch and the count alone, and the whole table
 * only when a change did not reach this process. Against redis-server, with broadcasts handed to
 * each Generations by the test, so that losing or reordering them is exact.
 */
import { describe, expect, it } from 'vitest';
import { Generations } from '../../src/region/generations.js';
import type { HashInit, Store } from '../../src/store/index.js';
import { useTableServer } from '../helpers/table-server.js';
import { until } from '../helpers/troves.js';

const tables = useTableServer();
let n = 0;

interface Broadcast {
  g: [string, string];
  n?: number;
  e?: string;
}

/** A table of its own, its channel's broadcasts as heard, and how each Generations made here read it ('all' or 'count'). */
async function table() {
  const key = `gens:${++n}`;
  const channel = `bus:${n}`;
  const heard: Broadcast[] = [];
  const unsubscribe = await tables.store.subscribe(channel, { onMessage: (m) => heard.push(JSON.parse(m) as Broadcast) });
  const reads: ('all' | 'count')[] = [];
  const generations = () => {
    const g = new Generations(tables.store, key);
    (g as unknown as { store: Store }).store = {
      ...tables.store,
      hashGetAllCounted: (k: string, init?: HashInit) => {
        reads.push('all');
        return tables.store.hashGetAllCounted(k, init);
      },
      hashGetCounted: (k: string, fields: readonly string[], init: HashInit) => {
        reads.push('count');
        return tables.store.hashGetCounted(k, fields, init);
      },
      hashSetCountAndPublish: tables.store.hashSetCountAndPublish.bind(tables.store),
    } as Store;
    return g;
  };
  const elsewhere = generations();
  const invalidate = async (path: string) => {
    const before = heard.length;
    await elsewhere.invalidate(path, channel, 'elsewhere');
    await until(() => heard.length > before);
    return heard[before]!;
  };
  const deliver = (to: Generations, b: Broadcast) => to.receive(b.g[0], b.g[1], b.n, b.e);
  return { key, reads, generations, invalidate, deliver, unsubscribe };
}

describe('Generations follow the table by its change count', () => {
  it('a check reads the epoch and the count alone when every change arrived, and the whole table when one was lost', async () => {
    const t = await table();
    const here = t.generations();
    await here.load();
    await t.deliver(here, await t.invalidate('users'));
    const lost = await t.invalidate('orders');
    t.reads.length = 0;
    await here.sync(true);
    expect(t.reads).toEqual(['count', 'all']);
    expect(here.tokenOf('orders')).toBe(lost.g[1]);
    await here.sync(true);
    expect(t.reads).toEqual(['count', 'all', 'count']);
    t.unsubscribe();
  });

  it('a broadcast older than a full read is not applied: one delivered late cannot bring back an invalidated generation', async () => {
    const t = await table();
    const here = t.generations();
    await here.load();
    const first = await t.invalidate('users');
    const second = await t.invalidate('users');
    await here.load();
    expect(here.tokenOf('users')).toBe(second.g[1]);
    await t.deliver(here, first);
    expect(here.tokenOf('users')).toBe(second.g[1]);
    expect(here.keyPath('users')).toBe(`users@${second.g[1]}`);
    t.unsubscribe();
  });

  it('a broadcast without a count (an earlier release): applied, and the next checks read the whole table', async () => {
    const t = await table();
    const here = t.generations();
    await here.load();
    await tables.raw.hset(t.key, 'users', 'old-release-1');
    await t.deliver(here, { g: ['users', 'old-release-1'] });
    expect(here.tokenOf('users')).toBe('old-release-1');
    await tables.raw.hset(t.key, 'users', 'old-release-2'); // its broadcast lost
    t.reads.length = 0;
    await here.sync(true);
    expect(t.reads).toEqual(['all']);
    expect(here.tokenOf('users')).toBe('old-release-2');
    t.unsubscribe();
  });

  it('the table evicted: a check finds the new epoch and reads the table whole, so no generation of the old epoch is current', async () => {
    const t = await table();
    const here = t.generations();
    await here.load();
    const before = here.keyPath('users');
    await tables.raw.del(t.key);
    t.reads.length = 0;
    await here.sync(true);
    expect(t.reads).toEqual(['count', 'all']);
    expect(here.keyPath('users')).not.toBe(before);
    expect(here.isCurrent(before)).toBe(false);
    t.unsubscribe();
  });

  it('the table as an earlier release reads it: every region path, and the count under a name no path can have', async () => {
    const t = await table();
    const here = t.generations();
    await here.load();
    await t.invalidate('users');
    const all = await tables.raw.hgetall(t.key);
    expect(Object.keys(all).filter((f) => f !== '' && f !== 'users')).toEqual(['\ufffd']);
    const { fields } = await tables.store.hashGetAllCounted(t.key);
    expect(Object.keys(fields).sort()).toEqual(['', 'users']);
    t.unsubscribe();
  });
});

/**
 * TagTokens keeps at most so many tags: one forgotten is read from Redis again when next needed,
 * so a stamp is still judged against the tag's current token, an invalidation made elsewhere
 * included.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TagTokens } from '../../src/region/tag-tokens.js';
import { createStore } from '../../src/store/create-store.js';
import type { Store } from '../../src/store/index.js';
import { RedisServer } from '../helpers/redis-server.js';

let server: RedisServer;
let store: Store;

beforeAll(async () => {
  server = await RedisServer.start();
  store = createStore({ redis: server.url, memory: undefined, commandTimeoutMs: 2_000, listener: {} });
});

afterAll(async () => {
  await store.close();
  await server.stop();
});

/** The tags each read of the tag table asked for, the epoch's field left out. */
function readsOf(s: Store): string[][] {
  const reads: string[][] = [];
  const hashGetCounted = s.hashGetCounted.bind(s);
  s.hashGetCounted = (key, fields, init) => {
    reads.push(fields.filter((f) => f !== ''));
    return hashGetCounted(key, fields, init);
  };
  return reads;
}

describe('TagTokens, bounded', () => {
  it('reads a forgotten tag again, and judges a stamp by its current token', async () => {
    const reads = readsOf(store);
    const here = new TagTokens(store, 'tags:bounded', undefined, 2);
    const elsewhere = new TagTokens(store, 'tags:bounded');
    const stamps = await here.stamp(['a', 'b', 'c']);
    expect(reads).toEqual([['a', 'b', 'c']]);
    // 'a' was set first: forgotten, so not known to be live without a read.
    expect(here.isLive(stamps)).toBeUndefined();
    expect(await here.check(stamps)).toBe(true);
    expect(reads).toEqual([['a', 'b', 'c'], ['a']]);
    // Another process invalidates 'b', forgotten here since 'a' was read again.
    await elsewhere.invalidate(['b'], 'tags:bounded:channel', 'elsewhere');
    expect(await here.check(stamps)).toBe(false);
    expect(reads.at(-1)).toEqual(['b']);
  });

  it('stamps a known tag pushed out by the tags read with it by the token it knew', async () => {
    const here = new TagTokens(store, 'tags:pushed', undefined, 2);
    const [x] = await here.stamp(['x']);
    const stamps = await here.stamp(['x', 'y', 'z']);
    expect(stamps[0]).toEqual(x);
    expect(await here.check(stamps)).toBe(true);
  });

  it('the tag table evicted: every stamp taken before is stale, a tag pushed out of the map included; stamps after it are live', async () => {
    const here = new TagTokens(store, 'tags:evicted', undefined, 2);
    const [x] = await here.stamp(['x']);
    // 'x' is pushed out by 'y' and 'z' as they are read.
    const before = await here.stamp(['x', 'y', 'z']);
    expect(before[0]).toEqual(x);
    await server.command('DEL', 'tags:evicted');
    // Reading 'x' again finds the table gone: a new epoch voids every token known from the old one.
    expect(await here.check(before)).toBe(false);
    expect(await here.check([before[1]!])).toBe(false);
    const after = await here.stamp(['x', 'y', 'z']);
    expect(after.map(([, token]) => token)).not.toContain(before[1]![1]);
    expect(await here.check(after)).toBe(true);
  });

  it('keeps every tag it was asked to when under its bound', async () => {
    const reads = readsOf(store);
    const here = new TagTokens(store, 'tags:unbounded');
    const stamps = await here.stamp(['a', 'b', 'c']);
    expect(here.isLive(stamps)).toBe(true);
    expect(reads).toEqual([['a', 'b', 'c']]);
  });
});

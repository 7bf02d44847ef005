/**
 * trove.cached(), the @trove.cached() decorator and trove.bypass(), on a private redis-server.
 */
import { claimElsewhere } from '../helpers/locks.js';
import { describe, expect, it } from 'vitest';
import { createTrove, type ErrorEvent } from '../../src/index.js';
import { argsKey } from '../../src/keys/args/index.js';
import { until, useRedisServer, useTroves } from '../helpers/troves.js';
import { deferred } from '../load/support.js';

const redis = useRedisServer();
/**
 * The entry keys under a prefix, without the generation and tag tables, and with the epoch that a
 * never-invalidated top-level region carries (`fn@<epoch>`) left out, so they can be compared exactly.
 */
async function entryKeys(prefix: string): Promise<string[]> {
  return (await redis.server.keys()).filter((k) => k.startsWith(`${prefix}:`) && !k.includes(':__')).map((k) => k.replace(/@[\w-]{8}(?=[.:])/, ''));
}
let n = 0;
const { open, track, expectErrors } = useTroves(() => ({ redis: redis.server.url, prefix: `c${++n}` }));

describe('trove.cached', () => {
  it('computes once per distinct arguments, keyed canonically', async () => {
    const t = open();
    const calls: unknown[][] = [];
    const search = t.cached(
      async (q: { text: string; page: number }) => {
        calls.push([q]);
        return [`${q.text}#${q.page}`];
      },
      { name: 'search', region: 'search' },
    );
    expect(await search({ text: 'a', page: 1 })).toEqual(['a#1']);
    expect(await search({ page: 1, text: 'a' })).toEqual(['a#1']); // key order does not matter
    expect(await search({ text: 'a', page: 2 })).toEqual(['a#2']);
    expect(calls).toHaveLength(2);
  });

  it('one primitive argument: remembered keys equal derived ones; 1 / "1" and true / "true" stay apart, -0 is 0', async () => {
    const t = open();
    const runs: unknown[] = [];
    const echo = t.cached(
      async (x: unknown) => {
        runs.push(x);
        return typeof x;
      },
      { name: 'echo', region: 'echo' },
    );
    const args: unknown[] = [0, 1, '1', true, 'true', '', Number.NaN, 'x'.repeat(200)];
    for (let pass = 0; pass < 3; pass++) for (const a of args) expect(await echo(a)).toBe(typeof a);
    expect(await echo(-0)).toBe('number'); // the key encoding takes -0 for 0 (documented in argsKey)
    expect(runs).toHaveLength(args.length); // each distinct argument computed once, over three passes
    for (const [i, a] of args.entries()) expect(Object.is(runs[i], a)).toBe(true);
    // the stored keys are the derived ones: a fresh trove with the same prefix (no remembered keys) hits them all
    const other = open({ prefix: `c${n}` });
    const again = other.cached(async (x: unknown) => `recomputed ${String(x)}`, { name: 'echo', region: 'echo' });
    for (const a of args) expect(await again(a)).toBe(typeof a);
  });

  it('skipArgs leaves a handle out of the key; the function still receives it', async () => {
    const t = open();
    let runs = 0;
    const db1 = { conn: 1 };
    const db2 = { conn: 2, nested: () => 'not encodable' };
    const topBooks = t.cached(
      async (authorId: number, db: { conn: number }) => {
        runs++;
        return { authorId, conn: db.conn };
      },
      { name: 'topBooks', region: 'books', ttl: '4h', freshFor: '1h', skipArgs: [1] },
    );
    expect(await topBooks(7, db1)).toEqual({ authorId: 7, conn: 1 });
    expect(await topBooks(7, db2)).toEqual({ authorId: 7, conn: 1 });
    expect(runs).toBe(1);
    const keys = await entryKeys(t.prefix);
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatch(new RegExp(`^${t.prefix}:0:books:topBooks:0:[A-Za-z0-9_-]{22}$`));
  });

  it('invalidate, refresh and peek address one call', async () => {
    const t = open();
    let version = 0;
    const f = t.cached(async (id: number) => `${id}v${++version}`, { name: 'f' });
    expect(await f.peek(1)).toBeUndefined();
    expect(await f(1)).toBe('1v1');
    expect(await f.peek(1)).toBe('1v1');
    expect(await f.refresh(1)).toBe('1v2');
    expect(await f(1)).toBe('1v2');
    await f.invalidate(1);
    expect(await f.peek(1)).toBeUndefined();
    expect(await f(1)).toBe('1v3');
    expect(version).toBe(3);
  });

  it('markStale addresses one call: the next call answers the result marked and recomputes it once, the other calls untouched', async () => {
    const t = open();
    let version = 0;
    const f = t.cached(async (id: number) => `${id}v${++version}`, { name: 'f', ttl: '100s' });
    expect(await f.markStale(1)).toBe(false);
    expect(await f(1)).toBe('1v1');
    expect(await f(2)).toBe('2v2');
    expect(await f.markStale(1)).toBe(true);
    expect(await f(1)).toBe('1v1');
    await until(async () => (await f.peek(1)) === '1v3', 10_000, 'the result recomputed');
    expect(await f(2)).toBe('2v2');
    expect(version).toBe(3);
  });

  it("every event of a cached function's calls names it, its invalidate and markStale included", async () => {
    const t = open();
    const seen: { name: string; key: unknown; function: unknown }[] = [];
    for (const name of ['hit', 'miss', 'set', 'delete', 'markStale', 'compute', 'stale'] as const) {
      t.on(name, (e) => seen.push({ name, key: e.key, function: e.function }));
    }
    const f = t.cached(async (id: number) => `${id}!`, { name: 'f', ttl: '100s' });
    expect(await f(1)).toBe('1!');
    expect(await f(1)).toBe('1!');
    expect(await f.markStale(1)).toBe(true);
    await f.invalidate(1);
    const key = seen[0]!.key;
    expect(typeof key).toBe('string');
    expect(seen).toEqual(['miss', 'compute', 'set', 'hit', 'markStale', 'delete'].map((name) => ({ name, key, function: 'f' })));
  });

  it('the function version and the trove version are part of every key', async () => {
    const a = open({ prefix: 'ver', version: 'deploy1' });
    const b = open({ prefix: 'ver', version: 'deploy2' });
    let runs = 0;
    const load = async (id: number) => ++runs + id * 0;
    const fa = a.cached(load, { name: 'load' });
    const fb = b.cached(load, { name: 'load' });
    const fa2 = a.cached(load, { name: 'load', version: '2' });
    expect(await fa(1)).toBe(1);
    expect(await fb(1)).toBe(2);
    expect(await fa2(1)).toBe(3);
    expect(await fa(1)).toBe(1);
    const keys = await entryKeys('ver');
    expect(keys.map((k) => k.split(':').slice(0, 5).join(':')).sort()).toEqual(['ver:deploy1:fn:load:0', 'ver:deploy1:fn:load:2', 'ver:deploy2:fn:load:0']);
  });

  it('a custom key function replaces the encoding', async () => {
    const t = open();
    const f = t.cached(async (user: { id: number; name: string }) => user.name.toUpperCase(), { name: 'upper', key: (u) => `u${u.id}` });
    await f({ id: 5, name: 'ada' });
    expect(await f({ id: 5, name: 'someone else' })).toBe('ADA');
    expect(await entryKeys(t.prefix)).toEqual([`${t.prefix}:0:fn:upper:0:u5`]);
  });

  it('shouldCache decides whether a result is stored', async () => {
    const t = open();
    let runs = 0;
    const f = t.cached(
      async (q: string) => {
        runs++;
        return q === 'empty' ? [] : [q];
      },
      { name: 'sc', shouldCache: (v) => v.length > 0 },
    );
    await f('empty');
    await f('empty');
    await f('x');
    await f('x');
    expect(runs).toBe(3);
  });

  it('refreshTtlOnHit slides the expiry', async () => {
    const t = open();
    const f = t.cached(async (x: number) => x, { name: 'slide', ttl: 10_000, refreshTtlOnHit: true });
    await f(1);
    // The entry's TTL in Redis, run down by Redis's own clock.
    const key = f.region.keyOf(`slide:0:${argsKey([1])}`);
    const pttl = async () => Number(await redis.server.command('PTTL', key));
    for (let i = 0; i < 3; i++) {
      await until(async () => (await pttl()) < 9_950);
      const left = await pttl();
      await f(1);
      // Each hit pushes the expiry back (sent behind the answer).
      await until(async () => (await pttl()) > left);
    }
    expect(await f.peek(1)).toBe(1);
    // Without hits (a peek is none), an entry expires at its TTL.
    const short = t.cached(async (x: number) => x, { name: 'slideShort', ttl: 200, refreshTtlOnHit: true });
    const called = performance.now();
    await short(1);
    const peeked = await short.peek(1);
    // Within its TTL it is there; a machine too loaded to peek in time leaves only the expiry to check.
    if (performance.now() - called < 200) expect(peeked).toBe(1);
    await until(async () => (await short.peek(1)) === undefined);
  });

  it('arguments that cannot be encoded run the function uncached with an error event', async () => {
    expectErrors();
    const t = open();
    const errors: ErrorEvent[] = [];
    t.on('error', (e) => errors.push(e));
    let runs = 0;
    const f = t.cached(
      async (cb: () => number) => {
        runs++;
        return cb();
      },
      { name: 'withFn' },
    );
    expect(await f(() => 4)).toBe(4);
    expect(await f(() => 4)).toBe(4);
    expect(runs).toBe(2);
    expect(errors.map((e) => [e.operation, e.error.code])).toEqual([
      ['key', 'KEY_DERIVATION'],
      ['key', 'KEY_DERIVATION'],
    ]);
    const strict = t.cached(async (cb: () => number) => cb(), { name: 'strict', onKeyError: 'throw' });
    await expect(strict(() => 1)).rejects.toMatchObject({ code: 'KEY_DERIVATION' });
  });

  it('read-through options pass through (onCold fallback while another holder computes)', async () => {
    const t = open();
    const f = t.cached(async (id: number) => `computed ${id}`, { name: 'rt', onCold: () => 'fallback', lockLease: 5_000 });
    // another process holds the lock of this call's key
    await t.ready();
    const entry = f.region.keyOf(`rt:0:${argsKey([1])}`);
    await claimElsewhere(redis.server, entry, 'someone-else', 5_000);
    expect(await f(1)).toBe('fallback');
    expect(await f.peek(1)).toBeUndefined();
    await redis.server.command('DEL', entry);
    expect(await f(1)).toBe('computed 1');
    expect(() => t.cached(async function named() {}, { onCold: 'maybe' as never })).toThrow(expect.objectContaining({ option: 'onCold' }));
  });

  it('concurrent calls share one run', async () => {
    const t = open();
    let misses = 0;
    t.on('miss', () => misses++);
    let runs = 0;
    const gate = deferred();
    const slow = t.cached(
      async (id: number) => {
        runs++;
        await gate.promise;
        return id * 2;
      },
      { name: 'slow' },
    );
    const pending = Promise.all(Array.from({ length: 100 }, () => slow(21)));
    // Every call has missed, and so joined the one run, before it returns.
    await until(() => misses === 100);
    gate.resolve();
    const out = await pending;
    expect(out.every((v) => v === 42)).toBe(true);
    expect(runs).toBe(1);
  });

  it('options are validated with typed errors', () => {
    const t = open();
    expect(() => t.cached(async () => 1)).toThrow(expect.objectContaining({ option: 'name' }));
    expect(() => t.cached(async function named() {}, { ttl: -1 })).toThrow(expect.objectContaining({ option: 'ttl' }));
    expect(() => t.cached(async function named() {}, { skipArgs: [-1] })).toThrow(expect.objectContaining({ option: 'skipArgs' }));
    expect(() => t.cached(async function named() {}, { nmae: 'x' } as never)).toThrow(expect.objectContaining({ option: 'nmae' }));
  });

  it('a name or version with a lone surrogate is rejected: Redis would see U+FFFD', () => {
    const t = open();
    const fn = async () => 1;
    for (const [opts, option] of [
      [{ name: 'load\uD800' }, 'name'],
      [{ name: 'load', version: '\uDC00' }, 'version'],
    ] as const) {
      expect(() => t.cached(fn, opts)).toThrow(expect.objectContaining({ option, message: expect.stringContaining('lone surrogate at index') }));
    }
  });

  it('string arguments with lone surrogates keep distinct entries, hashed or readable', async () => {
    const t = open();
    let runs = 0;
    for (const readableKeys of [false, true]) {
      const f = t.cached(async (_s: string) => `${++runs}`, { name: `lone${readableKeys ? 'R' : 'H'}`, readableKeys });
      const inputs = ['\uD800', '\uDC00', '\uFFFD', '\uDC00\uD800', '\uD800\uDC00'];
      const first = await Promise.all(inputs.map((s) => f(s)));
      expect(new Set(first).size).toBe(inputs.length);
      expect(await Promise.all(inputs.map((s) => f(s)))).toEqual(first);
    }
    expect(runs).toBe(10);
  });

  it('a key function returning a lone surrogate runs the call uncached (or throws with onKeyError: throw)', async () => {
    expectErrors();
    const t = open();
    const errors: ErrorEvent[] = [];
    t.on('error', (e) => errors.push(e));
    let runs = 0;
    const f = t.cached(async (s: string) => ++runs + s.length * 0, { name: 'loneKey', key: (s) => s });
    expect(await f('\uD800')).toBe(1);
    expect(await f('\uDC00')).toBe(2);
    expect(await f('ok')).toBe(3);
    expect(await f('ok')).toBe(3);
    expect(errors.map((e) => [e.operation, e.error.code])).toEqual([
      ['key', 'KEY_DERIVATION'],
      ['key', 'KEY_DERIVATION'],
    ]);
    expect(errors[0]!.error.message).toContain('lone surrogate at index 0');
    const strict = t.cached(async (s: string) => s, { name: 'loneKeyStrict', key: (s) => s, onKeyError: 'throw' });
    await expect(strict('a\uDC00')).rejects.toMatchObject({ code: 'KEY_DERIVATION' });
  });

  it('works without Redis: the embedded store caches in-process', async () => {
    const t = track(createTrove());
    let runs = 0;
    const f = t.cached(
      async (x: number) => {
        runs++;
        return x;
      },
      { name: 'mem' },
    );
    await f(1);
    await f(1);
    expect(runs).toBe(1);
  });
});

describe('trove.bypass', () => {
  it('skips caching for every call inside, across awaits, and only there', async () => {
    const t = open();
    let runs = 0;
    const f = t.cached(
      async (x: number) => {
        runs++;
        return x;
      },
      { name: 'bp' },
    );
    const r = t.region('bp');
    await t.bypass(async () => {
      await f(1);
      // across a macrotask, not only microtasks
      await new Promise((r) => setImmediate(r));
      await f(1);
      await r.getOrSet('k', () => 'direct');
    });
    expect(runs).toBe(2);
    expect(await f.peek(1)).toBeUndefined();
    expect(await r.get('k')).toBeUndefined();
    await f(1);
    await f(1);
    expect(runs).toBe(3);
  });

  it('.uncached() is the per-call way', async () => {
    const t = open();
    let runs = 0;
    const f = t.cached(
      async (x: number) => {
        runs++;
        return x;
      },
      { name: 'unc' },
    );
    await f(1);
    await f.uncached(1);
    await f(1);
    expect(runs).toBe(2);
  });
});

describe('@trove.cached() decorator', () => {
  it('caches async methods with per-method options; this enters the key only through thisKey', async () => {
    const t = open();
    const runs = { books: 0, bio: 0 };
    class Author {
      constructor(readonly id: number) {}
      @t.cached({ ttl: '1h', region: 'authors' })
      async topBooks(limit: number): Promise<string[]> {
        runs.books++;
        return Array.from({ length: limit }, (_, i) => `book${i}`);
      }
      @t.cached({ name: 'Author.bio', thisKey: (self: Author) => self.id })
      async bio(): Promise<string> {
        runs.bio++;
        return `author ${this.id}`;
      }
    }
    const a = new Author(1);
    const b = new Author(2);
    expect(await a.topBooks(2)).toEqual(['book0', 'book1']);
    expect(await b.topBooks(2)).toEqual(['book0', 'book1']); // shared: this is not in the key
    expect(runs.books).toBe(1);
    expect(await a.bio()).toBe('author 1');
    expect(await b.bio()).toBe('author 2');
    expect(await a.bio()).toBe('author 1');
    expect(runs.bio).toBe(2);
    const keys = await entryKeys(t.prefix);
    expect(keys.some((k) => k.startsWith(`${t.prefix}:0:authors:Author.topBooks:0:`))).toBe(true);
    expect(keys.filter((k) => k.startsWith(`${t.prefix}:0:fn:Author.bio:0:`))).toHaveLength(2);
  });
});

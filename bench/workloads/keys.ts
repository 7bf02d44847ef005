import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { argsKey } from '../../src/keys/args/index.js';
import type { BenchContext, Workload } from '../context.js';
import { makeUser } from '../data.js';
import { collectGarbage } from '../driver.js';
import { createTrove } from '../../src/index.js';
import { waitNearLive } from '../peers/trove.js';
import { PREFIX } from '../peers/types.js';
import { type Row, remark, type Section, type WorkloadResult } from '../report.js';
import { summarize } from '../stats.js';
import { customSubject, describeError, measureThroughput, rotate, SLICES, type Subject, TTL_MS, troveNotSelected } from './common.js';

/** The argument tuples keys are derived from: small, typical, and a larger array. */
const TUPLES: { name: string; args: () => unknown[] }[] = [
  { name: 'one number `[42]`', args: () => [42] },
  {
    name: "5-field object `[{ id, name, tags: ['a','b'], active, created: Date }]`",
    args: () => [{ id: 7, name: 'Ada', tags: ['a', 'b'], active: true, created: new Date(0) }],
  },
  { name: '100-element number array', args: () => [Array.from({ length: 100 }, (_, i) => (i * 37) % 1000)] },
];

/** The baseline most hand-written memoizers use: JSON text hashed with SHA-1. */
function jsonSha1(args: unknown[]): string {
  return createHash('sha1').update(JSON.stringify(args)).digest('base64url');
}

const IMPLS: { key: 'trove' | 'json'; fn: (args: unknown[]) => string }[] = [
  { key: 'trove', fn: (args) => argsKey(args) },
  { key: 'json', fn: jsonSha1 },
];

/** Nanoseconds per call of `fn(args)` over `calls` calls. */
function timeCalls(fn: (args: unknown[]) => string, args: unknown[], calls: number): number {
  let chars = 0; // used after the loop, so the calls cannot be optimised away
  const started = performance.now();
  for (let i = 0; i < calls; i++) chars += fn(args).length;
  const ns = ((performance.now() - started) * 1e6) / calls;
  if (chars < calls) throw new Error('a key derivation returned an empty key');
  return ns;
}

/**
 * Key derivation: every round, each tuple's calls are cut into `SLICES` slices and the two
 * implementations take turns slice by slice (as in the throughput workloads), GC before each slice.
 */
function measureDerivation(ctx: BenchContext): Row[] {
  const targetSliceMs = ctx.quick ? 2 : 20;
  const rows: Row[] = [];
  for (const tuple of TUPLES) {
    const args = tuple.args();
    // Warm-up, then size a slice to take about targetSliceMs with the slower of the two.
    for (const impl of IMPLS) timeCalls(impl.fn, args, 20_000);
    const slowest = Math.max(...IMPLS.map((impl) => timeCalls(impl.fn, args, 5_000)));
    const calls = Math.max(1_000, Math.round((targetSliceMs * 1e6) / slowest));
    const samples: Record<string, number[]> = { trove: [], json: [] };
    for (let round = 0; round < ctx.rounds; round++) {
      const total: Record<string, number> = { trove: 0, json: 0 };
      for (let slice = 0; slice < SLICES; slice++) {
        for (const impl of rotate(IMPLS, round + slice)) {
          collectGarbage();
          total[impl.key]! += timeCalls(impl.fn, args, calls);
        }
      }
      for (const impl of IMPLS) samples[impl.key]!.push(total[impl.key]! / SLICES);
      ctx.progress(`  ${tuple.name} round ${round + 1}: trove ${Math.round(total.trove! / SLICES)} ns, JSON+SHA-1 ${Math.round(total.json! / SLICES)} ns`);
    }
    rows.push({ lib: tuple.name, status: 'ok', figures: { trove: summarize(samples.trove!), json: summarize(samples.json!) } });
  }
  return rows;
}

/** What the JSON baseline gets wrong that the canonical encoding gets right (checked, not assumed). */
function canonicalChecks(): string {
  const pairs: [string, unknown[], unknown[], boolean][] = [
    ['{a,b} vs {b,a}', [{ a: 1, b: 2 }], [{ b: 2, a: 1 }], true],
    ['Date(0) vs Date(1)', [new Date(0)], [new Date(1)], false],
    ['Map{a:1} vs Map{a:2}', [new Map([['a', 1]])], [new Map([['a', 2]])], false],
    ['[undefined] vs [null]', [undefined], [null], false],
  ];
  const out: string[] = [];
  for (const [name, x, y, same] of pairs) {
    const trove = argsKey(x) === argsKey(y);
    const json = jsonSha1(x) === jsonSha1(y);
    out.push(
      `${name}: ${same ? 'same' : 'distinct'} key expected; Trove ${trove ? 'same' : 'distinct'}${trove === same ? '' : ' (WRONG)'}, JSON ${json ? 'same' : 'distinct'}`,
    );
  }
  return `Checked: ${out.join('; ')}.`;
}

interface OverheadPair {
  name: string;
  config: string;
  cached: Subject;
  get: Subject;
  close(): Promise<void>;
  /** Calls made through both subjects, and the trove's near-cache hits, so far. */
  counts(): { calls: number; nearHits: number };
}

/** A trove with a cached function and a region holding the same value, both read with the argument/key 42. */
async function openPair(ctx: BenchContext, name: string, near: boolean): Promise<OverheadPair> {
  const options = { redis: ctx.url, prefix: PREFIX.trove, commandTimeout: 2000 };
  // The default near cache (no nearCache option), or none.
  const trove = near ? createTrove(options) : createTrove({ ...options, nearCache: false });
  const config = `createTrove({ redis, prefix${near ? ' }) (default near cache)' : ', nearCache: false })'} · trove.cached(fn, { name: 'user' })(42) vs region('users').get('42')`;
  const cachedSubject = customSubject('cached(fn)(42)', undefined, undefined);
  const fn = trove.cached(
    async (id: number) => {
      cachedSubject.loads++;
      return makeUser(String(id));
    },
    { name: 'user', ttl: TTL_MS },
  );
  const region = trove.region('users', { ttl: TTL_MS });
  try {
    if (near) await waitNearLive(trove);
    await region.set('42', makeUser('42'));
    await fn(42);
    cachedSubject.loads = 0;
    for (const read of [() => fn(42), () => region.get('42')]) {
      const value = (await read()) as { id?: number } | undefined;
      if (value?.id !== 42) throw new Error(`wrong value read back: ${JSON.stringify(value)?.slice(0, 80)}`);
    }
  } catch (err) {
    await trove.close();
    throw err;
  }
  let calls = 0;
  const noop = async (): Promise<void> => {};
  cachedSubject.adapter = {
    fetch: () => {
      calls++;
      return fn(42);
    },
    set: noop,
    close: noop,
  };
  const getSubject = customSubject("region.get('42')", undefined, {
    fetch: () => {
      calls++;
      return region.get('42');
    },
    set: noop,
    close: noop,
  });
  return {
    name,
    config,
    cached: cachedSubject,
    get: getSubject,
    close: () => trove.close(),
    counts: () => ({ calls, nearHits: trove.stats().near?.hits ?? 0 }),
  };
}

/** Cost of a hit through a cached function compared with `region.get` on the same value. */
async function measureOverhead(ctx: BenchContext): Promise<Row[]> {
  const rows: Row[] = [];
  const cases: [string, boolean, number][] = [
    ['near-cache hit (default near cache)', true, ctx.quick ? 20_000 : 200_000],
    ['Redis hit (nearCache: false)', false, ctx.quick ? 2_000 : 5_000],
  ];
  for (const [name, near, ops] of cases) {
    let pair: OverheadPair | undefined;
    try {
      pair = await openPair(ctx, name, near);
      const before = pair.counts();
      await measureThroughput(
        ctx,
        [pair.cached, pair.get],
        [{ key: 'seq', concurrency: 1, ops, warmupOps: Math.min(10_000, ops / 5), keyAt: () => '42', missesOnly: false }],
      );
      const row: Row = { lib: name, status: 'ok', figures: {}, config: pair.config };
      for (const s of [pair.cached, pair.get]) {
        if (s.row.status !== 'ok') throw new Error(`${s.lib}: ${s.row.message}`);
        for (const r of s.row.remarks ?? []) remark(row, `${s.lib}: ${r}`);
      }
      const cached = pair.cached.row.figures.seq!;
      const get = pair.get.row.figures.seq!;
      row.figures = {
        cached,
        get,
        overhead: summarize(cached.rounds.map((c, i) => 1e6 / c - 1e6 / get.rounds[i]!)),
      };
      const after = pair.counts();
      if (near)
        remark(
          row,
          `near-cache hits: ${(after.nearHits - before.nearHits).toLocaleString('en-US')} of ${(after.calls - before.calls).toLocaleString('en-US')} calls (warm-up included)`,
        );
      rows.push(row);
    } catch (err) {
      ctx.progress(`  ${name} failed: ${describeError(err)}`);
      rows.push({ lib: name, status: 'failed', message: describeError(err), figures: {} });
    } finally {
      await pair?.close();
    }
  }
  return rows;
}

const TITLE = 'cache-key derivation and cached-call overhead';

/** Cost of deriving a cache key from arguments, and of a cached-function hit over a plain region read. */
export const keys: Workload = {
  name: 'keys',
  async run(ctx: BenchContext): Promise<WorkloadResult> {
    if (!ctx.libs.includes('trove')) return troveNotSelected('keys', TITLE);
    const derivation = measureDerivation(ctx);
    const overhead: Section = {
      title: 'cached-function hit vs region.get, sequential',
      summary:
        "One sequential awaited loop calling a cached function with one number argument (`trove.cached(fn, { name })(42)`), interleaved with `region.get('42')` on the same value, both hits: from the near cache, then from Redis. The overhead is the difference of the two per-call times (1/ops), per round.",
      firstColumn: 'case',
      metrics: [
        { key: 'cached', label: 'cached(fn)(42)', unit: 'ops/s', better: 'higher' },
        { key: 'get', label: "region.get('42')", unit: 'ops/s', better: 'higher' },
        { key: 'overhead', label: 'overhead per call', unit: 'µs', better: 'lower' },
      ],
      rows: await measureOverhead(ctx),
      notes: [
        'Each cached call derives its key (argsKey of [42]) and goes through getOrSet; region.get takes the key as given.',
        'On Redis hits the overhead is small next to the time of one sequential Redis call (1 / ops), so its spread is wide: read it as an order of magnitude, not a precise figure.',
      ],
    };
    return {
      name: 'keys',
      title: TITLE,
      summary:
        "Nanoseconds per key derived from an argument tuple: Trove's `argsKey` (canonical, type-aware encoding, SHA-256 truncated to 128 bits, base64url) against `JSON.stringify` + SHA-1 (`createHash('sha1').update(json).digest('base64url')`), in one tight loop, the two interleaved slice by slice.",
      params: { tuples: TUPLES.map((t) => t.name) },
      firstColumn: 'arguments',
      metrics: [
        { key: 'trove', label: 'Trove argsKey', unit: 'ns', better: 'lower' },
        {
          key: 'json',
          label: 'JSON.stringify + SHA-1',
          unit: 'ns',
          better: 'lower',
          rowRatio: { of: 'trove', over: 'json', label: 'Trove / JSON (< 1: Trove cheaper)' },
        },
      ],
      rows: derivation,
      notes: [
        'JSON.stringify is not a canonical encoding: object key order changes the key, Date becomes its ISO string (equal to the same string argument), Map and Set become `{}`, `undefined` becomes `null` in arrays, BigInt throws. The baseline is a floor for the cost, not an equivalent.',
        canonicalChecks(),
      ],
      sections: [overhead],
    };
  },
};

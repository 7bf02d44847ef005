import { performance } from 'node:perf_hooks';
import { createTrove, type Region, type Trove } from '../../src/index.js';
import type { BenchContext, Workload } from '../context.js';
import { keyNames, makeUser, randomKeyOrder } from '../data.js';
import { sleep } from '../driver.js';
import { waitNearLive } from '../peers/trove.js';
import { PREFIX } from '../peers/types.js';
import { type Row, remark, type Section, type WorkloadResult } from '../report.js';
import { summarize } from '../stats.js';
import {
  customSubject,
  describeError,
  measureThroughput,
  populate,
  rowFrom,
  type Subject,
  type ThroughputPhase,
  TTL_MS,
  troveNotSelected,
  verify,
} from './common.js';

const TITLE = 'nested regions: hit cost and invalidation cost';
const CONCURRENCY = 64;
const TOP = 'a';
const NESTED = 'a.b.c';

/**
 * One region of `trove` read through getOrSet. Both regions of a case share one trove, as an
 * application's regions do: with a trove each, the second subject measured 3–6 % slower than the
 * first even when both were the same top-level region, a bias of the harness, not of depth.
 */
function regionSubject(trove: Trove, name: string): Subject {
  const region = trove.region(name, { ttl: TTL_MS });
  const subject = customSubject(`region('${name}')`, undefined, undefined);
  subject.adapter = {
    fetch: (key) =>
      region.getOrSet(key, () => {
        subject.loads++;
        return makeUser(key);
      }),
    set: (key, value) => region.set(key, value),
    close: async () => {},
  };
  return subject;
}

/** getOrSet hits in `a.b.c` against `a`: Redis hits at concurrency 64, near-cache hits in a sequential loop. */
async function measureHits(ctx: BenchContext): Promise<Row[]> {
  const keyCount = 5_000; // both regions together fit in the default near cache (10,000 entries)
  const reads = ctx.quick ? 10_000 : 100_000;
  const keys = keyNames(keyCount);
  const keyAt = randomKeyOrder(keys, ctx.rounds, { rounds: 301, warmup: 3999 }, reads);
  const rows: Row[] = [];
  const cases: { name: string; near: boolean; phase: ThroughputPhase; config: string }[] = [
    {
      name: `Redis hit, concurrency ${CONCURRENCY} (nearCache: false)`,
      near: false,
      phase: { key: 'c64', concurrency: CONCURRENCY, ops: reads, warmupOps: Math.min(10_000, reads), keyAt, missesOnly: false },
      config: 'one createTrove({ redis, prefix, nearCache: false }) for both regions · region(name).getOrSet(key, load)',
    },
    {
      name: 'near-cache hit, sequential (default near cache)',
      near: true,
      phase: { key: 'seq', concurrency: 1, ops: reads, warmupOps: Math.min(10_000, reads), keyAt, missesOnly: false },
      config: 'one createTrove({ redis, prefix }) for both regions · region(name).getOrSet(key, load)',
    },
  ];
  for (const c of cases) {
    const options = { redis: ctx.url, prefix: PREFIX.trove, commandTimeout: 2000 };
    const trove = c.near ? createTrove(options) : createTrove({ ...options, nearCache: false });
    try {
      const top = regionSubject(trove, TOP);
      const nested = regionSubject(trove, NESTED);
      if (c.near) await waitNearLive(trove);
      await populate(ctx, [top, nested], keys);
      await verify([top, nested], '42', (v) => (v as { id?: number } | undefined)?.id === 42);
      await measureThroughput(ctx, [top, nested], [c.phase]);
      const row = rowFrom(c.name, { top: [top, c.phase.key], nested: [nested, c.phase.key] }, c.config);
      const near = trove.stats().near;
      if (near) remark(row, `near cache (both regions): hits ${near.hits}, misses ${near.misses}, evictions ${near.evictions} (populate and warm-up included)`);
      rows.push(row);
    } catch (err) {
      ctx.progress(`  ${c.name} failed: ${describeError(err)}`);
      rows.push({ lib: c.name, status: 'failed', message: describeError(err), figures: {} });
    } finally {
      await trove.close();
    }
  }
  return rows;
}

type Calls = Record<string, number>;

/** Commands run between two INFO commandstats readings (the INFO itself left out). */
function delta(before: Calls, after: Calls): Calls {
  const out: Calls = {};
  for (const [name, n] of Object.entries(after)) {
    const d = n - (before[name] ?? 0);
    if (d > 0 && name !== 'info') out[name] = d;
  }
  return out;
}

const total = (calls: Calls) => Object.values(calls).reduce((a, b) => a + b, 0);
const describe = (calls: Calls) =>
  Object.entries(calls)
    .sort()
    .map(([k, v]) => `${k} ${v}`)
    .join(', ') || 'none';

/**
 * One invalidation of a region holding `size` entries: flush, fill the region's current generation
 * with DEBUG POPULATE, store and read one real entry, time `invalidate()`, count the commands,
 * check the real entry now misses.
 */
async function invalidateOnce(ctx: BenchContext, trove: Trove, region: Region, size: number) {
  await ctx.server.command('FLUSHALL', 'SYNC');
  await trove.ready(); // re-reads the generations: after the flush the region is back to its first one
  const base = region.keyOf('x').slice(0, -':x'.length);
  const filled = performance.now();
  await ctx.server.command('DEBUG', 'POPULATE', size, base, 300);
  const fillMs = performance.now() - filled;
  await region.set('real', { v: size });
  const seen = [await region.get('real'), await region.get('real')] as ({ v?: number } | undefined)[];
  const dbsize = Number(await ctx.server.command('DBSIZE'));
  const c0 = await ctx.server.commandCalls();
  const started = performance.now();
  await region.invalidate();
  const ms = performance.now() - started;
  const c1 = await ctx.server.commandCalls();
  await sleep(50);
  const c2 = await ctx.server.commandCalls();
  const after = await region.get('real');
  const problems: string[] = [];
  if (seen.some((v) => v?.v !== size)) problems.push(`the real entry read back wrong before invalidating: ${JSON.stringify(seen)}`);
  if (dbsize < size + 1) problems.push(`only ${dbsize} keys in Redis for ${size} entries`);
  if (after !== undefined) problems.push(`the real entry still read after invalidate(): ${JSON.stringify(after)}`);
  if (region.keyOf('x').startsWith(`${base}:`)) problems.push('the region key prefix did not change');
  return { ms, fillMs, inCall: delta(c0, c1), followUp: delta(c1, c2), problems };
}

/** `region.invalidate()` at 10k, 100k and 1M entries: time and Redis commands of one call. */
async function measureInvalidation(ctx: BenchContext): Promise<{ rows: Row[]; notes: string[] }> {
  const sizes = ctx.quick ? [1_000, 10_000] : [10_000, 100_000, 1_000_000];
  const samples = ctx.quick ? 3 : 5;
  const trove = createTrove({ redis: ctx.url, prefix: PREFIX.trove, commandTimeout: 2000 });
  const rows: Row[] = [];
  try {
    await waitNearLive(trove);
    const region = trove.region('big', { ttl: TTL_MS });
    // Warm-up: scripts loaded, code paths compiled.
    for (let i = 0; i < 3; i++) await invalidateOnce(ctx, trove, region, 100);
    for (const size of sizes) {
      const row: Row = { lib: `${size.toLocaleString('en-US')} entries`, status: 'ok', figures: {} };
      rows.push(row);
      try {
        const ms: number[] = [];
        const inCall: number[] = [];
        const followUp: number[] = [];
        const shapes = new Set<string>();
        for (let s = 0; s < samples; s++) {
          const r = await invalidateOnce(ctx, trove, region, size);
          ms.push(r.ms);
          inCall.push(total(r.inCall));
          followUp.push(total(r.followUp));
          shapes.add(`in the call: ${describe(r.inCall)}; in the next 50 ms: ${describe(r.followUp)}`);
          for (const p of r.problems) remark(row, `sample ${s + 1}: ${p}`);
          ctx.progress(`  ${row.lib} sample ${s + 1}: ${r.ms.toFixed(2)} ms, ${total(r.inCall)} commands (filled in ${Math.round(r.fillMs)} ms)`);
        }
        row.figures = { ms: summarize(ms), commands: summarize(inCall), followUp: summarize(followUp) };
        for (const shape of shapes) remark(row, `commands ${shape}`);
      } catch (err) {
        ctx.progress(`  ${row.lib} failed: ${describeError(err)}`);
        Object.assign(row, { status: 'failed', message: describeError(err), figures: {} });
      }
    }
  } finally {
    await trove.close();
    await ctx.server.command('FLUSHALL', 'SYNC');
  }
  const notes: string[] = [];
  const first = rows[0]?.figures.ms?.median;
  const last = rows.at(-1)?.figures.ms?.median;
  if (first && last && rows.length > 1)
    notes.push(`Time of one invalidate(), ${rows.at(-1)!.lib} / ${rows[0]!.lib}: ${(last / first).toFixed(2)}× (1.00× is perfectly flat).`);
  return { rows, notes };
}

/** Nested regions: a hit costs the same at any depth, and invalidating a region costs the same at any size. */
export const regions: Workload = {
  name: 'regions',
  async run(ctx: BenchContext): Promise<WorkloadResult> {
    if (!ctx.libs.includes('trove')) return troveNotSelected('regions', TITLE);
    const hits = await measureHits(ctx);
    const invalidation = await measureInvalidation(ctx);
    const cost: Section = {
      title: 'region.invalidate() against region size',
      summary:
        "A region filled with 10,000, 100,000 and 1,000,000 entries (`DEBUG POPULATE` into the region's current key prefix, 300-byte values, plus one real entry), then one `await region.invalidate()`, timed; Redis commands counted from INFO commandstats around the call and in the 50 ms after it. Redis is flushed before every sample, so each invalidation meets a full region; figures are the median of the samples.",
      firstColumn: 'region size',
      metrics: [
        { key: 'ms', label: 'invalidate()', unit: 'ms', better: 'lower' },
        { key: 'commands', label: 'Redis commands in the call', unit: 'commands', better: 'lower' },
        { key: 'followUp', label: 'commands in the next 50 ms', unit: 'commands', better: 'lower' },
      ],
      rows: invalidation.rows,
      notes: [
        ...invalidation.notes,
        "Configuration: createTrove({ redis, prefix }) (default near cache) · region('big').invalidate(). After every invalidation the real entry, read twice before (so held in the near cache), must read as a miss.",
        'Commands inside a Lua script count one each in INFO commandstats (the script call counts too). Follow-up commands in the next 50 ms are reactions to the invalidation (e.g. re-reading the generation table) and the periodic sync, if it fell in the window.',
      ],
    };
    return {
      name: 'regions',
      title: TITLE,
      summary: `getOrSet hits on 5,000 keys holding ~300 B records, in a region nested three deep (\`trove.region('${NESTED}')\`) against a top-level region (\`trove.region('${TOP}')\`), interleaved slice by slice: Redis hits with ${CONCURRENCY} async workers (near cache off), and near-cache hits in one sequential awaited loop. The target is nested / top within 5 % (≥ 0.95×).`,
      params: { keys: 5_000, concurrency: CONCURRENCY, top: TOP, nested: NESTED },
      firstColumn: 'case',
      metrics: [
        { key: 'top', label: `region('${TOP}')`, unit: 'ops/s', better: 'higher' },
        {
          key: 'nested',
          label: `region('${NESTED}')`,
          unit: 'ops/s',
          better: 'higher',
          rowRatio: { of: 'nested', over: 'top', label: 'nested / top (> 1: nested faster)' },
        },
      ],
      rows: hits,
      notes: [],
      sections: [cost],
    };
  },
};

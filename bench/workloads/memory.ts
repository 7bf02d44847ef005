import type { BenchContext, Workload } from '../context.js';
import { runConcurrent } from '../driver.js';
import { remark, type WorkloadResult } from '../report.js';
import { summarize } from '../stats.js';
import type { LibName } from '../peers/index.js';
import { describeError, openSubjects, rotate, type Subject } from './common.js';
import { nearCostTable, seedTable, storageRows } from './compact-storage.js';

const CONCURRENCY = 256;

async function usedMemory(ctx: BenchContext): Promise<number> {
  return Number((await ctx.server.info('memory')).used_memory);
}

async function dbsize(ctx: BenchContext): Promise<number> {
  return Number(await ctx.server.command('DBSIZE'));
}

const SET_PATH: Record<LibName, string> = {
  trove: "region.set(id, name) (json codec, Trove's envelope)",
  ioredis: 'SET raw:<id> <name> PX <ttl> (the plain string: the floor)',
  bentocache: 'bento.set({ key, value }) (L2 only)',
  'cache-manager': 'cache.set(key, value) (@keyv/redis store)',
  cacheable: 'cache.set(key, value) (Redis Keyv as the only tier)',
  'async-cache-dedupe': "cache.set('user', 'user~<id>', value, ttl), the key its defined function reads",
};

/** Redis memory per entry for small entries (id → username string), each library writing through its normal set path. */
export const memory: Workload = {
  name: 'memory',
  async run(ctx: BenchContext): Promise<WorkloadResult> {
    const entries = ctx.quick ? 20_000 : 100_000;
    const samples = new Map<string, number[]>();
    const examples = new Map<string, string>();
    const subjects = new Map<string, Subject>();
    for (let round = 0; round < ctx.rounds; round++) {
      // One library at a time, each on an empty Redis.
      for (const lib of rotate(ctx.libs, round)) {
        await ctx.server.command('FLUSHALL', 'SYNC');
        // Memory is read right after the sets: each set must have reached Redis when it resolves.
        const [fresh] = await openSubjects(ctx, 'l2', (k) => `user_${k}`, { libs: [lib], awaitWrites: true });
        fresh!.row.config = fresh!.row.config === undefined ? undefined : `${SET_PATH[lib]}; set up as: ${fresh!.row.config}`;
        if (!subjects.has(lib)) subjects.set(lib, fresh!);
        const kept = subjects.get(lib)!;
        const adapter = fresh!.adapter;
        if (!adapter || kept.row.status !== 'ok') {
          if (kept.row.status === 'ok') kept.row = fresh!.row;
          if (adapter) await adapter.close();
          continue;
        }
        try {
          await adapter.set('0', 'user_0'); // connection and scripts settled before the first reading
          const baseKeys = await dbsize(ctx);
          const before = await usedMemory(ctx);
          const ms = await runConcurrent(CONCURRENCY, entries, (i) => adapter.set(String(i + 1), `user_${i + 1}`));
          const after = await usedMemory(ctx);
          const added = (await dbsize(ctx)) - baseKeys;
          if (added !== entries) remark(kept.row, `round ${round + 1}: ${added} keys added for ${entries} entries`);
          const perEntry = (after - before) / entries;
          // The entries must be where the read path looks for them: read one back without the factory running.
          const loads = fresh!.loads;
          // (The raw baseline stores the plain string, which its JSON read path is not meant for.)
          const back = lib === 'ioredis' ? await ctx.server.command('GET', 'raw:1234') : await adapter.fetch('1234');
          if (back !== 'user_1234' || fresh!.loads !== loads)
            remark(kept.row, `round ${round + 1}: reading back '1234' gave ${JSON.stringify(back)} (factory ran: ${fresh!.loads !== loads})`);
          (samples.get(lib) ?? samples.set(lib, []).get(lib)!).push(perEntry);
          if (!examples.has(lib)) examples.set(lib, await sample(ctx));
          ctx.progress(`  ${lib} round ${round + 1}: ${perEntry.toFixed(1)} B/entry (written in ${Math.round(ms)} ms)`);
        } catch (err) {
          ctx.progress(`  ${lib} failed: ${describeError(err)}`);
          kept.row.status = 'failed';
          kept.row.message = describeError(err);
        } finally {
          await adapter.close().catch(() => {});
        }
      }
    }
    const rows = [...subjects.values()].map((s) => {
      const values = samples.get(s.lib);
      if (s.row.status === 'ok' && values) {
        s.row.figures = { bytes: summarize(values) };
        const example = examples.get(s.lib);
        if (example) remark(s.row, example);
      } else if (s.row.status === 'failed') {
        s.row.figures = {};
      }
      return s.row;
    });
    // Trove's hash storage, measured the same way (when Trove is among the libraries).
    if (ctx.libs.includes('trove')) rows.push(...(await storageRows(ctx, entries)));
    const sections = ctx.libs.includes('trove')
      ? [await seedTable(ctx, ctx.quick ? 20_000 : 100_000), await nearCostTable(ctx, ctx.quick ? 2_000 : 10_000)]
      : [];
    await ctx.server.command('FLUSHALL', 'SYNC');
    return {
      sections,
      name: 'memory',
      title: 'Redis bytes per small entry',
      summary: `${entries.toLocaleString('en-US')} entries '1234' → 'user_1234' written through each library's normal set path (${CONCURRENCY} concurrent sets), with a 10-minute TTL; INFO used_memory delta on a freshly flushed Redis, divided by the entry count.`,
      params: { entries, concurrency: CONCURRENCY },
      metrics: [{ key: 'bytes', label: 'bytes/entry', unit: 'B', better: 'lower', ratio: true }],
      rows,
      notes: [
        'Every library keeps its own key prefix (and key layout), which counts in the figure; jemalloc size classes make the figures step-wise.',
        "Targets: trove (default string storage) within 8 B of the plain SET floor (ioredis row); trove (storage: 'hash') at most 40 B per entry.",
      ],
    };
  },
};

/** One stored entry, as a reader sees it: key, value and MEMORY USAGE. */
async function sample(ctx: BenchContext): Promise<string> {
  const keys = (await ctx.server.command('SCAN', '0', 'MATCH', '*1234*', 'COUNT', '1000000')).split('\n').slice(1);
  const key = keys.find((k) => /(^|\D)1234(\D|$)/.test(k)) ?? keys[0];
  if (!key) return 'no sample key found';
  const type = await ctx.server.command('TYPE', key);
  const usage = await ctx.server.command('MEMORY', 'USAGE', key);
  if (type !== 'string') return `sample key ${JSON.stringify(key)} (${type}), MEMORY USAGE ${usage} B`;
  const length = Number(await ctx.server.command('STRLEN', key));
  const value = await ctx.server.command('GET', key);
  const shown = Buffer.byteLength(value) === length && /^[\x20-\x7e]*$/.test(value) ? JSON.stringify(value) : 'binary';
  return `sample key ${JSON.stringify(key)} → ${shown} (${length} B value), MEMORY USAGE ${usage} B`;
}

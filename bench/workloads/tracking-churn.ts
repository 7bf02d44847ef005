import { createTrove } from '../../src/index.js';
import type { BenchContext, Workload } from '../context.js';
import { sleep } from '../driver.js';
import type { Row, WorkloadResult } from '../report.js';
import { summarize } from '../stats.js';
import { describeError } from './common.js';

/**
 * Redis's tracking table under key churn: a process reads many more distinct keys than its near
 * cache holds. Each read of a kept value registers its key with Redis (OPTIN), and Redis keeps
 * tracking a key until it changes, whether or not the process still holds it: keys dropped by
 * the near cache's own bound stay in Redis's table. A writer then overwrites every key.
 *
 * Figures: the keys Redis tracks after the reads (INFO tracking_total_keys) against the entries
 * the near cache holds, and the invalidations the process then receives.
 */
const NEAR_ENTRIES = 1_000;

export const trackingChurn: Workload = {
  name: 'tracking-churn',
  async run(ctx: BenchContext): Promise<WorkloadResult> {
    const distinct = ctx.quick ? 10_000 : 50_000;
    const row: Row = {
      lib: 'trove',
      status: 'ok',
      figures: {},
      config: `nearCache: { maxEntries: ${NEAR_ENTRIES} }, ${distinct.toLocaleString('en-US')} distinct keys read once each`,
    };
    const samples: Record<string, number[]> = { tracked: [], held: [], invalidations: [] };
    try {
      for (let round = 0; round < ctx.rounds; round++) {
        const r = await measure(ctx, distinct);
        samples.tracked!.push(r.tracked);
        samples.held!.push(r.held);
        samples.invalidations!.push(r.invalidations);
        ctx.progress(`  round ${round + 1}: ${r.tracked} keys tracked by Redis, ${r.held} held locally, ${r.invalidations} invalidations received`);
      }
      for (const [k, v] of Object.entries(samples)) row.figures[k] = summarize(v);
    } catch (err) {
      row.status = 'failed';
      row.message = describeError(err);
      row.figures = {};
    }
    return {
      name: 'tracking-churn',
      title: "Redis's tracking table under key churn",
      summary: `A process with a near cache of ${NEAR_ENTRIES.toLocaleString('en-US')} entries reads ${distinct.toLocaleString('en-US')} distinct keys once each; another process then overwrites all of them.`,
      params: { distinct, nearEntries: NEAR_ENTRIES },
      firstColumn: 'library',
      metrics: [
        { key: 'tracked', label: 'keys tracked by Redis', unit: 'keys', better: 'lower' },
        { key: 'held', label: 'entries held locally', unit: 'keys', better: 'higher' },
        { key: 'invalidations', label: 'invalidations received', unit: 'keys', better: 'lower' },
      ],
      rows: [row],
      notes: [
        "Redis forgets a tracked key only when it changes (or expires, or is evicted), so under churn its table holds every key read since, up to `tracking-table-max-keys` (default 1,000,000). Past that bound Redis invalidates keys that did not change to make room: near caches lose entries for nothing, and the table's memory (about 100 bytes a key) stays.",
        'When the keys read per TTL across all processes exceed that bound, raise `tracking-table-max-keys`, give entries shorter TTLs, or leave high-churn regions without a near cache (`nearCache: false` per region): their reads are not tracked at all.',
      ],
    };
  },
};

async function measure(ctx: BenchContext, distinct: number): Promise<{ tracked: number; held: number; invalidations: number }> {
  await ctx.server.command('FLUSHALL', 'SYNC');
  const reader = createTrove({ redis: ctx.url, prefix: 'churn', nearCache: { maxEntries: NEAR_ENTRIES }, commandTimeout: 5_000 });
  const writer = createTrove({ redis: ctx.url, prefix: 'churn', nearCache: false, commandTimeout: 5_000 });
  try {
    await Promise.all([reader.ready(), writer.ready()]);
    while (reader.stats().near?.live !== true) await sleep(5);
    const w = writer.region('c');
    for (let i = 0; i < distinct; i += 1_000) await w.setMany(Array.from({ length: Math.min(1_000, distinct - i) }, (_, j) => [String(i + j), i + j] as const));
    const r = reader.region('c');
    for (let i = 0; i < distinct; i += 100) await Promise.all(Array.from({ length: Math.min(100, distinct - i) }, (_, j) => r.get(String(i + j))));
    const tracked = Number((await ctx.server.info('stats')).tracking_total_keys);
    const held = reader.stats().near?.entries ?? 0;
    const before = reader.stats().near?.invalidations ?? 0;
    for (let i = 0; i < distinct; i += 1_000) await w.setMany(Array.from({ length: Math.min(1_000, distinct - i) }, (_, j) => [String(i + j), -1] as const));
    // Invalidations arrive as the writes happen; wait until they stop arriving.
    let last = -1;
    while ((reader.stats().near?.invalidations ?? 0) !== last) {
      last = reader.stats().near?.invalidations ?? 0;
      await sleep(50);
    }
    return { tracked, held, invalidations: last - before };
  } finally {
    await Promise.all([reader.close(), writer.close()]);
  }
}

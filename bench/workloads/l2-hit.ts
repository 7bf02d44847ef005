import type { Variant } from '../peers/types.js';
import type { BenchContext, Workload } from '../context.js';
import { keyNames, makeUser, randomKeyOrder } from '../data.js';
import type { WorkloadResult } from '../report.js';
import { closeSubjects, measureThroughput, openSubjects, populate, SLICES, verify } from './common.js';

export const CONCURRENCY = 64;

/** Redis hits through each library's read-through call, every in-memory tier off. */
/** What the statistics cost a Redis hit: the default row (statistics on) against this one. */
const L2_VARIANTS: readonly Variant[] = [
  { lib: 'trove', name: 'stats-off', row: 'trove (stats: false)', versus: 'trove (stats: false)' },
  // The node-redis driver next to the default (ioredis) one, and raw node-redis next to raw ioredis.
  { lib: 'trove', name: 'node-redis', row: 'trove (node-redis)', versus: 'trove (node-redis)' },
  { lib: 'ioredis', name: 'node-redis', row: 'node-redis (raw GET)', versus: 'trove (node-redis)' },
];

export const l2Hit: Workload = {
  name: 'l2-hit',
  isolated: true,
  variants: L2_VARIANTS,
  async run(ctx: BenchContext): Promise<WorkloadResult> {
    const keyCount = 10_000;
    const roundMs = ctx.quick ? 300 : 1_000;
    const keys = keyNames(keyCount);
    // Long enough for the fastest library's round.
    const keyAt = randomKeyOrder(keys, ctx.rounds, { rounds: 1, warmup: 999 }, 1 << 20);
    const subjects = await openSubjects(ctx, 'l2', makeUser, { variants: L2_VARIANTS });
    try {
      await populate(ctx, subjects, keys);
      await verify(subjects, '42', (v) => (v as { id?: number } | undefined)?.id === 42);
      await measureThroughput(ctx, subjects, [
        {
          key: 'c64',
          concurrency: CONCURRENCY,
          roundMs,
          warmupMs: roundMs / 5,
          keyAt,
          missesOnly: false,
        },
      ]);
    } finally {
      await closeSubjects(subjects);
    }
    return {
      name: 'l2-hit',
      title: `Redis hit through getOrSet, concurrency ${CONCURRENCY}`,
      summary: `${keyCount.toLocaleString('en-US')} keys holding ~300 B JSON user records, reads of random keys by ${CONCURRENCY} async workers for ${roundMs.toLocaleString('en-US')} ms per library per round (in ${SLICES} slices); every in-memory tier off, so each read is served by Redis.`,
      params: { keys: keyCount, roundMs, concurrency: CONCURRENCY, valueBytes: JSON.stringify(makeUser('1234')).length },
      metrics: [{ key: 'c64', label: 'throughput', unit: 'ops/s', better: 'higher', ratio: true }],
      rows: subjects.map((s) => s.row),
      notes: ['ioredis is the baseline: hand-written GET + JSON.parse with enableAutoPipelining.'],
    };
  },
};

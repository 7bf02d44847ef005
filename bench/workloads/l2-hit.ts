import type { BenchContext, Workload } from '../context.js';
import { keyNames, makeUser, randomIndices } from '../data.js';
import type { WorkloadResult } from '../report.js';
import { closeSubjects, measureThroughput, openSubjects, populate, verify } from './common.js';

export const CONCURRENCY = 64;

/** Redis hits through each library's read-through call, every in-memory tier off. */
export const l2Hit: Workload = {
  name: 'l2-hit',
  isolated: true,
  async run(ctx: BenchContext): Promise<WorkloadResult> {
    const keyCount = 10_000;
    const reads = ctx.quick ? 10_000 : 100_000;
    const keys = keyNames(keyCount);
    const sequences = Array.from({ length: ctx.rounds }, (_, r) => randomIndices(reads, keyCount, 1 + r));
    const warmup = randomIndices(reads, keyCount, 999);
    const subjects = await openSubjects(ctx, 'l2', makeUser);
    try {
      await populate(ctx, subjects, keys);
      await verify(subjects, '42', (v) => (v as { id?: number } | undefined)?.id === 42);
      await measureThroughput(ctx, subjects, [
        {
          key: 'c64',
          concurrency: CONCURRENCY,
          ops: reads,
          warmupOps: Math.min(10_000, reads),
          keyAt: (i, round) => keys[round >= 1000 ? warmup[i % reads]! : sequences[round]![i]!]!,
          missesOnly: false,
        },
      ]);
    } finally {
      await closeSubjects(subjects);
    }
    return {
      name: 'l2-hit',
      title: `Redis hit through getOrSet, concurrency ${CONCURRENCY}`,
      summary: `${keyCount.toLocaleString('en-US')} keys holding ~300 B JSON user records, ${reads.toLocaleString('en-US')} reads of random keys by ${CONCURRENCY} async workers; every in-memory tier off, so each read is served by Redis.`,
      params: { keys: keyCount, reads, concurrency: CONCURRENCY, valueBytes: JSON.stringify(makeUser('1234')).length },
      metrics: [{ key: 'c64', label: 'throughput', unit: 'ops/s', better: 'higher', ratio: true }],
      rows: subjects.map((s) => s.row),
      notes: ['ioredis is the baseline: hand-written GET + JSON.parse with enableAutoPipelining.'],
    };
  },
};

import type { BenchContext, Workload } from '../context.js';
import { makeUser } from '../data.js';
import type { Variant } from '../peers/types.js';
import type { WorkloadResult } from '../report.js';
import { closeSubjects, measureThroughput, openSubjects, SLICES, verify } from './common.js';

const CONCURRENCY = 64;

/**
 * Trove and raw GET + SET on node-redis too: cache-manager and cacheable reach Redis through
 * node-redis (@keyv/redis), so these rows compare them on the same driver.
 */
const MISS_VARIANTS: readonly Variant[] = [
  { lib: 'trove', name: 'node-redis', row: 'trove (node-redis)', versus: 'trove (node-redis)' },
  { lib: 'ioredis', name: 'node-redis', row: 'node-redis (raw GET + SET)', versus: 'trove (node-redis)' },
];

/** getOrSet on keys never seen before: a miss, a trivial factory and a write, every time. */
export const miss: Workload = {
  name: 'miss',
  isolated: true,
  variants: MISS_VARIANTS,
  async run(ctx: BenchContext): Promise<WorkloadResult> {
    const roundMs = ctx.quick ? 300 : 1_000;
    const subjects = await openSubjects(ctx, 'l2', makeUser, { variants: MISS_VARIANTS });
    try {
      await verify(subjects, 'probe-7', (v) => (v as { id?: number } | undefined)?.id === 7);
      await measureThroughput(ctx, subjects, [
        {
          key: 'c64',
          concurrency: CONCURRENCY,
          roundMs,
          warmupMs: roundMs / 5,
          keyAt: (i, round) => `m${round}-${i}`,
          missesOnly: true,
        },
      ]);
    } finally {
      await closeSubjects(subjects);
    }
    return {
      name: 'miss',
      title: `getOrSet on always-new keys, concurrency ${CONCURRENCY}`,
      summary: `Read-through calls on keys never used before by ${CONCURRENCY} async workers, ${roundMs.toLocaleString('en-US')} ms per library per round (in ${SLICES} slices): the cost of a miss (read), a trivial synchronous factory (a ~300 B record) and the write.`,
      params: { roundMs, concurrency: CONCURRENCY },
      metrics: [{ key: 'c64', label: 'throughput', unit: 'ops/s', better: 'higher', ratio: true }],
      rows: subjects.map((s) => s.row),
      notes: ['ioredis: GET, then SET … PX of JSON.stringify on the miss.'],
    };
  },
};

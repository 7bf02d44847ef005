import type { BenchContext, Workload } from '../context.js';
import { keyNames, makeUser, randomKeyOrder } from '../data.js';
import { lruFloor } from '../peers/lru-cache.js';
import type { WorkloadResult } from '../report.js';
import { closeSubjects, L1_ENTRIES, measureThroughput, openSubjects, populate, SLICES, type Subject, type ThroughputPhase, TTL_MS, verify } from './common.js';

const CONCURRENCY = 64;

/** Hits served by each library's in-memory tier, concurrent and sequential, against a bare lru-cache floor. */
export const l1Hit: Workload = {
  name: 'l1-hit',
  isolated: true,
  async run(ctx: BenchContext): Promise<WorkloadResult> {
    const keyCount = 10_000;
    const roundMs = ctx.quick ? 300 : 1_000;
    const keys = keyNames(keyCount);
    // Read cyclically: the floor reads millions of keys a second.
    const keyAt = randomKeyOrder(keys, ctx.rounds, { rounds: 101, warmup: 1999 }, 1 << 20);
    const subjects = await openSubjects(ctx, 'l1', makeUser, { bus: true });
    const floor: Subject = {
      lib: 'lru-cache (floor)',
      row: { lib: 'lru-cache (floor)', status: 'ok', figures: {}, config: 'new LRUCache({ max, ttl }) · await lru.get(key) (no Redis)' },
      loads: 0,
    };
    floor.adapter = lruFloor({
      max: L1_ENTRIES,
      ttlMs: TTL_MS,
      load: (key) => {
        floor.loads++;
        return makeUser(key);
      },
    });
    const phases: ThroughputPhase[] = [
      { key: 'c64', concurrency: CONCURRENCY, roundMs, warmupMs: roundMs / 5, keyAt, missesOnly: false },
      { key: 'seq', concurrency: 1, roundMs, warmupMs: roundMs / 5, keyAt, missesOnly: false },
    ];
    const floors = ctx.floor ? [floor] : [];
    try {
      await populate(ctx, [...subjects, ...floors], keys);
      await verify([...subjects, ...floors], '42', (v) => (v as { id?: number } | undefined)?.id === 42);
      await measureThroughput(ctx, subjects, phases);
      if (ctx.floor) await measureThroughput(ctx, floors, phases);
    } finally {
      await closeSubjects([...subjects, floor]);
    }
    subjects.push(...floors);
    return {
      name: 'l1-hit',
      title: 'in-memory (near/L1) hit',
      summary: `The same ${keyCount.toLocaleString('en-US')} records, reads of random keys served by each library's in-memory tier, ${roundMs.toLocaleString('en-US')} ms per library per round (in ${SLICES} slices): ${CONCURRENCY} async workers, then one sequential awaited loop. The lru-cache row is the floor (an awaited lookup in a bare LRU).`,
      params: { keys: keyCount, roundMs, concurrency: CONCURRENCY, l1Entries: L1_ENTRIES },
      metrics: [
        { key: 'c64', label: `concurrency ${CONCURRENCY}`, unit: 'ops/s', better: 'higher', ratio: true },
        { key: 'seq', label: 'sequential', unit: 'ops/s', better: 'higher' },
      ],
      rows: subjects.map((s) => s.row),
      notes: [
        `Every library keeps its documented in-memory defaults, capacity aside (${L1_ENTRIES.toLocaleString('en-US')} entries for every library): Trove's near cache has its default options otherwise and shares decoded values (clone: false), bentocache stores L1 entries serialized and parses them on each hit, CacheableMemory (cacheable, cache-manager) clones values on read.`,
        'A Trove row reading "not implemented yet" means the Trove under test has no near cache (no `nearCache` option).',
        'async-cache-dedupe has no two-tier mode: its row is its memory storage alone.',
      ],
    };
  },
};

import { performance } from 'node:perf_hooks';
import { createTrove, type Trove } from '../../src/index.js';
import type { BenchContext, Workload } from '../context.js';
import { makeUser } from '../data.js';
import { waitNearLive } from '../peers/trove.js';
import { PREFIX } from '../peers/types.js';
import { type Row, remark, type WorkloadResult } from '../report.js';
import { customSubject, describeError, measureThroughput, rowFrom, type Subject, type ThroughputPhase, TTL_MS, troveNotSelected } from './common.js';

const TITLE = 'near cache of 100 entries in front of 1,000 keys (the seed benchmark)';
const KEYS = 1_000;
const CAPACITY = 100;
const HOT = 10;
/** Working sets of scenario (b), one after the other (each spans two of the ten slices). */
const SETS = 5;

/** A stored record, with the revision of its last write. */
type Value = ReturnType<typeof makeUser> & { rev: number };

/** Operations of scenario (d) that are writes: `w<hot key index>`. */
export const WRITE = 'w';

interface Reader {
  subject: Subject;
  trove: Trove;
  region: string;
  /** Reads of a hot key that answered an older revision than the last completed write. */
  staleReads: number;
  /** Longest time from a write completing to a stale read of its key, ms. */
  staleMaxMs: number;
  wrongValues: number;
}

export interface Scenario {
  key: string;
  name: string;
  /** Operations per measured round (cut in 10 interleaved slices). */
  ops: number;
  keyAt(i: number): string;
}

/**
 * The seed's last two patterns over keys `0`…`999`, shared with the `commands` workload:
 * (c) step i reads key i, then keys 0 … 9; (d) step i first writes hot key i mod 10
 * (`w<index>`), then does the eleven reads.
 */
export function elevenReads(): Scenario[] {
  const step = HOT + 1;
  return [
    {
      key: 'c',
      name: '(c) eleven reads: key i, then keys 0–9',
      ops: KEYS * step,
      keyAt: (i) => {
        const j = i % (KEYS * step);
        const k = j % step;
        return String(k === 0 ? Math.floor(j / step) : k - 1);
      },
    },
    {
      key: 'd',
      name: '(d) eleven reads + 1 write of a hot key',
      ops: KEYS * (step + 1),
      keyAt: (i) => {
        const j = i % (KEYS * (step + 1));
        const s = Math.floor(j / (step + 1));
        const k = j % (step + 1);
        return k === 0 ? `${WRITE}${s % HOT}` : String(k === 1 ? s : k - 2);
      },
    },
  ];
}

/**
 * The four access patterns, as sequences of operations (keys are `0`…`999`):
 * - all-miss: keys 0, 1, …, 999, 0, 1, … (a scan larger than the near cache: every read misses it);
 * - working set: 5 sets of 100 keys (set s: keys 100s … 100s+99), each read `passes` times in order
 *   before the next (two slices per set: the first pass of each set misses the near cache);
 * - eleven reads: step i reads key i, then keys 0 … 9;
 * - eleven reads + write: step i first writes hot key i mod 10 from another trove, then does the eleven reads.
 */
function scenarios(quick: boolean): Scenario[] {
  const passes = quick ? 5 : 20;
  const setOps = CAPACITY * passes;
  return [
    { key: 'a', name: '(a) every key once (near misses)', ops: KEYS * (quick ? 2 : 5), keyAt: (i) => String(i % KEYS) },
    {
      key: 'b',
      name: `(b) 100-key working set, ${passes} passes`,
      ops: setOps * SETS,
      // Warm-up operations (i ≥ ops) read the last set only, so the first set starts cold.
      keyAt: (i) => String(i >= setOps * SETS ? (SETS - 1) * CAPACITY + (i % CAPACITY) : Math.floor(i / setOps) * CAPACITY + (i % CAPACITY)),
    },
    ...elevenReads(),
  ];
}

/** A near-cache trove of 100 entries and one without, each on its own region, plus the writer of scenario (d). */
async function open(ctx: BenchContext, troves: Trove[]) {
  const options = { redis: ctx.url, prefix: PREFIX.trove, commandTimeout: 2000 };
  const writer = createTrove({ ...options, nearCache: false });
  troves.push(writer);
  const lastRev = new Map<string, number>();
  const writtenAt = new Map<string, number>();
  let rev = 0;
  const readers: Reader[] = [];
  for (const [lib, region, near] of [
    [`trove, nearCache: { maxEntries: ${CAPACITY} }`, 'seed-near', true],
    ['trove, nearCache: false', 'seed-direct', false],
  ] as const) {
    const trove = createTrove({ ...options, nearCache: near ? { maxEntries: CAPACITY } : false });
    troves.push(trove);
    if (near) await waitNearLive(trove);
    const r = trove.region<Value>(region, { ttl: TTL_MS });
    const w = writer.region<Value>(region, { ttl: TTL_MS });
    const reader: Reader = { subject: customSubject(lib, undefined, undefined), trove, region, staleReads: 0, staleMaxMs: 0, wrongValues: 0 };
    reader.subject.adapter = {
      async fetch(key) {
        if (key.startsWith(WRITE)) {
          const hot = key.slice(WRITE.length);
          const value = { ...makeUser(hot), rev: ++rev };
          await w.set(hot, value);
          lastRev.set(`${region}:${hot}`, value.rev);
          writtenAt.set(`${region}:${hot}`, performance.now());
          return value;
        }
        const value = await r.get(key);
        if (value === undefined || String(value.id) !== key) reader.wrongValues++;
        else if (value.rev < (lastRev.get(`${region}:${key}`) ?? 0)) {
          reader.staleReads++;
          reader.staleMaxMs = Math.max(reader.staleMaxMs, performance.now() - writtenAt.get(`${region}:${key}`)!);
        }
        return value;
      },
      set: (key, value) => r.set(key, value as Value),
      close: async () => {},
    };
    await w.setMany(Array.from({ length: KEYS }, (_, i): [string, Value] => [String(i), { ...makeUser(String(i)), rev: 0 }]));
    readers.push(reader);
  }
  return readers;
}

/** Near cache of 100 entries vs no near cache, sequential awaited `region.get`, four access patterns. */
export const nearSeed: Workload = {
  name: 'near-seed',
  async run(ctx: BenchContext): Promise<WorkloadResult> {
    if (!ctx.libs.includes('trove')) return troveNotSelected('near-seed', TITLE);
    const troves: Trove[] = [];
    const rows: Row[] = [];
    const list = scenarios(ctx.quick);
    try {
      const readers = await open(ctx, troves);
      const near = readers[0]!;
      for (const s of list) {
        // Fresh subjects per scenario: each scenario gets its own figures and remarks.
        const subjects = readers.map((r) => {
          const fresh = customSubject(r.subject.lib, undefined, r.subject.adapter);
          r.staleReads = 0;
          r.staleMaxMs = 0;
          r.wrongValues = 0;
          return fresh;
        });
        const before = near.trove.stats().near;
        const phase: ThroughputPhase = {
          key: s.key,
          concurrency: 1,
          ops: s.ops,
          warmupOps: Math.min(2_000, s.ops),
          keyAt: (i) => s.keyAt(i),
          missesOnly: false,
        };
        try {
          await measureThroughput(ctx, subjects, [phase]);
          const row = rowFrom(s.name, { near: [subjects[0]!, s.key], direct: [subjects[1]!, s.key] });
          const after = near.trove.stats().near;
          if (before && after) {
            const d = (k: 'hits' | 'misses' | 'evictions' | 'invalidations' | 'resets') => (after[k] - before[k]).toLocaleString('en-US');
            remark(
              row,
              `near-cache stats (warm-up included): hits ${d('hits')}, misses ${d('misses')}, evictions ${d('evictions')}, invalidations ${d('invalidations')}, resets ${d('resets')}`,
            );
          }
          for (const [i, r] of readers.entries()) {
            const commands = subjects[i]!.row.remarks?.find((m) => m.startsWith('Redis commands per operation'));
            if (commands) remark(row, `${r.subject.lib}: ${commands.replace(`${s.key} `, '')}`);
            if (r.wrongValues) remark(row, `${r.subject.lib}: ${r.wrongValues} reads answered a missing or wrong value`);
            if (r.staleReads) {
              remark(
                row,
                `${r.subject.lib}: ${r.staleReads} reads (warm-up included) answered the revision before the last completed write of that key, at most ${(r.staleMaxMs * 1000).toFixed(0)} µs after the write completed: Redis's invalidation message had not been processed yet`,
              );
            }
          }
          rows.push(row);
        } catch (err) {
          ctx.progress(`  ${s.name} failed: ${describeError(err)}`);
          rows.push({ lib: s.name, status: 'failed', message: describeError(err), figures: {} });
        }
      }
    } catch (err) {
      ctx.progress(`  near-seed failed: ${describeError(err)}`);
      rows.push({ lib: 'near-seed', status: 'failed', message: describeError(err), figures: {} });
    } finally {
      await Promise.all(troves.map((t) => t.close()));
    }
    return {
      name: 'near-seed',
      title: TITLE,
      summary: `${KEYS.toLocaleString('en-US')} keys (~300 B records) in Redis; one sequential awaited loop of \`region.get\` through a trove with \`nearCache: { maxEntries: ${CAPACITY} }\` and through one with \`nearCache: false\` (each on its own region), interleaved slice by slice. (a) keys 0…999 in order, repeatedly: every read misses the near cache. (b) ${SETS} sets of 100 keys, one after the other, each read ${ctx.quick ? 5 : 20} times in order (the first pass of each set misses). (c) "eleven reads": for i = 0…999, read key i, then keys 0…9. (d) (c) where each step first writes hot key i mod 10 from a third trove (its own connection), so the reader's copy is invalidated through Redis; ops/s counts the write.`,
      params: { keys: KEYS, capacity: CAPACITY, hot: HOT, scenarios: list.map((s) => ({ name: s.name, ops: s.ops })) },
      firstColumn: 'case',
      metrics: [
        { key: 'near', label: `near cache ${CAPACITY}`, unit: 'ops/s', better: 'higher' },
        {
          key: 'direct',
          label: 'no near cache',
          unit: 'ops/s',
          better: 'higher',
          rowRatio: { of: 'near', over: 'direct', label: 'near / none (> 1: near cache faster)' },
        },
      ],
      rows,
      notes: [
        `Configurations: createTrove({ redis, prefix, nearCache: { maxEntries: ${CAPACITY} } }) and createTrove({ redis, prefix, nearCache: false }) · region.get(key); writer in (d): a third trove (nearCache: false) · region.set(hot, { …record, rev }).`,
        'Every read is checked: a missing or wrong record, or (in d) a revision older than the last completed write of that key, is counted and reported below.',
      ],
    };
  },
};

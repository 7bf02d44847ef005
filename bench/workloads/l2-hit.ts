import type { BenchContext, Workload } from '../context.js';
import { keyNames, makeUser, randomKeyOrder } from '../data.js';
import { NO_AUTO_PIPELINING } from '../peers/ioredis.js';
import type { Variant } from '../peers/types.js';
import { type Row, ratio, type WorkloadResult } from '../report.js';
import { closeSubjects, measureThroughput, openSubjects, populate, SLICES, verify } from './common.js';

export const CONCURRENCY = 64;
/** The single-read target: Trove's sequential Redis hit against raw ioredis's, at least this fast (and no slower at p50 and p99). */
export const SINGLE_READ_TARGET = 1.0;

/** The row of raw ioredis without auto-pipelining, ioredis's default. */
export const IOREDIS_NO_AUTO_PIPELINING = 'ioredis (enableAutoPipelining: false)';

const L2_VARIANTS: readonly Variant[] = [
  // Auto-pipelining waits for the next tick to write; a lone awaited read may be faster without it.
  { lib: 'ioredis', name: NO_AUTO_PIPELINING, row: IOREDIS_NO_AUTO_PIPELINING, versus: 'trove' },
  // What the statistics cost a Redis hit: the default row (statistics on) against this one.
  { lib: 'trove', name: 'stats-off', row: 'trove (stats: false)', versus: 'trove (stats: false)' },
  // The node-redis driver next to the default (ioredis) one, and raw node-redis next to raw ioredis.
  { lib: 'trove', name: 'node-redis', row: 'trove (node-redis)', versus: 'trove (node-redis)' },
  { lib: 'ioredis', name: 'node-redis', row: 'node-redis (raw GET)', versus: 'trove (node-redis)' },
];

/** The single-read comparison: Trove's row and the faster (sequential) of the two raw ioredis rows. */
export interface SingleRead {
  trove: Row;
  baseline: Row;
  /** How the baseline's client was configured, and the other configuration's sequential figure. */
  autoPipelining: boolean;
  other?: Row;
}

export function singleRead(result: WorkloadResult): SingleRead | undefined {
  const ok = (lib: string) => result.rows.find((r) => r.lib === lib && r.status === 'ok' && r.figures.seq);
  const trove = ok('trove');
  const candidates = [ok('ioredis'), ok(IOREDIS_NO_AUTO_PIPELINING)].filter((r) => r !== undefined);
  if (!trove || candidates.length === 0) return undefined;
  const [baseline, other] = [...candidates].sort((a, b) => b.figures.seq!.median - a.figures.seq!.median);
  return { trove, baseline: baseline!, autoPipelining: baseline!.lib === 'ioredis', other };
}

/** Redis hits through each library's read-through call, every in-memory tier off. */
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
        { key: 'c64', concurrency: CONCURRENCY, roundMs, warmupMs: roundMs / 5, keyAt, missesOnly: false },
        // One awaited read at a time: a request handler's lone cache read, where latency is the round trip.
        { key: 'seq', concurrency: 1, roundMs, warmupMs: roundMs / 5, keyAt, missesOnly: false, latency: true },
      ]);
    } finally {
      await closeSubjects(subjects);
    }
    return {
      name: 'l2-hit',
      title: `Redis hit through getOrSet, concurrency ${CONCURRENCY} and sequential`,
      summary: `${keyCount.toLocaleString('en-US')} keys holding ~300 B JSON user records, reads of random keys, ${roundMs.toLocaleString('en-US')} ms per library per round each (in ${SLICES} slices): by ${CONCURRENCY} async workers, then in one sequential awaited loop (one read at a time, each timed: p50 and p99 of every read of the round, median over rounds); every in-memory tier off, so each read is served by Redis.`,
      params: { keys: keyCount, roundMs, concurrency: CONCURRENCY, valueBytes: JSON.stringify(makeUser('1234')).length },
      metrics: [
        { key: 'c64', label: `concurrency ${CONCURRENCY}`, unit: 'ops/s', better: 'higher', ratio: true },
        { key: 'seq', label: 'sequential', unit: 'ops/s', better: 'higher', ratio: true },
        { key: 'seq:p50', label: 'sequential p50', unit: 'µs', better: 'lower', ratio: true },
        { key: 'seq:p99', label: 'sequential p99', unit: 'µs', better: 'lower', ratio: true },
      ],
      rows: subjects.map((s) => s.row),
      notes: [
        `ioredis is the baseline: hand-written GET + JSON.parse, with enableAutoPipelining (the concurrency-${CONCURRENCY} headline) and without it (ioredis's default, row "${IOREDIS_NO_AUTO_PIPELINING}"). The single-read target compares Trove with whichever of the two is faster in the sequential loop.`,
      ],
    };
  },
  conclude(result: WorkloadResult): void {
    const s = singleRead(result);
    if (!s) return;
    const t = s.trove.figures;
    const b = s.baseline.figures;
    const us = (v: number | undefined) => (v === undefined ? '—' : `${v >= 100 ? v.toFixed(0) : v.toFixed(1)} µs`);
    const x = (r: number) => (Number.isFinite(r) ? `${r.toFixed(2)}×` : '—');
    const other = s.other?.figures.seq
      ? ` (${Math.round(s.other.figures.seq.median).toLocaleString('en-US')} ops/s ${s.autoPipelining ? 'without' : 'with'} it)`
      : '';
    result.notes.push(
      `Single read (sequential): raw ioredis is faster here with enableAutoPipelining: ${s.autoPipelining}${other}, so that is the baseline. Trove / it: throughput ${x(ratio(t.seq, b.seq))} (target ≥ ${SINGLE_READ_TARGET.toFixed(1)}×), p50 ${us(t['seq:p50']?.median)} vs ${us(b['seq:p50']?.median)} = ${x(ratio(t['seq:p50'], b['seq:p50']))}, p99 ${us(t['seq:p99']?.median)} vs ${us(b['seq:p99']?.median)} = ${x(ratio(t['seq:p99'], b['seq:p99']))} (latency: ≤ 1 means Trove no slower).`,
    );
  },
};

import { ChildScript } from '../child-io.js';
import type { BenchContext, Workload } from '../context.js';
import { wallNow } from '../driver.js';
import { PEERS, Unsupported } from '../peers/index.js';
import { type Row, remark, type WorkloadResult } from '../report.js';
import { latencies, summarize } from '../stats.js';
import { describeError, L1_ENTRIES, STAMPEDE_WARM_UP_BURSTS, TTL_MS } from './common.js';

const PROCESSES = 4;
const FACTORY_MS = 300;
/** Rounds run before the measured ones, after each process's own warm-up bursts (see stampede-child.ts). */
const WARM_UP_ROUNDS = 2;
/** The target: Trove's caller p99 at most the factory time plus this. Unit: ms. */
export const STAMPEDE_OVER_FACTORY_TARGET_MS = 5;

interface ChildReport {
  round: number;
  latencies: number[];
  /** How long each factory run in that process took, INCR and sleep together (ms). */
  factoryRuns: number[];
  /** How late the process began after the common instant, in ms. */
  late: number;
  errors: number;
  wrong: number;
}

/** One cold key, many callers in several processes at once: how often does the factory run? */
export const stampede: Workload = {
  name: 'stampede',
  async run(ctx: BenchContext): Promise<WorkloadResult> {
    const callers = ctx.quick ? 50 : 200;
    const rows = new Map<string, Row>();
    const samples = new Map<string, { runs: number[]; p50: number[]; p99: number[]; over: number[]; late: number[] }>();
    const libs = ctx.libs;
    for (const lib of libs) {
      rows.set(lib, { lib, status: 'ok', figures: {}, config: PEERS[lib].describe({ tier: 'l2', l1Entries: L1_ENTRIES, ttlMs: TTL_MS }) });
      samples.set(lib, { runs: [], p50: [], p99: [], over: [], late: [] });
    }
    if (rows.has('ioredis'))
      rows.get('ioredis')!.config = 'hand-written cache-aside (GET, then factory + SET on a miss): no stampede protection at all, for reference';
    // Each library gets its own 4 processes, kept for all rounds; libraries run one after the other.
    for (const lib of libs) {
      const row = rows.get(lib)!;
      const children = Array.from(
        { length: PROCESSES },
        () => new ChildScript('./workloads/stampede-child.ts', [lib, ctx.host, String(ctx.port), String(callers), String(FACTORY_MS)]),
      );
      try {
        await Promise.all(children.map((c) => c.expect((l) => l === 'ready', 60_000)));
        /** Starts round `label` in every process at one instant; resolves to their reports. */
        const play = (label: string): Promise<ChildReport[]> => {
          const startAt = wallNow() + 150;
          for (const c of children) c.send(`go ${label} ${startAt}`);
          return Promise.all(children.map(async (c) => JSON.parse(await c.expect((l) => l.startsWith('{'), 60_000)) as ChildReport));
        };
        // Unmeasured rounds first: the waiters' side (another process's value, its notification)
        // is warm too, as in a process that has been serving.
        for (let round = 0; round < WARM_UP_ROUNDS; round++) await play(`warm${round}`);
        for (let round = 0; round < ctx.rounds; round++) {
          const reports = await play(String(round));
          const runs = Number((await ctx.server.command('GET', `stampede-runs:${lib}:hot-${round}`)) || 0);
          const all = reports.flatMap((r) => r.latencies);
          const lat = latencies(all);
          const errors = reports.reduce((n, r) => n + r.errors, 0);
          const wrong = reports.reduce((n, r) => n + r.wrong, 0);
          if (errors || wrong) remark(row, `round ${round + 1}: ${errors} callers failed, ${wrong} got a wrong value`);
          const s = samples.get(lib)!;
          s.runs.push(runs);
          s.p50.push(lat.p50);
          s.p99.push(lat.p99);
          // The factory as it ran (its timer may fire late on a busy machine), the longest run if several did.
          const factory = Math.max(FACTORY_MS, ...reports.flatMap((r) => r.factoryRuns));
          s.over.push(lat.p99 - factory);
          s.late.push(Math.max(...reports.map((r) => r.late)));
          ctx.progress(
            `  ${lib} round ${round + 1}: factory ran ${runs}× (${factory.toFixed(1)} ms), p50 ${lat.p50.toFixed(1)} ms, p99 ${lat.p99.toFixed(1)} ms`,
          );
        }
      } catch (err) {
        ctx.progress(`  ${lib} failed: ${describeError(err)}`);
        row.status = err instanceof Unsupported ? 'unsupported' : 'failed';
        row.message = describeError(err);
      } finally {
        await Promise.all(children.map((c) => c.stop()));
      }
    }
    for (const [lib, row] of rows) {
      const s = samples.get(lib)!;
      if (row.status === 'ok') row.figures = { runs: summarize(s.runs), p50: summarize(s.p50), p99: summarize(s.p99), over: summarize(s.over) };
    }
    const trove = rows.get('trove');
    const notes = [
      `The ideal is 1 factory run per round (exactly once across all processes); ${PROCESSES} means single-flight inside each process only; ${PROCESSES * callers} means no protection at all.`,
      `Caller latency is measured from the common start to each caller getting its value; the factory alone takes ${FACTORY_MS} ms. "caller p99 − factory" is each round's p99 minus the factory's time as it ran (timed inside the factory, INCR and sleep; the longest run of the round, at least ${FACTORY_MS} ms): what callers wait beyond the factory itself.`,
    ];
    // A caller waiting on another process's computation waits out that process's late start too.
    const lateness = [...samples]
      .filter(([lib]) => rows.get(lib)?.status === 'ok')
      .map(([lib, s]) => `${lib} ${summarize(s.late).median.toFixed(1)} ms`)
      .join(', ');
    if (lateness !== '') notes.push(`Latest process's start after the common instant (median over rounds): ${lateness}.`);
    const over = trove?.status === 'ok' ? trove.figures.over : undefined;
    if (over)
      notes.push(
        `Trove: caller p99 − factory time = ${over.median.toFixed(1)} ms (median over rounds; worst round ${over.max.toFixed(1)} ms); target ≤ ${STAMPEDE_OVER_FACTORY_TARGET_MS} ms: ${over.median <= STAMPEDE_OVER_FACTORY_TARGET_MS ? 'met' : 'not met'}.`,
      );
    const troveRuns = trove?.status === 'ok' ? trove.figures.runs?.max : undefined;
    if (troveRuns !== undefined) {
      // Say what Trove did in this run, whatever the state of its locking.
      if (troveRuns === 1) notes.push(`Trove: the factory ran exactly once per round across the ${PROCESSES} processes (cross-process lock).`);
      else if (troveRuns <= PROCESSES)
        notes.push(
          `Trove: up to ${troveRuns} factory runs per round for ${PROCESSES} processes, i.e. single-flight within each process only (no cross-process exactly-once).`,
        );
      else notes.push(`Trove: up to ${troveRuns} factory runs per round: not even single-flight within a process.`);
    }
    return {
      name: 'stampede',
      title: `${PROCESSES} processes × ${callers} concurrent callers on one cold key, ${FACTORY_MS} ms factory`,
      summary: `${PROCESSES} child processes start together (synchronised on a wall-clock instant) and each fires ${callers} concurrent read-through calls on the same cold key; the factory counts its runs with a Redis INCR, so runs add up across processes. Each library gets its own ${PROCESSES} processes; ${ctx.rounds} rounds, one new cold key per round. The processes are warm, as those a stampede meets in production: before the first round each runs ${STAMPEDE_WARM_UP_BURSTS} bursts of ${callers} calls on keys of its own (the factory answering at once), then every library runs ${WARM_UP_ROUNDS} unmeasured rounds.`,
      params: { processes: PROCESSES, callersPerProcess: callers, factoryMs: FACTORY_MS, warmUpBursts: STAMPEDE_WARM_UP_BURSTS, warmUpRounds: WARM_UP_ROUNDS },
      metrics: [
        { key: 'runs', label: 'factory runs', unit: 'runs', better: 'lower' },
        { key: 'p50', label: 'caller p50', unit: 'ms', better: 'lower', ratio: true },
        { key: 'p99', label: 'caller p99', unit: 'ms', better: 'lower', ratio: true },
        { key: 'over', label: 'caller p99 − factory', unit: 'ms', better: 'lower' },
      ],
      rows: [...rows.values()],
      notes,
    };
  },
};

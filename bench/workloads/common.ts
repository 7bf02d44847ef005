import type { BenchContext } from '../context.js';
import { collectGarbage, opsPerSec, runConcurrent, runFor, runSequentialTimed } from '../driver.js';
import { type CacheAdapter, type ConfigOptions, type LibName, PEERS, type Tier, Unsupported, type Variant } from '../peers/index.js';
import { type Row, remark, type WorkloadResult } from '../report.js';
import { latencies, summarize } from '../stats.js';

export const TTL_MS = 10 * 60_000;
export const L1_ENTRIES = 20_000;
/** Bursts each stampede process runs on keys of its own before the first round (see stampede-child.ts). */
export const STAMPEDE_WARM_UP_BURSTS = 50;

/** A library under test in one workload: its adapter, or the row explaining why there is none. */
export interface Subject {
  lib: string;
  adapter?: CacheAdapter;
  row: Row;
  /** Factory runs counted by the workload's load function. */
  loads: number;
}

export function describeError(err: unknown): string {
  return err instanceof Error ? err.message.split('\n')[0]!.slice(0, 160) : String(err);
}

/** The variants among `all` this process runs: those of selected libraries, as `ctx.variant` says. */
export function activeVariants(ctx: BenchContext, all: readonly Variant[] | undefined): Variant[] {
  return (all ?? []).filter((v) => ctx.libs.includes(v.lib) && (ctx.variant === undefined || ctx.variant === v.name));
}

/**
 * Creates one adapter per selected library (its usual configuration, unless this process runs a
 * variant only), then one per active variant among `opts.variants`, each counting its own factory runs.
 */
export async function openSubjects(
  ctx: BenchContext,
  tier: Tier,
  load: (key: string) => unknown,
  opts: { bus?: boolean; awaitWrites?: boolean; libs?: readonly LibName[]; variants?: readonly Variant[] } = {},
): Promise<Subject[]> {
  const subjects: Subject[] = [];
  const usual = ctx.variant === undefined || ctx.variant === 'default' ? (opts.libs ?? ctx.libs) : [];
  const configs = [
    ...usual.map((lib) => ({ lib, label: lib, variant: undefined as string | undefined, versus: undefined as string | undefined })),
    ...activeVariants(ctx, opts.variants).map((v) => ({ lib: v.lib, label: v.row, variant: v.name, versus: v.versus })),
  ];
  for (const { lib, label, variant, versus } of configs) {
    const peer = PEERS[lib];
    const config: ConfigOptions = { tier, l1Entries: L1_ENTRIES, ttlMs: TTL_MS, bus: opts.bus, awaitWrites: opts.awaitWrites, variant };
    const subject: Subject = { lib: label, row: { lib: label, status: 'ok', figures: {}, config: peer.describe(config), versus }, loads: 0 };
    try {
      subject.adapter = await peer.create({
        ...config,
        url: ctx.url,
        host: ctx.host,
        port: ctx.port,
        load: (key) => {
          subject.loads++;
          return load(key);
        },
      });
    } catch (err) {
      markFailed(subject, err);
      subject.row.config = undefined;
    }
    subjects.push(subject);
  }
  return subjects;
}

export function markFailed(subject: Subject, err: unknown): void {
  subject.row.status = err instanceof Unsupported ? 'unsupported' : 'failed';
  subject.row.message = describeError(err);
  subject.row.figures = {};
  const adapter = subject.adapter;
  subject.adapter = undefined;
  if (adapter) adapter.close().catch(() => {});
}

export async function closeSubjects(subjects: readonly Subject[]): Promise<void> {
  await Promise.all(
    subjects.map(async (s) => {
      const a = s.adapter;
      s.adapter = undefined;
      if (a) await a.close().catch(() => {});
    }),
  );
}

/** Rotates the run order each round so no library always runs first (or last) in a round. */
export function rotate<T>(items: readonly T[], round: number): T[] {
  if (items.length === 0) return [];
  const k = round % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

/** How much a phase runs: a number of operations, or a time that is the same for every library. */
export type PhaseBudget =
  | {
      /** Operations per library per round, all slices together. */
      ops: number;
      /** Warm-up operations before each round; the first round warms up `ops / 2` at least. */
      warmupOps: number;
    }
  | {
      /** How long each library runs the phase in a round, all its slices together. Unit: ms. */
      roundMs: number;
      /** Warm-up before each round; the first round warms up for `roundMs` at least (JIT compilation). Unit: ms. */
      warmupMs: number;
    };

export type ThroughputPhase = PhaseBudget & {
  /** Figure key in the row, e.g. `c64`. */
  key: string;
  concurrency: number;
  /** The key of operation `i` in round `round` (warm-ups use rounds from 1000 on). With a time budget `i` has no bound. */
  keyAt(i: number, round: number): string;
  /** Every operation is a miss (the factory must run exactly once per operation); otherwise every one is a hit (never). */
  missesOnly: boolean;
  /**
   * Also time every operation (concurrency 1 and a time budget only): the row gets
   * `<key>:p50` and `<key>:p99`, in µs, the percentiles of each round's operations.
   */
  latency?: boolean;
};

/** One warm-up or timed slice: operations from `offset` on, as many as the budget gives. */
async function runSlice(
  phase: ThroughputPhase,
  adapter: CacheAdapter,
  round: number,
  offset: number,
  kind: 'warm-up' | 'first warm-up' | 'slice',
  latencies: number[],
): Promise<{ ops: number; ms: number }> {
  const op = (i: number) => adapter.fetch(phase.keyAt(offset + i, round));
  if ('roundMs' in phase) {
    const ms = kind === 'slice' ? phase.roundMs / SLICES : kind === 'warm-up' ? phase.warmupMs : Math.max(phase.warmupMs, phase.roundMs);
    return phase.latency ? runSequentialTimed(ms, op, latencies) : runFor(phase.concurrency, ms, op);
  }
  const ops =
    kind === 'slice'
      ? Math.min(Math.ceil(phase.ops / SLICES), phase.ops - offset)
      : kind === 'warm-up'
        ? phase.warmupOps
        : Math.max(phase.warmupOps, phase.ops >> 1);
  return { ops, ms: await runConcurrent(phase.concurrency, ops, op) };
}

async function commandsProcessed(ctx: BenchContext): Promise<number> {
  if (ctx.commandsProcessed) return ctx.commandsProcessed.read();
  return Number((await ctx.server.info('stats')).total_commands_processed);
}

/** Each round is run in this many slices per library, interleaved across libraries. */
export const SLICES = 10;

/**
 * Measures every subject's `fetch` throughput for each phase, round after round.
 *
 * The machine may be busy with other work, and its load changes over seconds. So that every
 * library sees the same conditions, a round is cut into `SLICES` slices and the libraries take
 * turns slice by slice (order rotating). Slices last the same time for every library, not the
 * same number of operations: a fast library given a fixed count would get slices of a few
 * milliseconds, mostly spent refilling CPU caches after the other library's turn. A library's
 * figure is its operations over its time, all slices together. Every warm-up and slice is one
 * `ctx.turn`: when each library runs in its own process, the processes take these turns one at
 * a time. Before a round each library warms up; a minor GC runs before every slice, outside
 * the timing.
 */
export async function measureThroughput(ctx: BenchContext, subjects: readonly Subject[], phases: readonly ThroughputPhase[]): Promise<void> {
  for (const p of phases) {
    if (p.latency && (p.concurrency !== 1 || !('roundMs' in p)))
      throw new Error(`phase ${p.key}: latencies are timed in a sequential loop with a time budget only`);
  }
  const samples = new Map<Subject, Record<string, number[]>>();
  const run = async <T>(s: Subject, phase: ThroughputPhase, work: (adapter: CacheAdapter) => Promise<T>): Promise<T | undefined> => {
    const adapter = s.adapter;
    if (!adapter) return undefined;
    try {
      return await work(adapter);
    } catch (err) {
      ctx.progress(`  ${s.lib} ${phase.key} failed: ${describeError(err)}`);
      markFailed(s, err);
      return undefined;
    }
  };
  for (let round = 0; round < ctx.rounds; round++) {
    for (const phase of phases) {
      // Warm-up keys come after the measured ones (count budget) or from a sequence of their own.
      const warmFrom = 'ops' in phase ? phase.ops : 0;
      for (const s of rotate(subjects, round)) {
        // Warm-ups time their operations too (the same code runs), into a list nobody reads.
        await ctx.turn(() => run(s, phase, (a) => runSlice(phase, a, round + 1000, warmFrom, round === 0 ? 'first warm-up' : 'warm-up', [])));
      }
      const done = new Map<Subject, { ops: number; ms: number; commands: number }>();
      const timings = new Map<Subject, number[]>(subjects.map((s) => [s, []]));
      const loadsBefore = new Map(subjects.map((s) => [s, s.loads]));
      for (let slice = 0; slice < SLICES; slice++) {
        for (const s of rotate(subjects, round + slice)) {
          const soFar = done.get(s) ?? { ops: 0, ms: 0, commands: 0 };
          const timed = await ctx.turn(async () => {
            collectGarbage();
            // Libraries run one at a time, so the server's command counter tells each one's Redis traffic
            // (minus 1 per node: the first INFO counts itself once processed).
            const before = await commandsProcessed(ctx);
            const result = await run(s, phase, (a) => runSlice(phase, a, round, soFar.ops, 'slice', timings.get(s)!));
            return result && { ...result, commands: (await commandsProcessed(ctx)) - before - (ctx.commandsProcessed?.nodes ?? 1) };
          });
          if (timed) done.set(s, { ops: soFar.ops + timed.ops, ms: soFar.ms + timed.ms, commands: soFar.commands + timed.commands });
        }
      }
      for (const s of subjects) {
        const d = done.get(s);
        if (d === undefined || !s.adapter) continue;
        const ran = s.loads - loadsBefore.get(s)!;
        const expected = phase.missesOnly ? d.ops : 0;
        if (ran !== expected) remark(s.row, `factory ran ${ran} times in round ${round + 1} (${phase.key}), expected ${expected}`);
        const per = samples.get(s) ?? {};
        per[phase.key] = [...(per[phase.key] ?? []), opsPerSec(d.ops, d.ms)];
        per[`${phase.key}:commands`] = [...(per[`${phase.key}:commands`] ?? []), d.commands / d.ops];
        let timed = '';
        if (phase.latency) {
          const lat = latencies(timings.get(s)!);
          per[`${phase.key}:p50`] = [...(per[`${phase.key}:p50`] ?? []), lat.p50 * 1000];
          per[`${phase.key}:p99`] = [...(per[`${phase.key}:p99`] ?? []), lat.p99 * 1000];
          timed = `, p50 ${(lat.p50 * 1000).toFixed(1)} µs, p99 ${(lat.p99 * 1000).toFixed(1)} µs`;
        }
        samples.set(s, per);
        ctx.progress(
          `  ${s.lib} ${phase.key} round ${round + 1}: ${Math.round(opsPerSec(d.ops, d.ms)).toLocaleString('en-US')} ops/s (${d.ops.toLocaleString('en-US')} operations${timed})`,
        );
      }
    }
  }
  for (const s of subjects) {
    if (s.row.status !== 'ok') continue;
    const per = samples.get(s) ?? {};
    for (const [key, values] of Object.entries(per)) s.row.figures[key] = summarize(values);
    const traffic = phases.map((p) => `${p.key} ${fmtCommands(s.row.figures[`${p.key}:commands`]?.median)}`).join(', ');
    remark(s.row, `Redis commands per operation: ${traffic}`);
  }
}

function fmtCommands(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return '—';
  if (v === 0) return '0';
  if (v < 0.001) return '< 0.001';
  return v < 0.1 ? v.toFixed(3) : v.toFixed(2);
}

/** Reads every key once through `fetch` (misses compute and store), `concurrency` at a time. */
export async function populate(ctx: BenchContext, subjects: readonly Subject[], keys: readonly string[], concurrency = 64): Promise<void> {
  for (const s of subjects) {
    const adapter = s.adapter;
    if (!adapter) continue;
    try {
      await runConcurrent(concurrency, keys.length, (i) => adapter.fetch(keys[i]!));
    } catch (err) {
      ctx.progress(`  ${s.lib} populate failed: ${describeError(err)}`);
      markFailed(s, err);
    }
  }
}

/** Checks that a read returns the value the factory produced (a benchmark of wrong answers is worthless). */
export async function verify(subjects: readonly Subject[], key: string, check: (value: unknown) => boolean): Promise<void> {
  for (const s of subjects) {
    const adapter = s.adapter;
    if (!adapter) continue;
    try {
      const value = await adapter.fetch(key);
      if (!check(value)) throw new Error(`wrong value for key ${key}: ${JSON.stringify(value)?.slice(0, 80)}`);
    } catch (err) {
      markFailed(s, err);
    }
  }
}

/** A subject that is not one of the peers: a Trove configuration or a reference, driven through `adapter`. */
export function customSubject(lib: string, config: string | undefined, adapter: CacheAdapter | undefined): Subject {
  return { lib, adapter, row: { lib, status: 'ok', figures: {}, config }, loads: 0 };
}

/** Figures of a row taken from measured subjects: `{ figure key in the row: [subject, its figure key] }`. */
export function rowFrom(lib: string, parts: Record<string, [Subject, string]>, config?: string): Row {
  const row: Row = { lib, status: 'ok', figures: {}, config };
  for (const [key, [subject, from]] of Object.entries(parts)) {
    if (subject.row.status !== 'ok') {
      return { lib, status: subject.row.status, message: `${subject.lib}: ${subject.row.message ?? ''}`, figures: {} };
    }
    const summary = subject.row.figures[from];
    if (summary) row.figures[key] = summary;
    for (const r of subject.row.remarks ?? []) if (!r.startsWith('Redis commands per operation')) remark(row, `${subject.lib}: ${r}`);
  }
  return row;
}

/** The result of a Trove-only workload when `--lib` leaves Trove out. */
export function troveNotSelected(name: string, title: string): WorkloadResult {
  return {
    name,
    title,
    summary: 'Measures Trove alone.',
    params: {},
    metrics: [],
    rows: [{ lib: 'trove', status: 'unsupported', message: 'not run: trove is not in --lib', figures: {} }],
    notes: [],
  };
}

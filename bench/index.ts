/**
 * `npm run bench [-- --only l2-hit,miss] [--lib trove,ioredis] [--rounds N] [--quick]`
 *
 * Runs Trove and its peers against one private redis-server, workload by workload, and prints a
 * Markdown table per workload (median over rounds, spread, Trove / peer ratio). Raw figures go to
 * bench/results/latest.json.
 *
 * Every library runs as in production: NODE_ENV is 'production' unless set (child processes
 * inherit it), so Trove's `freezeValues` default is off, as it is in a deployed service.
 */
process.env.NODE_ENV ??= 'production';
import { mkdirSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { RedisServer } from '../tools/redis-server.js';
import { buildTrove, troveOrigin } from './trove-build.js';
import { type BenchContext, WORKLOAD_NAMES, type Workload, type WorkloadName } from './context.js';
import { currentLoad, formatFacts, machineFacts } from './machine.js';
import { LIB_NAMES, type LibName } from './peers/types.js';
import { ratio, renderWorkload, type WorkloadResult } from './report.js';
import { childTurns, runIsolated } from './turns.js';
import { CLUSTER_L2_TARGET, CLUSTER_NEAR_TARGET, cluster } from './workloads/cluster.js';
import { invalidation } from './workloads/invalidation.js';
import { keys } from './workloads/keys.js';
import { BENTO_TARGET, l1Hit, MAP_FLOOR, MAP_FLOOR_TARGET } from './workloads/l1-hit.js';
import { CONCURRENCY, l2Hit, SINGLE_READ_TARGET, singleRead } from './workloads/l2-hit.js';
import { memory } from './workloads/memory.js';
import { miss } from './workloads/miss.js';
import { nearSeed } from './workloads/near-seed.js';
import { commands } from './workloads/commands.js';
import { regions } from './workloads/regions.js';
import { setMany } from './workloads/set-many.js';
import { stampede } from './workloads/stampede.js';
import { tracking } from './workloads/tracking.js';
import { trackingChurn } from './workloads/tracking-churn.js';
import { web } from './workloads/web.js';

const WORKLOADS: Record<WorkloadName, Workload> = {
  'l2-hit': l2Hit,
  'l1-hit': l1Hit,
  miss,
  stampede,
  memory,
  invalidation,
  keys,
  regions,
  'near-seed': nearSeed,
  commands,
  tracking,
  'tracking-churn': trackingChurn,
  'set-many': setMany,
  cluster,
  web,
};

/** The project's speed target for the headline figure: Redis hits at concurrency 64 against raw ioredis with auto-pipelining. */
const TARGET = 2.0;
/** The project's speed target for near-cache hits against bentocache's L1. */
const NEAR_TARGET = BENTO_TARGET;

function usage(message?: string): never {
  if (message) process.stderr.write(`${message}\n\n`);
  process.stderr.write(
    [
      'usage: npm run bench -- [options]',
      `  --only <list>    workloads, comma-separated (${WORKLOAD_NAMES.join(', ')}); default all`,
      `  --lib <list>     libraries, comma-separated (${LIB_NAMES.join(', ')}); default all`,
      '  --rounds <n>     measured rounds per workload (default 3); figures are the median',
      '  --quick          smaller sizes, for a fast smoke run',
      '  --out <file>     where to write the raw JSON (default bench/results/latest.json)',
      '  --source         measure Trove from src/ through tsx instead of the bundle the package ships',
      '  --in-process     measure every library in this one process (default: l2-hit, l1-hit and miss',
      '                   run each library in a process of its own, taking turns)',
      '',
    ].join('\n'),
  );
  process.exit(message ? 2 : 0);
}

function list<T extends string>(value: string | undefined, known: readonly T[], what: string): T[] {
  if (value === undefined) return [...known];
  const items = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const item of items) if (!known.includes(item as T)) usage(`unknown ${what} '${item}' (known: ${known.join(', ')})`);
  // Keep the canonical order whatever the order given.
  return known.filter((k) => items.includes(k));
}

export interface Headline {
  text: string;
  trove: number;
  baseline: number;
  ratio: number;
  target: number;
  /** Latency percentiles behind a throughput headline, in µs. */
  latency?: { trove: { p50: number; p99: number }; baseline: { p50: number; p99: number } };
}

/** "L2 hit getOrSet, concurrency 64: trove X ops/s vs raw ioredis … Y ops/s = Z×". */
export function headline(results: readonly WorkloadResult[]): Headline | undefined {
  const l2 = results.find((r) => r.name === 'l2-hit');
  const trove = l2?.rows.find((r) => r.lib === 'trove' && r.status === 'ok')?.figures.c64;
  const base = l2?.rows.find((r) => r.lib === 'ioredis' && r.status === 'ok')?.figures.c64;
  if (!trove || !base) return undefined;
  const z = ratio(trove, base);
  const fmt = (v: number) => Math.round(v).toLocaleString('en-US');
  return {
    text: `L2 hit getOrSet, concurrency ${CONCURRENCY}: trove ${fmt(trove.median)} ops/s vs raw ioredis GET+JSON.parse (auto-pipelining) ${fmt(base.median)} ops/s = ${z.toFixed(2)}× (target ≥ ${TARGET.toFixed(1)}×)`,
    trove: trove.median,
    baseline: base.median,
    ratio: z,
    target: TARGET,
  };
}

/**
 * "Single Redis read (sequential awaited getOrSet): trove X ops/s (p50, p99) vs raw ioredis … Y
 * ops/s (p50, p99) = Z×", from the sequential phase of l2-hit, against the faster of raw ioredis
 * with and without auto-pipelining (the text says which).
 */
export function singleReadHeadline(results: readonly WorkloadResult[]): Headline | undefined {
  const l2 = results.find((r) => r.name === 'l2-hit');
  const s = l2 && singleRead(l2);
  if (!s) return undefined;
  const t = s.trove.figures;
  const b = s.baseline.figures;
  const z = ratio(t.seq, b.seq);
  const fmt = (v: number) => Math.round(v).toLocaleString('en-US');
  const us = (v: number | undefined) => (v === undefined ? '—' : v >= 100 ? v.toFixed(0) : v.toFixed(1));
  const lat = (f: typeof t) => `p50 ${us(f['seq:p50']?.median)} µs, p99 ${us(f['seq:p99']?.median)} µs`;
  return {
    text: `Single Redis read (sequential awaited getOrSet, no near cache): trove ${fmt(t.seq!.median)} ops/s (${lat(t)}) vs raw ioredis GET+JSON.parse (enableAutoPipelining: ${s.autoPipelining}, the faster here) ${fmt(b.seq!.median)} ops/s (${lat(b)}) = ${z.toFixed(2)}× (target ≥ ${SINGLE_READ_TARGET.toFixed(1)}×, p50 and p99 no higher)`,
    trove: t.seq!.median,
    baseline: b.seq!.median,
    ratio: z,
    target: SINGLE_READ_TARGET,
    latency: {
      trove: { p50: t['seq:p50']?.median ?? Number.NaN, p99: t['seq:p99']?.median ?? Number.NaN },
      baseline: { p50: b['seq:p50']?.median ?? Number.NaN, p99: b['seq:p99']?.median ?? Number.NaN },
    },
  };
}

/** "Near hit getOrSet (sequential): trove X ops/s vs bentocache Y ops/s = Z×", from the l1-hit workload. */
export function nearHeadline(results: readonly WorkloadResult[]): Headline | undefined {
  const l1 = results.find((r) => r.name === 'l1-hit');
  const trove = l1?.rows.find((r) => r.lib === 'trove' && r.status === 'ok')?.figures.seq;
  const base = l1?.rows.find((r) => r.lib === 'bentocache' && r.status === 'ok')?.figures.seq;
  if (!trove || !base) return undefined;
  const z = ratio(trove, base);
  const fmt = (v: number) => Math.round(v).toLocaleString('en-US');
  return {
    text: `Near hit getOrSet (sequential): trove ${fmt(trove.median)} ops/s vs bentocache ${fmt(base.median)} ops/s = ${z >= 10 ? z.toFixed(1) : z.toFixed(2)}× (target ≥ ${NEAR_TARGET}×)`,
    trove: trove.median,
    baseline: base.median,
    ratio: z,
    target: NEAR_TARGET,
  };
}

/**
 * "Near hit getOrSet vs an awaited bare Map.get (sequential | concurrency 64): trove X ops/s vs
 * Y ops/s = Z×", one line per phase of l1-hit, against its `Map (floor)` row.
 */
export function nearFloorHeadlines(results: readonly WorkloadResult[]): Headline[] {
  const l1 = results.find((r) => r.name === 'l1-hit');
  const trove = l1?.rows.find((r) => r.lib === 'trove' && r.status === 'ok');
  const floor = l1?.rows.find((r) => r.lib === MAP_FLOOR && r.status === 'ok');
  if (!trove || !floor) return [];
  const fmt = (v: number) => Math.round(v).toLocaleString('en-US');
  const out: Headline[] = [];
  for (const [key, phase] of [
    ['seq', 'sequential'],
    ['c64', `concurrency ${CONCURRENCY}`],
  ] as const) {
    const t = trove.figures[key];
    const b = floor.figures[key];
    if (!t || !b) continue;
    const z = ratio(t, b);
    out.push({
      text: `Near hit getOrSet vs an awaited bare Map.get (${phase}): trove ${fmt(t.median)} ops/s vs Map ${fmt(b.median)} ops/s = ${z.toFixed(2)}× (target ≥ ${MAP_FLOOR_TARGET}×)`,
      trove: t.median,
      baseline: b.median,
      ratio: z,
      target: MAP_FLOOR_TARGET,
    });
  }
  return out;
}

/**
 * The cluster workload's two targets: "Cluster L2 hit …: trove X ops/s vs raw ioredis Cluster … Y
 * ops/s = Z×" and "Cluster near hit …: cluster X ops/s vs one server Y ops/s = Z×" (sequential),
 * the latter saying whether the trove on the cluster had a live near cache.
 */
export function clusterHeadlines(results: readonly WorkloadResult[]): Headline[] {
  const c = results.find((r) => r.name === 'cluster');
  if (!c) return [];
  const fmt = (v: number) => Math.round(v).toLocaleString('en-US');
  const out: Headline[] = [];
  const trove = c.rows.find((r) => r.lib === 'trove' && r.status === 'ok')?.figures.c64;
  const base = c.rows.find((r) => r.lib === 'ioredis' && r.status === 'ok')?.figures.c64;
  if (trove && base) {
    const z = ratio(trove, base);
    out.push({
      text: `Cluster (3 masters) L2 hit getOrSet, concurrency ${CONCURRENCY}: trove ${fmt(trove.median)} ops/s vs raw ioredis Cluster GET+JSON.parse (auto-pipelining) ${fmt(base.median)} ops/s = ${z.toFixed(2)}× (target ≥ ${CLUSTER_L2_TARGET}×)`,
      trove: trove.median,
      baseline: base.median,
      ratio: z,
      target: CLUSTER_L2_TARGET,
    });
  }
  const seq = c.sections?.[0]?.rows.find((r) => r.lib === 'near hit, sequential' && r.status === 'ok');
  if (seq?.figures.cluster && seq.figures.server) {
    const z = ratio(seq.figures.cluster, seq.figures.server);
    const state = c.params.nearOnCluster;
    const live =
      state === 'live'
        ? 'near cache on the cluster: live'
        : `near cache on the cluster: ${String(state)}, so these are Redis hits there and the target is not judged`;
    out.push({
      text: `Cluster near hit getOrSet (sequential): cluster ${fmt(seq.figures.cluster.median)} ops/s vs one server ${fmt(seq.figures.server.median)} ops/s = ${z.toFixed(2)}× (target ≥ ${CLUSTER_NEAR_TARGET}×; ${live})`,
      trove: seq.figures.cluster.median,
      baseline: seq.figures.server.median,
      ratio: z,
      target: CLUSTER_NEAR_TARGET,
    });
  }
  return out;
}

async function main(): Promise<void> {
  let args: ReturnType<typeof parse>;
  const parse = () =>
    parseArgs({
      args: process.argv.slice(2).filter((a) => a !== '--'),
      options: {
        only: { type: 'string' },
        lib: { type: 'string' },
        rounds: { type: 'string' },
        quick: { type: 'boolean', default: false },
        out: { type: 'string' },
        'in-process': { type: 'boolean', default: false },
        source: { type: 'boolean', default: false },
        // Internal, for the per-library child processes (turns.ts).
        child: { type: 'boolean', default: false },
        port: { type: 'string' },
        floor: { type: 'string' },
        variant: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    });
  try {
    args = parse();
  } catch (err) {
    usage(err instanceof Error ? err.message : String(err));
  }
  const v = args.values;
  if (v.help) usage();
  const rounds = v.rounds === undefined ? 3 : Number(v.rounds);
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 50) usage('--rounds must be an integer between 1 and 50');
  const only = list(v.only, WORKLOAD_NAMES, 'workload');
  const libs = list<LibName>(v.lib, LIB_NAMES, 'library');
  const quick = v.quick ?? false;
  const outFile = v.out ?? fileURLToPath(new URL('./results/latest.json', import.meta.url));
  if (v.child) {
    await runChild(only[0]!, libs, rounds, quick, Number(v.port), v.floor ?? false, v.variant ?? 'default');
    return;
  }
  const inProcess = v['in-process'] ?? false;

  // Built before the server starts, so the build's CPU does not overlap any measurement.
  if (!v.source) await buildTrove();
  const server = await RedisServer.start();
  const started = performance.now();
  const results: WorkloadResult[] = [];
  try {
    const facts = await machineFacts(server);
    const ctx: BenchContext = {
      server,
      url: server.url,
      host: '127.0.0.1',
      port: server.port,
      rounds,
      quick,
      libs,
      progress: (m) => process.stderr.write(`${m}\n`),
      turn: (step) => step(),
      floor: true,
    };
    const command = `npm run bench${
      process.argv.length > 2
        ? ` -- ${process.argv
            .slice(2)
            .filter((a) => a !== '--')
            .join(' ')}`
        : ''
    }`;
    process.stdout.write(
      `## trove-cache benchmarks\n\n\`${command}\` · rounds: ${rounds}${quick ? ' · quick sizes' : ''}\n\n${formatFacts(facts)}\n- Trove loaded from: ${troveOrigin()}\n\n`,
    );
    for (const name of only) {
      await server.command('FLUSHALL', 'SYNC');
      ctx.progress(`${name}…`);
      const t0 = performance.now();
      const workload = WORKLOADS[name];
      const result =
        workload.isolated && !inProcess && libs.length > 0 ? await runIsolated(name, ctx, workload.variants, workload.floors) : await workload.run(ctx);
      workload.conclude?.(result);
      result.elapsedMs = Math.round(performance.now() - t0);
      results.push(result);
      process.stdout.write(`${renderWorkload(result)}\n`);
    }
    const head = headline(results);
    const single = singleReadHeadline(results);
    const near = nearHeadline(results);
    const nearFloor = nearFloorHeadlines(results);
    const clusterHeads = clusterHeadlines(results);
    const heads = [head, single, near, ...nearFloor, ...clusterHeads].filter((h) => h !== undefined);
    process.stdout.write(heads.map((h) => `**Headline:** ${h.text}\n`).join('\n'));
    const elapsed = Math.round((performance.now() - started) / 1000);
    const loadAtEnd = currentLoad();
    process.stdout.write(`\nTotal time: ${elapsed} s · load average (1 min) at the end: ${loadAtEnd}\n`);
    mkdirSync(fileURLToPath(new URL('./results/', import.meta.url)), { recursive: true });
    writeFileSync(
      outFile,
      `${JSON.stringify({ command, rounds, quick, libs, machine: facts, loadAtEnd, headline: head, singleReadHeadline: single, nearHeadline: near, nearFloorHeadlines: nearFloor, clusterHeadlines: clusterHeads, elapsedSeconds: elapsed, workloads: results }, null, 2)}\n`,
    );
    ctx.progress(`raw figures written to ${outFile}`);
  } finally {
    await server.stop();
  }
  // Every connection should be closed by now; if something still holds the process, say what.
  setTimeout(() => {
    process.stderr.write(`still running 10 s after the end; open handles: ${process.getActiveResourcesInfo().join(', ')}\n`);
    process.exit(1);
  }, 10_000).unref();
}

/** A child process of `runIsolated`: one workload, one library, on the parent's redis-server. */
async function runChild(
  name: WorkloadName,
  libs: LibName[],
  rounds: number,
  quick: boolean,
  port: number,
  floor: boolean | string,
  variant: string,
): Promise<void> {
  const server = RedisServer.attach(port);
  const turns = childTurns();
  const ctx: BenchContext = {
    server,
    url: server.url,
    host: '127.0.0.1',
    port,
    rounds,
    quick,
    libs,
    progress: turns.progress,
    turn: turns.turn,
    floor,
    variant,
  };
  turns.report(await WORKLOADS[name].run(ctx));
  process.stdin.destroy();
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});

/**
 * Trove on Redis Cluster: a 3-master cluster of its own (tools/redis-cluster.ts), stopped at the
 * end whatever happens.
 *
 * (a) Redis hits through getOrSet (`nearCache: false`) at concurrency 64 against raw ioredis
 *     `Cluster` GET + JSON.parse, on the same keys and values as l2-hit;
 * (b) near hits through a trove on the cluster against a trove on the bench's one server;
 * (c) a stampede over 4 processes on the cluster (and on the one server, for reference);
 * (d) the invalidation bus: classic PUBLISH against sharded SPUBLISH (cluster-pubsub.ts).
 *
 * (a) and (b) run each configuration in a process of its own, the processes taking turns slice by
 * slice (turns.ts, cluster-child.ts), as l2-hit and l1-hit do.
 */
import { RedisCluster } from '../../tools/redis-cluster.js';
import { ChildScript } from '../child-io.js';
import type { BenchContext, Workload } from '../context.js';
import { wallNow } from '../driver.js';
import { type Row, remark, type Section, type WorkloadResult } from '../report.js';
import { latencies, summarize } from '../stats.js';
import { runContenders } from '../turns.js';
import { measurePubSub } from './cluster-pubsub.js';
import type { StampedeChildArgs, StampedeChildReport } from './cluster-stampede-child.js';
import { type ClusterChildArgs, CONCURRENCY, KEY_COUNT, roundMsOf, SUBJECTS, type SubjectName, type Target } from './cluster-subjects.js';
import { describeError, SLICES, troveNotSelected } from './common.js';

const TITLE = `Trove on a 3-master Redis Cluster: Redis hits through getOrSet, concurrency ${CONCURRENCY}`;
const MASTERS = 3;
const STAMPEDE_PROCESSES = 4;
const FACTORY_MS = 50;
/** Targets of issue 13: Redis hits ≥ 1.5× raw ioredis on the cluster; near hits within 5 % of one server. */
export const CLUSTER_L2_TARGET = 1.5;
export const CLUSTER_NEAR_TARGET = 0.95;

/** Runs the configurations of one table, each in a process of its own, taking turns; their rows. */
async function throughputRows(ctx: BenchContext, ports: number[], subjects: readonly SubjectName[], table: ClusterChildArgs['table']): Promise<Row[]> {
  try {
    const result = await runContenders(
      ctx,
      subjects.map((subject) => {
        const args: ClusterChildArgs = { subject, rounds: ctx.rounds, quick: ctx.quick, clusterPorts: ports, serverPort: ctx.port, table };
        return { label: SUBJECTS[subject].label, script: './workloads/cluster-child.ts', args: [JSON.stringify(args)] };
      }),
    );
    return result.rows;
  } catch (err) {
    ctx.progress(`  ${table} table failed: ${describeError(err)}`);
    return subjects.map((s) => ({ lib: SUBJECTS[s].label, status: 'failed', message: describeError(err), figures: {} }));
  }
}

/** (b): one row per phase, the cluster's figure against the one server's. */
function nearSection(ctx: BenchContext, rows: Row[]): Section {
  const onCluster = rows.find((r) => r.lib === SUBJECTS['trove-near-cluster'].label);
  const onServer = rows.find((r) => r.lib === SUBJECTS['trove-near-server'].label);
  const cases: Row[] = [
    { key: 'c64', label: `near hit, concurrency ${CONCURRENCY}` },
    { key: 'seq', label: 'near hit, sequential' },
  ].map(({ key, label }): Row => {
    for (const r of [onCluster, onServer]) {
      if (r?.status !== 'ok') return { lib: label, status: 'failed', message: `${r?.lib ?? 'a configuration'}: ${r?.message ?? 'no result'}`, figures: {} };
    }
    return { lib: label, status: 'ok', figures: { cluster: onCluster!.figures[key]!, server: onServer!.figures[key]! } };
  });
  const notes: string[] = [];
  for (const r of [onCluster, onServer]) {
    if (!r) continue;
    if (r.config) notes.push(`${r.lib}: ${r.config}`);
    for (const m of r.remarks ?? []) notes.push(`${r.lib}: ${m}`);
  }
  const state = nearOf(rows, 'trove-near-cluster');
  const share = (r: Row | undefined) => {
    const v = r?.figures.nearHitShare?.median;
    return v === undefined ? '' : `, ${(v * 100).toFixed(1)} % of its reads were near hits`;
  };
  notes.push(
    `Near cache of the trove on the cluster: ${state ?? 'unknown (no result)'}${share(onCluster)}; on one server: ${nearOf(rows, 'trove-near-server') ?? 'unknown (no result)'}${share(onServer)} (trove.stats().near, warm-ups included).`,
  );
  if (state === 'absent')
    notes.push(
      'The trove on the cluster has no near cache (`trove.stats().near` is undefined: Trove runs without one on this store), so its figures are Redis hits: the ratio compares Redis hits on the cluster with near hits on one server, and says nothing about the target.',
    );
  else if (state === 'not live')
    notes.push('The trove on the cluster has a near cache, but its invalidation channel never went live, so it kept nothing: its figures are Redis hits.');
  else if (state === 'live') notes.push(`Target: cluster / one server ≥ ${CLUSTER_NEAR_TARGET} (within 5 %).`);
  notes.push('Each configuration ran in a process of its own, the processes taking turns slice by slice (bench/turns.ts).');
  return {
    title: '(b) near hits: trove on the cluster vs trove on one server',
    summary: `The same ${KEY_COUNT.toLocaleString('en-US')} records read through getOrSet by a trove with its near cache on the cluster and by one on the bench's one redis-server, ${roundMsOf(ctx.quick).toLocaleString('en-US')} ms per configuration per round (in ${SLICES} slices): ${CONCURRENCY} async workers, then one sequential awaited loop.`,
    firstColumn: 'case',
    metrics: [
      { key: 'cluster', label: 'cluster', unit: 'ops/s', better: 'higher' },
      {
        key: 'server',
        label: 'one server',
        unit: 'ops/s',
        better: 'higher',
        rowRatio: { of: 'cluster', over: 'server', label: `cluster / one server (target ≥ ${CLUSTER_NEAR_TARGET})` },
      },
    ],
    rows: cases,
    notes,
  };
}

/** What the near cache of a configuration's trove was doing, from its row (see cluster-child.ts). */
export function nearOf(rows: readonly Row[], subject: SubjectName): 'absent' | 'live' | 'not live' | undefined {
  const r = rows.find((x) => x.lib === SUBJECTS[subject].label);
  if (r?.status !== 'ok') return undefined;
  if (r.figures.nearHitShare === undefined) return 'absent';
  return r.figures.nearLive?.median === 1 ? 'live' : 'not live';
}

/** (c): 4 processes × `callers` on one cold key per round, on `target`. */
async function stampedeRow(ctx: BenchContext, lib: string, target: Target, callers: number): Promise<Row> {
  const row: Row = { lib, status: 'ok', figures: {} };
  const runs: number[] = [];
  const p50: number[] = [];
  const p99: number[] = [];
  const args: StampedeChildArgs = { target, callers, factoryMs: FACTORY_MS };
  const children = Array.from({ length: STAMPEDE_PROCESSES }, () => new ChildScript('./workloads/cluster-stampede-child.ts', [JSON.stringify(args)]));
  try {
    await Promise.all(children.map((c) => c.expect((l) => l === 'ready', 60_000)));
    const fire = async (round: string) => {
      const startAt = wallNow() + 150;
      for (const c of children) c.send(`go ${round} ${startAt}`);
      return Promise.all(children.map(async (c) => JSON.parse(await c.expect((l) => l.startsWith('{'), 60_000)) as StampedeChildReport));
    };
    // A warm-up round on a key of its own: the first cold key of a process also loads its scripts and compiles its code.
    await fire('warm-up');
    for (let round = 0; round < ctx.rounds; round++) {
      const reports = await fire(String(round));
      const ran = reports.reduce((n, r) => n + r.runs, 0);
      const lat = latencies(reports.flatMap((r) => r.latencies));
      const errors = reports.reduce((n, r) => n + r.errors, 0);
      const wrong = reports.reduce((n, r) => n + r.wrong, 0);
      if (errors || wrong) remark(row, `round ${round + 1}: ${errors} callers failed, ${wrong} got a wrong value`);
      runs.push(ran);
      p50.push(lat.p50);
      p99.push(lat.p99);
      ctx.progress(`  stampede, ${lib}, round ${round + 1}: factory ran ${ran}×, p50 ${lat.p50.toFixed(1)} ms, p99 ${lat.p99.toFixed(1)} ms`);
    }
    row.figures = { runs: summarize(runs), p50: summarize(p50), p99: summarize(p99) };
  } catch (err) {
    ctx.progress(`  stampede, ${lib} failed: ${describeError(err)}`);
    row.status = 'failed';
    row.message = describeError(err);
  } finally {
    await Promise.all(children.map((c) => c.stop()));
  }
  return row;
}

async function stampedeSection(ctx: BenchContext, ports: number[]): Promise<Section> {
  const callers = ctx.quick ? 50 : 200;
  const rows = [
    await stampedeRow(ctx, 'trove on the cluster', { kind: 'cluster', ports }, callers),
    await stampedeRow(ctx, 'trove on one server (reference)', { kind: 'server', port: ctx.port }, callers),
  ];
  const notes = [
    `Target: 1 factory run per round across the ${STAMPEDE_PROCESSES} processes (exactly once); ${STAMPEDE_PROCESSES} would be single-flight within each process only.`,
    `Caller latency runs from the common start to each caller getting its value; the factory alone takes ${FACTORY_MS} ms.`,
    `Configuration: createTrove({ redis, prefix: 'trove', commandTimeout: 2000, nearCache: false }).region('users', { ttl }) · getOrSet(key, factory) in each process, after trove.ready(); redis is { cluster: [3 master URLs] } or the one server's URL.`,
  ];
  const worst = rows[0]!.status === 'ok' ? rows[0]!.figures.runs?.max : undefined;
  if (worst !== undefined) {
    notes.push(
      worst === 1
        ? `On the cluster the factory ran exactly once per round across the ${STAMPEDE_PROCESSES} processes.`
        : `On the cluster the factory ran up to ${worst} times in a round: not exactly once.`,
    );
  }
  return {
    title: `(c) stampede on the cluster: ${STAMPEDE_PROCESSES} processes × ${callers} callers on one cold key, ${FACTORY_MS} ms factory`,
    summary: `${STAMPEDE_PROCESSES} child processes start together (synchronised on a wall-clock instant) and each fires ${callers} concurrent getOrSet calls on the same cold key; each process counts its own factory runs and the bench adds them up. ${ctx.rounds} measured round${ctx.rounds === 1 ? '' : 's'} after a warm-up round, a new cold key per round; then the same on the bench's one server.`,
    metrics: [
      { key: 'runs', label: 'factory runs', unit: 'runs', better: 'lower' },
      { key: 'p50', label: 'caller p50', unit: 'ms', better: 'lower' },
      { key: 'p99', label: 'caller p99', unit: 'ms', better: 'lower' },
    ],
    rows,
    notes,
  };
}

export const cluster: Workload = {
  name: 'cluster',
  async run(ctx: BenchContext): Promise<WorkloadResult> {
    if (!ctx.libs.includes('trove')) return troveNotSelected('cluster', TITLE);
    ctx.progress(`  starting a ${MASTERS}-master cluster…`);
    // Redis's default node timeout: the bench keeps both cores busy, and a node flagged as failing
    // (no replica to take over) would take the whole cluster down mid-measurement.
    const rc = await RedisCluster.start({ masters: MASTERS, nodeTimeoutMs: 15_000 });
    try {
      const ports = rc.masters().map((m) => m.port);
      const flush = async () => {
        await Promise.all(rc.masters().map((m) => m.server.command('FLUSHALL', 'SYNC')));
        await ctx.server.command('FLUSHALL', 'SYNC');
      };
      const l2Subjects: SubjectName[] = ctx.libs.includes('ioredis') ? ['trove-l2', 'ioredis'] : ['trove-l2'];
      ctx.progress('  (a) Redis hits…');
      const l2 = await throughputRows(ctx, ports, l2Subjects, 'l2');
      await flush();
      ctx.progress('  (b) near hits…');
      const nearRows = await throughputRows(ctx, ports, ['trove-near-cluster', 'trove-near-server'], 'near');
      const near = nearSection(ctx, nearRows);
      await flush();
      ctx.progress('  (c) stampede…');
      const stampede = await stampedeSection(ctx, ports);
      await flush();
      ctx.progress('  (d) PUBLISH vs SPUBLISH…');
      const pubsub = await measurePubSub(ctx, rc);
      const roundMs = roundMsOf(ctx.quick);
      const notes = [
        `ioredis is the baseline: hand-written GET + JSON.parse on an ioredis Cluster with enableAutoPipelining (one write per node per tick); target trove / ioredis ≥ ${CLUSTER_L2_TARGET}.`,
        "Trove's keys carry a hash tag per key (`…users@<gen>{:42}`), so nearly every key has a slot of its own, which MGET refuses to mix: a tick's reads go to each master as one read-only script taking the keys it serves (`allow-cross-slot-keys`), whose inner GETs count as commands here.",
        'Each library ran in a process of its own, the processes taking turns slice by slice (bench/turns.ts).',
      ];
      return {
        name: 'cluster',
        title: TITLE,
        summary: `A private cluster of ${MASTERS} masters (no replicas, ports ${ports.join(', ')}) started by the bench on this machine, sharing its cores with the bench's processes. ${KEY_COUNT.toLocaleString('en-US')} keys holding ~300 B JSON user records (as in l2-hit), reads of random keys by ${CONCURRENCY} async workers for ${roundMs.toLocaleString('en-US')} ms per library per round (in ${SLICES} slices); Trove's near cache off.`,
        params: { masters: MASTERS, ports, keys: KEY_COUNT, roundMs, concurrency: CONCURRENCY, nearOnCluster: nearOf(nearRows, 'trove-near-cluster') },
        metrics: [{ key: 'c64', label: 'throughput', unit: 'ops/s', better: 'higher', ratio: true }],
        rows: l2,
        notes,
        sections: [near, stampede, pubsub],
      };
    } finally {
      await rc.stop();
    }
  },
};

/**
 * One configuration of the cluster workload's throughput tables, in a process of its own (see
 * turns.ts). argv: one JSON `ClusterChildArgs`. Measures through `ctx.turn` (the parent grants
 * turns) and prints its result with one row, labelled as the configuration.
 *
 * Its row carries, besides the figures shown, `nearLive` (1 when the trove's near cache was live,
 * 0 otherwise; absent for raw ioredis) and `nearHitShare` (near-cache hits over reads during the
 * measured slices and their warm-ups), so the parent can say what was measured.
 */
import { RedisServer } from '../../tools/redis-server.js';
import { childTurns } from '../turns.js';
import type { BenchContext } from '../context.js';
import { keyNames, makeUser, randomKeyOrder } from '../data.js';
import { remark } from '../report.js';
import { summarize } from '../stats.js';
import { customSubject, markFailed, measureThroughput, populate, type ThroughputPhase, verify } from './common.js';
import {
  type ClusterChildArgs,
  CONCURRENCY,
  describeSubject,
  KEY_COUNT,
  type NearState,
  openSubject,
  roundMsOf,
  SUBJECTS,
  settleNear,
  type Target,
} from './cluster-subjects.js';

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2]!) as ClusterChildArgs;
  const spec = SUBJECTS[args.subject];
  const target: Target = spec.on === 'cluster' ? { kind: 'cluster', ports: args.clusterPorts } : { kind: 'server', port: args.serverPort };
  const masters = args.clusterPorts.map((p) => RedisServer.attach(p));
  const turns = childTurns();
  const server = RedisServer.attach(args.serverPort);
  const ctx: BenchContext = {
    server,
    url: server.url,
    host: '127.0.0.1',
    port: args.serverPort,
    rounds: args.rounds,
    quick: args.quick,
    libs: [],
    progress: turns.progress,
    turn: turns.turn,
    floor: false,
    commandsProcessed:
      target.kind === 'cluster'
        ? {
            read: async () => {
              const counts = await Promise.all(masters.map(async (m) => Number((await m.info('stats')).total_commands_processed)));
              return counts.reduce((a, b) => a + b, 0);
            },
            nodes: masters.length,
          }
        : undefined,
  };
  const roundMs = roundMsOf(args.quick);
  const keys = keyNames(KEY_COUNT);
  // The seeds of l2-hit and l1-hit: every configuration of a table reads the same key sequence.
  const keyAt = randomKeyOrder(keys, args.rounds, args.table === 'l2' ? { rounds: 1, warmup: 999 } : { rounds: 101, warmup: 1999 }, 1 << 20);
  const phases: ThroughputPhase[] = [{ key: 'c64', concurrency: CONCURRENCY, roundMs, warmupMs: roundMs / 5, keyAt, missesOnly: false }];
  if (args.table === 'near') phases.push({ key: 'seq', concurrency: 1, roundMs, warmupMs: roundMs / 5, keyAt, missesOnly: false });

  const subject = customSubject(spec.label, describeSubject(args.subject), undefined);
  let near: NearState | undefined;
  let hitsAtStart = 0;
  let missesAtStart = 0;
  let trove: Awaited<ReturnType<typeof openSubject>>['trove'];
  try {
    const opened = await openSubject(args.subject, target, (key) => {
      subject.loads++;
      return makeUser(key);
    });
    subject.adapter = opened.adapter;
    trove = opened.trove;
    if (trove) near = await settleNear(trove);
  } catch (err) {
    markFailed(subject, err);
  }
  try {
    await populate(ctx, [subject], keys);
    await verify([subject], '42', (v) => (v as { id?: number } | undefined)?.id === 42);
    const before = trove?.stats().near;
    hitsAtStart = before?.hits ?? 0;
    missesAtStart = before?.misses ?? 0;
    await measureThroughput(ctx, [subject], phases);
  } finally {
    const after = trove?.stats().near;
    const a = subject.adapter;
    subject.adapter = undefined;
    await a?.close().catch(() => {});
    if (trove && subject.row.status === 'ok') {
      subject.row.figures.nearLive = summarize([near === 'live' ? 1 : 0]);
      if (after) {
        const hits = after.hits - hitsAtStart;
        const misses = after.misses - missesAtStart;
        subject.row.figures.nearHitShare = summarize([hits + misses > 0 ? hits / (hits + misses) : 0]);
        remark(
          subject.row,
          `near cache ${near}: ${hits.toLocaleString('en-US')} hits, ${misses.toLocaleString('en-US')} misses during the warm-ups and slices (trove.stats().near)`,
        );
      } else if (spec.near) {
        remark(subject.row, 'near cache absent: trove.stats().near is undefined on this store, so every read went to Redis');
      }
    }
  }
  turns.report({ name: 'cluster', title: '', summary: '', params: {}, metrics: [], rows: [subject.row], notes: [] });
  process.stdin.destroy();
}

main().catch((err: unknown) => {
  process.stderr.write(`cluster child failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});

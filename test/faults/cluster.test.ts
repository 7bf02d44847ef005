/**
 * CLUSTER FAILOVER of every master in turn, under read load, on a 3-master cluster with one
 * replica each: every call is answered, and once the last failover has settled every trove
 * answers what another trove wrote.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Trove } from '../../src/index.js';
import { RedisCluster } from '../../tools/redis-cluster.js';
import { until, useTroves } from '../helpers/troves.js';
import {
  checkFreshness,
  expectSound,
  FAULT_TIMEOUT,
  FaultLoad,
  FRESHNESS_BOUND_MS,
  freshFigures,
  keyNames,
  openTroves,
  printFigures,
  recover,
  warm,
  writerOf,
} from './fault-load.js';

describe('a 3-master cluster with one replica each', () => {
  let cluster: RedisCluster;
  beforeAll(async () => {
    cluster = await RedisCluster.start({ masters: 3, replicasPerMaster: 1 });
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
  });
  const troves = useTroves(() => ({}));

  it('CLUSTER FAILOVER of every master in turn under read load: every call answered, a factory runs only after a failed read', async () => {
    troves.expectErrors();
    const opts = { redis: { cluster: cluster.urls }, prefix: 'fo', commandTimeout: FAULT_TIMEOUT };
    const ts: Trove[] = await openTroves(troves, 3, opts);
    const keys = keyNames(60);
    const writer = writerOf(troves, opts, 'r');
    await writer.setMany(keys.map((k) => [k, { k, v: 'seed' }] as const));
    // Every key is on the replicas too; a manual failover then loses nothing.
    for (const m of cluster.masters()) expect(await m.server.command('WAIT', 1, 5_000)).toBe('1');
    const load = new FaultLoad({ troves: ts, region: 'r', keys, mix: { getOrSet: 1, get: 1, set: 0 } });
    await warm(load);
    load.phase = 'fault';
    const masters = cluster.masters();
    for (const master of masters) {
      const before = load.figures().values;
      await cluster.failover(cluster.replicasOf(master)[0]!);
      // The load reads through the new master before the next one goes.
      await until(() => load.figures().values >= before + 300, 20_000, 'values read after the failover');
    }
    for (const m of masters) expect(m.role).toBe('replica');
    const recoveredInMs = await recover(load);
    const f = await load.stop();
    const fresh = await checkFreshness(ts, 'r', keys, writer);

    expectSound(f);
    // Every key was stored and replicated before the failovers: a getOrSet computes only after
    // one of its Redis operations failed, which is reported as an error event.
    const errorEvents = Object.values(f.errorEvents).reduce((a, b) => a + b, 0);
    expect(f.factoryRuns).toBeLessThanOrEqual(errorEvents);
    if (ts.every((t) => t.stats().near === undefined)) {
      // No near cache on a cluster (README): every read goes to Redis, none may answer an older value.
      expect(fresh.staleReads).toBe(0);
    } else expect(fresh.lastStaleMs).toBeLessThanOrEqual(FRESHNESS_BOUND_MS);
    printFigures('cluster-failover-every-master', f, { failovers: masters.length, errorEvents, recoveredInMs, ...freshFigures(fresh) });
  }, 90_000);
});

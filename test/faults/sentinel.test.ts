/**
 * Sentinel failover under load: the primary is SIGKILLed while three troves (near caches on,
 * configured with ioredis's `{ sentinels, name }`) run the mixed load. Every call is answered,
 * and once the new primary serves every trove, their near caches answer what another trove wrote.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisSentinelSetup } from '../../tools/redis-sentinel.js';
import { useTroves } from '../helpers/troves.js';
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

describe('a Sentinel setup: a primary, one replica, three sentinels', () => {
  let setup: RedisSentinelSetup;
  beforeAll(async () => {
    setup = await RedisSentinelSetup.start({ replicas: 1, sentinels: 3 });
  }, 60_000);
  afterAll(async () => {
    await setup?.stop();
  });
  const troves = useTroves(() => ({}));

  it('Sentinel failover (the primary SIGKILLed) under load: every call answered, near caches fresh on the new primary', async () => {
    troves.expectErrors();
    const opts = { redis: { sentinels: setup.sentinels, name: setup.name }, prefix: 'sf', commandTimeout: FAULT_TIMEOUT };
    const ts = await openTroves(troves, 3, opts);
    expect(ts.every((t) => t.stats().near?.live === true)).toBe(true);
    const keys = keyNames(40);
    const load = new FaultLoad({ troves: ts, region: 'r', keys, setMayReject: true });
    await warm(load);
    load.phase = 'fault';
    const oldPort = await setup.killPrimary();
    const next = await setup.waitForFailover(oldPort);
    const recoveredInMs = await recover(load);
    const f = await load.stop();
    const fresh = await checkFreshness(ts, 'r', keys, writerOf(troves, opts, 'r'));

    expectSound(f);
    expect(next.port).not.toBe(oldPort);
    expect(Object.keys(f.errorEvents).length).toBeGreaterThan(0);
    // README: the near cache is emptied when the connection drops, and refills once tracking is re-armed on the new primary.
    for (const resets of f.nearResets) expect(resets).toBeGreaterThan(0);
    expect(fresh.lastStaleMs).toBeLessThanOrEqual(FRESHNESS_BOUND_MS);
    printFigures('sentinel-failover', f, { answeredInFault: f.answeredInFault, recoveredInMs, ...freshFigures(fresh) });
  }, 60_000);
});

/**
 * Faults of one redis-server under load, with every trove on the node-redis driver (each over a
 * node-redis client of its own, as three processes would have): SIGKILL and restart, and SIGSTOP
 * for 3 s. The same load, checks and figures as `one-server.test.ts`.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Trove } from '../../src/index.js';
import { useDriverClients } from '../helpers/drivers.js';
import { RedisServer, sleep } from '../helpers/redis-server.js';
import { until, useTroves } from '../helpers/troves.js';
import {
  checkFreshness,
  expectSound,
  FAULT_TIMEOUT,
  FaultLoad,
  FRESHNESS_BOUND_MS,
  freshFigures,
  keyNames,
  printFigures,
  recover,
  warm,
  writerOf,
} from './fault-load.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
const clients = useDriverClients();
// Registered after the hooks above, so it runs before them: troves close before their clients and servers.
const troves = useTroves(() => ({}));

/** The SIGSTOP fault is a pause of this length: the one place the suite waits on the clock. */
const PAUSE_MS = 3_000;
let n = 0;

async function server(): Promise<RedisServer> {
  const s = await RedisServer.start();
  cleanups.push(() => s.stop());
  return s;
}

/** `count` troves, each over a node-redis client of its own, once ready with their near cache live. */
async function open(count: number, s: RedisServer, prefix: string): Promise<Trove[]> {
  const list = await Promise.all(
    Array.from({ length: count }, async () => troves.open({ redis: await clients.redis('node-redis', s.url), prefix, commandTimeout: FAULT_TIMEOUT })),
  );
  await Promise.all(list.map((t) => t.ready()));
  await until(() => list.every((t) => t.stats().near?.live === true), 10_000, 'tracking to be live');
  return list;
}

describe('faults of one redis-server under load, node-redis driver', { timeout: 60_000 }, () => {
  it('SIGKILL and restart of Redis mid-load: calls are answered throughout, near caches are emptied and answer new writes once it is back', async () => {
    troves.expectErrors();
    const s = await server();
    const prefix = `nrkill${++n}`;
    const ts = await open(3, s, prefix);
    const keys = keyNames(40);
    const load = new FaultLoad({ troves: ts, region: 'r', keys });
    await warm(load);
    load.phase = 'fault';
    await s.kill();
    await until(() => load.figures().answeredInFault >= 300, 20_000, 'calls answered while Redis is down');
    // The near caches were emptied while tracking was down.
    expect(ts.every((t) => t.stats().near?.live === false)).toBe(true);
    await s.restart();
    const recoveredInMs = await recover(load);
    const f = await load.stop();
    const fresh = await checkFreshness(ts, 'r', keys, writerOf(troves, { redis: s.url, prefix }, 'r'));

    expectSound(f);
    expect(f.phases.fault.misses).toBeGreaterThan(0);
    expect(f.phases.fault.factoryRuns).toBeGreaterThan(0);
    expect(f.phases.fault.factoryRuns).toBeLessThanOrEqual(f.phases.fault.getOrSets);
    expect(Object.keys(f.errorEvents).some((e) => e.endsWith(' STORE'))).toBe(true);
    for (const resets of f.nearResets) expect(resets).toBeGreaterThan(0);
    // Re-armed: tracking is live again in every trove.
    for (const t of ts) expect(t.stats().near?.live).toBe(true);
    expect(fresh.lastStaleMs).toBeLessThanOrEqual(FRESHNESS_BOUND_MS);
    printFigures('node-redis sigkill-restart', f, { answeredInFault: f.answeredInFault, recoveredInMs, ...freshFigures(fresh) });
  });

  it('SIGSTOP of Redis for 3 s mid-load: calls begun during the pause are answered by their deadline, and every call settles', async () => {
    troves.expectErrors();
    const s = await server();
    const prefix = `nrstop${++n}`;
    const ts = await open(3, s, prefix);
    const keys = keyNames(40);
    const load = new FaultLoad({ troves: ts, region: 'r', keys });
    await warm(load);
    load.phase = 'fault';
    s.pause();
    try {
      await sleep(PAUSE_MS);
    } finally {
      s.resume();
    }
    const recoveredInMs = await recover(load);
    const f = await load.stop();
    const fresh = await checkFreshness(ts, 'r', keys, writerOf(troves, { redis: s.url, prefix }, 'r'));

    expectSound(f);
    // Answered while the server was still stopped: by the deadline, not by Redis.
    expect(f.answeredInFault).toBeGreaterThan(0);
    expect(Object.keys(f.errorEvents).some((e) => e.endsWith(' STORE_TIMEOUT'))).toBe(true);
    // A subscriber that stops answering PING empties the near cache.
    for (const resets of f.nearResets) expect(resets).toBeGreaterThan(0);
    expect(fresh.lastStaleMs).toBeLessThanOrEqual(FRESHNESS_BOUND_MS);
    printFigures('node-redis sigstop-3s', f, { callsInFault: f.phases.fault.calls, answeredInFault: f.answeredInFault, recoveredInMs, ...freshFigures(fresh) });
  });
});

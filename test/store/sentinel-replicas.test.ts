/**
 * `readFrom: 'replica'` on Redis Sentinel: entry reads go to a replica Sentinel names (through
 * ioredis's `role: 'slave'`), everything else to the primary; a near-cache entry read from the
 * replica is dropped when another process writes on the primary; when that replica dies, reads go
 * to the primary at once and then to another replica Sentinel names.
 */
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTrove, type ErrorEvent, type Trove } from '../../src/index.js';
import { RedisSentinelSetup } from '../../tools/redis-sentinel.js';
import type { RedisServer } from '../helpers/redis-server.js';
import { mgets } from '../helpers/replicas.js';
import { until } from '../helpers/troves.js';

let setup: RedisSentinelSetup;
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);
const cleanups: (() => Promise<void> | void)[] = [];
let n = 0;

beforeAll(async () => {
  process.on('unhandledRejection', onUnhandled);
  setup = await RedisSentinelSetup.start({ replicas: 2, sentinels: 3 });
}, 60_000);

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

afterAll(async () => {
  process.off('unhandledRejection', onUnhandled);
  await setup?.stop();
});

/** The data nodes that are replicas now, and the primary. */
async function roles(): Promise<{ primary: RedisServer; replicas: RedisServer[] }> {
  const { port } = await setup.primary();
  return { primary: setup.server(port), replicas: setup.servers.filter((s) => s.port !== port && s.running) };
}

function track(trove: Trove): { trove: Trove; errors: ErrorEvent[] } {
  const errors: ErrorEvent[] = [];
  trove.on('error', (e) => errors.push(e));
  cleanups.push(() => trove.close());
  return { trove, errors };
}

/** Another process: writes on the primary, no near cache. */
function writer(prefix: string): Trove {
  const trove = createTrove({ redis: { sentinels: setup.sentinels, name: setup.name }, prefix, nearCache: false });
  cleanups.push(() => trove.close());
  return trove;
}

/** Reads a missing key until one of `replicas` serves it (a tracked read: the replica's channel is live); returns that replica. */
async function servingReplica(trove: Trove, replicas: RedisServer[]): Promise<RedisServer> {
  let serving: RedisServer | undefined;
  await until(
    async () => {
      const before = await Promise.all(replicas.map(mgets));
      await trove.region('r').get('missing');
      const after = await Promise.all(replicas.map(mgets));
      serving = replicas.find((_, i) => after[i]! > before[i]!);
      return serving !== undefined;
    },
    20_000,
    'a read served by a replica',
  );
  return serving!;
}

describe("readFrom: 'replica' on Sentinel", () => {
  for (const given of ['ioredis options', 'a Redis instance built with Sentinel options'] as const) {
    it(`${given}: reads go to a replica Sentinel names, the rest to the primary; the replica's invalidations reach the near cache`, async () => {
      const prefix = `sr${++n}`;
      let redis: Redis | { sentinels: { host: string; port: number }[]; name: string } = { sentinels: setup.sentinels, name: setup.name };
      if (given !== 'ioredis options') {
        const client = new Redis({ sentinels: setup.sentinels, name: setup.name });
        cleanups.push(() => client.disconnect());
        redis = client;
      }
      const { trove, errors } = track(createTrove({ redis, readFrom: 'replica', prefix, commandTimeout: 2_000 }));
      const { primary, replicas } = await roles();
      await until(() => trove.stats().near?.live === true, 20_000);
      const replica = await servingReplica(trove, replicas);
      const w = writer(prefix).region<string>('r');
      await w.set('k', 'v1');
      await until(() => replica.caughtUpWith(primary));

      const r = trove.region<string>('r');
      const primaryReads = await mgets(primary);
      const replicaReads = await mgets(replica);
      const tiers: string[] = [];
      trove.on('hit', (e) => tiers.push(e.tier));
      expect(await r.get('k')).toBe('v1');
      expect(await r.get('k')).toBe('v1');
      expect(tiers).toEqual(['store', 'near']);
      expect(await mgets(replica)).toBe(replicaReads + 1);
      await w.set('k', 'v2');
      await until(async () => (await r.get('k')) === 'v2');
      // Never read on the primary: the replica announced the change.
      expect(await mgets(primary)).toBe(primaryReads);

      await r.set('own', 'mine');
      expect(await w.get('own')).toBe('mine');
      expect((await primary.keys()).some((k) => k.startsWith(`${prefix}:`))).toBe(true);
      expect(errors).toEqual([]);
    });
  }

  it('when its replica dies, reads are answered by the primary at once, then by another replica Sentinel names', async () => {
    const prefix = `sr${++n}`;
    const { trove, errors } = track(
      createTrove({ redis: { sentinels: setup.sentinels, name: setup.name }, readFrom: 'replica', prefix, commandTimeout: 1_000 }),
    );
    const { primary, replicas } = await roles();
    await until(() => trove.stats().near?.live === true, 20_000);
    const replica = await servingReplica(trove, replicas);
    const other = replicas.find((s) => s !== replica)!;
    const w = writer(prefix).region<string>('r');
    const keys = Array.from({ length: 20 }, (_, i) => `k${i}`);
    await w.setMany(keys.map((k) => [k, `v-${k}`] as const));
    await until(async () => (await Promise.all(replicas.map((s) => s.caughtUpWith(primary)))).every(Boolean));

    const r = trove.region<string>('r');
    let running = true;
    const outcomes = { values: 0, wrong: 0, rejected: 0 };
    const load = Array.from({ length: 4 }, async (_, c) => {
      for (let i = 0; running; i++) {
        const k = keys[(i * 7 + c) % keys.length]!;
        try {
          if ((await r.get(k)) === `v-${k}`) outcomes.values++;
          else outcomes.wrong++;
        } catch {
          outcomes.rejected++;
        }
        // Rewrites keep the keys leaving the near cache, so reads keep reaching Redis.
        if (i % 10 === 0) await w.set(k, `v-${k}`);
        await new Promise((resolve) => setImmediate(resolve));
      }
    });
    await until(() => outcomes.values > 100);
    const primaryReads = await mgets(primary);
    await replica.kill();
    cleanups.push(() => replica.restart().then(() => setup.waitUntilHealthy()));
    const atKill = outcomes.values;
    await until(() => outcomes.values > atKill + 200, 20_000);
    expect(await mgets(primary)).toBeGreaterThan(primaryReads);
    // Sentinel marks the dead replica down, and the replica connection moves to the other one.
    await until(
      async () => {
        const before = await mgets(other);
        await r.get('missing');
        return (await mgets(other)) > before;
      },
      30_000,
      'reads served by the other replica',
    );
    running = false;
    await Promise.all(load);
    expect(outcomes.rejected).toBe(0);
    expect(outcomes.wrong).toBe(0);
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.every((e) => e.operation === 'replica' && e.error.code === 'STORE')).toBe(true);
    expect(errors[0]!.error.message).toContain(`named by Sentinel for '${setup.name}'`);
    expect(unhandled).toEqual([]);
  });
});

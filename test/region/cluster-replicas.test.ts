/**
 * `readFrom: 'replica'` on a real cluster (3 masters, one replica each): entry reads go to each
 * shard's replica through a connection of Trove's own, tracked there (a replica announces the
 * writes it applies from its master), while writes, locks and the tables stay on the masters; a
 * dead replica leaves its reads to its master.
 */
import calculateSlot from 'cluster-key-slot';
import { Cluster } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { RedisCluster } from '../../tools/redis-cluster.js';
import { until, useTroves } from '../helpers/troves.js';

let cluster: RedisCluster;
let n = 0;
let prefix = '';
beforeEach(() => {
  prefix = `rr${++n}`;
});
beforeAll(async () => {
  cluster = await RedisCluster.start({ masters: 3, replicasPerMaster: 1 });
  // CLUSTER SLOTS lists a replica only once it has replicated something (a non-zero offset,
  // learnt by the others through the cluster bus): write to every shard, and wait for it.
  const client = new Cluster(cluster.urls);
  await Promise.all(Array.from({ length: 30 }, (_, i) => client.set(`warm${i}`, '1')));
  client.disconnect();
  await until(async () => {
    for (const m of cluster.masters()) if (!(await listsEveryReplica(m.server.command('CLUSTER', 'SLOTS')))) return false;
    return true;
  }, 30_000);
}, 60_000);

/** Whether a CLUSTER SLOTS reply (as the raw client flattens it: a line per value) names two nodes per range. */
async function listsEveryReplica(reply: Promise<string>): Promise<boolean> {
  const ids = (await reply).split('\n').filter((line) => /^[0-9a-f]{40}$/.test(line.trim()));
  return ids.length === 6;
}
afterAll(async () => {
  await cluster?.stop();
});

const troves = useTroves(() => ({ redis: { cluster: cluster.urls }, prefix, readFrom: 'replica' as const }));

/** Every replica has applied what its master had when asked. */
async function replicated(): Promise<void> {
  await until(async () => {
    for (const m of cluster.masters()) for (const r of cluster.replicasOf(m)) if (!(await r.server.caughtUpWith(m.server))) return false;
    return true;
  });
}

/** MGET calls per role since the last reset of every node's statistics. */
async function mgetCalls(): Promise<{ masters: number; replicas: number }> {
  const out = { masters: 0, replicas: 0 };
  for (const m of cluster.masters()) {
    out.masters += (await m.server.commandCalls()).mget ?? 0;
    for (const r of cluster.replicasOf(m)) out.replicas += (await r.server.commandCalls()).mget ?? 0;
  }
  return out;
}

/** Read commands (MGET, and the script that reads keys of several slots) run by the masters and by the replicas. */
async function readCalls(): Promise<{ masters: number; replicas: number }> {
  const reads = (c: Record<string, number>) => (c.mget ?? 0) + (c.evalsha ?? 0) + (c.eval ?? 0);
  const out = { masters: 0, replicas: 0 };
  for (const m of cluster.masters()) {
    out.masters += reads(await m.server.commandCalls());
    for (const r of cluster.replicasOf(m)) out.replicas += reads(await r.server.commandCalls());
  }
  return out;
}

describe("a trove on a cluster with readFrom: 'replica'", () => {
  it('reads entries from the replicas, one read command per replica, and writes to the masters', async () => {
    const t = troves.open({ nearCache: false });
    const r = t.region('spread');
    const keys = Array.from({ length: 40 }, (_, i) => `k${i}`);
    await r.setMany(keys.map((k) => [k, k]));
    await replicated();
    // Every master holds keys of several slots: each replica serves its shard's in one script.
    const slots = new Set(keys.map((k) => calculateSlot(r.keyOf(k))));
    for (const m of cluster.masters()) expect([...slots].filter((slot) => cluster.ownerOf(slot) === m).length).toBeGreaterThan(1);
    // The replicas' connections open in the background: until then, reads go to the masters.
    await until(async () => {
      await Promise.all(cluster.nodes.map((node) => node.server.resetStats()));
      expect(await r.getMany(keys)).toEqual(keys);
      const calls = await readCalls();
      return calls.masters === 0 && calls.replicas === cluster.masters().length;
    });
    for (const m of cluster.masters()) for (const rep of cluster.replicasOf(m)) expect((await rep.server.commandCalls()).set ?? 0).toBe(0);
  });

  it('near cache: a copy read from a replica is dropped when another process writes the key on its master', async () => {
    const reader = troves.open();
    const writer = troves.open({ nearCache: false, readFrom: 'primary' });
    const keys = Array.from({ length: 30 }, (_, i) => `k${i}`);
    await writer.region('users').setMany(keys.map((k) => [k, 'one']));
    await replicated();
    await until(() => reader.stats().near?.live === true);
    const users = reader.region('users');
    // Once the replicas' tracked connections are live, reads go to them (a miss is never kept, so
    // each probe reaches Redis). Every replica, not just one: 30 new keys reach every master's
    // slots, so a master still read instead of its replica shows.
    let probe = 0;
    await until(async () => {
      await Promise.all(cluster.nodes.map((node) => node.server.resetStats()));
      const probes = Array.from({ length: 30 }, (_, i) => `probe${probe}-${i}`);
      probe++;
      expect(await users.getMany(probes)).toEqual(probes.map(() => undefined));
      return (await mgetCalls()).masters === 0;
    });
    await Promise.all(cluster.nodes.map((node) => node.server.resetStats()));
    expect(await users.getMany(keys)).toEqual(keys.map(() => 'one'));
    const hits = reader.stats().near!.hits;
    expect(await users.getMany(keys)).toEqual(keys.map(() => 'one'));
    expect(reader.stats().near!.hits - hits).toBe(keys.length);
    expect((await mgetCalls()).masters).toBe(0);
    await writer.region('users').setMany(keys.map((k) => [k, 'two']));
    // Only the replicas tracked these keys for the reader: their announcements alone drop the copies.
    await until(async () => (await users.getMany(keys)).every((v) => v === 'two'));
  });

  it('a killed replica: every read is answered by its master, and the near cache keeps working', async () => {
    troves.expectErrors();
    const t = troves.open();
    const r = t.region('dead');
    const keys = Array.from({ length: 30 }, (_, i) => `k${i}`);
    await r.setMany(keys.map((k) => [k, k]));
    await replicated();
    const master = cluster.ownerOf(calculateSlot(r.keyOf('k0')));
    const replica = cluster.replicasOf(master)[0]!;
    let running = true;
    const outcomes = { value: 0, other: [] as unknown[] };
    const load = Array.from({ length: 4 }, async (_, w) => {
      for (let i = 0; running; i++) {
        const k = keys[(i + w) % keys.length]!;
        try {
          const v = await r.get(k);
          if (v === k) outcomes.value++;
          else outcomes.other.push(v);
        } catch (err) {
          outcomes.other.push(err);
        }
        await new Promise((resolve) => setImmediate(resolve));
      }
    });
    await until(() => outcomes.value > 100);
    await cluster.kill(replica);
    const after = outcomes.value;
    await until(() => outcomes.value > after + 300);
    running = false;
    await Promise.all(load);
    expect(outcomes.other).toEqual([]);
    // A change made elsewhere still reaches the near cache, now tracked on the master.
    await until(() => t.stats().near?.live === true);
    await troves.open({ nearCache: false }).region('dead').set('k0', 'changed');
    await until(async () => (await r.get('k0')) === 'changed');
    await cluster.restart(replica);
  }, 60_000);
});

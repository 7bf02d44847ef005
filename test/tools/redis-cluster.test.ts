/**
 * The cluster harness itself: a 3-master cluster with one replica each forms, serves keys in
 * every slot range through ioredis, and keeps its data through a manual failover, a slot move and
 * a killed master; stop() leaves nothing behind.
 */
import { existsSync } from 'node:fs';
import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLUSTER_SLOTS, RedisCluster } from '../../tools/redis-cluster.js';
import { until } from '../helpers/troves.js';

let cluster: RedisCluster;
let client: Cluster;
const keys = Array.from({ length: 60 }, (_, i) => `key:${i}`);

beforeAll(async () => {
  cluster = await RedisCluster.start({ masters: 3, replicasPerMaster: 1 });
  client = new Cluster(cluster.urls, { lazyConnect: true });
  await client.connect();
}, 60_000);

afterAll(async () => {
  client?.disconnect();
  await cluster?.stop();
});

async function readAll(): Promise<(string | null)[]> {
  return Promise.all(keys.map((k) => client.get(k)));
}

/** Reads every key until all are there: after a node died, the client needs a moment to learn the new slot owners. */
async function readAllEventually(): Promise<(string | null)[]> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const got = await readAll().catch(() => undefined);
    if (got?.every((v) => v !== null) || Date.now() > deadline) return got ?? readAll();
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('RedisCluster', () => {
  it('forms a cluster of 3 masters with one replica each, on ports whose bus port is free too', async () => {
    expect(cluster.nodes).toHaveLength(6);
    expect(cluster.urls).toEqual(cluster.nodes.map((n) => `redis://127.0.0.1:${n.port}`));
    expect(cluster.masters()).toHaveLength(3);
    for (const m of cluster.masters()) expect(cluster.replicasOf(m)).toHaveLength(1);
    for (const n of cluster.nodes) expect(n.port).toBeLessThan(55_535);
    const owners = new Set(Array.from({ length: CLUSTER_SLOTS }, (_, slot) => cluster.ownerOf(slot)));
    expect([...owners].sort()).toEqual(cluster.masters().sort());
  });

  it('serves keys of every master through an ioredis Cluster client', async () => {
    for (const k of keys) await client.set(k, `v-${k}`);
    expect(await readAll()).toEqual(keys.map((k) => `v-${k}`));
    const counts = await Promise.all(cluster.masters().map(async (m) => (await m.server.keys()).length));
    expect(counts.every((c) => c > 0)).toBe(true);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(keys.length);
  });

  it('failover() promotes the replica, demotes its master, and the data survives', async () => {
    const master = cluster.ownerOf(await cluster.keySlot(keys[0]!));
    const replica = cluster.replicasOf(master)[0]!;
    await cluster.failover(replica);
    expect(replica.role).toBe('master');
    expect(master.role).toBe('replica');
    expect(master.masterId).toBe(replica.id);
    expect(cluster.ownerOf(await cluster.keySlot(keys[0]!))).toBe(replica);
    expect(await readAll()).toEqual(keys.map((k) => `v-${k}`));
    await client.set(keys[0]!, 'after failover');
    expect(await client.get(keys[0]!)).toBe('after failover');
    await client.set(keys[0]!, `v-${keys[0]}`);
  });

  it('moveSlot() reshards one slot with its keys', async () => {
    const slot = await cluster.keySlot(keys[1]!);
    const from = cluster.ownerOf(slot);
    const to = cluster.masters().find((m) => m !== from)!;
    await cluster.moveSlot(slot, from, to);
    expect(cluster.ownerOf(slot)).toBe(to);
    expect(await to.server.command('GET', keys[1]!)).toBe(`v-${keys[1]}`);
    expect(await from.server.command('CLUSTER', 'COUNTKEYSINSLOT', slot)).toBe('0');
    expect(await readAll()).toEqual(keys.map((k) => `v-${k}`));
  });

  it('a killed master is replaced by its replica; restarted, it rejoins as a replica', async () => {
    const master = cluster.ownerOf(await cluster.keySlot(keys[2]!));
    const replica = cluster.replicasOf(master)[0]!;
    // Replication is asynchronous: make sure the replica has every write before the kill. WAIT
    // answers how many replicas acknowledged them, 0 while the replica's link is still coming up.
    await until(async () => Number(await master.server.command('WAIT', 1, 1_000)) === 1, 30_000, 'the replica to acknowledge every write');
    await cluster.kill(master);
    await cluster.waitUntilHealthy();
    expect(replica.role).toBe('master');
    expect(cluster.ownerOf(await cluster.keySlot(keys[2]!))).toBe(replica);
    expect(await readAllEventually()).toEqual(keys.map((k) => `v-${k}`));
    await cluster.restart(master);
    expect(master.server.running).toBe(true);
    expect(master.role).toBe('replica');
    expect(master.masterId).toBe(replica.id);
  });

  it('stop() kills every node and removes its nodes.conf', async () => {
    client.disconnect();
    const dirs = cluster.nodes.map((n) => n.dir);
    expect(dirs.every((d) => existsSync(d))).toBe(true);
    await cluster.stop();
    expect(cluster.nodes.some((n) => n.server.running)).toBe(false);
    expect(dirs.some((d) => existsSync(d))).toBe(false);
  });
});

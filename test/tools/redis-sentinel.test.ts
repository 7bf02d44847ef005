/**
 * The Sentinel harness itself: a primary with one replica under three sentinels, reachable through
 * an ioredis Sentinel client; a killed primary is replaced and the client follows with its data.
 */
import { existsSync } from 'node:fs';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisSentinelSetup } from '../../tools/redis-sentinel.js';

let setup: RedisSentinelSetup;
let client: Redis;

beforeAll(async () => {
  setup = await RedisSentinelSetup.start({ replicas: 1, sentinels: 3 });
  client = new Redis({ sentinels: setup.sentinels, name: setup.name, lazyConnect: true });
  // Refused connections to the killed primary are expected; without a listener ioredis logs each one.
  client.on('error', () => {});
  await client.connect();
}, 60_000);

afterAll(async () => {
  client?.disconnect();
  await setup?.stop();
});

describe('RedisSentinelSetup', () => {
  it('starts a primary, a replica and three sentinels that all know each other', async () => {
    expect(setup.sentinels).toHaveLength(3);
    expect(setup.servers).toHaveLength(2);
    const primary = await setup.primary();
    expect(primary.port).toBe(setup.servers[0]!.port);
    expect((await setup.servers[0]!.info('replication')).role).toBe('master');
    expect((await setup.servers[1]!.info('replication')).master_port).toBe(String(primary.port));
    for (const s of setup.sentinelServers) {
      expect(await s.command('SENTINEL', 'get-master-addr-by-name', setup.name)).toBe(`127.0.0.1\n${primary.port}`);
    }
  });

  it('an ioredis Sentinel client reads and writes on the primary', async () => {
    await client.set('k', 'v');
    expect(await client.get('k')).toBe('v');
    expect(await setup.servers[0]!.command('GET', 'k')).toBe('v');
  });

  it('a killed primary is replaced by its replica, and the client follows with the data', async () => {
    // Replication is asynchronous: make sure the replica has the write before the kill.
    expect(await client.wait(1, 5_000)).toBe(1);
    const oldPort = await setup.killPrimary();
    const next = await setup.waitForFailover(oldPort);
    expect(next.port).not.toBe(oldPort);
    expect(next.port).toBe(setup.servers[1]!.port);
    expect((await setup.server(next.port).info('replication')).role).toBe('master');
    expect(await setup.primary()).toEqual(next);
    // The client reconnects through the sentinels on its own.
    const deadline = Date.now() + 20_000;
    let got: string | null | undefined;
    while (Date.now() < deadline) {
      got = await client.get('k').catch(() => undefined);
      if (got !== undefined) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(got).toBe('v');
    await client.set('k', 'after');
    expect(await setup.server(next.port).command('GET', 'k')).toBe('after');
  });

  it('stop() kills every process and removes the sentinel config dirs', async () => {
    client.disconnect();
    expect(setup.dirs).toHaveLength(3);
    expect(setup.dirs.every((d) => existsSync(d))).toBe(true);
    await setup.stop();
    expect([...setup.sentinelServers, ...setup.servers].some((s) => s.running)).toBe(false);
    expect(setup.dirs.some((d) => existsSync(d))).toBe(false);
  });
});

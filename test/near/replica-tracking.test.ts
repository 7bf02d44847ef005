/**
 * The near cache of a trove reading from a replica. A kept value is tracked on the replica that
 * served it, and Redis replicas announce the changes they apply from their primary: a write by
 * another process on the primary drops it. A process's own writes are kept from the write itself,
 * so they read back while the replica lags. A replica whose channel is lost empties the near
 * cache; reads then go to the primary, tracked there, until the replica is back.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { HitEvent, Trove, TroveOptions } from '../../src/index.js';
import { bundled } from '../helpers/bundled.js';
import { mgets, ReplicaSet, untilServedBy } from '../helpers/replicas.js';
import { until, useTroves } from '../helpers/troves.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
// Registered after the hook above, so it runs before it: troves close before their servers.
const troves = useTroves(() => ({}));
let n = 0;

async function replicaSet(opts: Parameters<typeof ReplicaSet.start>[0] = {}): Promise<ReplicaSet> {
  const set = await ReplicaSet.start(opts);
  cleanups.push(() => set.stop());
  return set;
}

/** A trove reading from the replicas, once a tracked read has been served by `set.replica`. */
async function reader(set: ReplicaSet, extra: TroveOptions = {}): Promise<Trove> {
  const t = troves.open({ redis: set.primary.url, replicas: set.urls, readFrom: 'replica', prefix: `rt${n}`, ...extra });
  await until(() => t.stats().near?.live === true);
  await untilServedBy(set.replica, () => t.region('users').get('missing'));
  return t;
}

function tiers(t: Trove): HitEvent['tier'][] {
  const seen: HitEvent['tier'][] = [];
  t.on('hit', (e) => seen.push(e.tier));
  return seen;
}

const writer = fileURLToPath(new URL('./fixtures/writer.ts', import.meta.url));
/** Another process writes through its own trove (no near cache) on the primary, then exits. */
function otherProcess(url: string, ...args: string[]): Promise<number | null> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [bundled(writer), url, `rt${n}`, ...args], { stdio: 'inherit' });
    p.on('exit', resolve);
  });
}

describe('near cache over a replica', () => {
  it('an entry read from the replica is dropped when another process writes the key on the primary', async () => {
    n++;
    const set = await replicaSet();
    expect(await otherProcess(set.primary.url, 'set', '1', 'v1')).toBe(0);
    await set.caughtUp();
    const a = await reader(set);
    const users = a.region<string>('users');
    const seen = tiers(a);
    const primaryReads = await mgets(set.primary);
    const replicaReads = await mgets(set.replica);
    expect(await users.get('1')).toBe('v1');
    for (let i = 0; i < 10; i++) expect(await users.get('1')).toBe('v1');
    expect(seen).toEqual(['store', ...Array(10).fill('near')]);
    // Read once, from the replica: the key was never read on the primary, so never tracked there.
    expect(await mgets(set.replica)).toBe(replicaReads + 1);
    expect(await mgets(set.primary)).toBe(primaryReads);

    expect(await otherProcess(set.primary.url, 'set', '1', 'v2')).toBe(0);
    // Only the replica can announce it, once replication has brought it the write.
    await until(async () => (await users.get('1')) === 'v2');
    expect(a.stats().near?.invalidations).toBe(1);
    expect(await mgets(set.primary)).toBe(primaryReads);

    expect(await otherProcess(set.primary.url, 'delete', '1')).toBe(0);
    await until(async () => (await users.get('1')) === undefined);
  });

  it("a process's own writes are kept from the write: they read back while the replica lags, and others see them once it catches up", async () => {
    n++;
    const set = await replicaSet({ viaProxy: true });
    // Checks far apart: the replica stays in use while it lags.
    const slow = { nearCache: { pingInterval: '1m' } } as const;
    const a = await reader(set, slow);
    const b = await reader(set, slow);
    await a.region('users').set('1', 'v1');
    await set.caughtUp();
    expect(await b.region('users').get('1')).toBe('v1');
    const hold = set.holdReplication();
    let released = false;
    cleanups.push(() => {
      if (!released) hold.release();
    });
    const seen = tiers(a);
    await a.region('users').set('1', 'v2');
    expect(await a.region('users').get('1')).toBe('v2');
    expect(seen).toEqual(['near']);
    // Another process still reads the replica's older value (its own copy of it).
    expect(await b.region('users').get('1')).toBe('v1');
    hold.release();
    released = true;
    await until(async () => (await b.region('users').get('1')) === 'v2');
    expect(await a.region('users').get('1')).toBe('v2');
  });

  it('a replica whose channel is lost empties the near cache; reads are then tracked on the primary, until the replica is back', async () => {
    troves.expectErrors();
    n++;
    const set = await replicaSet();
    expect(await otherProcess(set.primary.url, 'set', '1', 'v1')).toBe(0);
    await set.caughtUp();
    const a = await reader(set);
    const users = a.region<string>('users');
    expect(await users.get('1')).toBe('v1');
    expect(a.stats().near?.entries).toBeGreaterThan(0);
    const resets = a.stats().near!.resets;
    await set.replica.kill();
    await until(() => a.stats().near!.resets > resets);
    expect(a.stats().near?.live).toBe(true);
    // Read from the primary, kept, and dropped by the primary's announcement of the next write.
    // (The loss reaches the store through both of the replica's connections: a second reset may follow the first.)
    const seen = tiers(a);
    const primaryReads = await mgets(set.primary);
    await until(async () => {
      seen.length = 0;
      return (await users.get('1')) === 'v1' && (await users.get('1')) === 'v1' && seen.join() === 'store,near';
    });
    expect(await mgets(set.primary)).toBeGreaterThan(primaryReads);
    expect(await otherProcess(set.primary.url, 'set', '1', 'v2')).toBe(0);
    await until(async () => (await users.get('1')) === 'v2');
    await set.replica.restart();
    await set.caughtUp();
    await untilServedBy(set.replica, () => users.get('missing'));
    expect(await otherProcess(set.primary.url, 'set', '1', 'v3')).toBe(0);
    await until(async () => (await users.get('1')) === 'v3');
  });
});

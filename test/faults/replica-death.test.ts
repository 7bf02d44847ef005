/**
 * Fault: replica death. Troves (each standing for one process) read from a replica of the primary
 * (`readFrom: 'replica'`, near cache on) under a mixed load (get, getOrSet with a counting
 * factory, set), while another process keeps writing new versions of some keys on the primary. The
 * replica is SIGKILLed mid-load, then restarted.
 *
 * Every call must be answered (a value of its key, or a miss for get; a get or getOrSet never
 * rejects: the primary answers what the replica cannot), no rejection goes unhandled, each key
 * read only through getOrSet is computed once, each trove reports the outage with one `error`
 * event, reads are served by the primary during it and by the replica again after the restart,
 * and no read answers a version older than the staleness bound allows, whenever it began.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createTrove, type ErrorEvent, type Trove } from '../../src/index.js';
import { RedisServer, sleep } from '../helpers/redis-server.js';
import { until } from '../helpers/troves.js';

interface Entry {
  k: string;
  v: string;
}

const COMMAND_TIMEOUT = 1_000;
/** README's bound on a near cache answering a changed value: `pingInterval` plus the PING's deadline (1 s each here), or `syncInterval` (1 s). */
const BOUND_MS = Math.max(1_000, 1_000 + Math.max(COMMAND_TIMEOUT, 500));

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function mgets(server: RedisServer): Promise<number> {
  return (await server.commandCalls()).mget ?? 0;
}

describe('fault: replica death', () => {
  it('SIGKILL of the replica under load: every call answered, none rejected, computed once, one error event per trove, nothing older than the bound', async () => {
    let unhandled = 0;
    const onUnhandled = () => {
      unhandled++;
    };
    process.on('unhandledRejection', onUnhandled);
    cleanups.push(() => {
      process.off('unhandledRejection', onUnhandled);
    });

    // A full sync starts at once instead of waiting 5 s for more replicas to join it.
    const primary = await RedisServer.start({ args: ['--repl-diskless-sync-delay', '0'] });
    cleanups.push(() => primary.stop());
    const replica = await RedisServer.start({ replicaOf: primary.port });
    cleanups.push(() => replica.stop());
    await until(() => replica.caughtUpWith(primary), 20_000, 'the replica to sync');

    const prefix = 'replica-death';
    const open = (opts: Parameters<typeof createTrove>[0]): Trove => {
      const t = createTrove({ prefix, commandTimeout: COMMAND_TIMEOUT, ...opts });
      cleanups.push(() => t.close());
      return t;
    };
    const troves = [0, 1].map(() => open({ redis: primary.url, replicas: [replica.url], readFrom: 'replica' }));
    const errors: ErrorEvent[][] = troves.map(() => []);
    for (const [i, t] of troves.entries()) t.on('error', (e) => errors[i]!.push(e));
    const writer = open({ redis: primary.url, nearCache: false });
    const regions = troves.map((t) => t.region<Entry>('load'));
    const w = writer.region<Entry>('load');

    const keys = Array.from({ length: 40 }, (_, i) => `k${i}`);
    const cold = Array.from({ length: 200 }, (_, i) => `cold${i}`);
    const versioned = Array.from({ length: 5 }, (_, i) => `ver${i}`);
    await w.setMany([...keys, ...versioned].map((k) => [k, { k, v: '0' }] as const));
    await until(() => replica.caughtUpWith(primary));
    for (const t of troves) await until(() => t.stats().near?.live === true, 20_000);
    // Each trove reads from the replica before the fault.
    for (const r of regions) {
      await until(async () => {
        const before = await mgets(replica);
        await r.get('missing');
        return (await mgets(replica)) > before;
      }, 20_000);
    }

    // Another process writes a new version of the versioned keys every few milliseconds.
    const acked: number[] = [0];
    let writing = true;
    const versions = (async () => {
      for (let v = 1; writing; v++) {
        await w.setMany(versioned.map((k) => [k, { k, v: String(v) }] as const));
        acked[v] = performance.now();
        await sleep(10);
      }
    })();

    const figures = { calls: 0, values: 0, misses: 0, writes: 0, rejected: 0, other: 0, factoryRuns: 0, staleBeyondBound: 0, oldestMs: 0 };
    const runs = new Map<string, number>();
    const examples: string[] = [];
    let running = true;
    const caller = async (t: number, c: number): Promise<void> => {
      const r = regions[t]!;
      for (let i = 0; running; i++) {
        const pick = (i * 31 + c * 7 + t * 13) % 10;
        const key = keys[(i * 17 + c) % keys.length]!;
        figures.calls++;
        try {
          if (pick < 4) {
            const k = versioned[(i + c) % versioned.length]!;
            const began = performance.now();
            const newest = acked.length - 1;
            const value = await r.get(k);
            if (value === undefined) figures.misses++;
            else if (value.k === k) {
              figures.values++;
              // The first version written after the one answered: acknowledged how long before this read began?
              const next = acked[Number(value.v) + 1];
              if (Number(value.v) < newest && next !== undefined) {
                figures.oldestMs = Math.max(figures.oldestMs, began - next);
                if (began - next > BOUND_MS) figures.staleBeyondBound++;
              }
            } else figures.other++;
          } else if (pick < 7) {
            const k = pick === 4 ? cold[(i * 3 + c + t) % cold.length]! : key;
            const value = await r.getOrSet(k, async () => {
              figures.factoryRuns++;
              runs.set(k, (runs.get(k) ?? 0) + 1);
              return { k, v: `f${t}` };
            });
            if (value?.k === k) figures.values++;
            else figures.other++;
          } else if (pick < 9) {
            const value = await r.get(key);
            if (value === undefined) figures.misses++;
            else if (value.k === key) figures.values++;
            else figures.other++;
          } else {
            await r.set(key, { k: key, v: `s${t}` });
            figures.writes++;
          }
        } catch (err) {
          figures.rejected++;
          if (examples.length < 5) examples.push(String(err));
        }
        await sleep(1);
      }
    };
    const loops = troves.flatMap((_, t) => [0, 1, 2, 3].map((c) => caller(t, c)));

    await until(() => figures.values > 500, 20_000, 'load before the fault');
    const primaryBefore = await mgets(primary);
    const killedAt = performance.now();
    await replica.kill();
    const atKill = figures.calls;
    await until(() => figures.calls > atKill + 2_000, 30_000, 'load during the fault');
    const primaryDuring = (await mgets(primary)) - primaryBefore;
    const errorsDuring = errors.map((list) => list.length);

    await replica.restart();
    await until(() => replica.caughtUpWith(primary), 20_000, 'the restarted replica to sync');
    const replicaBefore = await mgets(replica);
    await until(async () => (await mgets(replica)) > replicaBefore + 100, 20_000, 'reads served by the replica again');
    const backMs = performance.now() - killedAt;
    const atBack = figures.calls;
    await until(() => figures.calls > atBack + 1_000, 30_000, 'load after the fault');

    running = false;
    await Promise.all(loops);
    writing = false;
    await versions;

    const coldRuns = [...runs.entries()].filter(([k]) => k.startsWith('cold'));
    console.log(
      `fault replica-death: calls=${figures.calls} values=${figures.values} misses=${figures.misses} writes=${figures.writes} rejected=${figures.rejected} other=${figures.other} unhandled=${unhandled} factoryRuns=${figures.factoryRuns} coldKeysComputed=${coldRuns.length} errorEvents=${errors.map((l) => l.length).join('+')} primaryReadsInFault=${primaryDuring} replicaBackMs=${backMs.toFixed(0)} oldestAnswerMs=${figures.oldestMs.toFixed(1)} boundMs=${BOUND_MS}`,
    );

    expect(figures.rejected, examples.join('; ')).toBe(0);
    expect(figures.other).toBe(0);
    expect(unhandled).toBe(0);
    expect(figures.values + figures.misses + figures.writes).toBe(figures.calls);
    // Keys read only through getOrSet: one computation each, across both troves.
    expect(coldRuns.length).toBeGreaterThan(0);
    expect(coldRuns.filter(([, n]) => n !== 1)).toEqual([]);
    // The outage is one error event per trove, about the replica, whatever the number of reads.
    expect(errorsDuring).toEqual([1, 1]);
    for (const list of errors) {
      expect(list.map((e) => [e.operation, e.error.code])).toEqual([['replica', 'STORE']]);
      expect(list[0]!.error.message).toContain(`Replica 127.0.0.1:${replica.port}`);
    }
    expect(primaryDuring).toBeGreaterThan(0);
    expect(figures.staleBeyondBound).toBe(0);
    expect(figures.oldestMs).toBeLessThan(BOUND_MS);
  });
});

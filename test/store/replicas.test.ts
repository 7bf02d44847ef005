/**
 * Read replicas of a standalone primary (`replicas`, `readFrom: 'replica'`): the options are
 * checked before anything connects; entry reads go to the replicas (round robin), everything else
 * to the primary; getOrSet computes once even when the replica lags; a replica that lags too far,
 * loses its primary, dies, stops answering or is not there at start-up is left for the primary
 * (each read still answered within its deadline, one `error` event per outage) and read from again
 * once it is back.
 */
import { createServer, type Socket } from 'node:net';
import { Cluster, Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { createTrove, type ErrorEvent, InvalidOptionError, type Trove, type TroveOptions } from '../../src/index.js';
import { freePort, RedisServer } from '../helpers/redis-server.js';
import { mgets, ReplicaSet, refusedCalls, untilServedBy, useReplicaSet } from '../helpers/replicas.js';
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

/** A trove reading from the replicas of `set`, with its error events collected. */
function replicaTrove(set: ReplicaSet, extra: TroveOptions = {}): { t: Trove; errors: ErrorEvent[] } {
  const t = troves.open({ redis: set.primary.url, replicas: set.urls, readFrom: 'replica', prefix: `rep${n}`, ...extra });
  const errors: ErrorEvent[] = [];
  t.on('error', (e) => errors.push(e));
  return { t, errors };
}

/** Another process's view of the same keys: writes on the primary, no near cache. */
function writer(set: ReplicaSet): Trove {
  return troves.open({ redis: set.primary.url, prefix: `rep${n}`, nearCache: false });
}

function optionError(fn: () => unknown): InvalidOptionError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidOptionError);
    return err as InvalidOptionError;
  }
  throw new Error('expected an InvalidOptionError');
}

describe('replicas and readFrom options', () => {
  const url = 'redis://127.0.0.1:1';
  const cases: [string, () => TroveOptions, string][] = [
    ['replicas without redis', () => ({ replicas: [url], readFrom: 'replica' }), 'replicas'],
    ['replicas with cluster options', () => ({ redis: { cluster: [url] }, replicas: [url], readFrom: 'replica' }), 'replicas'],
    [
      'replicas with Sentinel options',
      () => ({ redis: { sentinels: [{ host: '127.0.0.1', port: 1 }], name: 'x' }, replicas: [url], readFrom: 'replica' }),
      'replicas',
    ],
    ['an empty replica list', () => ({ redis: url, replicas: [], readFrom: 'replica' }), 'replicas'],
    ['replicas not a list', () => ({ redis: url, replicas: url as never, readFrom: 'replica' }), 'replicas'],
    ['a replica that is not a URL', () => ({ redis: url, replicas: ['10.0.0.2'], readFrom: 'replica' }), 'replicas'],
    ['a replica URL of another protocol', () => ({ redis: url, replicas: ['http://127.0.0.1:6380'], readFrom: 'replica' }), 'replicas'],
    ['replicas without readFrom', () => ({ redis: url, replicas: [url] }), 'readFrom'],
    ["replicas with readFrom 'primary'", () => ({ redis: url, replicas: [url], readFrom: 'primary' }), 'readFrom'],
    ["readFrom 'replica' on one server without replicas", () => ({ redis: url, readFrom: 'replica' }), 'readFrom'],
    ["readFrom 'replica' without redis", () => ({ readFrom: 'replica' }), 'readFrom'],
    ['readFrom of another value', () => ({ redis: url, readFrom: 'replicas' as never }), 'readFrom'],
  ];
  for (const [what, opts, option] of cases) {
    it(`${what} names "${option}"`, () => {
      const err = optionError(() => createTrove(opts()));
      expect(err.option).toBe(option);
      expect(err.message).toContain(option);
    });
  }

  it('instances: replicas next to a Cluster are refused, and readFrom replica next to a Redis without Sentinel', () => {
    const cluster = new Cluster([{ host: '127.0.0.1', port: 1 }], { lazyConnect: true });
    const redis = new Redis({ port: 1, lazyConnect: true });
    cleanups.push(
      () => cluster.disconnect(),
      () => redis.disconnect(),
    );
    expect(optionError(() => createTrove({ redis: cluster, replicas: [url], readFrom: 'replica' })).option).toBe('replicas');
    expect(optionError(() => createTrove({ redis, readFrom: 'replica' })).option).toBe('readFrom');
  });

  it('they are checked before any connection is opened', async () => {
    let accepted = 0;
    const sockets: Socket[] = [];
    const server = createServer((s) => {
      accepted++;
      sockets.push(s);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          for (const s of sockets) s.destroy();
          server.close(() => resolve());
        }),
    );
    const port = (server.address() as { port: number }).port;
    const primary = `redis://127.0.0.1:${port}`;
    expect(optionError(() => createTrove({ redis: primary, replicas: [primary, 'nope'], readFrom: 'replica' })).option).toBe('replicas');
    expect(optionError(() => createTrove({ redis: primary, replicas: [primary] })).option).toBe('readFrom');
    // Any connection a constructor started would have asked the OS before this one does.
    await new Promise((resolve) => setImmediate(resolve));
    const probe = new Redis(primary, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
    probe.on('error', () => {});
    cleanups.push(() => probe.disconnect());
    void probe.connect().catch(() => {});
    await until(() => accepted > 0);
    expect(accepted).toBe(1);
  });

  it('readFrom is accepted for a cluster (its shards have the replicas)', async () => {
    const t = createTrove({ redis: { cluster: ['redis://127.0.0.1:1'], lazyConnect: true }, readFrom: 'replica' });
    await t.close();
  });
});

describe('what goes where', () => {
  const rs = useReplicaSet({ replicas: 2, replicaArgs: ['--replica-read-only', 'no'] });

  it('entry reads are answered by a replica: a value written on the replicas alone is what get, getMany, getOrSet, has and iteration see', async () => {
    n++;
    const set = rs.set;
    const w = writer(set);
    await w.region('r').set('k', 'on the primary');
    await w.region('r').set('other', 'on a replica');
    await set.caughtUp();
    // The same key holds something else on each replica than on the primary.
    const raw = new Redis(set.primary.url);
    cleanups.push(() => raw.disconnect());
    const key = w.region('r').keyOf('k');
    const replicaBytes = (await raw.getBuffer(w.region('r').keyOf('other')))!;
    for (const r of set.replicas) {
      const c = new Redis(r.url);
      await c.set(key, replicaBytes);
      c.disconnect();
    }
    for (const nearCache of [false, undefined]) {
      const { t } = replicaTrove(set, nearCache === false ? { nearCache: false } : {});
      await t.ready();
      const r = t.region<string>('r');
      await untilServedBy(set.replicas[0]!, () => r.get('missing'));
      await untilServedBy(set.replicas[1]!, () => r.get('missing'));
      const before = await mgets(set.primary);
      expect(await r.get('k')).toBe('on a replica');
      expect(await r.getMany(['k', 'missing'])).toEqual(['on a replica', undefined]);
      expect(await r.getOrSet('k', () => 'computed')).toBe('on a replica');
      expect(await r.has('k')).toBe(true);
      const seen: [string, string][] = [];
      for await (const entry of r.entries()) seen.push(entry);
      expect(seen.sort()).toEqual([
        ['k', 'on a replica'],
        ['other', 'on a replica'],
      ]);
      expect(await mgets(set.primary)).toBe(before);
    }
  });

  it('writes, deletes, batches, locks, scripts, the tables and pub/sub go to the primary', async () => {
    n++;
    // Read-only replicas (the default): a write sent to one would be refused.
    const set = await replicaSet({ replicas: 2 });
    const { t } = replicaTrove(set);
    await t.ready();
    await until(() => t.stats().near?.live === true);
    const r = t.region<string>('r');
    await untilServedBy(set.replicas[0]!, () => r.get('missing'));
    await untilServedBy(set.replicas[1]!, () => r.get('missing'));
    await Promise.all([set.primary, ...set.replicas].map((s) => s.resetStats()));
    await r.set('a', '1', { tags: ['t'] });
    await r.setMany([['b', '2']]);
    await r.batch((tx) => {
      tx.set('c', '3');
      tx.delete('b');
    });
    await r.delete('a');
    expect(await r.getOrSet('d', () => 'computed', { tags: ['t'] })).toBe('computed');
    await r.invalidate();
    await t.invalidateTags(['t']);
    await t.sweep();
    expect(await r.getOrSet('d', () => 'again')).toBe('again');
    const primary = await set.primary.commandCalls();
    for (const cmd of ['set', 'unlink', 'multi', 'exec', 'evalsha', 'scan']) expect(primary[cmd], cmd).toBeGreaterThan(0);
    // Scripts, table reads, EXISTS and SCAN are not replicated: on a replica, they would be ours.
    const notReplicated = /^(evalsha|eval|hgetall|hmget|hget|exists|scan|getex)$/;
    for (const replica of set.replicas) {
      expect(await refusedCalls(replica)).toEqual({});
      expect(Object.keys(await replica.commandCalls()).filter((c) => notReplicated.test(c))).toEqual([]);
    }
    // getOrSet's reads of the missing entry went to the replicas: the primary read none. Its
    // GETEX are the lock reads inside the two computed values' tracked writes (one script each).
    expect(primary.mget).toBeUndefined();
    expect(primary.getex).toBe(2);
    expect((await mgets(set.replicas[0]!)) + (await mgets(set.replicas[1]!))).toBe(2);
  });

  it("replica connections share the primary's keyPrefix and db, given as ioredis options or an instance", async () => {
    const set = rs.set;
    for (const given of ['options', 'instance'] as const) {
      n++;
      const settings = { keyPrefix: 'app:', db: 3 };
      let redis: Redis | (typeof settings & { port: number });
      if (given === 'instance') {
        const client = new Redis(set.primary.url, settings);
        cleanups.push(() => client.disconnect());
        redis = client;
      } else redis = { port: set.primary.port, ...settings };
      const { t } = replicaTrove(set, { redis, nearCache: false });
      const r = t.region<string>('r');
      await r.set('k', given);
      await set.caughtUp();
      await untilServedBy(set.replicas[0]!, () => r.get('missing'));
      await untilServedBy(set.replicas[1]!, () => r.get('missing'));
      const before = (await mgets(set.replicas[0]!)) + (await mgets(set.replicas[1]!));
      expect(await r.get('k')).toBe(given);
      expect((await mgets(set.replicas[0]!)) + (await mgets(set.replicas[1]!))).toBe(before + 1);
      const onReplica = new Redis(set.replica.url, { db: 3 });
      cleanups.push(() => onReplica.disconnect());
      expect(await onReplica.exists(`app:${r.keyOf('k')}`)).toBe(1);
    }
  });

  it('reads take turns among the replicas, one MGET per batch', async () => {
    n++;
    const set = rs.set;
    const { t } = replicaTrove(set, { nearCache: false });
    await t.ready();
    const r = t.region<string>('r');
    await untilServedBy(set.replicas[0]!, () => r.get('missing'));
    await untilServedBy(set.replicas[1]!, () => r.get('missing'));
    await Promise.all([set.primary, ...set.replicas].map((s) => s.resetStats()));
    for (let i = 0; i < 10; i++) await r.get(`k${i}`);
    await Promise.all(Array.from({ length: 20 }, (_, i) => r.get(`k${i}`)));
    const counts = await Promise.all(set.replicas.map(mgets));
    expect(counts.sort()).toEqual([5, 6]);
    expect(await mgets(set.primary)).toBe(0);
  });
});

describe('a lagging replica', () => {
  it('getOrSet computes once across troves reading from it; its reads may miss what the primary has', async () => {
    n++;
    const set = await replicaSet({ viaProxy: true });
    // Checks far apart: the replica stays in use while it lags.
    const slow = { nearCache: { pingInterval: '1m' } } as const;
    const readers = Array.from({ length: 4 }, () => replicaTrove(set, slow).t);
    // One more process, which reads only after the value is stored.
    const late = replicaTrove(set, slow).t;
    for (const t of [...readers, late]) await untilServedBy(set.replica, () => t.region('r').get('missing'));
    const hold = set.holdReplication();
    let released = false;
    cleanups.push(() => {
      if (!released) hold.release();
    });
    let runs = 0;
    const factory = async () => {
      runs++;
      await new Promise((resolve) => setTimeout(resolve, 50));
      return 'computed';
    };
    const before = await mgets(set.replica);
    const answers = await Promise.all(readers.flatMap((t) => [t.region<string>('r').getOrSet('k', factory), t.region<string>('r').getOrSet('k', factory)]));
    expect(answers).toEqual(Array(8).fill('computed'));
    expect(runs).toBe(1);
    // A process that reads later misses on the replica, and takes the value read with the lock.
    expect(await late.region<string>('r').get('k')).toBeUndefined();
    expect(await late.region<string>('r').getOrSet('k', factory)).toBe('computed');
    expect(runs).toBe(1);
    // The replica did serve those reads, and still lacks the value.
    expect(await mgets(set.replica)).toBeGreaterThan(before);
    expect(await set.replica.command('EXISTS', late.region('r').keyOf('k'))).toBe('0');
    hold.release();
    released = true;
    await set.caughtUp();
    expect(await late.region<string>('r').get('k')).toBe('computed');
  });

  it('a replica more than a check interval behind is left for the primary until it catches up', async () => {
    troves.expectErrors();
    n++;
    const set = await replicaSet({ viaProxy: true });
    const { t, errors } = replicaTrove(set, { nearCache: { pingInterval: 100 } });
    const w = writer(set);
    const r = t.region<string>('r');
    await w.region('r').set('k', 'v1');
    await set.caughtUp();
    await untilServedBy(set.replica, () => r.get('missing'));
    expect(await r.get('k')).toBe('v1');
    const hold = set.holdReplication();
    await w.region('r').set('k', 'v2');
    // Within about two intervals the replica is found behind, and the primary answers.
    const ms = await until(async () => (await r.get('k')) === 'v2', 5_000);
    expect(ms).toBeLessThan(2_000);
    expect(errors.map((e) => [e.operation, e.error.code])).toEqual([['replica', 'STORE']]);
    expect(errors[0]!.error.message).toContain('lags behind the primary');
    const before = await mgets(set.replica);
    for (let i = 0; i < 20; i++) expect(await r.get('k')).toBe('v2');
    expect(await mgets(set.replica)).toBe(before);
    hold.release();
    await set.caughtUp();
    await untilServedBy(set.replica, () => r.get('missing'));
    expect(await r.get('k')).toBe('v2');
    expect(errors.length).toBe(1);
  });

  it('a replica that loses its primary is not read from; once linked and caught up again it is', async () => {
    troves.expectErrors();
    n++;
    const set = await replicaSet();
    const { t, errors } = replicaTrove(set);
    const w = writer(set);
    const r = t.region<string>('r');
    await untilServedBy(set.replica, () => r.get('missing'));
    const nowhere = await freePort();
    await set.replica.command('REPLICAOF', '127.0.0.1', nowhere);
    await w.region('r').set('k', 'v1');
    await until(async () => (await r.get('k')) === 'v1');
    const before = await mgets(set.replica);
    for (let i = 0; i < 20; i++) expect(await r.get('k')).toBe('v1');
    expect(await mgets(set.replica)).toBe(before);
    expect(errors.map((e) => e.error.message)).toEqual([expect.stringContaining('link to the primary')]);
    await set.replica.command('REPLICAOF', '127.0.0.1', set.primary.port);
    await set.caughtUp();
    await untilServedBy(set.replica, () => r.get('missing'));
    expect(errors.length).toBe(1);
  });
});

describe('a replica that fails', () => {
  it('SIGKILLed under read load: every get answered with its value (by the primary), one error event; used again after a restart', async () => {
    troves.expectErrors();
    n++;
    const set = await replicaSet();
    const { t, errors } = replicaTrove(set, { commandTimeout: 1_000 });
    const w = writer(set);
    const keys = Array.from({ length: 50 }, (_, i) => `k${i}`);
    await w.region('r').setMany(keys.map((k) => [k, `v-${k}`] as const));
    await set.caughtUp();
    const r = t.region<string>('r');
    await untilServedBy(set.replica, () => r.get('missing'));
    let running = true;
    const outcomes = { values: 0, wrong: 0, rejected: 0 };
    const load = Array.from({ length: 4 }, async (_, c) => {
      for (let i = 0; running; i++) {
        // Keys others keep rewriting are never near hits for long: reads keep reaching the store.
        const k = keys[(i * 7 + c) % keys.length]!;
        try {
          if ((await r.get(k)) === `v-${k}`) outcomes.values++;
          else outcomes.wrong++;
        } catch {
          outcomes.rejected++;
        }
        if (i % 10 === 0) await w.region('r').set(k, `v-${k}`);
        await new Promise((resolve) => setImmediate(resolve));
      }
    });
    await until(() => outcomes.values > 200);
    const primaryBefore = await mgets(set.primary);
    await set.replica.kill();
    const atKill = outcomes.values;
    await until(() => outcomes.values > atKill + 500, 20_000);
    expect(await mgets(set.primary)).toBeGreaterThan(primaryBefore);
    const during = errors.length;
    await set.replica.restart();
    await set.caughtUp();
    await untilServedBy(set.replica, () => r.get('missing'));
    running = false;
    await Promise.all(load);
    expect(outcomes.rejected).toBe(0);
    expect(outcomes.wrong).toBe(0);
    expect(during).toBe(1);
    expect(errors.map((e) => [e.operation, e.error.code])).toEqual([['replica', 'STORE']]);
    expect(errors[0]!.error.message).toContain(`Replica 127.0.0.1:${set.replica.port}`);
  });

  it('not answering (SIGSTOP): reads are answered by the primary within commandTimeout, one error event; resumed, it is used again', async () => {
    troves.expectErrors();
    n++;
    const set = await replicaSet();
    const timeout = 1_000;
    const { t, errors } = replicaTrove(set, { commandTimeout: timeout, nearCache: false });
    const w = writer(set);
    await w.region('r').set('k', 'v');
    await set.caughtUp();
    const r = t.region<string>('r');
    await untilServedBy(set.replica, () => r.get('missing'));
    set.replica.pause();
    cleanups.push(() => set.replica.resume());
    const slowest = { ms: 0 };
    const answers = await Promise.all(
      Array.from({ length: 100 }, async (_, i) => {
        // Spread over several batches and ticks.
        await new Promise((resolve) => setTimeout(resolve, i % 10));
        const t0 = performance.now();
        const v = await r.get('k');
        slowest.ms = Math.max(slowest.ms, performance.now() - t0);
        return v;
      }),
    );
    expect(answers).toEqual(Array(100).fill('v'));
    expect(slowest.ms).toBeLessThan(timeout);
    expect(errors.map((e) => [e.operation, e.error.code])).toEqual([['replica', 'STORE']]);
    for (let i = 0; i < 20; i++) expect(await r.get('k')).toBe('v');
    expect(errors.length).toBe(1);
    set.replica.resume();
    await untilServedBy(set.replica, () => r.get('missing'));
  });

  it('not there at start-up: reads go to the primary with one error event; it is used once it appears', async () => {
    troves.expectErrors();
    n++;
    const set = await replicaSet({ replicas: 0 });
    const port = await freePort();
    const t = troves.open({ redis: set.primary.url, replicas: [`redis://127.0.0.1:${port}`], readFrom: 'replica', prefix: `rep${n}` });
    const errors: ErrorEvent[] = [];
    t.on('error', (e) => errors.push(e));
    const w = writer(set);
    await w.region('r').set('k', 'v');
    const r = t.region<string>('r');
    for (let i = 0; i < 20; i++) expect(await r.get('k')).toBe('v');
    await until(() => errors.length > 0);
    for (let i = 0; i < 20; i++) expect(await r.get(`other${i}`)).toBeUndefined();
    expect(errors.map((e) => e.error.message)).toEqual([expect.stringContaining(`Replica 127.0.0.1:${port}`)]);
    const replica = await RedisServer.start({ port, replicaOf: set.primary.port });
    cleanups.push(() => replica.stop());
    await until(() => replica.caughtUpWith(set.primary));
    await untilServedBy(replica, () => r.get('missing'));
    expect(await r.get('k')).toBe('v');
  });
});

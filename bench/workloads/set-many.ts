import { createCache } from 'cache-manager';
import { Cacheable } from 'cacheable';
import { Redis } from 'ioredis';
import { createTrove, type TroveOptions } from '../../src/index.js';
import type { BenchContext, Workload } from '../context.js';
import { makeUser, type User } from '../data.js';
import { collectGarbage } from '../driver.js';
import type { LibName } from '../peers/index.js';
import { describeRedisKeyv, type RedisSerializer, redisKeyv } from '../peers/keyv.js';
import { waitNearLive } from '../peers/trove.js';
import { PREFIX } from '../peers/types.js';
import { type Row, remark, type WorkloadResult } from '../report.js';
import { summarize } from '../stats.js';
import { describeError, rotate, TTL_MS } from './common.js';

const TITLE = 'one bulk write of many entries';

type Entries = readonly (readonly [string, User])[];

/** One library's bulk write, and a read of one entry back through its normal read path. */
interface BulkWriter {
  write(entries: Entries): Promise<void>;
  read(key: string): Promise<unknown>;
  /** Whether the writes land in Redis (the embedded store's do not). */
  redis: boolean;
  close(): Promise<void>;
}

interface Case {
  /** Row name: `trove` is the row the peers are compared with. */
  name: string;
  lib: LibName;
  config: string;
  open(ctx: BenchContext, entries: number): Promise<BulkWriter>;
}

const NOT_MEASURED: Partial<Record<LibName, string>> = {
  bentocache: 'n/a (no bulk write: set() takes one key)',
  'async-cache-dedupe': 'n/a (no bulk write: entries are written by the functions it defines)',
};

async function troveWriter(options: TroveOptions, redis: boolean): Promise<BulkWriter> {
  // One MULTI of 100k writes is one store operation: the deadline must cover it (see the notes).
  const t = createTrove({ ...options, prefix: PREFIX.trove, commandTimeout: '60s' });
  let failure: unknown;
  t.on('error', (e) => {
    failure ??= e.error;
  });
  if (redis && options.nearCache !== false) await waitNearLive(t);
  const region = t.region<User>('users', { ttl: TTL_MS });
  return {
    async write(entries) {
      await region.setMany(entries);
      if (failure !== undefined) throw failure;
    },
    read: (key) => region.get(key),
    redis,
    close: () => t.close(),
  };
}

/** cache-manager's bulk write with the Redis-only store of its adapter (bench/peers/cache-manager.ts), awaited (no `nonBlocking`). */
function cacheManagerCase(serializer: RedisSerializer): Case {
  return {
    name: 'cache-manager',
    lib: 'cache-manager',
    config: `${describeRedisKeyv(PREFIX['cache-manager'], serializer)} createCache({ stores: [redis], ttl: ${TTL_MS} }) · mset([{ key, value }, …]) (@keyv/redis = node-redis)`,
    async open(ctx) {
      const redis = redisKeyv(ctx.url, PREFIX['cache-manager'], serializer);
      const cache = createCache({ stores: [redis], ttl: TTL_MS });
      await redis.get('__probe__');
      return {
        async write(entries) {
          await cache.mset(entries.map(([key, value]) => ({ key, value })));
        },
        read: (key) => cache.get(key),
        redis: true,
        async close() {
          await cache.disconnect();
        },
      };
    },
  };
}

/** cacheable's bulk write with the Redis-only configuration of its adapter (bench/peers/cacheable.ts). */
function cacheableCase(serializer: RedisSerializer): Case {
  return {
    name: 'cacheable',
    lib: 'cacheable',
    config: `${describeRedisKeyv(PREFIX.cacheable, serializer)} new Cacheable({ primary: redis, ttl: ${TTL_MS} }) (Redis as the only tier) · setMany([{ key, value }, …])`,
    async open(ctx) {
      const redis = redisKeyv(ctx.url, PREFIX.cacheable, serializer);
      const cache = new Cacheable({ primary: redis, ttl: TTL_MS });
      await redis.get('__probe__');
      return {
        async write(entries) {
          if (!(await cache.setMany(entries.map(([key, value]) => ({ key, value }))))) throw new Error('setMany answered false');
        },
        read: (key) => cache.get(key),
        redis: true,
        async close() {
          await cache.disconnect();
        },
      };
    },
  };
}

const CASES: Case[] = [
  {
    name: 'trove',
    lib: 'trove',
    config: "createTrove({ redis: url, prefix, commandTimeout: '60s' }) (default near cache) · region('users', { ttl }).setMany(entries): one MULTI",
    open: (ctx) => troveWriter({ redis: ctx.url }, true),
  },
  {
    name: 'trove (nearCache: false)',
    lib: 'trove',
    config: "createTrove({ redis: url, prefix, commandTimeout: '60s', nearCache: false }) · region.setMany(entries)",
    open: (ctx) => troveWriter({ redis: ctx.url, nearCache: false }, true),
  },
  {
    name: 'trove (embedded store)',
    lib: 'trove',
    config: 'createTrove({ memory: { maxEntries: 2 × entries } }) (no Redis) · region.setMany(entries)',
    open: (_ctx, entries) => troveWriter({ memory: { maxEntries: 2 * entries } }, false),
  },
  {
    name: 'ioredis',
    lib: 'ioredis',
    config: 'MULTI of SET raw:<key> JSON.stringify(value) PX <ttl> … EXEC (auto-pipelining off): the floor of one atomic bulk write',
    async open(ctx) {
      const client = new Redis(ctx.url, { enableAutoPipelining: false, lazyConnect: true });
      await client.connect();
      return {
        async write(entries) {
          const tx = client.multi();
          for (const [key, value] of entries) tx.set(`${PREFIX.ioredis}:${key}`, JSON.stringify(value), 'PX', TTL_MS);
          const results = await tx.exec();
          const failed = results?.find(([err]) => err);
          if (!results || failed) throw failed?.[0] ?? new Error('transaction aborted');
        },
        read: async (key) => {
          const raw = await client.get(`${PREFIX.ioredis}:${key}`);
          return raw === null ? undefined : JSON.parse(raw);
        },
        redis: true,
        close: async () => {
          await client.quit();
        },
      };
    },
  },
  cacheManagerCase('json'),
  cacheableCase('json'),
];

async function dbsize(ctx: BenchContext): Promise<number> {
  return Number(await ctx.server.command('DBSIZE'));
}

/** The entries of one bulk write: fresh keys for every round, so each write creates its keys. */
function entriesFor(round: number, count: number): Entries {
  return Array.from({ length: count }, (_, i) => [`r${round}_${i}`, makeUser(String(i))] as const);
}

/** One timed bulk write, checked: the number of keys it added and an entry read back. */
async function measureOnce(ctx: BenchContext, writer: BulkWriter, entries: Entries, row: Row, label: string): Promise<number> {
  const base = writer.redis ? await dbsize(ctx) : 0;
  collectGarbage();
  const started = performance.now();
  await writer.write(entries);
  const ms = performance.now() - started;
  if (writer.redis) {
    const added = (await dbsize(ctx)) - base;
    if (added < entries.length) remark(row, `${label}: ${added} keys added for ${entries.length} entries`);
  }
  const [key, value] = entries[entries.length >> 1]!;
  const back = (await writer.read(key)) as User | undefined;
  if (back?.id !== value.id) remark(row, `${label}: reading back '${key}' gave ${JSON.stringify(back)?.slice(0, 80)}`);
  return ms;
}

/** `region.setMany()` of many entries against each peer's bulk write, each on an empty Redis. */
export const setMany: Workload = {
  name: 'set-many',
  async run(ctx: BenchContext): Promise<WorkloadResult> {
    const count = ctx.quick ? 20_000 : 100_000;
    const rows = new Map<string, Row>();
    const samples = new Map<string, number[]>();
    const cases = CASES.filter((c) => ctx.libs.includes(c.lib));
    for (const lib of ctx.libs) {
      const reason = NOT_MEASURED[lib];
      if (reason) rows.set(lib, { lib, status: 'unsupported', message: reason, figures: {} });
    }
    for (const c of cases) rows.set(c.name, { lib: c.name, status: 'ok', figures: {}, config: c.config });
    // A smaller write first, so no library is measured while its code is still being compiled.
    const warmup = entriesFor(1_000, Math.max(1_000, count / 10));
    for (let round = 0; round < ctx.rounds; round++) {
      const entries = entriesFor(round, count);
      for (const c of rotate(cases, round)) {
        const row = rows.get(c.name)!;
        if (row.status !== 'ok') continue;
        let writer: BulkWriter | undefined;
        try {
          // Flushed before the library connects: a trove treats a flush of its tables as an
          // invalidation of everything, so a flush after it starts would void the write.
          await ctx.server.command('FLUSHALL', 'SYNC');
          writer = await c.open(ctx, count);
          if (round === 0) await writer.write(warmup);
          const ms = await ctx.turn(() => measureOnce(ctx, writer!, entries, row, `round ${round + 1}`));
          (samples.get(c.name) ?? samples.set(c.name, []).get(c.name)!).push(ms);
          ctx.progress(`  ${c.name} round ${round + 1}: ${Math.round(ms)} ms for ${count.toLocaleString('en-US')} entries`);
        } catch (err) {
          ctx.progress(`  ${c.name} failed: ${describeError(err)}`);
          Object.assign(row, { status: 'failed', message: describeError(err), figures: {} });
        } finally {
          await writer?.close().catch(() => {});
        }
      }
    }
    await ctx.server.command('FLUSHALL', 'SYNC');
    for (const [name, values] of samples) {
      const row = rows.get(name)!;
      if (row.status !== 'ok') continue;
      const ms = summarize(values);
      row.figures = { ms, rate: summarize(values.map((v) => (count / v) * 1000)) };
    }
    const order = [...cases.map((c) => c.name), ...ctx.libs.filter((l) => NOT_MEASURED[l])];
    return {
      name: 'set-many',
      title: TITLE,
      summary: `One bulk write of ${count.toLocaleString('en-US')} new entries (~300 B user records, 10-minute TTL) through each library's bulk write call, awaited; a fresh client on a flushed Redis for every write. Median over rounds.`,
      params: { entries: count },
      metrics: [
        { key: 'ms', label: 'one bulk write', unit: 'ms', better: 'lower', ratio: true },
        { key: 'rate', label: 'entries written', unit: 'ops/s', better: 'higher' },
      ],
      rows: order.map((name) => rows.get(name)!).filter(Boolean),
      notes: [
        `Trove's setMany is one MULTI/EXEC (all or none), as is the ioredis floor; a bulk write of this size takes longer than Trove's default 300 ms commandTimeout, so this run sets 60 s (with the default, the call reports a StoreTimeoutError event although Redis applies the MULTI).`,
        'With the near cache on (the default), each written value is also kept locally (up to its 10,000 entries), and Redis tracks the written keys.',
      ],
    };
  },
};

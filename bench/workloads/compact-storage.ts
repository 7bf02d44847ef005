/**
 * Hash storage (`storage: 'hash'`) in the `memory` workload: Redis bytes per small entry next to
 * the plain-SET floor, seed 001's table (codec × compression × storage on generated small
 * records), and what sharing a bucket costs the near cache when entries are written.
 */
import { createTrove, type RegionOptions, type Trove } from '../../src/index.js';
import type { BenchContext } from '../context.js';
import { opsPerSec, runConcurrent, sleep } from '../driver.js';
import type { Row, Section } from '../report.js';
import { summarize } from '../stats.js';

const CONCURRENCY = 256;
const TTL_MS = 10 * 60_000;

async function usedMemory(ctx: BenchContext): Promise<number> {
  await ctx.server.command('MEMORY', 'PURGE');
  return Number((await ctx.server.info('memory')).used_memory);
}

async function openTrove(ctx: BenchContext, prefix: string, near = false): Promise<Trove> {
  const t = createTrove({ redis: ctx.url, prefix, commandTimeout: 10_000, nearCache: near ? { maxEntries: 100_000 } : false, freezeValues: false });
  await t.ready();
  return t;
}

/** Bytes per entry of `entries` ids → 'user_<id>' written through `region.set` on a flushed Redis. */
async function trovePerEntry(ctx: BenchContext, entries: number, opts: RegionOptions): Promise<{ perEntry: number; sample: string }> {
  await ctx.server.command('FLUSHALL', 'SYNC');
  const t = await openTrove(ctx, 'trove');
  try {
    const region = t.region<string>('users', { ttl: TTL_MS, ...opts });
    await region.set('0', 'user_0');
    const before = await usedMemory(ctx);
    await runConcurrent(CONCURRENCY, entries, (i) => region.set(String(i + 1), `user_${i + 1}`));
    const after = await usedMemory(ctx);
    if ((await region.get('1234')) !== 'user_1234') throw new Error("reading back '1234' failed");
    return { perEntry: (after - before) / entries, sample: `keys in Redis: ${await ctx.server.command('DBSIZE')}` };
  } finally {
    await t.close();
  }
}

/** Rows for the main table of `memory`: Trove's two storages measured the same way as the peers. */
export async function storageRows(ctx: BenchContext, entries: number): Promise<Row[]> {
  const rows: Row[] = [];
  // On Redis 7.4+ each field gets its own expiry by default (HPEXPIRE); 'lazy' leaves it out.
  const variants: [string, RegionOptions][] = [
    ["trove (storage: 'hash')", { storage: 'hash' }],
    ["trove (storage: 'hash', hashFieldExpiry: 'lazy')", { storage: 'hash', hashFieldExpiry: 'lazy' }],
  ];
  for (const [label, opts] of variants) {
    const values: number[] = [];
    const remarks: string[] = [];
    for (let round = 0; round < ctx.rounds; round++) {
      const { perEntry, sample } = await trovePerEntry(ctx, entries, opts);
      values.push(perEntry);
      if (round === 0) remarks.push(sample);
      ctx.progress(`  ${label} round ${round + 1}: ${perEntry.toFixed(1)} B/entry`);
    }
    rows.push({
      lib: label,
      status: 'ok',
      figures: { bytes: summarize(values) },
      remarks,
      versus: label,
      config: `createTrove({ redis: url, prefix: 'trove', nearCache: false }).region('users', { ttl: 600000, ${Object.entries(opts)
        .map(([k, v]) => `${k}: '${String(v)}'`)
        .join(', ')} }) (hashBuckets: 1024, the default) · region.set`,
    });
  }
  return rows;
}

/** The record shape of the seed-001 table: small, as in a cache of ids to user records. */
function record(i: number): { id: number; name: string; active: boolean } {
  return { id: 100_000 + i, name: `u${100_000 + i}`, active: i % 3 !== 0 };
}

/**
 * Seed 001's table on generated data: `records` small records written with each codec ×
 * compression × storage, Redis memory of the lot, its ratio to plain SET of JSON strings, and
 * random reads per second through `region.get` (64 concurrent, near cache off).
 */
export async function seedTable(ctx: BenchContext, records: number): Promise<Section> {
  const reads = Math.min(records, 50_000);
  // The baseline: plain SET key JSON PX ttl, through one ioredis pipeline per 1,000.
  await ctx.server.command('FLUSHALL', 'SYNC');
  const { Redis } = await import('ioredis');
  const plain = new Redis(ctx.url);
  const before = await usedMemory(ctx);
  for (let at = 0; at < records; at += 1000) {
    const p = plain.pipeline();
    for (let i = at; i < Math.min(records, at + 1000); i++) p.set(`rec:${i}`, JSON.stringify(record(i)), 'PX', TTL_MS);
    await p.exec();
  }
  const baseline = (await usedMemory(ctx)) - before;
  const ms = await runConcurrent(64, reads, async () => {
    const v = await plain.get(`rec:${Math.floor(Math.random() * records)}`);
    if (v !== null) JSON.parse(v);
  });
  const baseReads = opsPerSec(reads, ms);
  plain.disconnect();
  const rows: Row[] = [
    {
      lib: 'plain SET + JSON strings (1.000)',
      status: 'ok',
      figures: { mem: summarize([baseline]), perEntry: summarize([baseline / records]), reads: summarize([baseReads]) },
      versus: 'plain SET + JSON strings (1.000)',
    },
  ];
  for (const storage of ['string', 'hash'] as const) {
    for (const codec of ['json', 'msgpack', 'v8'] as const) {
      for (const compression of [false, 'deflate'] as const) {
        await ctx.server.command('FLUSHALL', 'SYNC');
        const t = await openTrove(ctx, 'seed');
        try {
          // compressThreshold 1: every value is offered to deflate (kept only when smaller).
          const region = t.region<ReturnType<typeof record>>('recs', {
            ttl: TTL_MS,
            storage,
            codec,
            compression,
            ...(compression ? { compressThreshold: 1 } : {}),
          });
          await region.set('warm', record(0));
          const m0 = await usedMemory(ctx);
          await runConcurrent(CONCURRENCY, records, (i) => region.set(String(i), record(i)));
          const mem = (await usedMemory(ctx)) - m0;
          const readMs = await runConcurrent(64, reads, () => region.get(String(Math.floor(Math.random() * records))));
          const label = `${codec} · ${compression || 'off'} · ${storage} (${(mem / baseline).toFixed(3)})`;
          rows.push({
            lib: label,
            status: 'ok',
            figures: { mem: summarize([mem]), perEntry: summarize([mem / records]), reads: summarize([opsPerSec(reads, readMs)]) },
            versus: label,
          });
          ctx.progress(`  seed table: ${label}: ${(mem / 1e6).toFixed(2)} MB`);
        } finally {
          await t.close();
        }
      }
    }
  }
  return {
    title: "Seed 001's table: codec × compression × storage",
    summary: `${records.toLocaleString('en-US')} records like ${JSON.stringify(record(1))} (JSON ${JSON.stringify(record(1)).length} B) under keys '100000'…, TTL 10 min, written through region.set (${CONCURRENCY} concurrent) on a flushed Redis; memory = INFO used_memory delta after MEMORY PURGE; the ratio to plain SET of the JSON strings follows each label; reads = ${reads.toLocaleString('en-US')} random region.get (64 concurrent, near cache off), once each.`,
    firstColumn: 'codec · compression · storage (ratio to plain SET)',
    metrics: [
      { key: 'mem', label: 'Redis memory', unit: 'B', better: 'lower' },
      { key: 'perEntry', label: 'bytes/record', unit: 'B', better: 'lower' },
      { key: 'reads', label: 'reads', unit: 'ops/s', better: 'higher' },
    ],
    rows,
    notes: [
      'compressThreshold is 1 on the deflate rows: deflate is kept only when it makes a value smaller, which for records this small saves a few bytes at most.',
      "hash rows use the default hashBuckets (1024): ~98 records per bucket, within Redis's listpack limits (128 entries, 64-byte values).",
    ],
  };
}

/**
 * The near cache on a region with writes: a reader keeps `keys` entries, a writer then rewrites
 * 1% of them; counts the reader's local copies dropped and the reads that went back to Redis.
 */
export async function nearCostTable(ctx: BenchContext, keys: number): Promise<Section> {
  const rows: Row[] = [];
  const writes = Math.max(1, Math.floor(keys / 100));
  for (const storage of ['string', 'hash'] as const) {
    await ctx.server.command('FLUSHALL', 'SYNC');
    const writer = await openTrove(ctx, 'nc');
    const reader = await openTrove(ctx, 'nc', true);
    try {
      const opts: RegionOptions = { ttl: TTL_MS, storage };
      const w = writer.region<string>('users', opts);
      const r = reader.region<string>('users', opts);
      await w.setMany(Array.from({ length: keys }, (_, i) => [String(i), `user_${i}`] as const));
      while (reader.stats().near?.live !== true) await sleep(10);
      await runConcurrent(64, keys, (i) => r.get(String(i)));
      const s0 = reader.stats().near!;
      await runConcurrent(16, writes, (i) => w.set(String(i * 100), `changed_${i}`));
      await sleep(300);
      const s1 = reader.stats().near!;
      await runConcurrent(64, keys, (i) => r.get(String(i)));
      const s2 = reader.stats().near!;
      const dropped = s1.invalidations - s0.invalidations + (s1.bucketDrops - s0.bucketDrops);
      const label = `${storage}${storage === 'hash' ? ' (1024 buckets)' : ''}`;
      rows.push({
        lib: label,
        status: 'ok',
        figures: {
          dropped: summarize([storage === 'hash' ? s1.bucketDrops - s0.bucketDrops : s1.invalidations - s0.invalidations]),
          rereads: summarize([s2.misses - s1.misses]),
        },
        versus: label,
      });
      ctx.progress(`  near cost ${label}: ${dropped} invalidations, ${s2.misses - s1.misses} re-reads`);
    } finally {
      await Promise.all([writer.close(), reader.close()]);
    }
  }
  return {
    title: 'Near cache with writes: string vs hash storage',
    summary: `A reader process keeps ${keys.toLocaleString('en-US')} entries in its near cache; another trove rewrites ${writes.toLocaleString('en-US')} of them (1%); local copies dropped, then reads of all ${keys.toLocaleString('en-US')} keys that had to go back to Redis.`,
    firstColumn: 'storage',
    metrics: [
      { key: 'dropped', label: 'local copies dropped', unit: 'keys', better: 'lower' },
      { key: 'rereads', label: 'reads back to Redis', unit: 'keys', better: 'lower' },
    ],
    rows,
    notes: ['With hash storage Redis tracks buckets, not entries: one write drops every local copy read from its bucket.'],
  };
}

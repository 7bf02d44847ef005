import { ChildScript } from '../child-io.js';
import type { BenchContext, Workload } from '../context.js';
import { sleep, wallNow } from '../driver.js';
import { createTrove } from '../../src/index.js';
import { bentoL1Options, createBento } from '../peers/bentocache.js';
import type { LibName } from '../peers/index.js';
import { waitNearLive } from '../peers/trove.js';
import { type ConfigOptions, PREFIX, showOptions } from '../peers/types.js';
import { type Row, remark, type WorkloadResult } from '../report.js';
import { latencies, summarize } from '../stats.js';
import { describeError, L1_ENTRIES, TTL_MS } from './common.js';

const NOT_MEASURED: Record<Exclude<LibName, 'bentocache' | 'trove'>, string> = {
  ioredis: 'n/a (no in-memory tier)',
  'cache-manager': 'n/a (no cross-process invalidation of its in-memory store)',
  cacheable: 'not measured: CacheableSync needs a Redis message provider (@qified/redis), not installed here',
  'async-cache-dedupe': 'n/a (no in-memory tier in front of Redis)',
};

/** Trove's near cache in both processes (this file and invalidation-child.ts). */
export const TROVE_NEAR = { maxEntries: L1_ENTRIES };
/**
 * bentocache's setup in both processes: L1 with its default `serialize: true` (the `serialize`
 * variant: `serialize: false` crashes in 1.6.1 when the reader refills its L1 from L2, see
 * `bentoL1Options`), Redis L2, Redis bus.
 */
export const BENTO: ConfigOptions = { tier: 'l1', l1Entries: L1_ENTRIES, ttlMs: TTL_MS, bus: true, variant: 'serialize' };

const CONFIG = {
  trove: `createTrove({ redis: url, prefix, commandTimeout: 2000, nearCache: ${showOptions(TROVE_NEAR)} }) in both processes (Redis CLIENT TRACKING); writer: region.set(), reader: get() in a loop`,
  bentocache: `bentostore().useL1Layer(memoryDriver(${showOptions(bentoL1Options(BENTO.l1Entries, BENTO.variant))})).useL2Layer(redisDriver({ connection })).useBus(redisBusDriver({ connection })) in both processes; writer: set(), reader: get() after each bus message`,
};

/** The writing side: stores `{ seq }` under the key the reader holds. */
interface Writer {
  write(seq: number): Promise<void>;
  close(): Promise<void>;
}

async function openWriter(lib: 'trove' | 'bentocache', ctx: BenchContext): Promise<Writer> {
  if (lib === 'bentocache') {
    const bento = createBento({ ...BENTO, host: ctx.host, port: ctx.port });
    return {
      async write(seq) {
        await bento.set({ key: 'inv', value: { seq } });
      },
      close: () => bento.disconnectAll(),
    };
  }
  const t = createTrove({ redis: ctx.url, prefix: PREFIX.trove, commandTimeout: 2000, nearCache: TROVE_NEAR });
  await waitNearLive(t);
  const region = t.region('inv', { ttl: TTL_MS });
  return { write: (seq) => region.set('inv', { seq }), close: () => t.close() };
}

/** How long after a write in one process a second process stops serving its old in-memory copy. */
export const invalidation: Workload = {
  name: 'invalidation',
  async run(ctx: BenchContext): Promise<WorkloadResult> {
    const updates = ctx.quick ? 50 : 200;
    const rows: Row[] = [];
    for (const lib of ctx.libs) {
      if (lib !== 'bentocache' && lib !== 'trove') {
        rows.push({ lib, status: 'unsupported', message: NOT_MEASURED[lib], figures: {} });
        continue;
      }
      const row: Row = { lib, status: 'ok', figures: {}, config: CONFIG[lib] };
      rows.push(row);
      const p50: number[] = [];
      const p99: number[] = [];
      let writer: Writer | undefined;
      let reader: ChildScript | undefined;
      let seq = 0;
      try {
        writer = await openWriter(lib, ctx);
        await writer.write(seq);
        reader = new ChildScript('./workloads/invalidation-child.ts', [lib, ctx.host, String(ctx.port)]);
        await reader.expect((l) => l === 'ready', 60_000);
        // Subscriptions settle asynchronously: write until the reader sees a change, then measure.
        for (let attempt = 0; ; attempt++) {
          seq++;
          await writer.write(seq);
          const seen = await reader.expect((l) => l.startsWith(`seen ${seq} `), 250).catch(() => undefined);
          if (seen) break;
          if (attempt >= 40) throw new Error('the reader never saw a write (invalidation channel not working)');
        }
        for (let round = 0; round < ctx.rounds; round++) {
          const samples: number[] = [];
          let lost = 0;
          for (let i = 0; i < updates; i++) {
            seq++;
            const started = wallNow();
            await writer.write(seq);
            try {
              const line = await reader.expect((l) => l.startsWith(`seen ${seq} `), 2_000);
              samples.push(Number(line.split(' ')[2]) - started);
            } catch {
              lost++;
            }
            await sleep(2);
          }
          if (lost) remark(row, `round ${round + 1}: ${lost} of ${updates} updates not seen by the reader within 2 s`);
          const lat = latencies(samples);
          p50.push(lat.p50);
          p99.push(lat.p99);
          ctx.progress(`  ${lib} round ${round + 1}: p50 ${lat.p50.toFixed(2)} ms, p99 ${lat.p99.toFixed(2)} ms`);
        }
        row.figures = { p50: summarize(p50), p99: summarize(p99) };
        reader.child.stdin?.end();
        const stats = await reader.expect((l) => l.startsWith('stats '), 5_000).catch(() => undefined);
        if (stats) remark(row, `reader: ${stats.slice('stats '.length)}`);
      } catch (err) {
        ctx.progress(`  ${lib} failed: ${describeError(err)}`);
        row.status = 'failed';
        row.message = describeError(err);
      } finally {
        await reader?.stop();
        await writer?.close();
      }
    }
    return {
      name: 'invalidation',
      title: 'near-cache invalidation across two processes',
      summary: `Process A holds a key in its in-memory tier; process B writes a new value ${updates} times per round. Latency: from B starting the write to A first reading the new value (wall clock, shared by both processes).`,
      params: { updates },
      metrics: [
        { key: 'p50', label: 'p50', unit: 'ms', better: 'lower', ratio: true },
        { key: 'p99', label: 'p99', unit: 'ms', better: 'lower', ratio: true },
      ],
      rows,
      notes: [
        "bentocache keeps its default serializing L1 here: with `serialize: false`, 1.6.1 throws when the reader's L1 is refilled from L2 with the value the writer stored (bentocache issue #111).",
        "Trove's `invalidate` event reports region and tag invalidations only; nothing is emitted when a key's near-cache copy is dropped, so its reader polls (a near-cache hit per turn of the event loop) and keeps one core busy; bentocache's reader reacts to its bus event. Both then need one Redis read for the new value.",
      ],
    };
  },
};

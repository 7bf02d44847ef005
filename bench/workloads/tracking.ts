import { Redis } from 'ioredis';
import type { BenchContext, Workload } from '../context.js';
import { sleep } from '../driver.js';
import { type Row, remark, type WorkloadResult } from '../report.js';
import { summarize } from '../stats.js';
import { describeError } from './common.js';

/**
 * Which CLIENT TRACKING mode suits a near cache: the default mode, OPTIN or BCAST.
 *
 * Measured on Redis itself with plain ioredis connections set up the way a near cache uses them
 * (a reading connection whose invalidations are redirected to a subscriber), so the three modes
 * are compared on the same reads and writes, independent of Trove's code:
 *
 * - the reader reads `held` keys that it keeps locally (a near-cache region) and as many keys
 *   that it does not keep (a region without near cache, or values too large to keep), in MGETs of
 *   64 keys: with OPTIN, `CLIENT CACHING yes` goes before the MGETs of kept keys only;
 * - a writer then overwrites every one of those keys, plus as many other keys under the same
 *   prefix (other regions, other processes' keys).
 *
 * Figures: the keys Redis tracks for the reader after its reads, the invalidation messages the
 * reader receives for the writes, how many of those concern a key it keeps, and the throughput of
 * the reads of kept keys (what the extra command of OPTIN costs).
 */
const MODES = ['default', 'OPTIN', 'BCAST'] as const;
type Mode = (typeof MODES)[number];

const PREFIX = 'trk:';
const BATCH = 64;

export const tracking: Workload = {
  name: 'tracking',
  async run(ctx: BenchContext): Promise<WorkloadResult> {
    const held = ctx.quick ? 2_000 : 10_000;
    const rows: Row[] = [];
    for (const mode of MODES) {
      const row: Row = { lib: mode, status: 'ok', figures: {}, config: describe(mode) };
      rows.push(row);
      const samples: Record<string, number[]> = { tracked: [], bytes: [], messages: [], useful: [], reads: [] };
      try {
        for (let round = 0; round < ctx.rounds; round++) {
          const r = await measure(ctx, mode, held);
          samples.tracked!.push(r.tracked);
          samples.bytes!.push(r.trackingBytes);
          samples.messages!.push(r.messages);
          samples.useful!.push(r.useful);
          samples.reads!.push(r.readsPerSec);
          ctx.progress(
            `  ${mode} round ${round + 1}: ${r.tracked} keys tracked, ${r.messages} invalidations (${r.useful} for kept keys), ${Math.round(r.readsPerSec).toLocaleString('en-US')} reads/s`,
          );
        }
        for (const [k, v] of Object.entries(samples)) row.figures[k] = summarize(v);
      } catch (err) {
        row.status = 'failed';
        row.message = describeError(err);
        row.figures = {};
      }
    }
    const optin = rows.find((r) => r.lib === 'OPTIN');
    if (optin?.status === 'ok')
      remark(
        optin,
        'Trove uses this mode (without NOLOOP, so that keys evicted by its own commands are announced too): Redis tracks exactly the keys a process keeps, and tells it only about those.',
      );
    return {
      name: 'tracking',
      title: 'CLIENT TRACKING modes for the near cache',
      summary: `A reader keeps ${held.toLocaleString('en-US')} keys and reads ${held.toLocaleString('en-US')} more it does not keep (MGETs of ${BATCH}); a writer then overwrites all of them and ${held.toLocaleString('en-US')} other keys under the same prefix. Redis's tracking table after the reads (INFO tracking_total_keys, and the used_memory the reads added), invalidation messages the reader receives, and its read throughput on the kept keys.`,
      params: { held, batch: BATCH },
      firstColumn: 'mode',
      metrics: [
        { key: 'tracked', label: 'keys tracked', unit: 'keys', better: 'lower' },
        { key: 'bytes', label: 'Redis memory for it', unit: 'B', better: 'lower' },
        { key: 'messages', label: 'invalidations received', unit: 'keys', better: 'lower' },
        { key: 'useful', label: 'of them for kept keys', unit: 'keys', better: 'higher' },
        { key: 'reads', label: 'reads of kept keys', unit: 'ops/s', better: 'higher' },
      ],
      rows,
      notes: [
        'default: every key the connection reads is tracked, kept or not. OPTIN: only keys read right after `CLIENT CACHING yes`. BCAST: nothing per key; every write under the prefix is announced to every reader.',
        'Tracked keys cost Redis memory, and past `tracking-table-max-keys` (default 1M) Redis evicts them by invalidating keys that did not change, which empties near caches for nothing.',
        "The memory figure is the change of INFO used_memory across the reads; it also moves by a few tens of KB on its own (the allocator, client buffers), which is all BCAST's figure shows.",
      ],
    };
  },
};

function describe(mode: Mode): string {
  const tail = mode === 'default' ? '' : mode === 'OPTIN' ? ' OPTIN' : ` BCAST PREFIX ${PREFIX}`;
  return `CLIENT TRACKING on REDIRECT <subscriber>${tail} NOLOOP`;
}

async function usedMemory(ctx: BenchContext): Promise<number> {
  return Number((await ctx.server.info('memory')).used_memory);
}

async function measure(
  ctx: BenchContext,
  mode: Mode,
  held: number,
): Promise<{ tracked: number; trackingBytes: number; messages: number; useful: number; readsPerSec: number }> {
  await ctx.server.command('FLUSHALL', 'SYNC');
  const kept = Array.from({ length: held }, (_, i) => `${PREFIX}near:${i}`);
  const notKept = Array.from({ length: held }, (_, i) => `${PREFIX}far:${i}`);
  const others = Array.from({ length: held }, (_, i) => `${PREFIX}other:${i}`);
  const writer = new Redis(ctx.url);
  const reader = new Redis(ctx.url);
  const subscriber = new Redis(ctx.url);
  try {
    for (let i = 0; i < held; i += 1000) {
      const p = writer.pipeline();
      for (const k of [...kept.slice(i, i + 1000), ...notKept.slice(i, i + 1000)]) p.set(k, 'x'.repeat(100));
      await p.exec();
    }
    const keptSet = new Set(kept);
    let messages = 0;
    let useful = 0;
    // Buffers: the string form of a message joins several keys with commas.
    subscriber.on('messageBuffer', (_channel: Buffer, keys: unknown) => {
      for (const k of Array.isArray(keys) ? keys : [keys]) {
        messages++;
        if (keptSet.has(String(k))) useful++;
      }
    });
    const subscriberId = await subscriber.client('ID');
    await subscriber.subscribe('__redis__:invalidate');
    const mod = mode === 'default' ? [] : mode === 'OPTIN' ? ['OPTIN'] : ['BCAST', 'PREFIX', PREFIX];
    await reader.call('CLIENT', 'TRACKING', 'on', 'REDIRECT', String(subscriberId), ...mod, 'NOLOOP');
    const memoryBefore = await usedMemory(ctx);
    const t0 = performance.now();
    for (let i = 0; i < held; i += BATCH) {
      const p = reader.pipeline();
      if (mode === 'OPTIN') p.call('CLIENT', 'CACHING', 'yes');
      p.mget(...kept.slice(i, i + BATCH));
      await p.exec();
    }
    const readsPerSec = (held / (performance.now() - t0)) * 1000;
    for (let i = 0; i < held; i += BATCH) await reader.mget(...notKept.slice(i, i + BATCH));
    const tracked = Number((await ctx.server.info('stats')).tracking_total_keys ?? Number.NaN);
    const trackingBytes = (await usedMemory(ctx)) - memoryBefore;
    for (let i = 0; i < held; i += 1000) {
      const p = writer.pipeline();
      for (const k of [...kept.slice(i, i + 1000), ...notKept.slice(i, i + 1000), ...others.slice(i, i + 1000)]) p.set(k, 'y');
      await p.exec();
    }
    // Invalidations are pushed as the writes happen; wait until they stop arriving.
    let last = -1;
    while (messages !== last) {
      last = messages;
      await sleep(50);
    }
    return { tracked, trackingBytes, messages, useful, readsPerSec };
  } finally {
    for (const c of [reader, subscriber, writer]) c.disconnect();
  }
}

/**
 * What keeping the tag tokens current costs a process, by the number of tags it knows: the
 * periodic check (`syncInterval`) when every change arrived (it reads the table's epoch and change
 * count), and the full re-read of every known tag that a missed change calls for (which, before the
 * table counted its changes, every check made). Process time is the median of the runs; Redis time
 * is the server's own count (INFO commandstats) per run.
 *
 *   npx tsx tools/tag-sync-cost.ts [--tags 1000,10000,100000] [--runs 20]
 */
import { parseArgs } from 'node:util';
import { TagTokens } from '../src/region/tag-tokens.js';
import { createStore } from '../src/store/create-store.js';
import { RedisServer } from './redis-server.js';

const { values: v } = parseArgs({ options: { tags: { type: 'string', default: '1000,10000,100000' }, runs: { type: 'string', default: '20' } } });
const sizes = v.tags.split(',').map(Number);
const runs = Number(v.runs);

const server = await RedisServer.start();
const store = createStore({ redis: server.url, memory: undefined, commandTimeoutMs: 30_000, listener: {} });

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Redis's own time in scripts since the last reset, in ms. */
async function redisMs(): Promise<number> {
  const info = String(await server.command('INFO', 'commandstats'));
  const m = /cmdstat_evalsha:calls=(\d+),usec=(\d+)/.exec(info);
  return m === null ? 0 : Number(m[2]) / 1000;
}

async function timed(n: number, step: () => Promise<void>): Promise<{ process: number; redis: number }> {
  const times: number[] = [];
  await server.command('CONFIG', 'RESETSTAT');
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await step();
    times.push(performance.now() - t0);
  }
  return { process: median(times), redis: (await redisMs()) / n };
}

console.log('| known tags | check, nothing missed: process | Redis | full re-read: process | Redis |');
console.log('| ---: | ---: | ---: | ---: | ---: |');
for (const size of sizes) {
  const tokens = new TagTokens(store, `cost:${size}`);
  await tokens.stamp(Array.from({ length: size }, (_, i) => `user:${i}`));
  await tokens.refresh();
  // Warm both paths before timing them.
  for (let i = 0; i < 3; i++) await tokens.sync(true);
  await tokens.refresh();
  const check = await timed(runs, () => tokens.sync());
  const full = await timed(Math.max(3, Math.min(runs, Math.ceil(200_000 / size))), () => tokens.refresh());
  const f = (ms: number) => (ms < 1 ? ms.toFixed(3) : ms.toFixed(1));
  console.log(`| ${size.toLocaleString('en')} | ${f(check.process)} ms | ${f(check.redis)} ms | ${f(full.process)} ms | ${f(full.redis)} ms |`);
}
await store.close();
await server.stop();

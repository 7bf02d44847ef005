/**
 * A process that knows many tags while another invalidates some of them steadily: the CPU this
 * process spends per second (both troves run in it; the invalidating one's share is the row with
 * no tag known) and the event loop's utilization. With a near cache, Redis announces every change
 * of the tag table to the process, which then checks the table.
 *
 *   npx tsx tools/tag-storm.ts [--dist dist/index.js] [--tags 0,10000,100000] [--rate 50] [--seconds 5]
 *
 * --dist measures a built Trove (an earlier one too: only the public API is used).
 */
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { RedisServer } from './redis-server.js';

const { values: v } = parseArgs({
  options: {
    dist: { type: 'string' },
    tags: { type: 'string', default: '0,10000,100000' },
    rate: { type: 'string', default: '50' },
    seconds: { type: 'string', default: '5' },
  },
});
const { createTrove } = (
  v.dist === undefined ? await import('../src/index.js') : await import(pathToFileURL(resolve(v.dist)).href)
) as typeof import('../src/index.js');

const rate = Number(v.rate);
const seconds = Number(v.seconds);
const server = await RedisServer.start();
let run = 0;

async function storm(known: number): Promise<void> {
  const prefix = `storm${++run}`;
  const here = createTrove({ redis: server.url, prefix });
  const other = createTrove({ redis: server.url, prefix, nearCache: false });
  await here.ready();
  await other.ready();
  const r = here.region('r');
  // The tags become known here as entries carrying them are written (250 per entry: at most 255).
  for (let i = 0; i < known; i += 250) {
    const tags = Array.from({ length: Math.min(250, known - i) }, (_, j) => `user:${i + j}`);
    await r.set(`k${i}`, i, { tags });
  }
  let sent = 0;
  let failed = 0;
  const cpu0 = process.cpuUsage();
  const elu0 = performance.eventLoopUtilization();
  const t0 = performance.now();
  // Paced by elapsed time, so a process that falls behind sends fewer (and the row says how many).
  while (performance.now() - t0 < seconds * 1_000) {
    const due = Math.floor(((performance.now() - t0) / 1_000) * rate);
    // A process too busy to answer in time fails its own invalidations (STORE_TIMEOUT): counted.
    while (sent < due) await other.invalidateTags([`user:${sent++ % Math.max(1, known)}`]).catch(() => failed++);
    await new Promise((res) => setTimeout(res, 5));
  }
  const elapsed = (performance.now() - t0) / 1_000;
  const cpu = process.cpuUsage(cpu0);
  const elu = performance.eventLoopUtilization(elu0);
  console.log(
    `| ${known.toLocaleString('en')} | ${(sent / elapsed).toFixed(0)} | ${failed} | ${((cpu.user + cpu.system) / 1_000 / elapsed).toFixed(0)} ms | ${(elu.utilization * 100).toFixed(0)}% |`,
  );
  await here.close();
  await other.close();
}

console.log(`${rate} invalidations per second asked for, ${seconds} s each row${v.dist === undefined ? '' : ` (${v.dist})`}`);
console.log('| tags known here | invalidations/s sent | of which failed | process CPU per second | event loop busy |');
console.log('| ---: | ---: | ---: | ---: | ---: |');
for (const known of v.tags.split(',').map(Number)) await storm(known);
await server.stop();

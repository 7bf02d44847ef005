/**
 * What a trove holds in this process before it caches anything: the heap and the ArrayBuffers that
 * `createTrove` adds, per trove (the mean of 4, after a full GC), for a trove on Redis with and
 * without its near cache and for one on the embedded store. Each trove is created, used once
 * (a set and a get, so that its connections are up) and measured while open.
 *
 *   npx tsx --expose-gc tools/footprint.ts [--dist dist/index.js]
 *
 * --dist measures a built Trove instead of the source (through tsx the source's modules are
 * larger, but they are loaded once, before the first measurement).
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { TroveOptions } from '../src/index.js';
import { RedisServer } from './redis-server.js';

const { values: v } = parseArgs({ options: { dist: { type: 'string' } } });
const { createTrove } = (
  v.dist === undefined ? await import('../src/index.js') : await import(pathToFileURL(resolve(v.dist)).href)
) as typeof import('../src/index.js');

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with --expose-gc: npx tsx --expose-gc tools/footprint.ts');

const TROVES = 4;
const server = await RedisServer.start();

async function measure(label: string | undefined, options: TroveOptions): Promise<void> {
  gc!();
  const before = process.memoryUsage();
  const troves = Array.from({ length: TROVES }, (_, i) => createTrove({ ...options, prefix: `footprint${i}` }));
  for (const t of troves) {
    const region = t.region('r');
    await region.set('k', 1);
    await region.get('k');
  }
  gc!();
  const after = process.memoryUsage();
  const kb = (bytes: number) => `${Math.round(bytes / TROVES / 1024).toLocaleString('en-US')} KB`;
  if (label !== undefined) console.log(`| ${label} | ${kb(after.heapUsed - before.heapUsed)} | ${kb(after.arrayBuffers - before.arrayBuffers)} |`);
  for (const t of troves) await t.close();
}

console.log('| trove | heap per trove | ArrayBuffers per trove |');
console.log('| --- | ---: | ---: |');
// A first trove, not measured: the modules' own first-use costs are not a trove's.
await measure(undefined, { redis: server.url });
await measure('Redis, near cache (default)', { redis: server.url });
await measure('Redis, `nearCache: false`', { redis: server.url, nearCache: false });
await measure('embedded store', {});
await server.stop();

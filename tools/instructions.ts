/**
 * Machine instructions per operation, counted by valgrind (callgrind): a figure that does not move
 * with the machine's load, where CPU time on a shared machine moves by a fifth from one run to the
 * next. Two processes run the same script under callgrind, one with `--ops 0` and one with
 * `--ops N`, each after the same warm-up; their difference over N is the cost of one operation
 * (start-up, connections and warm-up cancel out). Node runs with `--single-threaded` (no
 * concurrent compilation or garbage collection threads), and the script runs bundled (Trove from
 * src/ inside it, as tsup builds it), not through a TypeScript loader.
 *
 * Garbage collection and compiling are printed apart: they come in lumps (a major collection, a
 * function optimized again) that land in one process and not the other. The rest of a miss repeats
 * within about 2 % (of a hit, 4 %) with `--shape rounds` (the default: batches of 64 calls awaited together, so each
 * batch reaches Redis the same way whatever the timing); a run whose counted process made a major
 * collection (tens of thousands of instructions per operation in GC) counts about 5 % more, the
 * functions it deoptimized running slower until compiled again: count again. Within about 4 % with `--shape
 * workers` (64 callers each starting its next call as its last returns, as `npm run bench` runs
 * them, where how many commands share a write depends on timing). Needs `valgrind` (Debian package
 * `valgrind`). Each process takes a minute or two.
 *
 *   npx tsx tools/instructions.ts [--path miss|hit] [--lib trove|raw|cache-manager|cacheable]
 *     [--node-redis] [--dist bench/.build/index.js] [--ops 40000] [--shape rounds|workers|sequential] [--functions 25]
 *     [--clock-scale 200] [--no-auto-pipelining]
 *
 * --path miss: getOrSet on new keys, 64 at a time (a miss, a trivial factory, a write);
 * --path hit: getOrSet of 10,000 stored ~300 B records, random keys, 64 at a time.
 * --lib raw is hand-written GET (+ SET PX on a miss) with JSON; cache-manager and cacheable run as
 * the bench sets them up (bench/peers), on node-redis; --no-auto-pipelining runs --lib raw on ioredis
 * without auto-pipelining (ioredis's default, the faster for one read at a time). --shape sequential
 * makes one awaited call at a time (the bench's single read). --dist counts a built Trove (e.g. the
 * bundle `npm run bench` builds) instead of the source. --functions prints the functions whose
 * count per operation differs most between the two processes (V8 and Node internals by name,
 * JIT-compiled JavaScript as one line). --clock-scale slows `Date.now` in the counted processes by
 * that factor (see `slowClock`; 1: the real clock). The Redis commands each operation sent are
 * printed too, so that the path counted can be checked against the one taken at full speed
 * (`tools/miss-cost.ts` prints them there).
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type CacheAside, cacheAside } from './cache-aside.js';

const { values: v } = parseArgs({
  options: {
    child: { type: 'boolean', default: false },
    path: { type: 'string', default: 'miss' },
    lib: { type: 'string', default: 'trove' },
    'node-redis': { type: 'boolean', default: false },
    dist: { type: 'string' },
    ops: { type: 'string', default: '40000' },
    warmup: { type: 'string', default: '20000' },
    functions: { type: 'string', default: '0' },
    shape: { type: 'string', default: 'rounds' },
    'no-auto-pipelining': { type: 'boolean', default: false },
    'clock-scale': { type: 'string', default: '200' },
  },
});

const CONCURRENCY = 64;
const HIT_KEYS = 10_000;

if (!['workers', 'rounds', 'sequential'].includes(v.shape!)) throw new Error(`--shape: workers, rounds or sequential (got ${v.shape})`);
if (v['no-auto-pipelining'] && (v.lib !== 'raw' || v['node-redis'])) throw new Error('--no-auto-pipelining: only with --lib raw on ioredis');
if (v.path !== 'miss' && v.path !== 'hit') throw new Error(`--path: miss or hit (got ${v.path})`);
if (!['trove', 'raw', 'cache-manager', 'cacheable'].includes(v.lib!)) throw new Error(`--lib: trove, raw, cache-manager or cacheable (got ${v.lib})`);

/** One counted process: warm-up, then `--ops` operations, then exit. */
async function child(): Promise<void> {
  slowClock(Number(v['clock-scale']));
  const { makeUser } = await import('../bench/data.js');
  const { prng } = await import('./prng.js');
  const { RedisServer } = await import('./redis-server.js');
  const server = await RedisServer.start();
  const fetch = await subject(server.url, server.port, (k) => makeUser(k));
  const ops = Number(v.ops);
  const warmup = Number(v.warmup);
  let n = 0;
  const next = prng(7);
  const keyOf = v.path === 'miss' ? (i: number) => `m${i}` : () => `k${Math.floor(next() * HIT_KEYS)}`;
  if (v.path === 'hit') {
    for (let i = 0; i < HIT_KEYS; i += CONCURRENCY) await Promise.all(Array.from({ length: CONCURRENCY }, (_, j) => fetch.get(`k${i + j}`)));
  }
  const run = async (count: number) => {
    const end = n + count;
    if (v.shape === 'rounds') {
      // Batches of exactly CONCURRENCY calls awaited together: each batch reaches Redis the same
      // way whatever the timing, so the count repeats closely.
      while (n < end) await Promise.all(Array.from({ length: Math.min(CONCURRENCY, end - n) }, () => fetch.get(keyOf(n++))));
      return;
    }
    // One awaited call at a time: a request handler's lone cache read.
    if (v.shape === 'sequential') {
      while (n < end) await fetch.get(keyOf(n++));
      return;
    }
    const worker = async () => {
      while (n < end) {
        const key = keyOf(n++);
        await fetch.get(key);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  };
  await run(warmup);
  await run(ops);
  // Read by the parent from this process's output: which commands the operations sent.
  process.stderr.write(`COMMANDS ${JSON.stringify(await server.commandCalls())}\n`);
  await fetch.close();
  await server.stop();
}

async function subject(url: string, port: number, load: (key: string) => unknown): Promise<CacheAside> {
  if (v.lib === 'cache-manager' || v.lib === 'cacheable') {
    const peer =
      v.lib === 'cache-manager' ? (await import('../bench/peers/cache-manager.js')).cacheManager : (await import('../bench/peers/cacheable.js')).cacheable;
    const adapter = await peer.create({ tier: 'l2', l1Entries: 0, ttlMs: 600_000, url, host: '127.0.0.1', port, load });
    return { get: async (k) => adapter.fetch(k), close: () => adapter.close() };
  }
  const nodeRedis = v['node-redis'] ? await (await import('redis')).createClient({ url }).connect() : undefined;
  if (v.lib === 'raw') return cacheAside(url, nodeRedis, load, { autoPipelining: !v['no-auto-pipelining'] });
  const mod = (v.dist ? await import(resolve(v.dist)) : await import('../src/index.js')) as typeof import('../src/index.js');
  const t = mod.createTrove({ redis: nodeRedis ?? url, prefix: 'trove', commandTimeout: 60_000, nearCache: false, freezeValues: false });
  const region = t.region('users', { ttl: 600_000 });
  return {
    get: (k) => region.getOrSet(k, () => load(k)),
    async close() {
      await t.close();
      await nodeRedis?.quit();
    },
  };
}

/**
 * `Date.now` made to run `scale` times slower than the wall clock. Under callgrind code runs 50 to
 * 100 times slower than it does natively, so every span the code measures with `Date.now` looks
 * that much longer, and a choice made on one takes the path a slow machine would: a claim held 2 ms
 * or more is stored by a script that notifies in the same step (`NOTIFY_INLINE_AFTER_MS`), which at
 * full speed almost no miss is; counted at valgrind's speed, 93 % of them were. Slowed down, the
 * clock reads in the counted process about what it would read at full speed. Every library runs
 * with it. Timers are left alone (they measure the wall clock themselves).
 */
function slowClock(scale: number): void {
  if (!(scale >= 1)) throw new Error(`--clock-scale: a number of at least 1 (got ${v['clock-scale']})`);
  if (scale === 1) return;
  const realNow = Date.now;
  const t0 = realNow();
  Date.now = () => t0 + Math.floor((realNow() - t0) / scale);
}

/** Runs the two counted processes side by side and prints instructions per operation. */
async function parent(): Promise<void> {
  mkdirSync(fileURLToPath(new URL('../.tmp/', import.meta.url)), { recursive: true });
  // Inside the project, so that the bundle's package imports resolve to its node_modules.
  const dir = mkdtempSync(fileURLToPath(new URL('../.tmp/instructions-', import.meta.url)));
  try {
    const ops = Number(v.ops);
    const script = await buildChild(dir);
    const [base, counted] = await Promise.all([callgrind(dir, script, 0), callgrind(dir, script, ops)]);
    const per = (counted.total - base.total) / ops;
    const a = functions(base.file);
    const b = functions(counted.file);
    const rows = [...new Set([...a.keys(), ...b.keys()])].map((name) => [name, ((b.get(name) ?? 0) - (a.get(name) ?? 0)) / ops] as const);
    // Collections come in lumps (a major one lands in one process and not the other), so the
    // count apart from them is the figure that repeats; theirs is printed on its own.
    const gc = rows.filter(([name]) => GC.test(name)).reduce((sum, [, n]) => sum + n, 0);
    // Compiling (and compiling again) happens when V8 decides to, not on every call alike.
    const jit = rows.filter(([name]) => !GC.test(name) && COMPILER.test(name)).reduce((sum, [, n]) => sum + n, 0);
    const label = `${v.lib}${v['node-redis'] || v.lib === 'cache-manager' || v.lib === 'cacheable' ? ' on node-redis' : ''}${v.dist ? ` ${v.dist}` : ''}`;
    const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
    process.stdout.write(
      `${label}, ${v.path}: ${fmt(per - gc - jit)} instructions per operation apart from garbage collection and compiling, ${fmt(gc)} in garbage collection, ${fmt(jit)} compiling (${fmt(per)} in all; ${ops.toLocaleString('en-US')} operations)\n`,
    );
    const commands = Object.keys(counted.commands)
      .map((name) => [name, ((counted.commands[name] ?? 0) - (base.commands[name] ?? 0)) / ops] as const)
      .filter(([, n]) => n >= 0.005)
      .sort((x, y) => y[1] - x[1])
      .map(([name, n]) => `${name} ${n.toFixed(2)}`)
      .join(', ');
    process.stdout.write(`Redis commands per operation (inside scripts too): ${commands}\n`);
    const top = Number(v.functions);
    if (top > 0) {
      rows.sort((x, y) => Math.abs(y[1]) - Math.abs(x[1]));
      for (const [name, n] of rows.filter(([name]) => !GC.test(name) && !COMPILER.test(name)).slice(0, top))
        process.stdout.write(`${Math.round(n).toString().padStart(8)}  ${name}\n`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * This script bundled by tsup (Trove from src/ with it, as `npm run build` bundles it; packages
 * left as imports): the counted processes then run no TypeScript loader, whose work on another
 * thread made the count move by several percent from run to run.
 */
async function buildChild(dir: string): Promise<string> {
  const { build } = await import('tsup');
  await build({
    entry: { child: fileURLToPath(import.meta.url) },
    format: ['esm'],
    target: 'node20',
    outDir: dir,
    dts: false,
    sourcemap: false,
    splitting: false,
    silent: true,
    config: false,
    esbuildOptions(options) {
      options.packages = 'external';
    },
  });
  return join(dir, 'child.js');
}

function callgrind(dir: string, script: string, ops: number): Promise<{ total: number; file: string; commands: Record<string, number> }> {
  const file = join(dir, `callgrind.${ops}`);
  const args = ['--tool=callgrind', '--smc-check=all-non-file', `--callgrind-out-file=${file}`, process.execPath, '--single-threaded', script, '--child'];
  args.push('--path', v.path!, '--lib', v.lib!, '--ops', String(ops), '--warmup', v.warmup!, '--shape', v.shape!, '--clock-scale', v['clock-scale']!);
  if (v['node-redis']) args.push('--node-redis');
  if (v['no-auto-pipelining']) args.push('--no-auto-pipelining');
  if (v.dist) args.push('--dist', v.dist);
  return new Promise((resolvePromise, reject) => {
    const p = spawn('valgrind', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    p.on('error', reject);
    p.on('exit', (code) => {
      const m = /Collected : (\d+)/.exec(err);
      const c = /^COMMANDS (.*)$/m.exec(err);
      if (code !== 0 || !m || !c) reject(new Error(`valgrind exited with ${code}:\n${err.slice(-2000)}`));
      else resolvePromise({ total: Number(m[1]), file, commands: JSON.parse(c[1]!) as Record<string, number> });
    });
  });
}

/** The garbage collector's functions, by name (V8's heap internals). */
const GC =
  /Scaveng|MarkCompact|Marking|Sweep|Evacuat|Heap::|heap::base|HeapObject::SizeFromMap|BodyDescriptor|MemoryAllocator|MemoryChunk|PagedSpace|NewSpace|SemiSpace|RememberedSet|SlotSet|Pretenuring|GCTracer|WeakObjects|ObjectVisitor|RecordMigratedSlot|MinorGC|Compactor|Unmapper|ArrayBufferSweeper|CodeFlush|GlobalHandles::|TypedSlot/;

/** V8's compilers (bytecode, optimizing, deoptimizing) and parser, by name. */
const COMPILER =
  /compiler::|Compiler|Compilation|Turbofan|Pipeline|Maglev|interpreter::|Parser|Scanner|Zone::|Zone\b|Deoptimiz|SourcePosition|BytecodeArray|Bytecode/;

/** Instructions by function in a callgrind output file (JIT code, which has no name, as one line). */
function functions(file: string): Map<string, number> {
  const out = execFileSync('callgrind_annotate', ['--threshold=100', file], { encoding: 'utf8', maxBuffer: 1 << 28 });
  const byName = new Map<string, number>();
  for (const line of out.split('\n')) {
    const m = /^\s*([\d,]+)\s+\([^)]*\)\s+(.*)$/.exec(line);
    if (!m || m[2]!.includes('PROGRAM TOTALS')) continue;
    let name = m[2]!.replace(/^\?\?\?:/, '').replace(/\s*\[[^\]]*\]$/, '');
    if (name.startsWith('0x')) name = '(JIT-compiled JavaScript)';
    byName.set(name, (byName.get(name) ?? 0) + Number(m[1]!.replaceAll(',', '')));
  }
  return byName;
}

if (v.child) await child();
else await parent();

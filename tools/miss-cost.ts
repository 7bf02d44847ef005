/**
 * What one getOrSet miss costs, in a form that survives a noisy machine: 64 concurrent misses on
 * new keys against a private redis-server, then per miss the process's CPU time, Redis's CPU time,
 * the Redis commands run, the context switches of this process and of Redis (Linux), and (with
 * --promises) the promises, timers and other async resources created. Counts do not depend on
 * load; times do, so compare runs interleaved. Under `taskset -c 0` this process and its Redis
 * share one core.
 *
 *   npx tsx tools/miss-cost.ts [--dist ./dist/index.js] [--seconds 2] [--promises] [--raw] [--no-lock] [--near] [--node-redis]
 *     [--lock-in key] [--stats-off] [--peer cache-manager|cache-manager-blocking]
 *
 * --dist loads a built Trove (e.g. each commit built with `npx tsup --out-dir <dir>`) instead of
 * the source; --raw measures hand-written GET + SET PX with ioredis auto-pipelining instead; --near
 * turns the near cache on (each computed value is then written tracked and kept locally);
 * --node-redis runs Trove, or the hand-written GET + SET PX, on a node-redis client instead of ioredis;
 * --lock-in key locks in lock keys instead of claims (`lockIn: 'key'`); --stats-off turns the
 * statistics off (`stats: false`); --peer measures cache-manager's `wrap` instead, set up as `npm run
 * bench` sets it up (bench/peers: @keyv/redis, so node-redis), with `nonBlocking: true` or, as
 * `cache-manager-blocking`, `false`. For a count that does not move with the machine's load, see
 * tools/instructions.ts.
 */
import { createHook } from 'node:async_hooks';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { makeUser } from '../bench/data.js';
import { cacheAside } from './cache-aside.js';
import { RedisServer } from './redis-server.js';

const { values: v } = parseArgs({
  options: {
    dist: { type: 'string' },
    seconds: { type: 'string', default: '2' },
    promises: { type: 'boolean', default: false },
    raw: { type: 'boolean', default: false },
    'no-lock': { type: 'boolean', default: false },
    near: { type: 'boolean', default: false },
    'node-redis': { type: 'boolean', default: false },
    'lock-in': { type: 'string' },
    'stats-off': { type: 'boolean', default: false },
    peer: { type: 'string' },
  },
});

type Fetch = (key: string) => Promise<unknown>;

async function main(): Promise<void> {
  const server = await RedisServer.start();
  const admin = new Redis(server.url);
  let fetch: Fetch;
  let close: () => Promise<unknown>;
  // node-redis is a devDependency, loaded only when asked for.
  const nodeRedis = v['node-redis'] ? await (await import('redis')).createClient({ url: server.url }).connect() : undefined;
  if (v.peer !== undefined) {
    if (v.peer !== 'cache-manager' && v.peer !== 'cache-manager-blocking') throw new Error(`--peer: cache-manager or cache-manager-blocking (got ${v.peer})`);
    const { cacheManager } = await import('../bench/peers/cache-manager.js');
    const adapter = await cacheManager.create({
      tier: 'l2',
      l1Entries: 0,
      ttlMs: 600_000,
      url: server.url,
      host: '127.0.0.1',
      port: server.port,
      load: (k: string) => makeUser(k),
      ...(v.peer === 'cache-manager-blocking' ? { variant: 'blocking' } : {}),
    });
    fetch = async (k) => adapter.fetch(k);
    close = () => adapter.close();
  } else if (v.raw) {
    const raw = await cacheAside(server.url, nodeRedis, makeUser);
    fetch = (k) => raw.get(`raw:${k}`);
    close = () => raw.close();
  } else {
    const mod = (v.dist ? await import(resolve(v.dist)) : await import('../src/index.js')) as typeof import('../src/index.js');
    const t = mod.createTrove({
      redis: nodeRedis ?? server.url,
      prefix: 'trove',
      commandTimeout: 2000,
      nearCache: v.near ? {} : false,
      freezeValues: false,
      ...(v['lock-in'] === undefined ? {} : { lockIn: lockIn(v['lock-in']) }),
      ...(v['stats-off'] ? { stats: false } : {}),
    });
    const region = t.region('users', { ttl: 600_000, ...(v['no-lock'] ? { lock: false } : {}) });
    fetch = (k) => region.getOrSet(k, () => makeUser(k));
    close = async () => {
      await t.close();
      await nodeRedis?.quit();
    };
  }
  const driver = nodeRedis ? 'node-redis' : 'ioredis';
  const label = v.peer
    ? `${v.peer} on node-redis`
    : v.raw
      ? `raw ${driver}`
      : `trove on ${driver}${v['no-lock'] ? ' (lock: false)' : ''}${v.near ? ' (near cache)' : ''}${v['lock-in'] ? ` (lockIn: ${v['lock-in']})` : ''}${v.dist ? ` ${v.dist}` : ''}`;
  let n = 0;
  let stop = false;
  const worker = async () => {
    while (!stop) await fetch(`m${n++}`);
  };
  const run = async (ms: number) => {
    stop = false;
    const timer = setTimeout(() => {
      stop = true;
    }, ms);
    await Promise.all(Array.from({ length: 64 }, worker));
    clearTimeout(timer);
  };
  await run(300); // warm-up: JIT, scripts loaded

  if (v.promises) {
    const counts = new Map<string, number>();
    let on = true;
    const hook = createHook({
      init(_id, type) {
        if (on) counts.set(type, (counts.get(type) ?? 0) + 1);
      },
    }).enable();
    const rounds = 50;
    for (let r = 0; r < rounds; r++) await Promise.all(Array.from({ length: 64 }, (_, i) => fetch(`p${r}-${i}`)));
    on = false;
    hook.disable();
    const per = [...counts].map(([type, c]) => `${type} ${(c / (rounds * 64)).toFixed(1)}`).join(', ');
    process.stdout.write(`${label}: per miss ${per}\n`);
  }

  await admin.config('RESETSTAT');
  const redisCpu = async () => {
    const info = await admin.info('cpu');
    const read = (name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1] ?? 0);
    return read('used_cpu_sys') + read('used_cpu_user');
  };
  const cpu0 = process.cpuUsage();
  const s0 = [switches(process.pid), switches(server.pid)];
  const r0 = await redisCpu();
  const n0 = n;
  const t0 = performance.now();
  await run(Number(v.seconds) * 1000);
  const seconds = (performance.now() - t0) / 1000;
  const ops = n - n0;
  const cpu = process.cpuUsage(cpu0);
  const s1 = [switches(process.pid), switches(server.pid)];
  const r1 = await redisCpu();
  const calls = await server.commandCalls();
  const commands = Object.entries(calls)
    .filter(([name]) => !['config|resetstat', 'info'].includes(name))
    .map(([name, c]) => `${name} ${(c / ops).toFixed(2)}`)
    .join(', ');
  process.stdout.write(
    `${label}: ${Math.round(ops / seconds).toLocaleString('en-US')} misses/s; per miss: this process ${((cpu.user + cpu.system) / ops).toFixed(1)} µs CPU, ` +
      `Redis ${(((r1 - r0) * 1e6) / ops).toFixed(1)} µs CPU; context switches: this process ${perOp(s0[0], s1[0], ops)}, Redis ${perOp(s0[1], s1[1], ops)}; commands: ${commands}\n`,
  );
  await close();
  admin.disconnect();
  await server.stop();
}

function lockIn(s: string): 'key' | 'value' {
  if (s !== 'key' && s !== 'value') throw new Error(`--lock-in: key or value (got ${s})`);
  return s;
}

/** Voluntary + involuntary context switches of a process so far (Linux /proc), or undefined. */
function switches(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    let n = 0;
    for (const m of status.matchAll(/^(?:non)?voluntary_ctxt_switches:\s+(\d+)$/gm)) n += Number(m[1]);
    return n;
  } catch {
    return undefined;
  }
}

function perOp(before: number | undefined, after: number | undefined, ops: number): string {
  return before === undefined || after === undefined ? 'n/a' : ((after - before) / ops).toFixed(3);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});

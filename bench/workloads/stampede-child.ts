/**
 * One process of the stampede workload. argv: <lib> <host> <port> <callers> <factoryMs>.
 * Prints `ready`, then for each `go <round> <startAt>` line on stdin waits until the wall-clock
 * time `startAt`, fires <callers> concurrent read-through calls on the cold key `hot-<round>`
 * and prints one JSON line with every caller's latency and how long each factory run in this
 * process took. Exits when stdin closes.
 */
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { stdinLines } from '../child-io.js';
import { sleep, wallNow } from '../driver.js';
import { type LibName, PEERS } from '../peers/index.js';
import { L1_ENTRIES, STAMPEDE_WARM_UP_BURSTS, TTL_MS } from './common.js';

const [lib, host, portText, callersText, factoryMsText] = process.argv.slice(2);
/** The keys of the warm-up bursts (see below) start with this. */
const WARM_UP_PREFIX = 'warm-up-';
const port = Number(portText);
const callers = Number(callersText);
const factoryMs = Number(factoryMsText);

async function main(): Promise<void> {
  const counter = new Redis({ host, port });
  let factoryRuns: number[] = [];
  const adapter = await PEERS[lib as LibName].create({
    url: `redis://${host}:${port}`,
    host: host!,
    port,
    tier: 'l2',
    ttlMs: TTL_MS,
    l1Entries: L1_ENTRIES,
    // The factory: counts its runs in Redis (so runs add up across processes), then takes factoryMs.
    load: async (key) => {
      // The warm-up's keys (see below): answered at once, not counted.
      if (key.startsWith(WARM_UP_PREFIX)) return { key, pid: process.pid };
      const started = performance.now();
      await counter.incr(`stampede-runs:${lib}:${key}`);
      await sleep(factoryMs);
      factoryRuns.push(performance.now() - started);
      return { key, pid: process.pid };
    },
  });
  // A stampede in production meets processes that have been serving for a while: their code is
  // compiled, their connections and buffers in use. Before the first round each process runs
  // bursts like a round's on keys of its own (the factory answering at once), so what a round
  // measures is a warm process, for every library alike.
  for (let burst = 0; burst < STAMPEDE_WARM_UP_BURSTS; burst++) {
    const key = `${WARM_UP_PREFIX}${process.pid}-${burst}`;
    await Promise.all(Array.from({ length: callers }, () => adapter.fetch(key)));
  }
  process.stdout.write('ready\n');
  for await (const line of stdinLines()) {
    const [cmd, roundText, startAtText] = line.split(' ');
    if (cmd !== 'go') continue;
    const key = `hot-${roundText}`;
    const wait = Number(startAtText) - wallNow();
    if (wait > 3) await sleep(Math.floor(wait - 2));
    while (wallNow() < Number(startAtText)) {
      // Spin the last millisecond so every process starts within a fraction of a millisecond.
    }
    const latencies: number[] = [];
    factoryRuns = [];
    let errors = 0;
    let wrong = 0;
    const started = performance.now();
    // How late this process began after the common instant (a busy machine deschedules spinners).
    const late = wallNow() - Number(startAtText);
    await Promise.all(
      Array.from({ length: callers }, async () => {
        try {
          const value = (await adapter.fetch(key)) as { key?: string } | undefined;
          if (value?.key !== key) wrong++;
        } catch {
          errors++;
        }
        latencies.push(performance.now() - started);
      }),
    );
    process.stdout.write(`${JSON.stringify({ round: Number(roundText), latencies, factoryRuns, errors, wrong, late })}\n`);
  }
  await adapter.close();
  await counter.quit();
}

main().catch((err: unknown) => {
  process.stderr.write(`stampede child (${lib}) failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  // Connections may still be open: leave now, the parent reads the exit.
  process.exit(1);
});

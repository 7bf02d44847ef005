/**
 * One process of the cluster workload's stampede table. argv: one JSON `StampedeChildArgs`.
 * Prints `ready`, then for each `go <round> <startAt>` line on stdin waits until the wall-clock
 * time `startAt`, fires `callers` concurrent getOrSet calls on the cold key `hot-<round>` and
 * prints one JSON line: every caller's latency and how many times this process's factory ran
 * (the parent adds them up across processes). Exits when stdin closes.
 */
import { performance } from 'node:perf_hooks';
import { createTrove } from '../../src/index.js';
import { stdinLines } from '../child-io.js';
import { sleep, wallNow } from '../driver.js';
import { TTL_MS } from './common.js';
import { type Target, troveOptions, waitTroveReachable } from './cluster-subjects.js';

export interface StampedeChildArgs {
  target: Target;
  callers: number;
  factoryMs: number;
}

export interface StampedeChildReport {
  /** The round's name: its number, or `warm-up`. */
  round: string;
  latencies: number[];
  runs: number;
  errors: number;
  wrong: number;
}

const args = JSON.parse(process.argv[2]!) as StampedeChildArgs;

async function main(): Promise<void> {
  const t = createTrove(troveOptions(args.target, false));
  const region = t.region('users', { ttl: TTL_MS });
  // Also subscribes the notification channel, so the first cold key already wakes this process's waiters.
  await waitTroveReachable(t, region);
  let runs = 0;
  process.stdout.write('ready\n');
  for await (const line of stdinLines()) {
    const [cmd, roundText, startAtText] = line.split(' ');
    if (cmd !== 'go') continue;
    const key = `hot-${roundText}`;
    const runsBefore = runs;
    const factory = async () => {
      runs++;
      await sleep(args.factoryMs);
      return { key, pid: process.pid };
    };
    const wait = Number(startAtText) - wallNow();
    if (wait > 3) await sleep(Math.floor(wait - 2));
    while (wallNow() < Number(startAtText)) {
      // Spin the last millisecond so every process starts within a fraction of a millisecond.
    }
    const latencies: number[] = [];
    let errors = 0;
    let wrong = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: args.callers }, async () => {
        try {
          const value = (await region.getOrSet(key, factory)) as { key?: string } | undefined;
          if (value?.key !== key) wrong++;
        } catch {
          errors++;
        }
        latencies.push(performance.now() - started);
      }),
    );
    const report: StampedeChildReport = { round: roundText!, latencies, runs: runs - runsBefore, errors, wrong };
    process.stdout.write(`${JSON.stringify(report)}\n`);
  }
  await t.close();
}

main().catch((err: unknown) => {
  process.stderr.write(`cluster stampede child failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});

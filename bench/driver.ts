import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * Runs `total` operations with `concurrency` async workers, each awaiting one operation at a time
 * (a worker picks the next index as soon as its previous operation settles). Resolves to the
 * elapsed milliseconds. `concurrency` 1 is a plain sequential awaited loop.
 */
export async function runConcurrent(concurrency: number, total: number, op: (i: number) => unknown): Promise<number> {
  let next = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      const i = next++;
      if (i >= total) return;
      await op(i);
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, worker));
  return performance.now() - started;
}

/**
 * Runs operations with `concurrency` async workers (as `runConcurrent`) for about `ms`
 * milliseconds. Resolves to the operations completed and the elapsed milliseconds. Each worker
 * reads the clock every 16 operations only, so a fast operation is not slowed down by it.
 */
export async function runFor(concurrency: number, ms: number, op: (i: number) => unknown): Promise<{ ops: number; ms: number }> {
  let next = 0;
  let stop = false;
  const started = performance.now();
  const deadline = started + ms;
  const worker = async (): Promise<void> => {
    for (let n = 1; !stop; n++) {
      if ((n & 15) === 0 && performance.now() >= deadline) {
        stop = true;
        return;
      }
      await op(next++);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { ops: next, ms: performance.now() - started };
}

/**
 * One sequential awaited loop for about `ms` milliseconds, as `runFor` with concurrency 1, that
 * also records each operation's latency into `latencies` (milliseconds). One clock read per
 * operation: an operation ends where the next one starts, so the latency a caller sees includes
 * the loop's own await, and nothing is left out of the throughput.
 */
export async function runSequentialTimed(ms: number, op: (i: number) => unknown, latencies: number[]): Promise<{ ops: number; ms: number }> {
  let i = 0;
  const started = performance.now();
  const deadline = started + ms;
  let t = started;
  while (t < deadline) {
    await op(i++);
    const now = performance.now();
    latencies.push(now - t);
    t = now;
  }
  return { ops: i, ms: t - started };
}

/** Operations per second of a timed run. */
export function opsPerSec(ops: number, ms: number): number {
  return ms > 0 ? (ops / ms) * 1000 : Number.NaN;
}

let gcFn: ((options?: { type: 'major' | 'minor' }) => void) | undefined;

/**
 * A garbage collection between measurements, so one library's garbage is not collected on
 * another's clock.
 *
 * `minor` (the default) empties the young generation, where per-operation garbage lives. A full
 * (`major`) collection also makes V8 drop optimized code whose embedded objects died ("weak
 * objects" deoptimizations), so every measurement after it would start half-interpreted: with
 * a full collection before each 10k-operation slice, Redis-hit throughput fell by a quarter to a
 * third for every library. Servers do not collect fully every few milliseconds.
 */
export function collectGarbage(type: 'major' | 'minor' = 'minor'): void {
  if (!gcFn) {
    setFlagsFromString('--expose-gc');
    gcFn = runInNewContext('gc') as (options?: { type: 'major' | 'minor' }) => void;
  }
  gcFn({ type });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Wall-clock milliseconds with sub-millisecond resolution, comparable between processes on one machine. */
export function wallNow(): number {
  return performance.timeOrigin + performance.now();
}

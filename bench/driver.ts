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

/** Operations per second of a timed run. */
export function opsPerSec(ops: number, ms: number): number {
  return ms > 0 ? (ops / ms) * 1000 : Number.NaN;
}

let gcFn: (() => void) | undefined;

/** A full garbage collection between measurements, so one library's garbage is not collected on another's clock. */
export function collectGarbage(): void {
  if (!gcFn) {
    setFlagsFromString('--expose-gc');
    gcFn = runInNewContext('gc') as () => void;
  }
  gcFn();
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Wall-clock milliseconds with sub-millisecond resolution, comparable between processes on one machine. */
export function wallNow(): number {
  return performance.timeOrigin + performance.now();
}

/** Spawns worker processes running test/load/fixtures/worker.ts and collects their results. */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const worker = fileURLToPath(new URL('./fixtures/worker.ts', import.meta.url));

export interface CallResult {
  ok: boolean;
  value?: number;
  code?: string;
  ms: number;
}

export interface WorkerRun {
  child: ChildProcess;
  /** Resolves when the worker printed "computing". */
  computing: Promise<void>;
  /** Resolves when the worker is connected and waiting for go(). */
  ready: Promise<void>;
  go(): void;
  done: Promise<{ pid: number; results: CallResult[] } | undefined>;
}

export function startWorker(plan: Record<string, unknown>): WorkerRun {
  const child = spawn(process.execPath, ['--import', 'tsx', worker, JSON.stringify(plan)], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  let onComputing: () => void = () => {};
  let onReady: () => void = () => {};
  const computing = new Promise<void>((r) => {
    onComputing = r;
  });
  const ready = new Promise<void>((r) => {
    onReady = r;
  });
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    if (out.includes('ready\n')) onReady();
    if (out.includes('computing\n')) onComputing();
  });
  const done = new Promise<{ pid: number; results: CallResult[] } | undefined>((resolve) => {
    child.on('exit', () => {
      const line = out.split('\n').find((l) => l.startsWith('{'));
      resolve(line ? JSON.parse(line) : undefined);
    });
  });
  return { child, computing, ready, done, go: () => child.stdin!.write('go\n') };
}

/** Starts n workers with the same plan and releases them together once all are ready. */
export async function runWorkers(n: number, plan: Record<string, unknown>): Promise<{ runs: WorkerRun[]; results: CallResult[][] }> {
  const runs = Array.from({ length: n }, () => startWorker(plan));
  await Promise.all(runs.map((r) => r.ready));
  for (const r of runs) r.go();
  const done = await Promise.all(runs.map((r) => r.done));
  return { runs, results: done.map((d) => d?.results ?? []) };
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

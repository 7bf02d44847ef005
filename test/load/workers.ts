/** Spawns worker processes running test/load/fixtures/worker.ts and collects their results. */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { bundled } from '../helpers/bundled.js';

const worker = fileURLToPath(new URL('./fixtures/worker.ts', import.meta.url));

export interface CallResult {
  ok: boolean;
  value?: number;
  /** With `many`: the process that computed each key's value, in the order of the keys. */
  values?: number[];
  code?: string;
  ms: number;
}

export interface WorkerOutput {
  pid: number;
  results: CallResult[];
  /** The error events its trove emitted (before closing), as `operation CODE: message`. */
  errors: string[];
}

export interface WorkerRun {
  child: ChildProcess;
  /** Resolves when the worker printed "computing". */
  computing: Promise<void>;
  /** Resolves when the worker is connected and waiting for go(). */
  ready: Promise<void>;
  /** Resolves when one of its callers waits for another process's value (plan.announceWait). */
  waiting: Promise<void>;
  /** Resolves when every caller has been answered (the process may linger for background work). */
  answered: Promise<void>;
  go(): void;
  /** Resolves when the worker exited: what it printed, or undefined if it did not get that far (killed). */
  done: Promise<WorkerOutput | undefined>;
}

export function startWorker(plan: Record<string, unknown>): WorkerRun {
  const child = spawn(process.execPath, [bundled(worker), JSON.stringify(plan)], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  let onComputing: () => void = () => {};
  let onReady: () => void = () => {};
  let onWaiting: () => void = () => {};
  let onAnswered: () => void = () => {};
  const computing = new Promise<void>((r) => {
    onComputing = r;
  });
  const ready = new Promise<void>((r) => {
    onReady = r;
  });
  const waiting = new Promise<void>((r) => {
    onWaiting = r;
  });
  const answered = new Promise<void>((r) => {
    onAnswered = r;
  });
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    if (out.includes('ready\n')) onReady();
    if (out.includes('computing\n')) onComputing();
    if (out.includes('waiting\n')) onWaiting();
    if (out.includes('"results"')) onAnswered();
  });
  const done = new Promise<WorkerOutput | undefined>((resolve) => {
    child.on('exit', () => {
      const lines = out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Partial<WorkerOutput>);
      const results = lines.find((l) => l.results);
      const errors = lines.find((l) => l.errors);
      resolve(results && errors ? { pid: results.pid!, results: results.results!, errors: errors.errors! } : undefined);
    });
  });
  return { child, computing, ready, waiting, answered, done, go: () => child.stdin!.write('go\n') };
}

/** Starts n workers with the same plan and releases them together once all are ready. */
export async function runWorkers(n: number, plan: Plan): Promise<{ runs: WorkerRun[]; outputs: WorkerOutput[] }> {
  const runs = startAll(n, plan);
  await goTogether(runs);
  const done = await Promise.all(runs.map((r) => r.done));
  return { runs, outputs: done.map((d, i) => d ?? failed(runs[i]!)) };
}

/** A worker's plan, or each worker's by its index. */
type Plan = Record<string, unknown> | ((index: number) => Record<string, unknown>);

/** Starts n workers with the same plan (or each with its own). */
export function startAll(n: number, plan: Plan): WorkerRun[] {
  return Array.from({ length: n }, (_, i) => startWorker(typeof plan === 'function' ? plan(i) : plan));
}

/** Releases workers together once all are ready. */
export async function goTogether(runs: WorkerRun[]): Promise<void> {
  await Promise.all(runs.map((r) => r.ready));
  for (const r of runs) r.go();
}

function failed(run: WorkerRun): never {
  throw new Error(`worker ${run.child.pid} exited without its results`);
}

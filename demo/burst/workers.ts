/**
 * The primary's side of the worker processes: forks them with node:cluster, waits until each one
 * listens, asks them for their counters, and stops them.
 *
 * Why node:cluster: all workers share one port, the way a service runs behind one address; the
 * primary hands each new connection to the next worker in turn (round-robin on Linux), so the
 * keep-alive connections of the load generator end up spread evenly over the processes.
 */
import cluster, { type Worker } from 'node:cluster';
import { fileURLToPath } from 'node:url';
import type { FromWorker, ToWorker, WorkerEnv, WorkerStats } from './protocol.js';

export interface Pool {
  /** The HTTP port every worker listens on. */
  port: number;
  size: number;
  /** Cumulative counters of every worker. */
  stats(): Promise<WorkerStats[]>;
  /** Stops every worker; resolves to the workers that did not exit cleanly (by id). */
  stop(): Promise<string[]>;
}

const STARTUP_MS = 20_000;

export async function startWorkers(n: number, env: Omit<WorkerEnv, 'BURST_WORKER'>, onComputed: () => void): Promise<Pool> {
  // Workers run the TypeScript worker module with the same loader flags as this process (tsx).
  cluster.setupPrimary({ exec: fileURLToPath(new URL('./worker.ts', import.meta.url)) });
  const workers = new Map<number, Worker>();
  const exited = new Map<number, Promise<number | null>>();
  const pendingStats = new Map<number, (s: WorkerStats) => void>();
  const ports = new Set<number>();

  const ready = Array.from({ length: n }, (_, i) => {
    const id = i + 1;
    const w = cluster.fork({ ...env, BURST_WORKER: String(id) } satisfies WorkerEnv);
    workers.set(id, w);
    exited.set(id, new Promise((resolve) => w.once('exit', (code) => resolve(code))));
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`worker ${id} not ready within ${STARTUP_MS / 1000} s`)), STARTUP_MS);
      w.on('message', (m: FromWorker) => {
        if (m.type === 'ready') {
          ports.add(m.port);
          clearTimeout(timer);
          resolve();
        } else if (m.type === 'failed') {
          clearTimeout(timer);
          reject(new Error(`worker ${id} failed to start: ${m.message}`));
        } else if (m.type === 'computed') onComputed();
        else if (m.type === 'stats') pendingStats.get(id)?.(m.stats);
      });
      w.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`worker ${id} exited during start-up (${signal ?? code})`));
      });
    });
  });

  const stop = async (): Promise<string[]> => {
    const unclean: string[] = [];
    await Promise.all(
      [...workers].map(async ([id, w]) => {
        if (w.isConnected()) w.send({ type: 'shutdown' } satisfies ToWorker);
        const timer = setTimeout(() => {
          unclean.push(`worker ${id} did not exit within 5 s (killed)`);
          w.process.kill('SIGKILL');
        }, 5_000);
        const code = await exited.get(id);
        clearTimeout(timer);
        if (code !== 0 && code !== null) unclean.push(`worker ${id} exited with code ${code}`);
      }),
    );
    return unclean;
  };

  try {
    await Promise.all(ready);
  } catch (err) {
    await stop();
    throw err;
  }
  if (ports.size !== 1) {
    await stop();
    throw new Error(`workers listen on different ports: ${[...ports].join(', ')}`);
  }

  const ask = (id: number, w: Worker) =>
    new Promise<WorkerStats>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`worker ${id} did not report its counters`)), 5_000);
      pendingStats.set(id, (s) => {
        clearTimeout(timer);
        pendingStats.delete(id);
        resolve(s);
      });
      w.send({ type: 'stats' } satisfies ToWorker);
    });

  return {
    port: [...ports][0]!,
    size: n,
    stats: () => Promise.all([...workers].map(([id, w]) => ask(id, w))),
    stop,
  };
}

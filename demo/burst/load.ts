/**
 * The load generator: fires N requests at once over a keep-alive agent, times each one from the
 * moment it is issued to the last byte of its answer, and sums the results up.
 */
import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { ErrorBody, ReportBody } from './protocol.js';

/** One answered (or failed) request. `status` 0: no HTTP answer (connection error, timeout). */
export interface Outcome {
  status: number;
  ms: number;
  /** Time spent in the worker's handler (its Server-Timing header). */
  appMs?: number;
  servedBy?: number;
  /** Which computation run produced the report (200 answers). */
  run?: number;
  retryAfter?: number;
  error?: string;
}

export interface Burst {
  outcomes: Outcome[];
  wallMs: number;
}

const REQUEST_TIMEOUT_MS = 15_000;

/** An agent that keeps one connection per concurrent request open between bursts. */
export function createAgent(connections: number): Agent {
  return new Agent({ keepAlive: true, maxSockets: connections, maxFreeSockets: connections, keepAliveMsecs: 10_000 });
}

export function get(agent: Agent, port: number, path: string): Promise<Outcome> {
  const started = performance.now();
  return new Promise((resolve) => {
    const done = (o: Omit<Outcome, 'ms'>) => resolve({ ...o, ms: performance.now() - started });
    const req = request({ agent, host: '127.0.0.1', port, path, method: 'GET' }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (err) => done({ status: 0, error: err.message }));
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        const retryAfter = res.headers['retry-after'] === undefined ? undefined : Number(res.headers['retry-after']);
        const timing = /dur=([\d.]+)/.exec(String(res.headers['server-timing'] ?? ''));
        const appMs = timing ? Number(timing[1]) : undefined;
        try {
          const body = JSON.parse(Buffer.concat(chunks).toString()) as Partial<ReportBody & ErrorBody>;
          done({ status, appMs, servedBy: body.servedBy, run: body.run, retryAfter, error: body.error });
        } catch {
          done({ status, appMs, retryAfter, error: 'unreadable body' });
        }
      });
    });
    req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS / 1000} s`)));
    req.on('error', (err) => done({ status: 0, error: err.message }));
    req.end();
  });
}

/** Issues `n` requests for `path` all at once and waits for every answer. */
export async function burst(agent: Agent, port: number, path: string, n: number): Promise<Burst> {
  const started = performance.now();
  const outcomes = await Promise.all(Array.from({ length: n }, () => get(agent, port, path)));
  return { outcomes, wallMs: performance.now() - started };
}

export interface Latency {
  p50: number;
  p99: number;
  max: number;
}

export interface Summary {
  requests: number;
  ok: number;
  /** Count per HTTP status (0: no answer). */
  byStatus: Map<number, number>;
  latency: Latency;
  /** Time the answers spent in the workers' handler (the rest is HTTP, queueing and the client). */
  appLatency: Latency;
  /** Latency of the answers with each status. */
  latencyByStatus: Map<number, Latency>;
  /** Requests answered per worker id. */
  byWorker: Map<number, number>;
  /** 200 answers per computation run. */
  byRun: Map<number, number>;
  /** Distinct Retry-After values seen. */
  retryAfter: Set<number>;
  /** Distinct error texts of failed requests (first few). */
  failures: string[];
  wallMs: number;
}

export function summarize({ outcomes, wallMs }: Burst): Summary {
  const byStatus = new Map<number, number>();
  const byWorker = new Map<number, number>();
  const byRun = new Map<number, number>();
  const msByStatus = new Map<number, number[]>();
  const retryAfter = new Set<number>();
  const failures = new Set<string>();
  for (const o of outcomes) {
    bump(byStatus, o.status);
    if (o.servedBy !== undefined) bump(byWorker, o.servedBy);
    if (o.status === 200 && o.run !== undefined) bump(byRun, o.run);
    if (o.retryAfter !== undefined) retryAfter.add(o.retryAfter);
    if (o.status !== 200 && o.status !== 503 && failures.size < 5) failures.add(`${o.status || 'no answer'}: ${o.error ?? '?'}`);
    const list = msByStatus.get(o.status);
    if (list) list.push(o.ms);
    else msByStatus.set(o.status, [o.ms]);
  }
  const latencyByStatus = new Map([...msByStatus].map(([status, ms]) => [status, latencyOf(ms)] as const));
  return {
    requests: outcomes.length,
    ok: byStatus.get(200) ?? 0,
    byStatus,
    latency: latencyOf(outcomes.map((o) => o.ms)),
    appLatency: latencyOf(outcomes.flatMap((o) => (o.appMs === undefined ? [] : [o.appMs]))),
    latencyByStatus,
    byWorker,
    byRun,
    retryAfter,
    failures: [...failures],
    wallMs,
  };
}

function bump(map: Map<number, number>, key: number): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

function latencyOf(ms: number[]): Latency {
  const sorted = Float64Array.from(ms).sort();
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted[sorted.length - 1] ?? 0 };
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/**
 * One worker process of the burst demo: an HTTP server answering `GET /report/:id` from a Trove
 * region, computing a missing report with a slow function whose runs are counted in Redis.
 * Started by the primary through node:cluster; configured by the environment (see WorkerEnv).
 */
import cluster from 'node:cluster';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { ColdCacheError, createTrove, type GetOrSetOptions } from '../../src/index.js';
import {
  COMPUTE_MS,
  COUNTER_KEY,
  type ErrorBody,
  FRESH_FOR,
  type FromWorker,
  isMode,
  type Mode,
  type ReportBody,
  type ToWorker,
  type WorkerStats,
} from './protocol.js';

type Report = Omit<ReportBody, 'servedBy'>;

const worker = Number(process.env.BURST_WORKER ?? '0');
const redisUrl = process.env.BURST_REDIS || undefined;

const trove = createTrove({ redis: redisUrl, prefix: 'demo', version: process.env.BURST_VERSION ?? 'v1', commandTimeout: 1000 });
const reports = trove.region<Report>('reports', { ttl: '1h', freshFor: FRESH_FOR });

/** Read-through options per `?mode=`. */
const OPTIONS: Record<Mode, GetOrSetOptions> = {
  wait: {},
  // The loser's retryAfterMs is what is left of the winner's lock lease: a short lease (renewed
  // while the computation runs) turns it into a tight Retry-After. Fresh for a minute, so the
  // retries find the report fresh however long the burst took (not a stale one to refresh).
  fail: { onCold: 'fail', lockLease: '1s', freshFor: '1m' },
  nolock: { lock: false },
};

/** A separate connection for the demo's own bookkeeping, so it never touches Trove's. */
const counter = redisUrl ? new Redis(redisUrl, { maxRetriesPerRequest: 1 }) : undefined;
counter?.on('error', () => {});

const stats: WorkerStats = { worker, computing: 0, computes: 0, stale: 0, errors: 0, errorSamples: [] };
trove.on('compute', () => stats.computes++);
trove.on('stale', () => stats.stale++);
trove.on('error', (e) => {
  stats.errors++;
  if (stats.errorSamples.length < 5) stats.errorSamples.push(`${e.operation} ${e.key ?? ''}: ${e.error.code} ${e.error.message}`);
});

function send(message: FromWorker): void {
  process.send?.(message);
}

/** The expensive part: ~500 ms of "query", counted across all processes. */
async function computeReport(id: string): Promise<Report> {
  stats.computing++;
  try {
    let run: number;
    if (counter) run = await counter.incr(COUNTER_KEY);
    else {
      send({ type: 'computed', worker });
      run = stats.computes + 1;
    }
    await sleep(COMPUTE_MS);
    return { id, run, computedBy: worker, computedAt: new Date().toISOString() };
  } finally {
    stats.computing--;
  }
}

/** Sends a JSON answer; Server-Timing says how long the handler took, apart from HTTP and queueing. */
function reply(res: ServerResponse, started: number, status: number, body: object, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  const timing = `app;dur=${(performance.now() - started).toFixed(2)}`;
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'server-timing': timing, ...headers });
  res.end(text);
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const started = performance.now();
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (url.pathname === '/health') {
    // Also a round trip through Trove, so the first burst does not pay for warming up its read path.
    await reports.get('health');
    return reply(res, started, 200, { servedBy: worker });
  }
  const match = /^\/report\/([\w-]+)$/.exec(url.pathname);
  const mode = url.searchParams.get('mode') ?? 'wait';
  if (req.method !== 'GET' || !match || !isMode(mode))
    return reply(res, started, 404, { error: 'NOT_FOUND', message: 'try GET /report/:id', servedBy: worker });
  const id = match[1]!;
  try {
    const report = await reports.getOrSet(id, () => computeReport(id), OPTIONS[mode]);
    reply(res, started, 200, { ...report, servedBy: worker } satisfies ReportBody);
  } catch (err) {
    if (err instanceof ColdCacheError) {
      // Another process is computing it: tell the client when to come back.
      const seconds = Math.max(1, Math.ceil(err.retryAfterMs / 1000));
      const body: ErrorBody = { error: err.code, message: err.message, retryAfterMs: err.retryAfterMs, servedBy: worker };
      return reply(res, started, 503, body, { 'retry-after': String(seconds) });
    }
    const e = err as { code?: string; message?: string };
    reply(res, started, 500, { error: e.code ?? 'INTERNAL', message: e.message ?? String(err), servedBy: worker } satisfies ErrorBody);
  }
}

const server = createServer((req, res) => {
  handle(req, res).catch((err: unknown) => {
    if (!res.headersSent) reply(res, performance.now(), 500, { error: 'INTERNAL', message: String(err), servedBy: worker });
  });
});
// The load generator keeps its connections open between phases (several seconds apart).
server.keepAliveTimeout = 60_000;

let stopping = false;
async function shutdown(): Promise<void> {
  if (stopping) return;
  stopping = true;
  // Should anything still hold the event loop open, leave anyway.
  setTimeout(() => process.exit(0), 3_000).unref();
  server.close();
  server.closeAllConnections();
  await trove.close();
  await counter?.quit().catch(() => counter.disconnect());
  if (cluster.worker?.isConnected()) cluster.worker.disconnect();
}

process.on('message', (message: ToWorker) => {
  if (message.type === 'stats') send({ type: 'stats', stats: { ...stats, errorSamples: [...stats.errorSamples] } });
  else if (message.type === 'shutdown') void shutdown();
});
// The primary went away: no one is left to send requests.
process.on('disconnect', () => void shutdown());

async function start(): Promise<void> {
  await trove.ready();
  if (counter) await counter.ping();
  // Under node:cluster every worker listening on port 0 shares the one port the primary picked.
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  send({ type: 'ready', worker, port: (server.address() as AddressInfo).port });
}

start().catch((err: unknown) => {
  send({ type: 'failed', worker, message: err instanceof Error ? err.message : String(err) });
  void shutdown();
});

/**
 * The burst demo: a cold report meets a burst of concurrent HTTP requests spread over several
 * worker processes. A per-process cache computes it once per process (or once per request);
 * Trove computes it once across all processes, serves stale values while one process refreshes,
 * and never fails a request it could answer.
 *
 *   npx tsx demo/burst/index.ts [--workers 4] [--requests 1000] [--embedded]
 *
 * Redis: REDIS_URL when set, else a private redis-server on a free port, else the embedded store
 * (single process only, so one worker). Exits with code 1 if a guarantee did not hold.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { type Backend, openBackend } from './backend.js';
import { burst, createAgent, get, summarize, type Summary } from './load.js';
import { burstFields, field, heading, ms, say, table } from './print.js';
import { COMPUTE_MS, FRESH_FOR, FRESH_FOR_MS, type Mode, reportPath, type WorkerStats } from './protocol.js';
import { type Pool, startWorkers } from './workers.js';

interface Run {
  agent: ReturnType<typeof createAgent>;
  pool: Pool;
  backend: Backend;
  requests: number;
}

interface Measured {
  summary: Summary;
  computations: number;
  events: { computes: number; stale: number; errors: number; samples: string[] };
  /** When the last answer arrived (epoch ms). */
  endedAt: number;
}

interface PhaseResult {
  name: string;
  measured: Measured;
  /** Guarantees that did not hold. */
  problems: string[];
}

const SETTLE_LIMIT_MS = 5_000;

function options(): { workers: number; requests: number; embedded: boolean } {
  const { values } = parseArgs({
    options: {
      workers: { type: 'string', default: '4' },
      requests: { type: 'string', default: '1000' },
      embedded: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    say('usage: npx tsx demo/burst/index.ts [--workers N (default 4)] [--requests N (default 1000)] [--embedded]');
    process.exit(0);
  }
  const int = (name: string, text: string, min: number, max: number): number => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name} must be an integer from ${min} to ${max}, got ${text}`);
    return n;
  };
  return { workers: int('workers', values.workers, 1, 32), requests: int('requests', values.requests, 1, 10_000), embedded: values.embedded };
}

/** Counters of all workers added up. */
function total(stats: WorkerStats[]) {
  return {
    computes: stats.reduce((n, s) => n + s.computes, 0),
    stale: stats.reduce((n, s) => n + s.stale, 0),
    errors: stats.reduce((n, s) => n + s.errors, 0),
    samples: stats.flatMap((s) => s.errorSamples.map((e) => `w${s.worker} ${e}`)),
  };
}

/** Waits until no computation runs anywhere and the counter has stopped moving. */
async function settle(run: Run): Promise<void> {
  const deadline = Date.now() + SETTLE_LIMIT_MS;
  let last = -1;
  let quiet = 0;
  while (Date.now() < deadline) {
    const [stats, count] = await Promise.all([run.pool.stats(), run.backend.computations()]);
    quiet = stats.every((s) => s.computing === 0) && count === last ? quiet + 1 : 0;
    if (quiet >= 3) return;
    last = count;
    await sleep(100);
  }
}

/** One burst of concurrent requests for `path`, with what it cost (after background work ends). */
async function measure(run: Run, path: string, requests = run.requests): Promise<Measured> {
  const [statsBefore, countBefore] = await Promise.all([run.pool.stats(), run.backend.computations()]);
  const result = await burst(run.agent, run.pool.port, path, requests);
  const endedAt = Date.now();
  await settle(run);
  const [statsAfter, countAfter] = await Promise.all([run.pool.stats(), run.backend.computations()]);
  const before = total(statsBefore);
  const after = total(statsAfter);
  return {
    summary: summarize(result),
    computations: countAfter - countBefore,
    events: {
      computes: after.computes - before.computes,
      stale: after.stale - before.stale,
      errors: after.errors - before.errors,
      samples: after.samples.slice(before.samples.length),
    },
    endedAt,
  };
}

function eventsField(m: Measured): void {
  field('trove events', `compute ${m.events.computes}, stale ${m.events.stale}, error ${m.events.errors}`);
  for (const s of m.events.samples) field('', s);
}

function verdict(problems: string[], fine: string): void {
  if (problems.length === 0) field('result', `as expected: ${fine}`);
  else for (const p of problems) field('result', `UNEXPECTED: ${p}`);
}

/** Checks shared by every phase that must compute exactly once and answer everything. */
function exactlyOnce(m: Measured, requests: number): string[] {
  const problems: string[] = [];
  if (m.computations !== 1) problems.push(`the report was computed ${m.computations} times (expected 1)`);
  if (m.summary.ok !== requests) problems.push(`${requests - m.summary.ok} of ${requests} requests were not answered 200`);
  if (m.events.errors > 0) problems.push(`${m.events.errors} trove error events`);
  return problems;
}

async function coldBurst(run: Run): Promise<PhaseResult> {
  heading(
    'a. Cold burst',
    `The cache is empty and ${run.requests} concurrent requests ask for the same report. One process computes it (${COMPUTE_MS} ms); every other request, in every process, waits for that value.`,
  );
  const m = await measure(run, reportPath('q3-revenue', 'wait'));
  burstFields(m.summary, m.computations);
  eventsField(m);
  const problems = exactlyOnce(m, run.requests);
  verdict(problems, `one computation for ${run.requests} requests, no errors`);
  return { name: 'a. cold burst', measured: m, problems };
}

async function staleBurst(run: Run, cold: Measured): Promise<PhaseResult> {
  const firstRun = [...cold.summary.byRun.keys()][0];
  const wait = Math.max(0, cold.endedAt + FRESH_FOR_MS + 200 - Date.now());
  heading(
    'b. Stale burst',
    `The same report, now older than freshFor (${FRESH_FOR}): ${run.requests} concurrent requests are answered at once with the stale report, while exactly one process refreshes it in the background.`,
  );
  field('waiting', `${ms(wait)} for the report to go stale`);
  await sleep(wait);
  const path = reportPath('q3-revenue', 'wait');
  const m = await measure(run, path);
  burstFields(m.summary, m.computations);
  const next = await get(run.agent, run.pool.port, path);
  const label = (r: number) => (r === firstRun ? ' (the stale one)' : r === next.run ? ' (the refreshed one)' : '');
  field('reports served', [...m.summary.byRun].map(([r, n]) => `${n} x run #${r}${label(r)}`).join(', '));
  field('next request', `run #${next.run ?? '?'}${label(next.run ?? -1) || ' (?)'}, ${ms(next.ms)}`);
  eventsField(m);
  const problems = exactlyOnce(m, run.requests);
  const other = [...m.summary.byRun.keys()].filter((r) => r !== firstRun && r !== next.run);
  if (other.length > 0) problems.push(`answers came from unexpected runs: ${other.join(', ')}`);
  if (next.run === firstRun) problems.push('the refresh did not land');
  // On a very slow machine the burst can outlast the refresh; then its last requests get the new report.
  const late = next.run === undefined ? 0 : (m.summary.byRun.get(next.run) ?? 0);
  if (late > 0 && next.run !== firstRun) field('note', `${late} requests arrived after the refresh had landed`);
  if (m.summary.latency.p99 > COMPUTE_MS / 2) {
    field(
      'note',
      `p99 is not far below the ${COMPUTE_MS} ms computation; in the handler it was ${ms(m.summary.appLatency.p99)}, the rest is HTTP and waiting for a CPU`,
    );
  }
  verdict(problems, `all ${run.requests} requests answered from the cache while exactly one refresh ran`);
  return { name: 'b. stale burst', measured: m, problems };
}

async function failFast(run: Run, workers: number): Promise<PhaseResult> {
  heading(
    "c. onCold: 'fail'",
    `A new cold report, asked for with onCold: 'fail'. The process that wins the lock computes it (its requests share that computation); requests landing on the other workers are answered 503 with Retry-After at once, instead of holding a connection for ${COMPUTE_MS} ms.`,
  );
  const path = reportPath('q3-churn', 'fail' satisfies Mode);
  const m = await measure(run, path);
  burstFields(m.summary, m.computations);
  const retryAfter = [...m.summary.retryAfter].sort((a, b) => a - b);
  if (retryAfter.length > 0) field('Retry-After', retryAfter.map((s) => `${s} s`).join(', '));
  eventsField(m);
  const problems: string[] = [];
  const unavailable = m.summary.byStatus.get(503) ?? 0;
  if (m.computations !== 1) problems.push(`the report was computed ${m.computations} times (expected 1)`);
  if (m.summary.ok + unavailable !== run.requests) problems.push(`${run.requests - m.summary.ok - unavailable} answers were neither 200 nor 503`);
  if (m.events.errors > 0) problems.push(`${m.events.errors} trove error events`);
  if (unavailable === 0) {
    field('note', workers === 1 ? 'with one process nobody loses the race: every request shares its computation' : 'no request lost the race this time');
  }
  const fast = m.summary.latencyByStatus.get(503);
  if (fast && fast.p99 > COMPUTE_MS / 2) field('note', `503 answers were slower than expected (p99 ${ms(fast.p99)}): HTTP and waiting for a CPU`);
  if (unavailable > 0) {
    const delay = Math.min(5, Math.max(...retryAfter, 1));
    await sleep(delay * 1000);
    const retry = await measure(run, path, unavailable);
    const n = retry.summary.ok;
    field(
      'retried',
      `the ${unavailable} refused requests after ${delay} s: ${n} x 200 OK, p99 ${ms(retry.summary.latency.p99)}, computations +${retry.computations}`,
    );
    if (n !== unavailable) problems.push(`${unavailable - n} retried requests were not answered 200`);
    if (retry.computations !== 0) problems.push(`retrying computed the report again (${retry.computations} times)`);
  }
  verdict(
    problems,
    unavailable > 0 ? 'one computation; the losers were told at once to retry, and the retries were answered from the cache' : 'one computation, no errors',
  );
  return { name: "c. onCold: 'fail'", measured: m, problems };
}

async function withoutLock(run: Run): Promise<PhaseResult> {
  heading(
    'd. For comparison: lock: false',
    'The same cold burst with single-flight inside each process only, which is what other Node caches do: every worker process computes the report itself.',
  );
  const m = await measure(run, reportPath('q3-margin', 'nolock'));
  burstFields(m.summary, m.computations);
  eventsField(m);
  const workers = m.summary.byWorker.size;
  field(
    'result',
    m.computations === workers ? `one computation per worker process (${workers})` : `${m.computations} computations over ${workers} worker processes`,
  );
  // A comparison, not a guarantee: no problems are recorded here.
  return { name: 'd. lock: false (contrast)', measured: m, problems: [] };
}

function summaryTable(results: PhaseResult[], workers: number, counter: string): void {
  heading('Summary', `${workers} worker process${workers === 1 ? '' : 'es'}, computation ${COMPUTE_MS} ms, runs counted by ${counter}.`);
  const rows = [['phase', 'requests', '200', '503', 'other', 'computations', 'p50', 'p99', 'wall']];
  for (const { name, measured: m } of results) {
    const s = m.summary;
    const unavailable = s.byStatus.get(503) ?? 0;
    rows.push([
      name,
      String(s.requests),
      String(s.ok),
      String(unavailable),
      String(s.requests - s.ok - unavailable),
      String(m.computations),
      ms(s.latency.p50),
      ms(s.latency.p99),
      ms(s.wallMs),
    ]);
  }
  table(rows);
}

async function main(): Promise<void> {
  const opts = options();
  const version = `burst-${Date.now().toString(36)}`;
  const backend = await openBackend({ embedded: opts.embedded, version });
  let workers = opts.workers;
  say('Trove burst demo');
  say('A report that takes half a second to compute meets bursts of concurrent HTTP requests spread');
  say('over several worker processes. How often is it computed, and does every request get an answer?');
  say();
  field('cache', backend.description);
  if (!backend.url && workers > 1) {
    field('note', `the embedded store lives inside one process, so this runs with 1 worker instead of ${workers}`);
    workers = 1;
  }
  let pool: Pool | undefined;
  const agent = createAgent(opts.requests);
  const results: PhaseResult[] = [];
  try {
    pool = await startWorkers(workers, { BURST_REDIS: backend.url ?? '', BURST_VERSION: version }, () => backend.countLocal());
    field('workers', `${workers} process${workers === 1 ? '' : 'es'} (node:cluster) serving http://127.0.0.1:${pool.port}/report/:id`);
    field('report', `computeReport() takes ${COMPUTE_MS} ms; region 'reports' { ttl: '1h', freshFor: '${FRESH_FOR}' }`);
    // Open every connection (and warm every worker up) before the first burst, so the bursts
    // measure the cache, not TCP set-up and JIT compilation.
    let warm = summarize(await burst(agent, pool.port, '/health', opts.requests));
    if (warm.ok === opts.requests) warm = summarize(await burst(agent, pool.port, '/health', opts.requests));
    const spread = [...warm.byWorker].sort(([a], [b]) => a - b).map(([w, n]) => `w${w} ${n}`);
    if (warm.ok !== opts.requests) throw new Error(`warm-up: only ${warm.ok} of ${opts.requests} requests answered (${warm.failures.join('; ')})`);
    field('connections', `${opts.requests} keep-alive connections open (${spread.join(', ')})`);
    const run: Run = { agent, pool, backend, requests: opts.requests };

    const cold = await coldBurst(run);
    results.push(cold);
    results.push(await staleBurst(run, cold.measured));
    results.push(await failFast(run, workers));
    results.push(await withoutLock(run));
    summaryTable(results, workers, backend.counter);
  } finally {
    agent.destroy();
    const unclean = (await pool?.stop()) ?? [];
    await backend.close();
    for (const u of unclean) field('shutdown', u);
  }
  const problems = results.flatMap((r) => r.problems.map((p) => `${r.name}: ${p}`));
  say();
  if (problems.length > 0) {
    say('Some guarantees did not hold:');
    for (const p of problems) say(`  - ${p}`);
    process.exitCode = 1;
    return;
  }
  if (workers === 1) {
    say('One process computed each report once. Run it with Redis and several workers to see the cross-process lock at work.');
    return;
  }
  const unlocked = results[3]!.measured.computations;
  say(`Trove computed each report once across ${workers} processes and answered every request it could;`);
  say(`with single-flight per process only, the same burst computed it ${unlocked} times.`);
}

// Whatever happens, never hang: the whole run takes well under this.
setTimeout(() => {
  console.error('The demo did not finish within 90 s; giving up.');
  process.exit(1);
}, 90_000).unref();

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});

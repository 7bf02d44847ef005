/** The soak's printed result: one table row per process, then the run-wide figures and the verdict. */
import { tally } from './math.js';
import { ACK_WINDOW_MS, type StaleCounts, warmupOps } from './protocol.js';
import { HEAP_TREND_LIMIT_KB_PER_MIN, type SoakResult, staleTotal } from './run.js';

const MB = 2 ** 20;

function n(x: number, digits = 0): string {
  return x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function resources(list: readonly string[]): string {
  const parts = Object.entries(tally(list)).map(([k, c]) => (c > 1 ? `${k} ×${c}` : k));
  return `${list.length}${parts.length > 0 ? ` (${parts.join(', ')})` : ''}`;
}

function sum(records: (Record<string, number> | undefined)[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of records) for (const [k, v] of Object.entries(r ?? {})) out[k] = (out[k] ?? 0) + v;
  return out;
}

function list(record: Record<string, number>): string {
  const entries = Object.entries(record).sort((a, b) => b[1] - a[1]);
  return entries.length === 0 ? 'none' : entries.map(([k, v]) => `${k} ${n(v)}`).join(', ');
}

export function formatReport(r: SoakResult): string {
  const c = r.config;
  const lines: string[] = [];
  lines.push(
    `Soak: ${c.processes} processes × ${c.concurrency} operations in flight, up to ${c.opsPerSecond > 0 ? `${n(c.opsPerSecond)} ops/s each` : 'any rate'}, measured for ${n(r.elapsedMs / 1000, 1)} s after a warm-up of ${n(c.warmupMs / 1000)} s${c.opsPerSecond > 0 ? ` and ${n(warmupOps(c))} operations per process` : ''} (started ${r.startedAt})`,
  );
  lines.push('');
  lines.push(
    '| process | ops/s | CPU | heap start (MB) | heap end (MB) | heap trend, 2nd half (KB/min) | active resources before → after close | near entries (end) | errors | stale reads |',
  );
  lines.push('| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |');
  for (const p of r.processes) {
    const s = p.summary;
    const errors = Object.values(s?.errors ?? {}).reduce((a, b) => a + b, 0);
    lines.push(
      `| ${p.index + 1} | ${n(p.opsPerSecond)} | ${n(p.cpuPercent)}% | ${n(p.heapStart / MB, 1)} | ${n(p.heapEnd / MB, 1)} | ${n(p.heapTrendKBPerMin)} | ${
        s ? `${resources(s.resourcesBefore)} → ${resources(s.resourcesAfter)}` : 'n/a'
      } | ${s?.near ? n(s.near.entries) : 'n/a'} | ${s ? n(errors) : 'n/a'} | ${s ? n(staleTotal(s)) : 'n/a'} |`,
    );
  }
  lines.push('');
  const summaries = r.processes.map((p) => p.summary);
  const totalOps = summaries.reduce((a, s) => a + (s?.ops ?? 0), 0);
  lines.push(`- Operations: ${n(totalOps)} in all (${n(totalOps / (r.elapsedMs / 1000))}/s): ${list(sum(summaries.map((s) => s?.opsByKind)))}.`);
  lines.push(
    `- Redis connected_clients: ${r.connections.baseline} before start, up to ${r.connections.duringRun} during the run, ${r.connections.afterClose} after every trove and client closed.`,
  );
  lines.push(
    `- Outside writes (plain ioredis, fenced by a PING before the children learn of them): ${n(r.writer.sets)} SET, ${n(r.writer.dels)} DEL, ${n(r.writer.failed)} failed.`,
  );
  const checked = summaries.reduce(
    (a, s) => ({
      feed: a.feed + (s?.checked.feed ?? 0),
      region: a.region + (s?.checked.afterRegionInvalidation ?? 0),
      tag: a.tag + (s?.checked.afterTagInvalidation ?? 0),
    }),
    { feed: 0, region: 0, tag: 0 },
  );
  lines.push(
    `- Values checked (warm-up included): ${n(checked.feed)} feed reads (against acknowledged outside writes and earlier reads), ${n(checked.region)} items reads after the process's own region invalidation, ${n(checked.tag)} tagged reads after its own invalidation of one of their tags.`,
  );
  const stale = summaries.reduce<StaleCounts>(
    (a, s) => {
      if (!s) return a;
      return {
        acked: a.acked + s.stale.acked,
        monotonic: a.monotonic + s.stale.monotonic,
        region: a.region + s.stale.region,
        tag: a.tag + s.stale.tag,
        wrong: a.wrong + s.stale.wrong,
      };
    },
    { acked: 0, monotonic: 0, region: 0, tag: 0, wrong: 0 },
  );
  lines.push(
    `- Stale reads: ${n(stale.acked)} older than an acknowledged write, ${n(stale.monotonic)} older than an earlier read, ${n(stale.region)} from before an own region invalidation, ${n(stale.tag)} from before an own tag invalidation, ${n(stale.wrong)} of another key.`,
  );
  for (const s of summaries) for (const e of s?.examples ?? []) lines.push(`  - ${e}`);
  const late = summaries.reduce((a, s) => ({ reads: a.reads + (s?.late.reads ?? 0), maxMs: Math.max(a.maxMs, s?.late.maxMs ?? 0) }), { reads: 0, maxMs: 0 });
  lines.push(
    `- Within the ${ACK_WINDOW_MS} ms propagation window (not failures): ${n(late.reads)} feed reads answered the value before an acknowledged write${
      late.reads > 0 ? `, beginning at most ${n(late.maxMs, 1)} ms after the process learned of it` : ''
    }.`,
  );
  lines.push(`- Errors by code: ${list(sum(summaries.map((s) => s?.errors)))}.`);
  const near = sum(summaries.map((s) => s?.near && { ...s.near, entries: 0 }));
  delete near.entries;
  lines.push(`- Near caches (all processes): ${list(near)}.`);
  lines.push(
    `- close(): ${summaries.map((s) => (s ? `${n(s.closeMs)} ms` : 'n/a')).join(', ')}; processes exited on their own: ${r.processes.map((p) => (p.exitedOnItsOwn ? 'yes' : `no (${p.exit})`)).join(', ')}.`,
  );
  lines.push(
    `- Heap trend limit: ${n(r.heapTrendLimitKBPerMin)} KB/min per process for this length (least-squares slope of heapUsed after a full GC over the second half of the 1 s samples; ${n(HEAP_TREND_LIMIT_KB_PER_MIN)} KB/min from 4 minutes on).`,
  );
  lines.push('');
  lines.push(r.failures.length === 0 ? 'PASS' : `FAIL:\n${r.failures.map((f) => `- ${f}`).join('\n')}`);
  return lines.join('\n');
}

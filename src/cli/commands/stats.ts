/** `trove stats`: every process's statistics, merged, as a table or JSON. */
import type { FleetStats, StatsRow } from '../../index.js';
import { type Cell, type Colors, type Column, type ColumnGroup, formatBytes, formatCount, formatMs, formatPercent, NONE, renderTable } from '../output.js';
import type { Session } from '../session.js';

export interface StatsOptions {
  since?: string;
  json?: boolean;
}

export async function statsCommand(session: Session, opts: StatsOptions): Promise<void> {
  const since = opts.since ?? '1h';
  const fleet = await session.trove.fleetStats({ since });
  const { stdout } = session.io;
  if (opts.json) {
    stdout.write(`${JSON.stringify(statsJson(fleet), null, 2)}\n`);
    return;
  }
  const c = session.colors;
  const { prefix, version } = session.target;
  const where = `prefix ${c.bold(prefix)}, version ${c.bold(version)}`;
  if (fleet.regions.length === 0) {
    stdout.write(`No statistics recorded over the last ${since} (${where}).\n`);
    return;
  }
  stdout.write(`Every process over the last ${since} (${where}), from ${clock(fleet.from)} to ${clock(fleet.to)}:\n\n`);
  stdout.write(statsTable(fleet.regions, c));
}

/** The `--json` shape: per row, the counters and the histogram summaries without their buckets. */
export function statsJson(fleet: FleetStats): { regions: unknown[] } {
  return {
    regions: fleet.regions.map((r) => ({
      region: r.region,
      ...(r.function === undefined ? {} : { function: r.function }),
      hits: r.hits,
      misses: r.misses,
      computes: r.computes,
      stale: r.stale,
      errors: r.errors,
      compute: {
        count: r.compute.count,
        meanMs: r.compute.meanMs,
        stddevMs: r.compute.stddevMs,
        p50Ms: r.compute.p50Ms,
        p95Ms: r.compute.p95Ms,
        p99Ms: r.compute.p99Ms,
      },
      size: { count: r.size.count, p50Bytes: r.size.p50Bytes, p99Bytes: r.size.p99Bytes, totalBytes: r.size.totalBytes },
    })),
  };
}

const COLUMNS: Column[] = [
  { header: 'region' },
  { header: 'function' },
  { header: 'calls', align: 'right' },
  { header: 'hit', align: 'right' },
  { header: 'near', align: 'right' },
  { header: 'misses', align: 'right' },
  { header: 'stale', align: 'right' },
  { header: 'errors', align: 'right' },
  { header: 'p50', align: 'right' },
  { header: 'p95', align: 'right' },
  { header: 'p99', align: 'right' },
  { header: 'mean', align: 'right' },
  { header: 'stddev', align: 'right' },
  { header: 'p50', align: 'right' },
  { header: 'p99', align: 'right' },
];

const GROUPS: ColumnGroup[] = [
  { label: 'factory time (ms)', from: 8, span: 5 },
  { label: 'value size', from: 13, span: 2 },
];

/** The cells of one row, as the table shows them (the dashboard shows the same text). */
export function rowCells(r: StatsRow): string[] {
  const computed = r.compute.count > 0;
  const sized = r.size.count > 0;
  return [
    r.region,
    r.function ?? NONE,
    formatCount(r.calls),
    r.calls > 0 ? formatPercent(r.hitRatio) : NONE,
    r.hits > 0 ? formatPercent(r.nearShare) : NONE,
    formatCount(r.misses),
    formatCount(r.stale),
    formatCount(r.errors),
    computed ? formatMs(r.compute.p50Ms) : NONE,
    computed ? formatMs(r.compute.p95Ms) : NONE,
    computed ? formatMs(r.compute.p99Ms) : NONE,
    computed ? formatMs(r.compute.meanMs) : NONE,
    computed ? formatMs(r.compute.stddevMs) : NONE,
    sized ? formatBytes(r.size.p50Bytes) : NONE,
    sized ? formatBytes(r.size.p99Bytes) : NONE,
  ];
}

export function statsTable(rows: readonly StatsRow[], c: Colors): string {
  return renderTable(
    COLUMNS,
    rows.map((r) => {
      const cells: Cell[] = rowCells(r);
      // Errors stand out; the text is the same with colours off.
      if (r.errors > 0) cells[7] = [cells[7] as string, c.red];
      return cells;
    }),
    c,
    GROUPS,
  );
}

function clock(ms: number): string {
  const d = new Date(ms);
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
}

import type { Summary } from './stats.js';

/** One figure a workload reports per library, measured once per round. */
export interface Metric {
  key: string;
  label: string;
  unit: 'ops/s' | 'ms' | 'µs' | 'ns' | 'B' | 'runs' | 'commands' | 'keys';
  /** Which direction is better, for the reader and for the ratio's wording. */
  better: 'higher' | 'lower';
  /** Print a "Trove / peer" column for this figure. */
  ratio?: boolean;
  /**
   * Print, after this figure, a column dividing one figure of the row by another (both medians):
   * e.g. Trove's cost over the baseline's, or nested region over top-level region.
   */
  rowRatio?: { of: string; over: string; label: string };
}

export interface Row {
  /** Library name (or a reference such as `lru-cache (floor)`). */
  lib: string;
  /** `ok` with figures, or the reason there are none. */
  status: 'ok' | 'unsupported' | 'failed';
  message?: string;
  figures: Record<string, Summary>;
  /** Remarks printed after the table (e.g. a factory that ran during a hit-only phase). */
  remarks?: string[];
  config?: string;
  /** The Trove row (by label) the "Trove / peer" ratio divides for this row; default `trove`. A Trove row names itself. */
  versus?: string;
}

export interface WorkloadResult {
  name: string;
  title: string;
  /** What the workload stands for, one line. */
  summary: string;
  params: Record<string, unknown>;
  metrics: Metric[];
  rows: Row[];
  notes: string[];
  /** Heading of the first column (default `library`): e.g. `case` when rows are cases rather than libraries. */
  firstColumn?: string;
  /** Further tables of the same workload, printed after the first one. */
  sections?: Section[];
  elapsedMs?: number;
}

/** A further table of a workload, with its own figures and rows. */
export type Section = Pick<WorkloadResult, 'title' | 'summary' | 'metrics' | 'rows' | 'notes' | 'firstColumn'>;

export function fmtNumber(v: number, unit: Metric['unit']): string {
  if (!Number.isFinite(v)) return '—';
  switch (unit) {
    case 'ops/s':
      return Math.round(v).toLocaleString('en-US');
    case 'ms':
    case 'µs':
      return Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2);
    case 'ns':
      return Math.round(v).toLocaleString('en-US');
    case 'B':
      return Math.abs(v) >= 10_000 ? Math.round(v).toLocaleString('en-US') : v.toFixed(1);
    case 'runs':
    case 'commands':
      return Number.isInteger(v) ? String(v) : v.toFixed(1);
    case 'keys':
      return Math.round(v).toLocaleString('en-US');
  }
}

function spread(s: Summary, unit: Metric['unit']): string {
  if (!Number.isFinite(s.median)) return '—';
  if (s.rounds.length < 2) return 'n=1';
  // A spread relative to a median of 0 means nothing: the range alone.
  if (s.median === 0) return `${fmtNumber(s.min, unit)}–${fmtNumber(s.max, unit)}`;
  return `${fmtNumber(s.min, unit)}–${fmtNumber(s.max, unit)} (±${s.spreadPct.toFixed(1)}%)`;
}

/** Trove's figure divided by the peer's (both medians). */
export function ratio(trove: Summary | undefined, peer: Summary | undefined): number {
  if (!trove || !peer || !Number.isFinite(trove.median) || !Number.isFinite(peer.median) || peer.median === 0) return Number.NaN;
  return trove.median / peer.median;
}

function fmtRatio(r: number): string {
  return Number.isFinite(r) ? `${r >= 10 ? r.toFixed(1) : r.toFixed(2)}×` : '—';
}

/** A Markdown table: library (or case), then for each metric median + spread (+ Trove / peer, + in-row ratio). */
export function renderTable(w: Section, firstColumn = w.firstColumn ?? 'library'): string {
  const troveRow = (row: Row) => w.rows.find((r) => r.lib === (row.versus ?? 'trove') && r.status === 'ok');
  const head = [firstColumn];
  for (const m of w.metrics) {
    head.push(`${m.label} (${m.unit}, median)`, 'spread (min–max)');
    if (m.ratio) head.push(`Trove / peer (${m.better === 'higher' ? '> 1: Trove faster' : m.unit === 'B' ? '< 1: Trove smaller' : '< 1: Trove lower'})`);
    if (m.rowRatio) head.push(m.rowRatio.label);
  }
  if (w.metrics.length === 0) head.push('result');
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`];
  for (const row of w.rows) {
    const cells = [row.lib];
    if (row.status !== 'ok') {
      const width = w.metrics.reduce((n, m) => n + 2 + (m.ratio ? 1 : 0) + (m.rowRatio ? 1 : 0), 0);
      cells.push(`${row.status === 'failed' ? 'failed: ' : ''}${row.message ?? ''}`);
      for (let i = 1; i < width; i++) cells.push('');
    } else {
      for (const m of w.metrics) {
        const s = row.figures[m.key];
        cells.push(s ? fmtNumber(s.median, m.unit) : '—', s ? spread(s, m.unit) : '—');
        if (m.ratio) cells.push(row.lib === (row.versus ?? 'trove') ? '1.00× (self)' : fmtRatio(ratio(troveRow(row)?.figures[m.key], s)));
        if (m.rowRatio) cells.push(fmtRatio(ratio(row.figures[m.rowRatio.of], row.figures[m.rowRatio.over])));
      }
    }
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

export function renderWorkload(w: WorkloadResult): string {
  const out = [`### ${w.name} — ${w.title}`, ''];
  const sections: { section: Section; heading?: string }[] = [{ section: w }, ...(w.sections ?? []).map((s) => ({ section: s, heading: `#### ${s.title}` }))];
  for (const { section, heading } of sections) {
    if (heading) out.push(heading, '');
    out.push(section.summary, '', renderTable(section), '');
    const remarks: string[] = [];
    for (const r of section.rows) {
      if (r.config) remarks.push(`- ${r.lib}: ${r.config}`);
    }
    if (remarks.length) out.push('Configurations:', ...remarks, '');
    const extra = [...section.notes, ...section.rows.flatMap((r) => (r.remarks ?? []).map((m) => `${r.lib}: ${m}`))];
    if (extra.length) out.push(...extra.map((n) => `- ${n}`), '');
  }
  return out.join('\n');
}

/** Adds a remark printed after the workload's table. */
export function remark(row: Row, message: string): void {
  if (row.remarks) row.remarks.push(message);
  else row.remarks = [message];
}

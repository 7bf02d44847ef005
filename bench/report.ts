import type { Summary } from './stats.js';

/** One figure a workload reports per library, measured once per round. */
export interface Metric {
  key: string;
  label: string;
  unit: 'ops/s' | 'ms' | 'B' | 'runs';
  /** Which direction is better, for the reader and for the ratio's wording. */
  better: 'higher' | 'lower';
  /** Print a "Trove / peer" column for this figure. */
  ratio?: boolean;
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
  elapsedMs?: number;
}

export function fmtNumber(v: number, unit: Metric['unit']): string {
  if (!Number.isFinite(v)) return '—';
  switch (unit) {
    case 'ops/s':
      return Math.round(v).toLocaleString('en-US');
    case 'ms':
      return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
    case 'B':
      return v.toFixed(1);
    case 'runs':
      return Number.isInteger(v) ? String(v) : v.toFixed(1);
  }
}

function spread(s: Summary, unit: Metric['unit']): string {
  if (!Number.isFinite(s.median)) return '—';
  if (s.rounds.length < 2) return 'n=1';
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

/** A Markdown table: library, then for each metric median + spread (+ Trove / peer). */
export function renderTable(w: WorkloadResult): string {
  const troveRow = w.rows.find((r) => r.lib === 'trove' && r.status === 'ok');
  const head = ['library'];
  for (const m of w.metrics) {
    head.push(`${m.label} (${m.unit}, median)`, 'spread (min–max)');
    if (m.ratio) head.push(`Trove / peer (${m.better === 'higher' ? '> 1: Trove faster' : m.unit === 'B' ? '< 1: Trove smaller' : '< 1: Trove lower'})`);
  }
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`];
  for (const row of w.rows) {
    const cells = [row.lib];
    if (row.status !== 'ok') {
      const width = w.metrics.reduce((n, m) => n + (m.ratio ? 3 : 2), 0);
      cells.push(`${row.status === 'failed' ? 'failed: ' : ''}${row.message ?? ''}`);
      for (let i = 1; i < width; i++) cells.push('');
    } else {
      for (const m of w.metrics) {
        const s = row.figures[m.key];
        cells.push(s ? fmtNumber(s.median, m.unit) : '—', s ? spread(s, m.unit) : '—');
        if (m.ratio) cells.push(row.lib === 'trove' ? '1.00× (self)' : fmtRatio(ratio(troveRow?.figures[m.key], s)));
      }
    }
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

export function renderWorkload(w: WorkloadResult): string {
  const out = [`### ${w.name} — ${w.title}`, '', w.summary, '', renderTable(w), ''];
  const remarks: string[] = [];
  for (const r of w.rows) {
    if (r.config) remarks.push(`- ${r.lib}: ${r.config}`);
  }
  if (remarks.length) out.push('Configurations:', ...remarks, '');
  const extra = [...w.notes, ...w.rows.flatMap((r) => (r.remarks ?? []).map((m) => `${r.lib}: ${m}`))];
  if (extra.length) out.push(...extra.map((n) => `- ${n}`), '');
  return out.join('\n');
}

/** Adds a remark printed after the workload's table. */
export function remark(row: Row, message: string): void {
  if (row.remarks) row.remarks.push(message);
  else row.remarks = [message];
}

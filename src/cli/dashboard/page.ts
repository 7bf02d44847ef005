/**
 * The dashboard page: one self-contained HTML document (styles, SVG charts and a few lines of
 * script inline; nothing fetched from anywhere but its own server). The server renders the panel
 * with the figures; the script replaces it with a fresh rendering every `refreshMs`.
 */
import type { FleetStats, StatsRow } from '../../index.js';
import { rowCells } from '../commands/stats.js';
import { formatBytes, formatCount, formatMs, formatPercent, NONE } from '../output.js';
import { type BarItem, barList, clock, esc, histogram, type LineSeries, lineChart, PALETTE } from './charts.js';

export interface DashboardData {
  /** Statistics over the window, with `minutes`. */
  fleet: FleetStats;
  prefix: string;
  version: string;
  /** The window, as given (`'1h'`). */
  since: string;
  refreshMs: number;
  /** When the figures were read, epoch ms. */
  generatedAt: number;
  /** Why the figures could not be read this time (the page keeps showing the last ones it had). */
  error?: string;
}

/** Totals of one region: its own row and its functions' rows. */
interface RegionTotals {
  region: string;
  calls: number;
  hits: number;
  misses: number;
  bytes: number;
}

function byRegion(rows: readonly StatsRow[]): RegionTotals[] {
  const out = new Map<string, RegionTotals>();
  for (const r of rows) {
    let t = out.get(r.region);
    if (t === undefined) {
      t = { region: r.region, calls: 0, hits: 0, misses: 0, bytes: 0 };
      out.set(r.region, t);
    }
    t.calls += r.calls;
    t.hits += r.hits;
    t.misses += r.misses;
    t.bytes += r.size.totalBytes;
  }
  return [...out.values()];
}

/** Every region seen in the window or its minutes, each with its colour, in name order. */
function regionColors(fleet: FleetStats): Map<string, string> {
  const names = new Set(fleet.regions.map((r) => r.region));
  for (const m of fleet.minutes ?? []) for (const r of m.regions) names.add(r.region);
  return new Map([...names].sort().map((name, i) => [name, PALETTE[i % PALETTE.length]!]));
}

/** Names of the table's cells, in `rowCells` order, and the number behind each. */
const FIELDS: readonly [name: string, value: (r: StatsRow) => number | undefined][] = [
  ['region', () => undefined],
  ['function', () => undefined],
  ['calls', (r) => r.calls],
  ['hitRatio', (r) => r.hitRatio],
  ['nearShare', (r) => r.nearShare],
  ['misses', (r) => r.misses],
  ['stale', (r) => r.stale],
  ['errors', (r) => r.errors],
  ['p50Ms', (r) => r.compute.p50Ms],
  ['p95Ms', (r) => r.compute.p95Ms],
  ['p99Ms', (r) => r.compute.p99Ms],
  ['meanMs', (r) => r.compute.meanMs],
  ['stddevMs', (r) => r.compute.stddevMs],
  ['p50Bytes', (r) => r.size.p50Bytes],
  ['p99Bytes', (r) => r.size.p99Bytes],
];

function rowsTable(rows: readonly StatsRow[]): string {
  if (rows.length === 0) return '<p class="muted" data-testid="no-rows">No statistics recorded in this window yet.</p>';
  const head =
    '<thead><tr class="group"><th colspan="8"></th><th colspan="6">factory time (ms)</th><th colspan="3">value size</th></tr>' +
    '<tr><th>region</th><th>function</th><th>calls</th><th>hit</th><th>near</th><th>misses</th><th>stale</th><th>errors</th>' +
    '<th>p50</th><th>p95</th><th>p99</th><th>mean</th><th>stddev</th><th>histogram</th><th>p50</th><th>p99</th><th>histogram</th></tr></thead>';
  const body = rows.map((r) => {
    const cells = rowCells(r).map((text, i) => {
      const [name, value] = FIELDS[i]!;
      const v = value(r);
      const numeric = v !== undefined;
      return `<td data-field="${name}"${numeric ? ` data-value="${v}" class="num${name === 'errors' && r.errors > 0 ? ' bad' : ''}"` : ''}>${esc(text)}</td>`;
    });
    const key = `${r.region}/${r.function ?? ''}`;
    cells.splice(13, 0, `<td>${histogram(r.compute.bounds, r.compute.counts, formatMs, { testId: `compute-hist:${key}` })}</td>`);
    cells.push(`<td>${histogram(r.size.bounds, r.size.counts, formatBytes, { testId: `size-hist:${key}` })}</td>`);
    const fn = r.function === undefined ? '' : ` data-function="${esc(r.function)}"`;
    return `<tr data-testid="row" data-region="${esc(r.region)}"${fn}>${cells.join('')}</tr>`;
  });
  return `<table class="rows">${head}<tbody>${body.join('')}</tbody></table>`;
}

function hitRatioSeries(data: DashboardData, colors: Map<string, string>): LineSeries[] {
  const series = new Map<string, LineSeries>();
  for (const m of data.fleet.minutes ?? []) {
    for (const t of byRegion(m.regions)) {
      if (t.calls === 0) continue;
      let s = series.get(t.region);
      if (s === undefined) {
        s = { name: t.region, color: colors.get(t.region)!, points: [] };
        series.set(t.region, s);
      }
      const value = (100 * t.hits) / t.calls;
      s.points.push({ t: m.start, value, label: `${t.region} ${clock(m.start)}: ${formatPercent(value)} of ${formatCount(t.calls)} calls` });
    }
  }
  return [...series.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
}

function errorsTable(data: DashboardData): string {
  const lines: string[] = [];
  for (const m of [...(data.fleet.minutes ?? [])].reverse()) {
    for (const r of m.regions) {
      for (const [code, count] of Object.entries(r.errorsByCode)) {
        const fn = r.function === undefined ? '' : ` data-function="${esc(r.function)}"`;
        lines.push(
          `<tr data-testid="error" data-minute="${m.start}" data-region="${esc(r.region)}"${fn} data-code="${esc(code)}"><td>${esc(clock(m.start))}</td><td>${esc(r.region)}</td><td>${esc(r.function ?? NONE)}</td><td>${esc(code)}</td><td class="num" data-value="${count}">${esc(formatCount(count))}</td></tr>`,
        );
      }
    }
  }
  if (lines.length === 0) return '<p class="muted" data-testid="no-errors">No errors in this window.</p>';
  return `<table class="rows errors"><thead><tr><th>minute</th><th>region</th><th>function</th><th>code</th><th>count</th></tr></thead><tbody>${lines.slice(0, 30).join('')}</tbody></table>`;
}

function summary(rows: readonly StatsRow[]): string {
  const sum = (f: (r: StatsRow) => number) => rows.reduce((a, r) => a + f(r), 0);
  const calls = sum((r) => r.calls);
  const hits = sum((r) => r.hits);
  const cards: [string, string, number, string][] = [
    ['calls', 'calls', calls, formatCount(calls)],
    ['hit-ratio', 'hit ratio', calls === 0 ? 0 : (100 * hits) / calls, calls === 0 ? NONE : formatPercent((100 * hits) / calls)],
    ['misses', 'misses', sum((r) => r.misses), formatCount(sum((r) => r.misses))],
    ['computes', 'computations', sum((r) => r.computes), formatCount(sum((r) => r.computes))],
    ['stale', 'stale answers', sum((r) => r.stale), formatCount(sum((r) => r.stale))],
    ['errors', 'errors', sum((r) => r.errors), formatCount(sum((r) => r.errors))],
    ['bytes', 'bytes written', sum((r) => r.size.totalBytes), formatBytes(sum((r) => r.size.totalBytes))],
  ];
  return `<div class="cards">${cards
    .map(
      ([id, label, value, text]) =>
        `<div class="card"><div class="card-value" data-testid="total-${id}" data-value="${value}">${esc(text)}</div><div class="card-label">${esc(label)}</div></div>`,
    )
    .join('')}</div>`;
}

/** The part of the page that refreshes. */
export function renderPanel(data: DashboardData): string {
  const { fleet } = data;
  const colors = regionColors(fleet);
  const regions = byRegion(fleet.regions);
  const top = (pick: (t: RegionTotals) => number, format: (n: number) => string): BarItem[] =>
    regions
      .filter((t) => pick(t) > 0)
      .sort((a, b) => pick(b) - pick(a) || (a.region < b.region ? -1 : 1))
      .slice(0, 8)
      .map((t) => ({ label: t.region, value: pick(t), text: format(pick(t)), color: colors.get(t.region)! }));
  const series = hitRatioSeries(data, colors);
  const legend = series.map((s) => `<span class="key"><span class="swatch" style="background:${s.color}"></span>${esc(s.name)}</span>`).join('');
  const status = data.error
    ? `<p class="error" data-testid="status-error">${esc(data.error)}</p>`
    : `<p class="updated" data-testid="updated">updated ${esc(clockSeconds(data.generatedAt))}, every ${Math.round(data.refreshMs / 1000)} s</p>`;
  return `<div id="panel-content" data-generated-at="${data.generatedAt}">
${status}
${summary(fleet.regions)}
<section><h2>Hit ratio per minute</h2><div class="legend">${legend}</div>${lineChart(series, fleet.from, fleet.to, { testId: 'hit-ratio-chart' })}</section>
<div class="two">
<section><h2>Top regions by misses</h2>${barList(
    top((t) => t.misses, formatCount),
    'top-misses',
  )}</section>
<section><h2>Top regions by bytes written</h2>${barList(
    top((t) => t.bytes, formatBytes),
    'top-bytes',
  )}</section>
</div>
<section><h2>Regions and functions</h2>${rowsTable(fleet.regions)}</section>
<section><h2>Recent errors</h2>${errorsTable(data)}</section>
</div>`;
}

const STYLE = `
:root { color-scheme: light; --fg: #1d2430; --muted: #6b7280; --line: #e5e7eb; --bg: #f7f8fa; --card: #fff; --bad: #c2410c; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
header { padding: 14px 24px; background: #1d2430; color: #fff; display: flex; gap: 16px; align-items: baseline; }
header h1 { margin: 0; font-size: 18px; }
header .where { color: #cbd5e1; }
main { padding: 8px 24px 24px; }
section { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px; margin: 12px 0; overflow-x: auto; }
h2 { font-size: 14px; margin: 0 0 8px; color: var(--muted); font-weight: 600; text-transform: uppercase; letter-spacing: .04em; }
.two { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; }
.two section { margin: 0; }
.cards { display: flex; gap: 12px; flex-wrap: wrap; margin-top: 8px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; min-width: 120px; }
.card-value { font-size: 22px; font-weight: 600; font-variant-numeric: tabular-nums; }
.card-label, .muted, .updated { color: var(--muted); }
.updated { margin: 8px 0 0; font-size: 12px; }
.error { margin: 8px 0 0; color: #fff; background: var(--bad); padding: 6px 10px; border-radius: 6px; }
table.rows { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
table.rows th, table.rows td { padding: 4px 6px; border-bottom: 1px solid var(--line); text-align: left; white-space: nowrap; vertical-align: middle; }
table.rows th { font-weight: 600; color: var(--muted); }
table.rows tr.group th { text-align: center; border-bottom: none; font-weight: 500; }
table.rows.errors { width: auto; min-width: 50%; }
table.rows td.num { text-align: right; }
table.rows td.bad { color: var(--bad); font-weight: 600; }
.chart { width: 100%; height: auto; }
.chart .grid { stroke: var(--line); }
.axis { fill: var(--muted); font-size: 11px; }
.hist rect { fill: #4e79a7; }
.legend { display: flex; gap: 14px; flex-wrap: wrap; margin-bottom: 4px; }
.key { display: inline-flex; align-items: center; gap: 6px; }
.swatch { width: 12px; height: 12px; border-radius: 2px; display: inline-block; }
ol.bars { list-style: none; margin: 0; padding: 0; }
ol.bars li { display: grid; grid-template-columns: 140px 1fr 90px; gap: 8px; align-items: center; padding: 3px 0; }
.bar { background: var(--bg); border-radius: 3px; height: 12px; overflow: hidden; }
.bar span { display: block; height: 100%; }
.bar-label { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.bar-value { text-align: right; font-variant-numeric: tabular-nums; }
`;

/** The whole page: the panel as of now, and the script that refreshes it. */
export function renderPage(data: DashboardData): string {
  const script = `
const panel = document.getElementById('panel');
async function refresh() {
  try {
    const res = await fetch('panel', { cache: 'no-store' });
    if (res.ok) panel.innerHTML = await res.text();
  } catch {
    const status = panel.querySelector('.updated');
    if (status) status.textContent = 'dashboard server unreachable: showing the last figures';
  }
}
setInterval(refresh, ${data.refreshMs});
`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Trove: ${esc(data.prefix)}:${esc(data.version)}</title>
<style>${STYLE}</style>
</head>
<body>
<header><h1>Trove</h1><span class="where">prefix <b>${esc(data.prefix)}</b>, version <b>${esc(data.version)}</b>, every process over the last ${esc(data.since)}</span></header>
<main id="panel">${renderPanel(data)}</main>
<script>${script}</script>
</body>
</html>
`;
}

function clockSeconds(ms: number): string {
  const d = new Date(ms);
  return `${clock(ms)}:${String(d.getSeconds()).padStart(2, '0')}`;
}

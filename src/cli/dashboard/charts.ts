/**
 * The dashboard's charts, drawn as inline SVG on the server: the page needs no chart library and
 * no network access beyond its own server, and every figure drawn carries its number in a
 * `data-value` attribute and a tooltip.
 */

/** Escapes text for HTML and SVG content and attribute values. */
export function esc(text: string | number): string {
  return String(text).replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

/** Distinct colours for the regions' lines (Tableau 10), assigned in order of region names. */
export const PALETTE = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];

export interface LinePoint {
  /** Epoch ms of the minute. */
  t: number;
  /** 0 to 100. */
  value: number;
  /** Tooltip text. */
  label: string;
}

export interface LineSeries {
  name: string;
  color: string;
  points: LinePoint[];
}

/**
 * Percentages over time: one line per series over `[from, to]`, the y axis from 0 to 100%. Each
 * point is a circle carrying its minute and value, so a reader (or a test) can check it.
 */
export function lineChart(series: readonly LineSeries[], from: number, to: number, opts: { width?: number; height?: number; testId?: string } = {}): string {
  const width = opts.width ?? 1100;
  const height = opts.height ?? 240;
  const left = 44;
  const right = 12;
  const top = 10;
  const bottom = 26;
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const span = Math.max(to - from, 60_000);
  const x = (t: number) => left + ((t - from) / span) * plotW;
  const y = (v: number) => top + plotH - (v / 100) * plotH;
  const parts: string[] = [];
  for (const v of [0, 25, 50, 75, 100]) {
    parts.push(`<line x1="${left}" x2="${width - right}" y1="${y(v)}" y2="${y(v)}" class="grid"/>`);
    parts.push(`<text x="${left - 6}" y="${y(v) + 4}" text-anchor="end" class="axis">${v}%</text>`);
  }
  for (const t of timeTicks(from, to)) {
    parts.push(`<text x="${x(t).toFixed(1)}" y="${height - 8}" text-anchor="middle" class="axis">${esc(clock(t))}</text>`);
  }
  for (const s of series) {
    const pts = s.points.map((p) => `${x(p.t).toFixed(1)},${y(p.value).toFixed(1)}`).join(' ');
    parts.push(`<g data-series="${esc(s.name)}">`);
    if (s.points.length > 1) parts.push(`<polyline points="${pts}" fill="none" stroke="${s.color}" stroke-width="2"/>`);
    for (const p of s.points) {
      parts.push(
        `<circle cx="${x(p.t).toFixed(1)}" cy="${y(p.value).toFixed(1)}" r="3" fill="${s.color}" data-minute="${p.t}" data-value="${p.value}"><title>${esc(p.label)}</title></circle>`,
      );
    }
    parts.push('</g>');
  }
  const testId = opts.testId === undefined ? '' : ` data-testid="${esc(opts.testId)}"`;
  return `<svg${testId} class="chart" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img">${parts.join('')}</svg>`;
}

/** Whole-minute instants for the x axis: about six of them, on round minutes. */
function timeTicks(from: number, to: number): number[] {
  const minutes = Math.max(1, Math.round((to - from) / 60_000));
  const steps = [1, 2, 5, 10, 15, 30, 60, 120, 240, 360, 720, 1440];
  const step = (steps.find((s) => minutes / s <= 6) ?? 1440) * 60_000;
  const out: number[] = [];
  for (let t = Math.ceil(from / step) * step; t <= to; t += step) out.push(t);
  return out;
}

/** `HH:MM` of an instant, in the server's time zone. */
export function clock(ms: number): string {
  const d = new Date(ms);
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
}

/**
 * A small histogram of fixed buckets (`counts` has one more entry than `bounds`: the overflow),
 * drawn over the range of buckets that hold anything, labelled with that range's bounds.
 */
export function histogram(bounds: readonly number[], counts: readonly number[], format: (v: number) => string, opts: { testId?: string } = {}): string {
  const width = 112;
  const height = 46;
  const base = 34;
  const first = counts.findIndex((n) => n > 0);
  const testId = opts.testId === undefined ? '' : ` data-testid="${esc(opts.testId)}"`;
  if (first < 0) return `<span class="muted"${testId}>none</span>`;
  let last = counts.length - 1;
  while (counts[last] === 0) last--;
  // A bucket either side, so that a single bucket still reads as a distribution.
  const lo = Math.max(0, first - 1);
  const hi = Math.min(counts.length - 1, last + 1);
  const n = hi - lo + 1;
  const barW = width / n;
  const max = Math.max(...counts.slice(lo, hi + 1));
  const upper = (i: number) => (i < bounds.length ? `≤ ${format(bounds[i]!)}` : `> ${format(bounds[bounds.length - 1]!)}`);
  const bars: string[] = [];
  for (let i = lo; i <= hi; i++) {
    const count = counts[i]!;
    const h = count === 0 ? 0 : Math.max(1.5, (count / max) * (base - 2));
    bars.push(
      `<rect x="${((i - lo) * barW + 0.5).toFixed(1)}" y="${(base - h).toFixed(1)}" width="${Math.max(1, barW - 1).toFixed(1)}" height="${h.toFixed(1)}" data-bucket="${i}" data-count="${count}"><title>${esc(`${upper(i)}: ${count}`)}</title></rect>`,
    );
  }
  const loLabel = lo === 0 ? '0' : format(bounds[lo - 1]!);
  const hiLabel = hi < bounds.length ? format(bounds[hi]!) : `> ${format(bounds[bounds.length - 1]!)}`;
  return (
    `<svg${testId} class="hist" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img">${bars.join('')}` +
    `<text x="0" y="${height - 2}" class="axis">${esc(loLabel)}</text><text x="${width}" y="${height - 2}" text-anchor="end" class="axis">${esc(hiLabel)}</text></svg>`
  );
}

export interface BarItem {
  label: string;
  value: number;
  text: string;
  color: string;
}

/** Horizontal bars, longest first, scaled to the largest value. */
export function barList(items: readonly BarItem[], testId: string): string {
  if (items.length === 0) return `<p class="muted" data-testid="${esc(testId)}">nothing yet</p>`;
  const max = Math.max(...items.map((i) => i.value), 1);
  const rows = items.map(
    (i) =>
      `<li data-region="${esc(i.label)}"><span class="bar-label">${esc(i.label)}</span><span class="bar"><span style="width:${((100 * i.value) / max).toFixed(1)}%;background:${i.color}"></span></span><span class="bar-value" data-value="${i.value}">${esc(i.text)}</span></li>`,
  );
  return `<ol class="bars" data-testid="${esc(testId)}">${rows.join('')}</ol>`;
}

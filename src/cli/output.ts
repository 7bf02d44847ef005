/**
 * Terminal output of the CLI: colours only where they can be seen, number formats shared by the
 * table and the dashboard, and an aligned table.
 */
import pc from 'picocolors';

export type Colors = ReturnType<typeof pc.createColors>;

/** The streams and environment a command writes to; tests and the dashboard pass their own. */
export interface Io {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
}

/**
 * Whether escape codes may go to `stream`: never with `NO_COLOR` set to anything but the empty
 * string (no-color.org) or with `TERM=dumb`, always with `FORCE_COLOR` (other than `0`), otherwise
 * only on a terminal. picocolors' own detection also turns colours on under CI without a
 * terminal, which would put escape codes into logs and pipes.
 */
export function colorsEnabled(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '0' && env.FORCE_COLOR !== 'false') return true;
  return stream.isTTY === true && env.TERM !== 'dumb';
}

export function colorsFor(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv): Colors {
  return pc.createColors(colorsEnabled(stream, env));
}

/** What a figure that does not exist (no calls, no computations) shows. */
export const NONE = '-';

/** A whole count, grouped by thousands: `12,345`. */
export function formatCount(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** A percentage with one decimal: `93.8%`. */
export function formatPercent(p: number): string {
  return `${p.toFixed(1)}%`;
}

/** Milliseconds with three significant figures at most: `0.0421`, `4.21`, `42.1`, `421`, `4,210`. */
export function formatMs(ms: number): string {
  if (ms === 0) return '0';
  if (ms >= 1000) return formatCount(ms);
  if (ms >= 100) return ms.toFixed(0);
  if (ms >= 10) return ms.toFixed(1);
  if (ms >= 1) return ms.toFixed(2);
  return Number(ms.toPrecision(3)).toString();
}

/** Bytes in binary units: `512 B`, `1.5 KiB`, `3.2 MiB`. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${Math.round(bytes)} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 1024 * 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
  return `${(bytes / 1024 / 1024 / 1024).toFixed(1)} GiB`;
}

/** An epoch-ms instant as local ISO-like text, with how far it is from `now`: `2025-01-02 10:11:12 (in 4m 10s)`. */
export function formatInstant(ms: number, now: number): string {
  const d = new Date(ms);
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  const text = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  const delta = ms - now;
  return `${text} (${delta >= 0 ? `in ${formatSpan(delta)}` : `${formatSpan(-delta)} ago`})`;
}

/** A duration in the two largest units: `45s`, `4m 10s`, `2h 5m`, `3d 1h`. */
export function formatSpan(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h ${m % 60}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

export interface Column {
  header: string;
  /** Numbers read best right-aligned. */
  align?: 'left' | 'right';
}

/** A header line above groups of columns, e.g. `factory time (ms)` over five columns. */
export interface ColumnGroup {
  label: string;
  /** Index of the group's first column, and how many it spans. */
  from: number;
  span: number;
}

/** A table cell: its text, or its text and how to paint it (applied after padding, so widths count the text alone). */
export type Cell = string | readonly [text: string, paint: (s: string) => string];

const textOf = (cell: Cell | undefined): string => (cell === undefined ? '' : typeof cell === 'string' ? cell : cell[0]);

/** Renders rows as aligned columns separated by two spaces, under an optional line of group labels and a header line. */
export function renderTable(columns: readonly Column[], rows: readonly (readonly Cell[])[], c: Colors, groups: readonly ColumnGroup[] = []): string {
  const widths = columns.map((col, i) => Math.max(col.header.length, ...rows.map((r) => textOf(r[i]).length)));
  const gap = '  ';
  const pad = (text: string, i: number) => (columns[i]!.align === 'right' ? text.padStart(widths[i]!) : text.padEnd(widths[i]!));
  const lines: string[] = [];
  if (groups.length > 0) {
    let line = '';
    let at = 0;
    for (const g of groups) {
      const start = widths.slice(0, g.from).reduce((a, w) => a + w + gap.length, 0);
      const width = widths.slice(g.from, g.from + g.span).reduce((a, w) => a + w, 0) + gap.length * (g.span - 1);
      const left = Math.max(0, Math.floor((width - g.label.length) / 2));
      line += ' '.repeat(Math.max(0, start - at) + left) + c.dim(g.label);
      at = start + left + g.label.length;
    }
    lines.push(line);
  }
  lines.push(
    c.bold(
      columns
        .map((col, i) => pad(col.header, i))
        .join(gap)
        .trimEnd(),
    ),
  );
  for (const r of rows) {
    const last = columns.length - 1;
    const cells = columns.map((_, i) => {
      const cell = r[i];
      // No trailing spaces after a left-aligned last column.
      const text = i === last && columns[i]!.align !== 'right' ? textOf(cell) : pad(textOf(cell), i);
      return typeof cell === 'object' ? cell[1](text) : text;
    });
    lines.push(cells.join(gap));
  }
  return `${lines.join('\n')}\n`;
}

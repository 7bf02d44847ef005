/** Plain-text output of the burst demo: headings, aligned label/value lines, tables. */
import type { Latency, Summary } from './load.js';

const WIDTH = 78;
const LABEL = 15;

export const say = (text = ''): void => console.log(text);

export function heading(title: string, explanation: string): void {
  say();
  say(`== ${title} ${'='.repeat(Math.max(3, WIDTH - title.length - 4))}`);
  for (const line of wrap(explanation, WIDTH - 3)) say(`   ${line}`);
}

/** `  label          value` */
export function field(label: string, value: string): void {
  say(`  ${label.padEnd(LABEL)}${value}`);
}

export const ms = (value: number): string => (value < 10 ? `${value.toFixed(1)} ms` : `${Math.round(value)} ms`);

export function latency(l: Latency): string {
  return `p50 ${ms(l.p50).padStart(7)}   p99 ${ms(l.p99).padStart(7)}   max ${ms(l.max).padStart(7)}`;
}

export function statusName(status: number): string {
  if (status === 0) return 'no answer';
  return { 200: '200 OK', 500: '500 Internal Server Error', 503: '503 Service Unavailable' }[status] ?? String(status);
}

/** The standard lines of one burst. */
export function burstFields(s: Summary, computations: number): void {
  const workers = [...s.byWorker].sort(([a], [b]) => a - b);
  field(
    'requests',
    `${s.requests} at once, answered by ${workers.length} worker${workers.length === 1 ? '' : 's'} (${workers.map(([w, n]) => `w${w} ${n}`).join(', ')})`,
  );
  const statuses = [...s.byStatus].sort(([a], [b]) => (b === 200 ? 1 : a === 200 ? -1 : a - b));
  field('answers', statuses.map(([status, n]) => `${n} x ${statusName(status)}`).join(', '));
  const errors = statuses.filter(([status]) => status !== 200);
  field('errors', errors.length === 0 ? 'none' : errors.map(([status, n]) => `${n} x ${status || 'no answer'}`).join(', '));
  for (const f of s.failures) field('', f);
  field('computations', String(computations));
  field('latency', latency(s.latency));
  if (s.latencyByStatus.size > 1) {
    for (const [status, l] of [...s.latencyByStatus].sort(([a], [b]) => a - b)) field(`  ${status || 'none'}`, latency(l));
  }
  field('  in handler', latency(s.appLatency));
  field('wall time', ms(s.wallMs));
}

/** A left-aligned table with a header row. */
export function table(rows: string[][]): void {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  for (const r of rows)
    say(
      `  ${r
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join('   ')
        .trimEnd()}`,
    );
}

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  if (line !== '') lines.push(line);
  return lines;
}

/** `trove inspect <region> <key>`: an entry as stored, its envelope decoded, and its value. */
import { inspect } from 'node:util';
import type { EntryReport } from '../../api/tooling.js';
import { colorsEnabled, formatBytes, formatCount, formatInstant } from '../output.js';
import { Progress } from '../progress.js';
import { checkRegion } from '../regions.js';
import { CliError, type Session } from '../session.js';

export async function inspectCommand(session: Session, region: string, key: string): Promise<void> {
  const progress = new Progress(session.io.stderr, `looking for earlier generations of ${key}`);
  let found: Awaited<ReturnType<typeof session.tooling.inspect>>;
  try {
    found = await session.tooling.inspect(region, key, { onScanned: (n) => progress.update(`${formatCount(n)} keys scanned`) });
  } finally {
    progress.stop();
  }
  const reports = found.current ? [found.current] : found.older;
  if (reports.length === 0) {
    await checkRegion(session, region);
    throw new CliError(`no entry '${key}' in region '${region}'`);
  }
  if (!found.current) {
    session.io.stdout.write(`No entry in the current generation of '${region}'; found ${reports.length} in earlier ones (never answered again):\n\n`);
  }
  session.io.stdout.write(reports.map((r) => describe(session, r)).join('\n'));
}

function describe(session: Session, r: EntryReport): string {
  const c = session.colors;
  const now = Date.now();
  const yes = (ok: boolean, good: string, bad: string) => (ok ? c.green(good) : c.yellow(bad));
  const lines: [string, string][] = [['key', r.redisKey]];
  const e = r.entry;
  if (e === undefined) {
    lines.push(['envelope', `none: ${r.decodeError ?? 'unreadable'} (a raw region stores the payload alone)`]);
    lines.push(['size', formatBytes(r.bytes.length)]);
    lines.push(['generation', yes(r.currentGeneration, 'current', 'invalidated (the region, or one above it, was invalidated after this entry was written)')]);
    return `${table(lines, c.bold)}${c.bold('bytes')}\n${preview(r.bytes)}\n`;
  }
  lines.push(['codec', e.codec]);
  lines.push(['compression', e.compression]);
  lines.push(['size', `${formatBytes(e.storedBytes)} stored, ${formatBytes(e.payloadBytes)} payload`]);
  lines.push(['fresh until', freshness(e.freshUntil, now, c.yellow)]);
  lines.push(['expires', e.expiresAt === undefined ? 'not recorded' : stamp(e.expiresAt, now, c.yellow)]);
  lines.push(['generation', yes(r.currentGeneration, 'current', 'invalidated (the region, or one above it, was invalidated after this entry was written)')]);
  lines.push(['tags', r.tags.length === 0 ? 'none' : r.tags.map((t) => `${t.tag} ${yes(t.current, '(current)', '(invalidated)')}`).join(', ')]);
  lines.push(['live', yes(r.live, 'yes: a read answers it', 'no: a read misses it')]);
  const value = e.decoded
    ? inspect(e.value, { depth: 8, colors: colorsEnabled(session.io.stdout, session.io.env), maxArrayLength: 200, maxStringLength: 10_000, breakLength: 100 })
    : `(written by a custom codec: only the region that wrote it can decode it)\n${preview(e.payload)}`;
  return `${table(lines, c.bold)}${c.bold('value')}\n${value}\n`;
}

function freshness(freshUntil: number | undefined, now: number, past: (s: string) => string): string {
  if (freshUntil === undefined) return 'not recorded (fresh until it expires)';
  // markStale writes 0: stale on every clock.
  if (freshUntil === 0) return past('stale: marked by markStale');
  return stamp(freshUntil, now, past);
}

function stamp(ms: number, now: number, past: (s: string) => string): string {
  const text = formatInstant(ms, now);
  return ms <= now ? past(text) : text;
}

function table(lines: readonly [string, string][], bold: (s: string) => string): string {
  const width = Math.max(...lines.map(([k]) => k.length));
  return lines.map(([k, v]) => `${bold(k.padEnd(width))}  ${v}\n`).join('');
}

/** Bytes as text when they are printable UTF-8, else as hex; at most 2 KiB shown. */
function preview(bytes: Buffer): string {
  const shown = bytes.subarray(0, 2048);
  const more = bytes.length > shown.length ? `\n... ${formatCount(bytes.length - shown.length)} more bytes` : '';
  const text = shown.toString('utf8');
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what makes bytes unprintable
  const printable = !text.includes('\uFFFD') && !/[\u0000-\u0008\u000e-\u001f\u007f]/.test(text);
  return (
    (printable
      ? text
      : shown
          .toString('hex')
          .replace(/(.{2})/g, '$1 ')
          .trim()) + more
  );
}

/** The CLI's parts that need no Redis: number formats, the table, colours, the progress line, the confirmation prompt. */
import { PassThrough, Writable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { confirm } from '../../src/cli/confirm.js';
import { colorsEnabled, colorsFor, formatBytes, formatCount, formatMs, formatPercent, formatSpan, type Io, renderTable } from '../../src/cli/output.js';
import { Progress } from '../../src/cli/progress.js';
import { CliError } from '../../src/cli/session.js';
import { ESCAPE, plain } from './support.js';

class Sink extends Writable {
  text = '';
  constructor(readonly isTTY: boolean) {
    super();
  }
  override _write(chunk: Buffer, _enc: string, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

describe('formats', () => {
  it('counts, percentages, milliseconds, bytes and spans', () => {
    expect([formatCount(0), formatCount(999), formatCount(1234567), formatCount(2.6)]).toEqual(['0', '999', '1,234,567', '3']);
    expect([formatPercent(0), formatPercent(66.6666), formatPercent(100)]).toEqual(['0.0%', '66.7%', '100.0%']);
    expect([0, 0.04213, 0.5, 4.213, 42.13, 421.3, 4213].map(formatMs)).toEqual(['0', '0.0421', '0.5', '4.21', '42.1', '421', '4,213']);
    expect([0, 1023, 1024, 1536, 5 * 1024 * 1024, 3 * 1024 ** 3].map(formatBytes)).toEqual(['0 B', '1023 B', '1.0 KiB', '1.5 KiB', '5.0 MiB', '3.0 GiB']);
    expect([0, 45_000, 250_000, 7_500_000, 90_000_000].map(formatSpan)).toEqual(['0s', '45s', '4m 10s', '2h 5m', '1d 1h']);
  });
});

describe('colours', () => {
  it('on a terminal only, never with NO_COLOR (unless empty) or TERM=dumb, always with FORCE_COLOR', () => {
    expect(colorsEnabled({ isTTY: true }, {})).toBe(true);
    expect(colorsEnabled({ isTTY: false }, {})).toBe(false);
    expect(colorsEnabled({}, { CI: 'true' })).toBe(false);
    expect(colorsEnabled({ isTTY: true }, { NO_COLOR: '1' })).toBe(false);
    expect(colorsEnabled({ isTTY: true }, { NO_COLOR: '' })).toBe(true);
    expect(colorsEnabled({ isTTY: true }, { TERM: 'dumb' })).toBe(false);
    expect(colorsEnabled({ isTTY: false }, { FORCE_COLOR: '1' })).toBe(true);
    expect(colorsEnabled({ isTTY: true }, { FORCE_COLOR: '1', NO_COLOR: '1' })).toBe(false);
    expect(colorsFor({ isTTY: true }, {}).red('x')).toContain(ESCAPE);
    expect(colorsFor({ isTTY: false }, {}).red('x')).toBe('x');
  });
});

describe('renderTable', () => {
  it('aligns columns on their text, colours included, under group labels', () => {
    const c = colorsFor({ isTTY: true }, {});
    const table = renderTable(
      [{ header: 'name' }, { header: 'n', align: 'right' }, { header: 'ms', align: 'right' }],
      [
        ['a', '1', '10.5'],
        ['long name', ['12,345', c.red], '0.2'],
      ],
      colorsFor({ isTTY: false }, {}),
      [{ label: 'time', from: 2, span: 1 }],
    );
    expect(plain(table)).toBe(['                   time', 'name            n    ms', 'a               1  10.5', 'long name  12,345   0.2', ''].join('\n'));
    const coloured = renderTable([{ header: 'a' }, { header: 'b', align: 'right' }], [[['x', c.red], '1']], c);
    expect(coloured).toContain(ESCAPE);
    expect(plain(coloured)).toBe('a  b\nx  1\n');
  });
});

describe('Progress', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('appears on a terminal once the walk has lasted its delay, redraws with a carriage return, and blanks itself without escape codes', () => {
    vi.useFakeTimers();
    const tty = new Sink(true);
    const p = new Progress(tty, 'scanning users', { delayMs: 300, intervalMs: 100 });
    p.update('10 keys scanned');
    vi.advanceTimersByTime(299);
    expect(tty.text).toBe('');
    vi.advanceTimersByTime(1);
    expect(tty.text).toMatch(/^\r- scanning users: 10 keys scanned \(\d+\.\ds\)$/);
    p.update('2,000 keys scanned');
    vi.advanceTimersByTime(100);
    expect(tty.text).toMatch(/\r\\ scanning users: 2,000 keys scanned \(\d+\.\ds\)$/);
    p.update('3 keys');
    vi.advanceTimersByTime(100);
    // A shorter line is padded over the longer one before it.
    const lines = tty.text.split('\r').slice(1);
    expect(lines[2]!.length).toBe(lines[1]!.length);
    p.stop();
    const drawn = tty.text;
    expect(drawn).not.toContain(ESCAPE);
    expect(drawn).not.toContain('\n');
    // The last write blanks the widest line drawn, and returns to the start of the line.
    const widest = Math.max(...lines.map((l) => l.length));
    expect(drawn.endsWith(`\r${' '.repeat(widest)}\r`)).toBe(true);
    vi.advanceTimersByTime(10_000);
    expect(tty.text).toBe(drawn);
  });

  it('shows nothing off a terminal, nor for a walk shorter than its delay', () => {
    vi.useFakeTimers();
    const pipe = new Sink(false);
    const p = new Progress(pipe, 'scanning', { delayMs: 0, intervalMs: 1 });
    p.update('1 key');
    vi.advanceTimersByTime(10_000);
    p.stop();
    expect(pipe.text).toBe('');
    const tty = new Sink(true);
    const quick = new Progress(tty, 'scanning', { delayMs: 300 });
    vi.advanceTimersByTime(299);
    quick.stop();
    vi.advanceTimersByTime(10_000);
    expect(tty.text).toBe('');
  });
});

describe('confirm', () => {
  const io = (stdin: PassThrough & { isTTY?: boolean }, stderr: Sink): Io => ({ stdin, stderr, stdout: new Sink(false), env: {} });
  const terminal = () => Object.assign(new PassThrough(), { isTTY: true });

  it('goes ahead at once with --yes, terminal or not', async () => {
    await confirm('Drop?', true, io(new PassThrough(), new Sink(false)));
    await confirm('Drop?', true, io(terminal(), new Sink(true)));
  });

  it('refuses without a terminal to ask on', async () => {
    const stdin = new PassThrough();
    stdin.end('y\n');
    await expect(confirm('Drop everything?', undefined, io(stdin, new Sink(false)))).rejects.toThrow(
      new CliError('Drop everything: not confirmed (no terminal to ask on); pass --yes to confirm'),
    );
    // A terminal for input but not for the question is no terminal either.
    await expect(confirm('Drop?', false, io(terminal(), new Sink(false)))).rejects.toThrow(CliError);
  });

  it('asks on a terminal: y or yes goes ahead, anything else cancels', async () => {
    for (const answer of ['y', 'Y', 'yes', ' YES ']) {
      const stdin = terminal();
      const stderr = new Sink(true);
      const asked = confirm('Drop?', undefined, io(stdin, stderr));
      stdin.write(`${answer}\n`);
      await asked;
      expect(stderr.text).toBe('Drop? [y/N] ');
    }
    for (const answer of ['n', 'no', '', 'yess']) {
      const stdin = terminal();
      const asked = confirm('Drop?', undefined, io(stdin, new Sink(true)));
      stdin.write(`${answer}\n`);
      await expect(asked).rejects.toThrow('cancelled: nothing was invalidated');
    }
    const closed = terminal();
    const asked = confirm('Drop?', undefined, io(closed, new Sink(true)));
    closed.end();
    await expect(asked).rejects.toThrow('cancelled: nothing was invalidated');
  });
});

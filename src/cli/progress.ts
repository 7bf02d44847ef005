/**
 * A one-line progress indicator on stderr for walks of the keyspace, which take seconds on a
 * large Redis. Shown only on a terminal, and only once a walk has lasted `delayMs`, so quick
 * commands and piped output never carry it. It redraws with a carriage return and blanks itself
 * with spaces: no escape codes, so NO_COLOR terminals get none either.
 */
import { performance } from 'node:perf_hooks';
const FRAMES = ['-', '\\', '|', '/'];

export interface ProgressOptions {
  /** How long a walk runs before the indicator appears, in ms. @defaultValue 300 */
  delayMs?: number;
  /** Redraw period, in ms. @defaultValue 100 */
  intervalMs?: number;
}

export class Progress {
  private status = '';
  private shown = 0;
  private frame = 0;
  private readonly started = performance.now();
  private timer: NodeJS.Timeout | undefined;
  private delay: NodeJS.Timeout | undefined;

  constructor(
    private readonly stream: NodeJS.WritableStream & { isTTY?: boolean },
    private readonly label: string,
    opts: ProgressOptions = {},
  ) {
    if (stream.isTTY !== true) return;
    this.delay = setTimeout(() => {
      this.draw();
      this.timer = setInterval(() => this.draw(), opts.intervalMs ?? 100);
      this.timer.unref();
    }, opts.delayMs ?? 300);
    this.delay.unref();
  }

  /** What the walk has done so far, e.g. `12,000 keys scanned`. */
  update(status: string): void {
    this.status = status;
  }

  /** Removes the indicator (if it was drawn) and stops redrawing. */
  stop(): void {
    clearTimeout(this.delay);
    clearInterval(this.timer);
    if (this.shown > 0) this.stream.write(`\r${' '.repeat(this.shown)}\r`);
    this.shown = 0;
  }

  private draw(): void {
    const seconds = ((performance.now() - this.started) / 1000).toFixed(1);
    const line = `${FRAMES[this.frame++ % FRAMES.length]} ${this.label}${this.status === '' ? '' : `: ${this.status}`} (${seconds}s)`;
    this.stream.write(`\r${line.padEnd(this.shown)}`);
    this.shown = Math.max(this.shown, line.length);
  }
}

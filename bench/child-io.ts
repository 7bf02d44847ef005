import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** A child Node process running a TypeScript script (through tsx), spoken to in lines over stdin/stdout. */
export class ChildScript {
  readonly child: ChildProcess;
  private readonly lines: string[] = [];
  private readonly waiters: ((line: string | undefined) => void)[] = [];
  private ended = false;
  private stderr = '';

  constructor(script: string, args: string[]) {
    this.child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL(script, import.meta.url)), ...args], {
      cwd: ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child.stderr?.on('data', (d: Buffer) => {
      if (this.stderr.length < 4000) this.stderr += d.toString();
    });
    const rl = createInterface({ input: this.child.stdout! });
    rl.on('line', (line) => {
      const waiter = this.waiters.shift();
      if (waiter) waiter(line);
      else this.lines.push(line);
    });
    rl.on('close', () => {
      this.ended = true;
      for (const w of this.waiters.splice(0)) w(undefined);
    });
  }

  send(line: string): void {
    this.child.stdin?.write(`${line}\n`);
  }

  /** The next line the child prints, or an error after `timeoutMs` or when the child exits. */
  next(timeoutMs: number): Promise<string> {
    const queued = this.lines.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.ended) return Promise.reject(new Error(`child exited: ${this.stderr.slice(-400)}`));
    return new Promise((resolve, reject) => {
      const waiter = (line: string | undefined) => {
        clearTimeout(timer);
        if (line === undefined) reject(new Error(`child exited: ${this.stderr.slice(-400)}`));
        else resolve(line);
      };
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(new Error(`no answer from child within ${timeoutMs} ms ${this.stderr.slice(-400)}`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  /** The next line that passes `accept` (other output is skipped). */
  async expect(accept: (line: string) => boolean, timeoutMs: number): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const line = await this.next(Math.max(1, deadline - Date.now()));
      if (accept(line)) return line;
    }
  }

  /** Closes stdin and waits for the exit (SIGKILL after `graceMs`). */
  async stop(graceMs = 5000): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.stdin?.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }
}

/** Lines from this process's stdin, for child scripts. */
export function stdinLines(): AsyncIterableIterator<string> {
  return createInterface({ input: process.stdin })[Symbol.asyncIterator]();
}

/**
 * Running the `trove` CLI as a child process, as a user would: with pipes (no terminal), or on a
 * pseudo-terminal (util-linux `script`), and waiting for what it prints.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'tsup';
import { afterAll, beforeAll } from 'vitest';
import cliBuild from '../../tsup.cli.config.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * The timeout of a test that runs the CLI several times: each run starts a Node.js process,
 * which takes seconds on a loaded machine.
 */
export const CLI_TEST_TIMEOUT = 120_000;

let cli: string | undefined;

/**
 * Builds the bin with the package's own build configuration into a directory of this test file
 * (under the git-ignored .tmp/, so that it finds the package's package.json above it), and
 * removes it afterwards. Running the bundle as `node cli.js` is what an installed `trove` does,
 * and starts in a fraction of the time a TypeScript loader takes.
 */
export function useBuiltCli(): void {
  let dir: string | undefined;
  beforeAll(async () => {
    // A fresh checkout has no .tmp yet (git ignores it).
    mkdirSync(join(ROOT, '.tmp'), { recursive: true });
    dir = mkdtempSync(join(ROOT, '.tmp', 'cli-'));
    const options = Array.isArray(cliBuild) ? cliBuild[0] : cliBuild;
    await build({ ...(options as object), config: false, outDir: dir, silent: true });
    cli = join(dir, 'cli.js');
  }, 120_000);
  afterAll(() => {
    cli = undefined;
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
}

export function cliPath(): string {
  if (cli === undefined) throw new Error('call useBuiltCli() in the test file: the bin is built in beforeAll');
  return cli;
}

/** Matches any ANSI escape sequence (colours, cursor moves). */
export const ESCAPE = '\u001b[';

/** `text` without its colour codes. */
export function plain(text: string): string {
  return text
    .split(ESCAPE)
    .map((part, i) => (i === 0 ? part : part.replace(/^[0-9;]*m/, '')))
    .join('');
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The environment of a child: the test's, without anything that would choose colours or a target for it. */
export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of ['NO_COLOR', 'FORCE_COLOR', 'TROVE_REDIS_URL', 'TROVE_PREFIX', 'TROVE_VERSION', 'CI']) delete env[name];
  return { ...env, ...extra };
}

/** Runs the CLI with pipes for stdin, stdout and stderr (no terminal); resolves when it exits. */
export function runCli(args: readonly string[], opts: { env?: Record<string, string>; input?: string } = {}): Promise<CliResult> {
  const child = spawn(process.execPath, [cliPath(), ...args], { cwd: ROOT, env: childEnv(opts.env), stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin!.end(opts.input ?? '');
  return collect(child);
}

function collect(child: ChildProcess): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function shellQuote(arg: string): string {
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** A CLI run on a pseudo-terminal: stdin, stdout and stderr are all the terminal. */
export interface TtyRun {
  /** Everything the terminal showed so far (stdout and stderr together, `\r\n` line ends). */
  readonly output: string;
  /** Resolves once the terminal has shown `text`; rejects if the run ends first. */
  waitFor(text: string): Promise<void>;
  /** Types `text` on the terminal. */
  type(text: string): void;
  /** Resolves with the CLI's exit code and the whole output. */
  done: Promise<{ code: number | null; output: string }>;
}

/** Runs the CLI on a pseudo-terminal made by util-linux `script` (which returns the CLI's exit code). */
export function runCliOnTty(args: readonly string[], opts: { env?: Record<string, string> } = {}): TtyRun {
  const command = [process.execPath, cliPath(), ...args].map(shellQuote).join(' ');
  // A terminal that shows colours, whatever TERM the tests run under (CI often has none, or dumb).
  const env = childEnv({ TERM: 'xterm-256color', ...opts.env });
  const child = spawn('script', ['-qec', command, '/dev/null'], { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  const waiters: { text: string; resolve: () => void; reject: (e: Error) => void }[] = [];
  let ended = false;
  const check = () => {
    for (const w of [...waiters]) {
      if (output.includes(w.text)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      } else if (ended) {
        waiters.splice(waiters.indexOf(w), 1);
        w.reject(new Error(`the run ended without showing ${JSON.stringify(w.text)}; it showed:\n${output}`));
      }
    }
  };
  child.stdout!.on('data', (d: Buffer) => {
    output += d.toString();
    check();
  });
  child.stderr!.on('data', (d: Buffer) => {
    output += d.toString();
    check();
  });
  const done = new Promise<{ code: number | null; output: string }>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      ended = true;
      check();
      resolve({ code, output });
    });
  });
  return {
    get output() {
      return output;
    },
    waitFor: (text) =>
      new Promise<void>((resolve, reject) => {
        waiters.push({ text, resolve, reject });
        check();
      }),
    type: (text) => {
      child.stdin!.write(text);
    },
    done,
  };
}

/** The lines of a text, without the empty last one. */
export function lines(text: string): string[] {
  return text.split(/\r?\n/).filter((l, i, all) => l !== '' || i < all.length - 1);
}

/**
 * Runs the whole test suite several times in a row on a loaded machine: two CPU-bound processes
 * spin beside it the whole time, so timing assumptions that hold only on an idle machine show up
 * as failures. Stops at the first failing run and exits non-zero.
 *
 *   tsx tools/stress.ts                 5 runs
 *   tsx tools/stress.ts --runs 1        1 run (or STRESS_RUNS=1)
 *   tsx tools/stress.ts --busy 3        3 busy loops instead of 2 (or STRESS_BUSY=3)
 *   tsx tools/stress.ts -- test/load    arguments after `--` go to `vitest run`
 *
 * Each run's full output is written to a log file (its path is printed); `--verbose` also streams it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

interface Options {
  runs: number;
  busy: number;
  verbose: boolean;
  vitestArgs: string[];
}

function parseArgs(argv: string[]): Options {
  const opts: Options = {
    runs: Number(process.env.STRESS_RUNS ?? 5),
    busy: Number(process.env.STRESS_BUSY ?? 2),
    verbose: false,
    vitestArgs: [],
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      opts.vitestArgs = argv.slice(i + 1);
      break;
    }
    if (arg === '--runs') opts.runs = Number(argv[++i]);
    else if (arg === '--busy') opts.busy = Number(argv[++i]);
    else if (arg === '--verbose') opts.verbose = true;
    else throw new Error(`unknown argument ${arg} (expected --runs N, --busy N, --verbose, -- <vitest args>)`);
  }
  if (!Number.isInteger(opts.runs) || opts.runs < 1) throw new Error(`--runs must be a positive integer, got ${opts.runs}`);
  if (!Number.isInteger(opts.busy) || opts.busy < 0) throw new Error(`--busy must be a non-negative integer, got ${opts.busy}`);
  return opts;
}

/**
 * A process spinning one core. It checks now and then that its parent is still there, so it stops
 * even if this script is killed with SIGKILL and gets no chance to stop it.
 */
function startBusyLoop(): ChildProcess {
  const script = `const parent = ${process.pid}; for (let i = 0; ; i++) if ((i & 0xffffff) === 0 && process.ppid !== parent) process.exit(0);`;
  return spawn(process.execPath, ['-e', script], { stdio: 'ignore' });
}

interface RunResult {
  passed: number;
  failed: number;
  skipped: number;
  code: number | null;
  ms: number;
  log: string;
  tail: string;
}

/** One `vitest run`; the counts come from the summary reporter's `Tests: N passed, N failed, N skipped` line. */
function runSuite(index: number, dir: string, opts: Options): Promise<RunResult> {
  const log = join(dir, `run-${index}.log`);
  const file = createWriteStream(log);
  const started = performance.now();
  // Its own process group, so an interrupted run can be stopped with everything it started.
  const child = spawn('npx', ['vitest', 'run', ...opts.vitestArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' },
    detached: true,
  });
  running = child;
  let tail = '';
  const onData = (d: Buffer) => {
    file.write(d);
    if (opts.verbose) process.stdout.write(d);
    tail = (tail + d.toString()).slice(-20_000);
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  return new Promise((resolve) => {
    child.on('close', (code) => {
      running = undefined;
      file.end();
      const m = /Tests: (\d+) passed, (\d+) failed, (\d+) skipped/.exec(tail);
      resolve({
        passed: m ? Number(m[1]) : 0,
        failed: m ? Number(m[2]) : 0,
        skipped: m ? Number(m[3]) : 0,
        code,
        ms: performance.now() - started,
        log,
        tail,
      });
    });
  });
}

let running: ChildProcess | undefined;
const busy: ChildProcess[] = [];

function stopAll(): void {
  for (const b of busy.splice(0)) b.kill('SIGKILL');
  if (running?.pid !== undefined) {
    try {
      process.kill(-running.pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
}

process.on('exit', stopAll);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    stopAll();
    process.exit(130);
  });
}

async function main(): Promise<number> {
  const opts = parseArgs(process.argv.slice(2));
  const dir = mkdtempSync(join(tmpdir(), 'trove-stress-'));
  for (let i = 0; i < opts.busy; i++) busy.push(startBusyLoop());
  console.log(
    `stress: ${opts.runs} run(s) of vitest run${opts.vitestArgs.length ? ` ${opts.vitestArgs.join(' ')}` : ''} beside ${opts.busy} busy loop(s); logs in ${dir}`,
  );
  try {
    for (let i = 1; i <= opts.runs; i++) {
      const r = await runSuite(i, dir, opts);
      const ok = r.code === 0 && r.failed === 0 && r.passed > 0;
      console.log(
        `run ${i}/${opts.runs}: ${ok ? 'PASS' : 'FAIL'}  ${r.passed} passed, ${r.failed} failed, ${r.skipped} skipped  ${(r.ms / 1000).toFixed(1)} s  (exit ${r.code}, log ${r.log})`,
      );
      if (!ok) {
        // The failures section and the summary, from the end of the output.
        const lines = r.tail.split('\n');
        const from = lines.findIndex((l) => /Failed Tests|Failed Suites/.test(l));
        console.log(lines.slice(from >= 0 ? from : Math.max(0, lines.length - 80)).join('\n'));
        return 1;
      }
    }
    console.log(`stress: all ${opts.runs} run(s) passed`);
    return 0;
  } finally {
    stopAll();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(2);
  },
);

/**
 * A long run of several processes sharing one Redis, looking for what only time shows: memory
 * growth, handles or connections left behind, and stale reads under concurrent outside writes
 * and invalidations. Starts its own redis-server; prints a table and exits non-zero on a failure.
 *
 *   tsx tools/soak.ts                     10 minutes
 *   tsx tools/soak.ts --minutes 30
 *   tsx tools/soak.ts --seconds 30        a short run
 *   tsx tools/soak.ts --processes 2 --rate 500
 *   tsx tools/soak.ts --json soak.json    also writes the whole result, every sample included
 *
 * Progress goes to stderr, the result to stdout. See BENCHMARKS.md, "Soak".
 */
import { writeFileSync } from 'node:fs';
import { DEFAULT_CONFIG, runSoak } from './soak/run.js';
import { formatReport } from './soak/report.js';

const USAGE =
  'usage: tsx tools/soak.ts [--minutes N (default 10) | --seconds N] [--processes N (default 4)] [--rate ops/s per process (default 2000, 0: unthrottled)] [--json FILE]';

interface CliOptions {
  durationMs: number;
  processes: number;
  opsPerSecond: number;
  json: string | undefined;
}

function parseArgs(argv: string[]): CliOptions {
  const opts: CliOptions = { durationMs: 10 * 60_000, processes: DEFAULT_CONFIG.processes, opsPerSecond: DEFAULT_CONFIG.opsPerSecond, json: undefined };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') {
      console.log(USAGE);
      process.exit(0);
    }
    if (arg === '--json') {
      opts.json = argv[++i];
      if (opts.json === undefined) throw new Error(`--json needs a file name\n${USAGE}`);
      continue;
    }
    const value = Number(argv[i + 1]);
    if (!['--minutes', '--seconds', '--processes', '--rate'].includes(arg)) throw new Error(`unknown argument ${arg}\n${USAGE}`);
    if (!Number.isFinite(value) || value < 0) throw new Error(`${arg} needs a non-negative number\n${USAGE}`);
    i++;
    if (arg === '--minutes') opts.durationMs = value * 60_000;
    else if (arg === '--seconds') opts.durationMs = value * 1_000;
    else if (arg === '--processes') opts.processes = value;
    else opts.opsPerSecond = value;
  }
  if (opts.durationMs <= 0) throw new Error(`the run needs a positive length\n${USAGE}`);
  if (!Number.isInteger(opts.processes) || opts.processes < 1) throw new Error(`--processes must be a positive integer\n${USAGE}`);
  return opts;
}

const { json, ...opts } = parseArgs(process.argv.slice(2));
const result = await runSoak({ ...opts, log: (line) => console.error(`soak: ${line}`) });
console.log(formatReport(result));
if (json !== undefined) writeFileSync(json, `${JSON.stringify(result, null, 2)}\n`);
process.exitCode = result.failures.length === 0 ? 0 : 1;

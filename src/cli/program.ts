/**
 * The `trove` command line: its commands, options and help (commander), and the rule that any
 * failure is one line on stderr and a non-zero exit code, never a stack trace.
 */
import { Command, CommanderError, Option } from 'commander';
import { dashboardCommand } from './commands/dashboard.js';
import { inspectCommand } from './commands/inspect.js';
import { invalidateCommand, invalidateTagsCommand } from './commands/invalidate.js';
import { keysCommand } from './commands/keys.js';
import { statsCommand } from './commands/stats.js';
import { colorsFor, type Io } from './output.js';
import { type ConnectionOptions, explain, resolveTarget, Session } from './session.js';
import { packageVersion } from './version.js';

/** Several lines (commander's suggestions, a wrapped cause) as one. */
function oneLine(text: string): string {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .join(' ');
}

/** Runs the command line `argv` (without the node and script paths); resolves to the exit code. */
export async function run(argv: readonly string[], io: Io): Promise<number> {
  const errColors = colorsFor(io.stderr, io.env);
  const fail = (message: string) => io.stderr.write(`${errColors.red('trove:')} ${oneLine(message)}\n`);
  const version = packageVersion();

  const program = new Command('trove')
    .usage('[options] <command> [arguments]')
    .description('Read the statistics and entries of a Trove cache in Redis, invalidate regions and tags, serve the dashboard.')
    .addOption(new Option('--redis <url>', 'Redis to read (redis:// or rediss://)').env('TROVE_REDIS_URL'))
    .addOption(new Option('--prefix <prefix>', "the trove's key prefix").env('TROVE_PREFIX').default('trove'))
    // The trove's version is part of every key, like the prefix: `--version <v>` selects it. Alone,
    // `--version` prints this program's version, as with any command line tool.
    .addOption(new Option('--version [version]', "the trove's key version (alone: print the CLI's version)").env('TROVE_VERSION'))
    .addOption(new Option('--timeout <duration>', 'deadline of each Redis operation').default('5s'))
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
      outputError: (s) => fail(s.replace(/^error: /, '')),
    });

  let printedVersion = false;
  const printVersion = (opts: ConnectionOptions): boolean => {
    if (opts.version !== true) return false;
    io.stdout.write(`trove ${version}\n`);
    printedVersion = true;
    return true;
  };

  /** Opens a session on the command's target, runs `fn`, closes the session; a failure becomes one line. */
  const withSession =
    <A extends unknown[]>(fn: (session: Session, ...args: A) => Promise<void>) =>
    async (...args: [...A, unknown, Command]): Promise<void> => {
      const cmd = args[args.length - 1] as Command;
      const opts = cmd.optsWithGlobals<ConnectionOptions>();
      if (printVersion(opts)) return;
      const session = new Session(resolveTarget(opts, io.env), io);
      try {
        await session.run(fn(session, ...(args.slice(0, -1) as unknown as A)));
      } finally {
        await session.close();
      }
    };

  program
    .command('stats')
    .description('statistics of every region and cached function, merged over every process')
    .option('--since <duration>', 'how far back (whole minutes)', '1h')
    .option('--json', 'print JSON instead of a table')
    .action(withSession((s, opts: { since?: string; json?: boolean }) => statsCommand(s, opts)));

  program
    .command('inspect')
    .description('an entry as stored: its envelope (codec, compression, size, freshness, expiry, tags) and its value')
    .argument('<region>', 'region name, e.g. users or users.profiles')
    .argument('<key>', "the entry's key in the region")
    .action(withSession((s, region: string, key: string) => inspectCommand(s, region, key)));

  program
    .command('keys')
    .description("a sample of the keys of a region's live entries (SCAN)")
    .argument('<region>', 'region name')
    .option('--limit <n>', 'most keys listed', '100')
    .action(withSession((s, region: string, opts: { limit?: string }) => keysCommand(s, region, opts)));

  program
    .command('invalidate')
    .description('invalidate a region and every region below it, in every process')
    .argument('<region>', 'region name')
    .option('-y, --yes', 'do not ask for confirmation (required without a terminal)')
    .action(withSession((s, region: string, opts: { yes?: boolean }) => invalidateCommand(s, region, opts)));

  program
    .command('invalidate-tags')
    .description('invalidate every entry carrying any of the tags, in every region and process')
    .argument('<tag...>', 'tags')
    .option('-y, --yes', 'do not ask for confirmation (required without a terminal)')
    .action(withSession((s, tags: string[], opts: { yes?: boolean }) => invalidateTagsCommand(s, tags, opts)));

  program
    .command('dashboard')
    .description('serve the dashboard page: hit ratio over time, factory time and sizes, top regions, errors')
    .option('--port <port>', 'port to listen on (0: any free port)', '9464')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--since <duration>', 'window shown', '1h')
    .option('--refresh <duration>', 'how often the page refreshes', '5s')
    .action(withSession((s, opts: { port?: string; host?: string; since?: string; refresh?: string }) => dashboardCommand(s, opts)));

  // Without a command: `--version` alone prints the version, anything else is a usage error.
  program.argument('[command]').action((command: string | undefined, opts: ConnectionOptions) => {
    if (command !== undefined) {
      const near = program.commands.map((c) => c.name()).filter((name) => editDistance(name, command) <= 2);
      program.error(`unknown command '${command}'${near.length > 0 ? ` (did you mean ${near.join(' or ')}?)` : ''}`);
    }
    if (!printVersion(opts)) program.help({ error: true });
  });

  try {
    await program.parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version were written; a usage error was written as one line by outputError.
      return printedVersion ? 0 : err.exitCode;
    }
    fail(explain(err).message);
    return explain(err).exitCode;
  }
}

/** Levenshtein distance, for suggestions. */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length]!;
}

/**
 * What every command shares: which Redis, prefix and version to read (from the options or the
 * environment), the trove opened on them, and the translation of failures into one line.
 */
import { createTrove, type Trove } from '../api/index.js';
import { Tooling } from '../api/tooling.js';
import { toMs } from '../duration.js';
import { InvalidOptionError, StoreError, TroveError } from '../errors.js';
import { type Colors, colorsFor, type Io } from './output.js';

/** A failure the user can act on: printed as its message alone, and the process exits with `exitCode`. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/** The options every command accepts (commander merges them from the program and the command). */
export interface ConnectionOptions {
  redis?: string;
  prefix?: string;
  /** The trove's key version; `true` when `--version` was given without one (the CLI's own version is then printed). */
  version?: string | boolean;
  timeout?: string;
}

export interface Target {
  url: string;
  prefix: string;
  version: string;
  commandTimeoutMs: number;
}

/** The Redis URL, prefix and version of a command, from its options, then `TROVE_REDIS_URL`, `TROVE_PREFIX`, `TROVE_VERSION`. */
export function resolveTarget(opts: ConnectionOptions, env: NodeJS.ProcessEnv): Target {
  const url = opts.redis ?? env.TROVE_REDIS_URL;
  if (url === undefined || url === '') throw new CliError('no Redis given: pass --redis redis://host:6379 or set TROVE_REDIS_URL');
  const version = typeof opts.version === 'string' ? opts.version : (env.TROVE_VERSION ?? '0');
  return {
    url,
    prefix: opts.prefix ?? env.TROVE_PREFIX ?? 'trove',
    version,
    // A CLI walks the keyspace and reads statistics over many windows: far slower operations than
    // an application's reads, so its deadline is generous by default.
    commandTimeoutMs: toMs(opts.timeout ?? '5s', 'timeout'),
  };
}

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString().replace(/\/$/, '');
  } catch {
    return url;
  }
}

/**
 * A trove on the target (and, on demand, the read-only tooling view of its keyspace), closed by
 * `close()`. Remembers the last connection error, which explains a later `StoreError` better
 * than the operation that failed.
 */
export class Session {
  readonly trove: Trove;
  /** Colours of what goes to stdout (none off a terminal or with NO_COLOR). */
  readonly colors: Colors;
  private toolingView: Tooling | undefined;
  private lastConnectionError: string | undefined;
  /**
   * Rejects at the first connection error while `failFast` holds. A store waits out its deadline
   * for a connection that may come back, which suits a service; a command line tool told that
   * Redis refused the connection has nothing better to do than say so at once.
   */
  private readonly connectionFailure: Promise<never>;
  private failConnection: (err: Error) => void = () => {};
  /** Whether a connection error ends the command (the dashboard stops failing fast once it serves). */
  failFast = true;

  constructor(
    readonly target: Target,
    readonly io: Io,
  ) {
    this.colors = colorsFor(io.stdout, io.env);
    this.trove = createTrove({
      redis: target.url,
      prefix: target.prefix,
      version: target.version,
      commandTimeout: target.commandTimeoutMs,
      // Nothing the CLI reads is worth keeping in-process.
      nearCache: false,
      // On: fleetStats() reads through them. The CLI reads no entries through regions (the
      // tooling view does), so it adds nothing of its own to the application's figures.
      stats: {},
    });
    this.connectionFailure = new Promise<never>((_, reject) => {
      this.failConnection = reject;
    });
    // Nobody may be racing it (a command that finished, a dashboard that serves): never unhandled.
    this.connectionFailure.catch(() => {});
    this.trove.on('error', (e) => {
      if (e.operation === 'connection') this.connectionLost(e.error);
    });
  }

  /** Runs a command's work, ending it at once with one line when the connection fails (while `failFast`). */
  async run(work: Promise<void>): Promise<void> {
    // The work goes on in the background when the connection fails first; its own failure then is no news.
    work.catch(() => {});
    try {
      await Promise.race([work, this.connectionFailure]);
    } catch (err) {
      throw this.explain(err);
    }
  }

  private connectionLost(err: Error): void {
    this.lastConnectionError = err.message;
    if (this.failFast) this.failConnection(new StoreError(err.message, { cause: err }));
  }

  /** The read-only view of the keyspace (a connection of its own, opened on first use). */
  get tooling(): Tooling {
    this.toolingView ??= new Tooling({
      redis: this.target.url,
      prefix: this.target.prefix,
      version: this.target.version,
      commandTimeoutMs: this.target.commandTimeoutMs,
      onConnectionError: (err) => this.connectionLost(err),
    });
    return this.toolingView;
  }

  /** The one line that explains `err`. */
  explain(err: unknown): CliError {
    if (err instanceof CliError) return err;
    if (err instanceof StoreError) {
      const why = this.lastConnectionError ?? err.message;
      return new CliError(`cannot reach Redis at ${redactUrl(this.target.url)}: ${why.replace(/^Redis connection: /, '')}`);
    }
    return explain(err);
  }

  async close(): Promise<void> {
    await Promise.all([this.trove.close(), this.toolingView?.close()]);
  }
}

/** The one line that explains an error raised before (or without) a session. */
export function explain(err: unknown): CliError {
  if (err instanceof CliError) return err;
  if (err instanceof InvalidOptionError) return new CliError(err.message);
  if (err instanceof TroveError) return new CliError(err.message);
  if (err instanceof Error) return new CliError(err.message);
  return new CliError(String(err));
}

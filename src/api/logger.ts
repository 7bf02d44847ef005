import { InvalidOptionError } from '../errors.js';
import type { ErrorEvent } from '../region/index.js';

/**
 * Where a trove writes what it has to say: any logger with pino's call shape (`logger.warn(object,
 * message)`), such as pino, bunyan-compatible loggers, or `console` (which prints both arguments).
 */
export interface TroveLogger {
  error(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  info?(obj: object, msg?: string): void;
  debug?(obj: object, msg?: string): void;
}

/** How often repeated errors of one code are summed up in one line, in ms. */
export const LOG_SUMMARY_INTERVAL_MS = 10_000;

/**
 * Writes errors to the logger without flooding it: the first error of each code at once, then one
 * line per `LOG_SUMMARY_INTERVAL_MS` with how many more came. Without a logger and without an
 * `error` listener, the first error of each code becomes a process warning, so that a
 * misconfigured cache (a wrong URL, a wrong password) is never silent.
 */
export class ErrorLog {
  private readonly repeats = new Map<string, number>();
  private readonly warned = new Set<string>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly logger: TroveLogger | undefined) {}

  /** An error was reported; `listened`: someone listens to `error` events. */
  write(e: ErrorEvent, listened: boolean): void {
    const code = e.error.code;
    if (this.logger === undefined) {
      if (listened || this.warned.has(code)) return;
      this.warned.add(code);
      process.emitWarning(
        `${e.error.message} (operation "${e.operation}"${e.region === undefined ? '' : `, region "${e.region}"`}; further ${code} errors are not warned about: pass a logger or listen to 'error' events)`,
        { type: 'TroveWarning', code: `TROVE_${code}` },
      );
      return;
    }
    const seen = this.repeats.get(code);
    if (seen !== undefined) {
      this.repeats.set(code, seen + 1);
      return;
    }
    this.repeats.set(code, 0);
    this.logger.error({ err: e.error, code, operation: e.operation, region: e.region, key: e.key }, `trove: ${e.error.message}`);
    if (this.timer === undefined) {
      this.timer = setInterval(() => this.summarize(), LOG_SUMMARY_INTERVAL_MS);
      this.timer.unref();
    }
  }

  /** One line per code that repeated since the last summary; a code that stayed quiet starts over. */
  private summarize(): void {
    for (const [code, n] of this.repeats) {
      if (n === 0) this.repeats.delete(code);
      else {
        this.logger?.warn({ code, count: n }, `trove: ${n} more ${code} errors in the last ${LOG_SUMMARY_INTERVAL_MS / 1000} s`);
        this.repeats.set(code, 0);
      }
    }
    if (this.repeats.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}

/** The `logger` option: undefined, or an object with `error` and `warn` methods. */
export function checkLogger(logger: unknown): TroveLogger | undefined {
  if (logger === undefined) return undefined;
  const l = logger as Partial<Record<string, unknown>>;
  if (typeof logger !== 'object' || logger === null || typeof l.error !== 'function' || typeof l.warn !== 'function') {
    throw new InvalidOptionError('logger', 'expected a logger with error and warn methods (pino, or console)');
  }
  return logger as TroveLogger;
}

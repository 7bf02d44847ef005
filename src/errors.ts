/**
 * Typed errors. Every error Trove throws or emits is a `TroveError` with a stable `code`,
 * so callers can branch on `err.code` without parsing messages.
 */

/** Base class of every error Trove throws or emits. */
export class TroveError extends Error {
  /** Stable machine-readable code, e.g. `'INVALID_OPTION'`. */
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** An option passed to Trove is invalid; `option` names it (e.g. `'ttl'`, `'regions.users.codec'`). */
export class InvalidOptionError extends TroveError {
  readonly option: string;
  constructor(option: string, message: string) {
    super('INVALID_OPTION', `Invalid option "${option}": ${message}`);
    this.option = option;
  }
}

/** A value cannot be stored faithfully by the chosen codec; `path` points at the offending part. */
export class SerializationError extends TroveError {
  /** Path from the root of the value to the offending part, e.g. `['user', 'createdAt']`. */
  readonly path: readonly (string | number)[];
  constructor(message: string, path: readonly (string | number)[] = [], options?: { cause?: unknown }) {
    const where = path.length > 0 ? ` at ${formatPath(path)}` : '';
    super('SERIALIZATION', `${message}${where}`, options);
    this.path = path;
  }
}

/** Bytes read from the store could not be decoded. Never thrown to callers: it becomes a miss plus an `error` event. */
export class DecodeError extends TroveError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('DECODE', message, options);
  }
}

/** An encoded value is larger than the region's `maxValueBytes`. */
export class ValueTooLargeError extends TroveError {
  readonly bytes: number;
  readonly limit: number;
  constructor(bytes: number, limit: number) {
    super('VALUE_TOO_LARGE', `Encoded value is ${bytes} bytes, over the limit of ${limit} bytes (option "maxValueBytes")`);
    this.bytes = bytes;
    this.limit = limit;
  }
}

/** A cache key could not be derived from function arguments (function, symbol, cycle, class instance without toCacheKey/toJSON). */
export class KeyDerivationError extends TroveError {
  readonly path: readonly (string | number)[];
  constructor(message: string, path: readonly (string | number)[] = []) {
    const where = path.length > 0 ? ` at ${formatPath(path)}` : '';
    super('KEY_DERIVATION', `${message}${where}`);
    this.path = path;
  }
}

/** A store operation failed: Redis unreachable, timed out, or answered with an error. */
export class StoreError extends TroveError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('STORE', message, options);
  }
}

/** A store operation did not finish within its deadline (option `commandTimeout`). */
export class StoreTimeoutError extends StoreError {
  readonly timeoutMs: number;
  constructor(operation: string, timeoutMs: number) {
    super(`Store operation "${operation}" exceeded its ${timeoutMs} ms deadline`);
    (this as { code: string }).code = 'STORE_TIMEOUT';
    this.timeoutMs = timeoutMs;
  }
}

/**
 * A cold key is being computed by another process and the call's `onCold` policy is `'fail'`:
 * retry later (e.g. answer HTTP 503 with Retry-After).
 */
export class ColdCacheError extends TroveError {
  readonly key: string;
  /**
   * A retry delay, in milliseconds: how long the computation probably has left, from the mean
   * factory time of its region or cached function in this process's statistics (minus how long
   * it has been seen running, at least a tenth of that mean, at most the holder's remaining
   * lease); without such statistics, the holder's remaining lease (-1: unknown).
   */
  readonly retryAfterMs: number;
  constructor(key: string, retryAfterMs: number) {
    super('COLD_CACHE', `"${key}" is not cached yet and another process is computing it; retry later`);
    this.key = key;
    this.retryAfterMs = retryAfterMs;
  }
}

/** A factory ran past its `hardTimeout` (it may still finish in the background and store its result). */
export class TimeoutError extends TroveError {
  readonly timeoutMs: number;
  constructor(key: string, timeoutMs: number) {
    super('FACTORY_TIMEOUT', `The factory of "${key}" did not finish within its ${timeoutMs} ms hardTimeout`);
    this.timeoutMs = timeoutMs;
  }
}

/** The factory of a getOrSet threw; reported in `error` events when a stale value was served instead. */
export class FactoryError extends TroveError {
  constructor(key: string, cause: unknown) {
    super('FACTORY', `The factory of "${key}" failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

/** The factory of a `getOrSetMany` answered something other than one value per key it was given. */
export class FactoryResultError extends TroveError {
  constructor(message: string) {
    super('FACTORY_RESULT', message);
  }
}

/** The trove was closed; no further operations are accepted. */
export class ClosedError extends TroveError {
  constructor() {
    super('CLOSED', 'This trove has been closed');
  }
}

function formatPath(path: readonly (string | number)[]): string {
  let out = '$';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : `.${p}`;
  return out;
}

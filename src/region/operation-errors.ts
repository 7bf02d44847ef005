import { StoreError, StoreTimeoutError } from '../errors.js';

/**
 * A store failure of an internal step (reading the generation or tag tables, writing a new
 * generation) as the error of the caller's operation: its message names `operation` (`'get'`,
 * `'set'`, …), never the internal command, and the original is kept as `cause`. A timeout stays a
 * StoreTimeoutError with the same deadline.
 */
export function inOperation(operation: string, err: unknown, what: string): StoreError {
  if (err instanceof StoreTimeoutError) {
    const timeout = new StoreTimeoutError(operation, err.timeoutMs);
    // Its constructor takes no options: set `cause` as the Error constructor would (own, non-enumerable).
    Object.defineProperty(timeout, 'cause', { value: err, writable: true, configurable: true, enumerable: false });
    return timeout;
  }
  return new StoreError(`Store operation "${operation}" failed: ${what}`, { cause: err });
}

/** An internal store step of `operation`: a StoreError it rejects with becomes `inOperation`'s; other errors pass unchanged. */
export function asOperation<T>(operation: string, what: string, step: Promise<T>): Promise<T> {
  return step.catch((err: unknown) => {
    throw err instanceof StoreError ? inOperation(operation, err, what) : err;
  });
}

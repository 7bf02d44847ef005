import { StoreError, StoreTimeoutError } from '../errors.js';

/**
 * Bounds a store operation by a deadline. One timer per operation (a batched MGET counts as one),
 * cleared as soon as the operation settles so nothing lingers.
 */
export function withDeadline<T>(operation: string, timeoutMs: number, work: Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new StoreTimeoutError(operation, timeoutMs)), timeoutMs);
    work.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(asStoreError(operation, e));
      },
    );
  });
}

/** Wraps anything a driver throws into a StoreError that keeps the original as `cause`. */
export function asStoreError(operation: string, e: unknown): StoreError {
  if (e instanceof StoreError) return e;
  const message = e instanceof Error ? e.message : String(e);
  return new StoreError(`Store operation "${operation}" failed: ${message}`, { cause: e });
}

import { StoreError } from '../errors.js';

interface Waiter {
  resolve(): void;
  reject(e: unknown): void;
  timer: NodeJS.Timeout;
}

/**
 * Operations waiting for a connection's first ready, each for at most its deadline: both drivers
 * hold operations issued during the first connect (instead of failing them, or queueing them
 * without a bound in the client's offline queue).
 */
export class ReadyGate {
  private readonly waiters = new Set<Waiter>();

  constructor(private readonly timeoutMs: number) {}

  /** How many operations are waiting. */
  get pending(): number {
    return this.waiters.size;
  }

  /** Resolves at the next `open()`; rejects with a `StoreError` naming `operation` after the deadline, or at `close()`. */
  wait(operation: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.delete(waiter);
          reject(new StoreError(`Redis did not become ready within ${this.timeoutMs} ms; operation "${operation}" skipped`));
        }, this.timeoutMs),
      };
      this.waiters.add(waiter);
    });
  }

  /** The connection is ready: every waiting operation goes ahead. */
  open(): void {
    this.settle((w) => w.resolve());
  }

  /** The store closed: every waiting operation fails. */
  close(): void {
    this.settle((w) => w.reject(new StoreError('Store is closed')));
  }

  private settle(each: (w: Waiter) => void): void {
    for (const w of this.waiters) {
      clearTimeout(w.timer);
      each(w);
    }
    this.waiters.clear();
  }
}

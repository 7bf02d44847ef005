import { performance } from 'node:perf_hooks';
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

/**
 * Deadlines of one kind of operation, all of one duration, sharing one timer. Arming and clearing
 * a timer per operation (as `withDeadline` does) costs as much as the rest of a short read; here
 * an operation costs a clock read and a queue entry. Deadlines of one duration expire in the
 * order their operations started, so the timer only ever waits for the oldest unsettled one.
 * While none is pending the timer is unref'd, so it never holds the process open.
 */
export class SharedDeadline {
  private head: Pending | undefined = undefined;
  private tail: Pending | undefined = undefined;
  private timer: NodeJS.Timeout | undefined = undefined;
  /** Whether the timer is set to fire (it fires at the latest when the oldest pending operation expires). */
  private armed = false;

  constructor(
    private readonly operation: string,
    private readonly timeoutMs: number,
  ) {}

  /** `work`, bounded by the deadline, its failures wrapped as `withDeadline` does. */
  bound<T>(work: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => this.watch(work, resolve, reject));
  }

  /** As `bound`, handing the outcome to `done` or `failed` (exactly one of them, once): no promise of its own. */
  watch<T>(work: Promise<T>, done: (v: T) => void, failed: (e: unknown) => void): void {
    const p: Pending = { expiresAt: performance.now() + this.timeoutMs, reject: failed, done: false, next: undefined };
    this.enqueue(p);
    work.then(
      (v) => {
        if (p.done) return;
        this.settled(p);
        done(v);
      },
      (e: unknown) => {
        if (p.done) return;
        this.settled(p);
        failed(asStoreError(this.operation, e));
      },
    );
  }

  private enqueue(p: Pending): void {
    if (this.tail === undefined) {
      this.head = this.tail = p;
      if (!this.armed) {
        this.armed = true;
        // Fires at the latest at p's deadline (p is the only pending operation); firing earlier
        // only re-arms it.
        if (this.timer === undefined) this.timer = setTimeout(this.expire, this.timeoutMs);
        else this.timer.refresh();
      }
      this.timer!.ref();
    } else {
      this.tail.next = p;
      this.tail = p;
    }
  }

  /** Marks `p` settled and drops settled operations from the front; with none left pending, the timer no longer holds the process. */
  private settled(p: Pending): void {
    p.done = true;
    let h = this.head;
    while (h?.done) h = unlink(h);
    this.head = h;
    if (h === undefined) {
      this.tail = undefined;
      this.timer?.unref();
    }
  }

  private readonly expire = (): void => {
    this.armed = false;
    const now = performance.now();
    let h = this.head;
    // Within a millisecond counts as expired: timers have millisecond resolution.
    while (h !== undefined && (h.done || h.expiresAt - now < 1)) {
      if (!h.done) {
        h.done = true;
        h.reject(new StoreTimeoutError(this.operation, this.timeoutMs));
      }
      h = unlink(h);
    }
    this.head = h;
    if (h === undefined) {
      this.tail = undefined;
      return;
    }
    this.armed = true;
    this.timer = setTimeout(this.expire, Math.ceil(h.expiresAt - now));
  };
}

/**
 * The entry after `p`, with `p` cut from it: a dropped entry that has reached the old generation
 * would otherwise keep every later one (and what their callbacks hold) alive through young-generation
 * collections, until the next full one.
 */
function unlink(p: Pending): Pending | undefined {
  const next = p.next;
  p.next = undefined;
  return next;
}

interface Pending {
  expiresAt: number;
  reject: (e: unknown) => void;
  done: boolean;
  next: Pending | undefined;
}

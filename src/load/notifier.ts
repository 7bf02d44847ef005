import type { MessageBus } from '../store/index.js';
import { keyNotification, parseNotification } from '../store/notification.js';
import { TransientMap } from '../transient-map.js';

/** Why a wait ended. */
export type WakeReason = 'notified' | 'timeout' | 'reset' | 'closed';

/** A registered wait for a key; register before re-reading, so a notification cannot slip between. */
export interface Wait {
  /** Resolves when the key is notified, the channel was reset, or `timeoutMs` passed. */
  readonly done: Promise<WakeReason>;
  /** Once `done` resolved with 'notified': the stored bytes the notification carried (small values), else undefined. */
  readonly carried: Buffer | undefined;
  cancel(): void;
}

/**
 * Wakes processes waiting for a key when the process computing it stores (or gives up on) the
 * value: one pub/sub channel per trove carries messages naming the full key, with the stored
 * bytes when they are small (see notification.ts), so that a waiter need not read them. Waiters
 * are woken by the message, never by polling; the timeout only bounds a wait whose notification
 * never comes (holder died, channel down).
 */
export class Notifier {
  /** By key, one entry per wait under way (see TransientMap). */
  private readonly waiters = new TransientMap<string, Set<(reason: WakeReason, carried?: Buffer) => void>>();
  private unsubscribe: (() => void) | undefined;
  private starting: Promise<void> | undefined;
  private closed = false;
  /** Called for every notification (any key), e.g. to forget that a key was being computed elsewhere. */
  onNotified: ((key: string) => void) | undefined;

  constructor(
    private readonly store: MessageBus,
    readonly channel: string,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** Subscribes (once). Failing to subscribe is not fatal: waits then end by their timeout. */
  start(): Promise<void> {
    this.starting ??= this.store
      .subscribe(this.channel, {
        onBytes: (message) => {
          // A message not in the channel's form (published by something else) wakes nobody.
          const n = parseNotification(message);
          if (n !== undefined) this.wake(n.key, 'notified', n.value);
        },
        // Messages may have been lost: every waiter re-checks.
        onReset: () => this.wakeAll('reset'),
      })
      .then(
        (unsubscribe) => {
          if (this.closed) unsubscribe();
          else this.unsubscribe = unsubscribe;
        },
        (err: unknown) => {
          this.starting = undefined;
          this.onError(err);
        },
      );
    return this.starting;
  }

  wait(key: string, timeoutMs: number): Wait {
    let finish!: (reason: WakeReason, carried?: Buffer) => void;
    let timer: NodeJS.Timeout | undefined;
    const wait: { done: Promise<WakeReason>; carried: Buffer | undefined; cancel(): void } = {
      done: new Promise<WakeReason>((resolve) => {
        finish = (reason, carried) => {
          clearTimeout(timer);
          const set = this.waiters.get(key);
          if (set?.delete(finish) && set.size === 0) this.waiters.delete(key);
          // Called once with 'notified' at most: a wait leaves the waiters with its first outcome.
          if (reason === 'notified') wait.carried = carried;
          resolve(reason);
        };
      }),
      carried: undefined,
      cancel: () => finish('closed'),
    };
    if (this.closed) {
      finish('closed');
      return wait;
    }
    let set = this.waiters.get(key);
    if (!set) {
      set = new Set();
      this.waiters.set(key, set);
    }
    set.add(finish);
    timer = setTimeout(() => finish('timeout'), Math.max(0, timeoutMs));
    return wait;
  }

  /** Tells every process that `key` was released (its value not stored: waiters read, or try for the lock). */
  notify(key: string): Promise<void> {
    return this.store.publish(this.channel, keyNotification(key));
  }

  private wake(key: string, reason: WakeReason, carried?: Buffer): void {
    if (reason === 'notified') this.onNotified?.(key);
    const set = this.waiters.get(key);
    if (!set) return;
    for (const f of [...set]) f(reason, carried);
  }

  private wakeAll(reason: WakeReason): void {
    for (const set of [...this.waiters.values()]) for (const f of [...set]) f(reason);
  }

  /** Number of pending waits (for tests: nothing may pile up). */
  get pending(): number {
    let n = 0;
    for (const set of this.waiters.values()) n += set.size;
    return n;
  }

  close(): void {
    this.closed = true;
    this.wakeAll('closed');
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }
}

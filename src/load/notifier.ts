import type { MessageBus } from '../store/index.js';

/** Why a wait ended. */
export type WakeReason = 'notified' | 'timeout' | 'reset' | 'closed';

/** A registered wait for a key; register before re-reading, so a notification cannot slip between. */
export interface Wait {
  /** Resolves when the key is notified, the channel was reset, or `timeoutMs` passed. */
  readonly done: Promise<WakeReason>;
  cancel(): void;
}

/**
 * Wakes processes waiting for a key when the process computing it stores (or gives up on) the
 * value: one pub/sub channel per trove carries `<full key>` messages. Waiters are woken by the
 * message, never by polling; the timeout only bounds a wait whose notification never comes
 * (holder died, channel down).
 */
export class Notifier {
  private readonly waiters = new Map<string, Set<(reason: WakeReason) => void>>();
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
        onMessage: (key) => this.wake(key, 'notified'),
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
    let finish!: (reason: WakeReason) => void;
    let timer: NodeJS.Timeout | undefined;
    const done = new Promise<WakeReason>((resolve) => {
      finish = (reason) => {
        clearTimeout(timer);
        const set = this.waiters.get(key);
        if (set?.delete(finish) && set.size === 0) this.waiters.delete(key);
        resolve(reason);
      };
    });
    if (this.closed) {
      finish('closed');
      return { done, cancel: () => {} };
    }
    let set = this.waiters.get(key);
    if (!set) {
      set = new Set();
      this.waiters.set(key, set);
    }
    set.add(finish);
    timer = setTimeout(() => finish('timeout'), Math.max(0, timeoutMs));
    return { done, cancel: () => finish('closed') };
  }

  /** Tells every process that `key` was stored or released. */
  notify(key: string): Promise<void> {
    return this.store.publish(this.channel, key);
  }

  private wake(key: string, reason: WakeReason): void {
    if (reason === 'notified') this.onNotified?.(key);
    const set = this.waiters.get(key);
    if (!set) return;
    for (const f of [...set]) f(reason);
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

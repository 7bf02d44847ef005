import { randomBytes } from 'node:crypto';
import type { LockAttempt, LockStore } from '../store/index.js';

/**
 * A held cross-process lock: renewed every third of its lease while work runs, so it only lapses
 * when the holder dies. If it vanishes anyway (FLUSHALL, failover), renewal stops and the work
 * goes on: a lost lock never fails a successful computation. A renewal the store fails also ends
 * renewing: the holder then answers without storing (see Loader), so the lock would only keep
 * other processes waiting.
 */
export class Lease {
  private timer: NodeJS.Timeout | undefined;
  private renewing = false;

  private constructor(
    private readonly store: LockStore,
    readonly key: string,
    readonly token: string,
    private readonly leaseMs: number,
    private readonly onError: (err: unknown) => void,
    /** The guarded value as read together with the lock (null: absent; undefined: not read). */
    readonly value: Buffer | null | undefined,
  ) {}

  /**
   * Tries to take the lock once: a held Lease, or how long the current holder has left. With
   * `readKey`, the guarded value is read in the same step (`lease.value`).
   */
  static async acquire(
    store: LockStore,
    key: string,
    leaseMs: number,
    onError: (err: unknown) => void,
    readKey?: string,
  ): Promise<Lease | Extract<LockAttempt, { acquired: false }>> {
    const token = randomBytes(12).toString('base64url');
    let attempt: LockAttempt;
    try {
      attempt = await store.acquireLock(key, token, leaseMs, readKey);
    } catch (err) {
      // A timed-out attempt may still take the lock once Redis answers again, and nobody would
      // release it: every process would wait out its lease (5 s by default) after the stall. The
      // release follows it on the same connection and removes only our own token. Its failure is
      // not reported: the attempt's was.
      store.releaseLock(key, token).catch(() => {});
      throw err;
    }
    if (!attempt.acquired) return attempt;
    const lease = new Lease(store, key, token, leaseMs, onError, attempt.value);
    lease.startRenewing();
    return lease;
  }

  private startRenewing(): void {
    this.timer = setInterval(
      () => {
        // One renewal at a time: while Redis stalls, one would otherwise queue up per interval.
        if (this.renewing) return;
        this.renewing = true;
        this.store.renewLock(this.key, this.token, this.leaseMs).then(
          (held) => {
            this.renewing = false;
            if (!held) this.stopRenewing();
          },
          (err: unknown) => {
            this.renewing = false;
            this.stopRenewing();
            this.onError(err);
          },
        );
      },
      Math.max(10, Math.floor(this.leaseMs / 3)),
    );
    // A lease must never keep the process alive on its own.
    this.timer.unref();
  }

  stopRenewing(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Releases the lock if still ours. */
  async release(): Promise<void> {
    this.stopRenewing();
    await this.store.releaseLock(this.key, this.token);
  }
}

import { StoreError, TroveError } from '../errors.js';

/** What `trove.health()` answers, for readiness probes and dashboards. */
export interface TroveHealth {
  /**
   * `'ok'`: the store is connected (and the near cache, when there is one, is live); `'degraded'`:
   * connected but the near cache is not live (its invalidation channel is being restored: reads
   * go to Redis); `'down'`: Redis cannot be reached (calls degrade: misses, direct computation).
   */
  status: 'ok' | 'degraded' | 'down';
  /** The store's connection: `'connecting'` until the first connection is made. The embedded store is always `'connected'`. */
  redis: 'connected' | 'connecting' | 'disconnected';
  /** Whether the near cache's invalidation tracking is live; undefined without a near cache. */
  tracking: boolean | undefined;
  /** The last error reported (a failed call or connection attempt), if any. */
  lastError: { message: string; code: string; at: number } | undefined;
  /** When `status` last changed, epoch ms. */
  since: number;
}

/** Reported to the trove's listeners when the connection state changes. */
export interface HealthListener {
  onDisconnected(error: TroveError | undefined): void;
  onReconnected(downMs: number, suppressedErrors: number): void;
}

/**
 * The store's connection state as the trove sees it, and the one rule that keeps an outage from
 * becoming a storm of `error` events: while the store is disconnected, the first failure is
 * reported and the following ones are only counted; the count comes with the reconnection.
 */
export class Health {
  private redis: TroveHealth['redis'];
  private lastError: TroveHealth['lastError'] = undefined;
  private since = Date.now();
  private downAt = 0;
  /** Whether the first failure of its kind (a call's, or background work's: reconnection, sync) was reported in the current outage. */
  private readonly reportedWhileDown = { call: false, background: false };
  /** Failures counted instead of reported during the current outage. */
  private suppressedNow = 0;
  /** Failures counted instead of reported, since the trove started. */
  suppressed = 0;

  constructor(
    embedded: boolean,
    private readonly tracking: () => boolean | undefined,
    private readonly listener: HealthListener,
  ) {
    this.redis = embedded ? 'connected' : 'connecting';
  }

  get connected(): boolean {
    return this.redis === 'connected';
  }

  snapshot(): TroveHealth {
    const tracking = this.tracking();
    const status = this.redis !== 'connected' ? 'down' : tracking === false ? 'degraded' : 'ok';
    return { status, redis: this.redis, tracking, lastError: this.lastError, since: this.since };
  }

  private readonly waiters = new Set<{ resolve(): void; reject(err: unknown): void }>();

  /**
   * Resolves once the store is connected; rejects with a StoreError on the next connection
   * failure (its `cause`: refused, authentication, …) or after `timeoutMs`.
   */
  whenConnected(timeoutMs: number): Promise<void> {
    if (this.redis === 'connected') return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const waiter = {
        resolve: () => {
          clearTimeout(timer);
          this.waiters.delete(waiter);
          resolve();
        },
        reject: (err: unknown) => {
          clearTimeout(timer);
          this.waiters.delete(waiter);
          reject(err);
        },
      };
      const timer = setTimeout(() => waiter.reject(new StoreError(`Redis did not become ready within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.add(waiter);
    });
  }

  /** A connection attempt failed (refused, reset, authentication). */
  connectionFailed(err: Error): void {
    for (const w of [...this.waiters]) w.reject(new StoreError(`Redis cannot be used: ${err.message}`, { cause: err }));
  }

  /** The store's connection is up (again). */
  connectedNow(): void {
    for (const w of [...this.waiters]) w.resolve();
    if (this.redis === 'connected') return;
    const wasDown = this.redis === 'disconnected';
    this.redis = 'connected';
    this.since = Date.now();
    if (!wasDown) return;
    const suppressed = this.suppressedNow;
    this.suppressedNow = 0;
    this.reportedWhileDown.call = this.reportedWhileDown.background = false;
    this.listener.onReconnected(this.since - this.downAt, suppressed);
  }

  /** The store's connection was lost. */
  disconnectedNow(): void {
    if (this.redis === 'disconnected') return;
    this.redis = 'disconnected';
    this.since = this.downAt = Date.now();
    this.reportedWhileDown.call = this.reportedWhileDown.background = false;
    this.listener.onDisconnected(undefined);
  }

  /**
   * A failure is about to be reported: records it, and answers whether to report it. While
   * disconnected, the first failure of a call (one in a region) and the first of background work
   * (reconnection attempts, re-reading the tables) are reported; the others are counted instead.
   */
  admit(error: unknown, inRegion: boolean): boolean {
    const e = error instanceof TroveError ? error : undefined;
    this.lastError = {
      message: error instanceof Error ? error.message : String(error),
      code: e?.code ?? 'STORE',
      at: Date.now(),
    };
    if (this.redis !== 'disconnected' || !(error instanceof StoreError)) return true;
    const kind = inRegion ? 'call' : 'background';
    if (!this.reportedWhileDown[kind]) {
      this.reportedWhileDown[kind] = true;
      return true;
    }
    this.suppressedNow++;
    this.suppressed++;
    return false;
  }
}

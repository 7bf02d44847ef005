import { Buffer } from 'node:buffer';
import type { Redis } from 'ioredis';
import { withDeadline } from './deadline.js';
import { withoutKeyPrefix } from './key-prefix.js';
import type { TrackingListener } from './store.js';
import type { Subscriber } from './subscriber.js';

/** The channel Redis publishes client-side-caching invalidations on (RESP2 REDIRECT mode). */
const INVALIDATE_CHANNEL = '__redis__:invalidate';

/** Periodic checks that may find the subscriber down while Redis answers before it is started over. */
const SUBSCRIBER_STALL_CHECKS = 5;

export interface TrackingChannelOptions {
  /** Deadline of the liveness check (at least 500 ms) and of turning tracking off on close, in milliseconds. */
  commandTimeoutMs: number;
  /**
   * How often the subscriber connection is checked with PING while tracking is live, in ms. A
   * silent network partition is noticed within this period plus the PING's deadline, after which
   * tracking is reported lost. Default 1000.
   */
  checkIntervalMs?: number;
  /**
   * Whether close() turns tracking off on the command connection: true when that connection
   * outlives the channel (it is the user's); one about to be closed needs no such round trip.
   */
  turnOffOnClose: boolean;
  /** Failures to switch tracking on, and to subscribe to the invalidation channel. */
  onError(err: Error): void;
}

/**
 * Redis's invalidations of the keys read on a command connection (server-assisted client-side
 * caching, RESP2): CLIENT TRACKING on that connection in OPTIN mode, redirected to the subscriber
 * connection, which subscribes to `__redis__:invalidate`. Keeps the pair working across
 * reconnects of either connection, checks the subscriber with PING, and reports every loss,
 * since invalidations may have been missed meanwhile.
 *
 * Starts at construction; live once Redis confirmed tracking for the current pair of connections.
 * Which reads are tracked is the command connection's business (`CLIENT CACHING yes` before them).
 */
export class TrackingChannel {
  private isLive = false;
  /** Whether CLIENT TRACKING on was sent on the command connection (turned off on close when `turnOffOnClose`). */
  private started = false;
  private closed = false;
  private readonly timer: NodeJS.Timeout;
  /** Counts the attempts to turn tracking on; only the latest one may report tracking live. */
  private attempt = 0;
  /** Attempts under way (the periodic check leaves them to finish). */
  private connecting = 0;
  /** Periodic checks in a row that found the command connection up and the subscriber not live. */
  private subscriberStalls = 0;
  /**
   * The client's `keyPrefix`: ioredis adds it to every key it sends, but Redis names the prefixed
   * key in its invalidations.
   */
  private readonly keyPrefix: string;

  constructor(
    private readonly client: Redis,
    private readonly subscriber: Subscriber,
    private readonly listener: TrackingListener,
    private readonly opts: TrackingChannelOptions,
  ) {
    this.keyPrefix = client.options.keyPrefix ?? '';
    client.on('close', this.onClientClose);
    client.on('ready', this.onClientReady);
    // The subscriber may be connected already (it learns its id on every connect): subscribe
    // to the invalidation channel now, then point the command connection at it.
    this.subscriber
      .watch({
        channel: INVALIDATE_CHANNEL,
        onMessage: (message) => this.receive(message),
        onLive: () => void this.connect(),
        onClosed: () => this.setLive(false),
      })
      ?.then(
        () => this.connect(),
        (err: unknown) => this.opts.onError(err instanceof Error ? err : new Error(String(err))),
      );
    this.timer = setInterval(() => this.check(), this.opts.checkIntervalMs ?? 1_000);
    this.timer.unref();
  }

  /** Deadline of the liveness check and of turning tracking on, in ms: `commandTimeoutMs`, at least 500. */
  private get deadlineMs(): number {
    return Math.max(this.opts.commandTimeoutMs, 500);
  }

  /** Whether tracking is live: invalidations arrive for everything read (with CLIENT CACHING yes) from now on. */
  get live(): boolean {
    return this.isLive;
  }

  /**
   * Stops reporting. With `turnOffOnClose`, resolves once tracking is off on the command
   * connection (or the attempt failed). Leaves both connections open: they are their owner's.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.client.off('close', this.onClientClose);
    this.client.off('ready', this.onClientReady);
    this.isLive = false;
    if (this.opts.turnOffOnClose && this.started && this.client.status === 'ready') {
      await withDeadline('close', this.opts.commandTimeoutMs, this.client.call('CLIENT', 'TRACKING', 'off')).catch(() => {});
    }
  }

  /** A new connection has tracking off: whatever was tracked before is no longer watched. */
  private readonly onClientReady = (): void => {
    // An attempt under way was for the connection before: it must not report this one live.
    this.attempt++;
    this.setLive(false);
    void this.connect();
  };

  private readonly onClientClose = (): void => {
    this.attempt++;
    this.setLive(false);
  };

  /**
   * Points the command connection's tracking at the subscriber (REDIRECT, OPTIN). Not NOLOOP:
   * with it Redis announces no change caused by this connection, and that includes the keys
   * evicted (`maxmemory`) while running this connection's own commands, which would stay in the
   * near cache for good. Own writes announce themselves too (see `RedisStore.trackedWrite`).
   * Live only once Redis confirmed it for the current pair of connections: reads sent before that
   * are not tracked and must not be kept.
   */
  private async connect(): Promise<void> {
    const subId = this.subscriber.id;
    if (this.closed || subId === undefined || !this.subscriber.live || this.client.status !== 'ready') return;
    const attempt = ++this.attempt;
    this.connecting++;
    // Bounded, so that an attempt never keeps the periodic check from trying again.
    const deadlineMs = this.deadlineMs;
    try {
      await withDeadline('tracking', deadlineMs, this.client.call('CLIENT', 'TRACKING', 'off'));
      // Never turn it on after close() (which may turn it off on a user's connection); once sent
      // before, close()'s OFF follows it on the same connection.
      if (this.closed) return;
      this.started = true;
      await withDeadline('tracking', deadlineMs, this.client.call('CLIENT', 'TRACKING', 'on', 'REDIRECT', String(subId), 'OPTIN'));
    } catch (err) {
      // Retried by the periodic check while both connections are up.
      this.opts.onError(err instanceof Error ? err : new Error(String(err)));
      return;
    } finally {
      this.connecting--;
    }
    if (attempt === this.attempt && subId === this.subscriber.id && this.subscriber.live && this.client.status === 'ready') this.setLive(true);
  }

  private setLive(live: boolean): void {
    if (this.isLive === live || this.closed) return;
    this.isLive = live;
    this.listener.onTrackingChange(live);
  }

  /**
   * Not live while both connections are up (an attempt to turn tracking on failed, e.g. during a
   * failover): try again. Live: a subscriber that stopped answering PING is treated as lost, as
   * invalidations may be missing.
   */
  private check(): void {
    if (!this.isLive) {
      if (this.subscriberStalled()) return;
      if (this.connecting === 0) void this.connect();
      return;
    }
    this.subscriberStalls = 0;
    this.subscriber.ping(this.deadlineMs)?.catch(() => {
      if (this.closed) return;
      this.setLive(false);
      this.subscriber.drop();
    });
  }

  /**
   * Whether the subscriber has been down for `SUBSCRIBER_STALL_CHECKS` checks in a row while the
   * command connection was up (Redis answers, so the subscriber should too); it is then started
   * over on a new connection. Whatever held it (a set-up whose reply never came, a connection
   * that never became ready), the near cache would otherwise stay off for good.
   */
  private subscriberStalled(): boolean {
    if (this.subscriber.live || this.client.status !== 'ready') {
      this.subscriberStalls = 0;
      return false;
    }
    if (++this.subscriberStalls < SUBSCRIBER_STALL_CHECKS) return false;
    this.subscriberStalls = 0;
    this.opts.onError(
      new Error(`the invalidation connection was not subscribed after ${SUBSCRIBER_STALL_CHECKS} checks with Redis answering: reconnecting it`),
    );
    this.subscriber.drop();
    return true;
  }

  private receive(message: unknown): void {
    if (this.closed) return;
    // RESP2 delivers the keys as an array, or null / empty for a flush of everything.
    if (message === null || message === undefined || (Buffer.isBuffer(message) && message.length === 0)) this.listener.onInvalidate(null);
    else this.listener.onInvalidate(withoutKeyPrefix(Array.isArray(message) ? message.map(String) : [String(message)], this.keyPrefix));
  }
}

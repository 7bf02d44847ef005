import { withDeadline } from '../deadline.js';
import { withoutKeyPrefix } from '../key-prefix.js';
import type { TrackingListener } from '../store.js';
import type { NodeRedisConnection } from './client-shape.js';
import type { NodeRedisSubscriber } from './subscriber.js';

export interface NodeRedisTrackingOptions {
  /** Deadline of the liveness check (at least 500 ms), of switching tracking on, and of turning it off on close, in milliseconds. */
  commandTimeoutMs: number;
  /** How often the subscriber is checked with PING while tracking is live, in ms. Default 1000. */
  checkIntervalMs?: number;
  /** The client's `keyPrefix`: Redis names the prefixed key in its invalidations. */
  keyPrefix: string;
  /** Failures to switch tracking on. */
  onError(err: Error): void;
}

/**
 * Redis's invalidations of the keys read on the user's node-redis client, as the ioredis driver's
 * `TrackingChannel` does it: CLIENT TRACKING on that client in OPTIN mode, redirected to the
 * subscriber connection (a duplicate subscribed to `__redis__:invalidate`). A node-redis client
 * is one socket, and writes commands in the order they are issued, so the CLIENT TRACKING and
 * CLIENT CACHING commands reach Redis on the connection of the reads they govern.
 *
 * Live once Redis confirmed tracking for the current pair of connections; reported lost when
 * either connection is lost or the subscriber stops answering PING, since invalidations may have
 * been missed. Tracking is switched on again after every reconnect of either.
 */
export class NodeRedisTracking {
  private isLive = false;
  private started = false;
  private closed = false;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly client: NodeRedisConnection,
    private readonly subscriber: NodeRedisSubscriber,
    private readonly listener: TrackingListener,
    private readonly opts: NodeRedisTrackingOptions,
  ) {
    client.on('ready', this.onClientReady);
    client.on('error', this.onClientError);
    client.on('reconnecting', this.onClientLost);
    client.on('end', this.onClientLost);
    this.subscriber.watch({
      onInvalidate: (keys) => this.receive(keys),
      onLive: () => void this.connect(),
      onClosed: () => this.setLive(false),
    });
    this.timer = setInterval(() => this.check(), this.opts.checkIntervalMs ?? 1_000);
    this.timer.unref();
  }

  get live(): boolean {
    return this.isLive;
  }

  /** Stops reporting, and turns tracking off on the client (it is the user's, and outlives the store). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.client.off('ready', this.onClientReady);
    this.client.off('error', this.onClientError);
    this.client.off('reconnecting', this.onClientLost);
    this.client.off('end', this.onClientLost);
    this.isLive = false;
    if (this.started && this.client.isReady) {
      await withDeadline('close', this.opts.commandTimeoutMs, this.client.sendCommand(['CLIENT', 'TRACKING', 'off'])).catch(() => {});
    }
  }

  /** A new connection has tracking off: whatever was tracked before is no longer watched. */
  private readonly onClientReady = (): void => {
    this.setLive(false);
    void this.connect();
  };

  private readonly onClientError = (): void => {
    if (!this.client.isReady) this.setLive(false);
  };

  private readonly onClientLost = (): void => {
    this.setLive(false);
  };

  /**
   * Points the client's tracking at the subscriber (REDIRECT, OPTIN; not NOLOOP, for the reasons
   * given in `TrackingChannel.connect`). Live only once Redis confirmed it for the current pair
   * of connections.
   */
  private async connect(): Promise<void> {
    const subId = this.subscriber.id;
    if (this.closed || subId === undefined || !this.client.isReady) return;
    try {
      // Sent back to back: the client writes them in order, and the OFF resets any earlier mode.
      const off = this.client.sendCommand(['CLIENT', 'TRACKING', 'off']);
      this.started = true;
      const on = this.client.sendCommand(['CLIENT', 'TRACKING', 'on', 'REDIRECT', String(subId), 'OPTIN']);
      off.catch(() => {});
      await withDeadline('tracking', this.opts.commandTimeoutMs, Promise.all([off, on]));
    } catch (err) {
      if (!this.closed) this.opts.onError(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    if (subId === this.subscriber.id && this.subscriber.live && this.client.isReady) this.setLive(true);
  }

  private setLive(live: boolean): void {
    if (this.isLive === live || this.closed) return;
    this.isLive = live;
    this.listener.onTrackingChange(live);
  }

  /** A subscriber that stopped answering PING is treated as lost: invalidations may be missing. */
  private check(): void {
    if (!this.isLive) return;
    this.subscriber.ping(Math.max(this.opts.commandTimeoutMs, 500))?.catch(() => {
      if (this.closed) return;
      this.setLive(false);
      this.subscriber.drop();
    });
  }

  private receive(keys: readonly string[] | null): void {
    if (this.closed) return;
    this.listener.onInvalidate(keys === null ? null : withoutKeyPrefix([...keys], this.opts.keyPrefix));
  }
}

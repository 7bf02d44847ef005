import { Buffer } from 'node:buffer';
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
 * A RESP3 client created with `emitInvalidate: true` receives the invalidations itself, as push
 * messages on its own connection, and emits them as `invalidate` events: then no redirection is
 * used (tracking is switched on in OPTIN mode without REDIRECT, replacing the plain CLIENT
 * TRACKING ON its handshake sends). A push arrives in order with the replies of that connection,
 * so an invalidation is never overtaken by a later read's reply; the connection's own PING
 * checks its liveness.
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
  /** Counts the attempts to turn tracking on; only the latest one may report tracking live. */
  private attempt = 0;
  /** Attempts under way (the periodic check leaves them to finish). */
  private connecting = 0;
  /** Whether invalidations arrive as pushes on the client's own connection (see the class comment). */
  private readonly push: boolean;

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
    this.push = client.options?.emitInvalidate === true && client.options.RESP === 3;
    if (this.push) {
      client.on('invalidate', this.onPush);
      void this.connect();
    } else {
      this.subscriber.watch({
        onInvalidate: (keys) => this.receive(keys),
        onLive: () => void this.connect(),
        onClosed: () => this.setLive(false),
      });
    }
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
    this.client.off('invalidate', this.onPush);
    this.isLive = false;
    if (this.started && this.client.isReady) {
      await withDeadline('close', this.opts.commandTimeoutMs, this.client.sendCommand(['CLIENT', 'TRACKING', 'off'])).catch(() => {});
    }
  }

  /** A new connection has tracking off: whatever was tracked before is no longer watched. */
  private readonly onClientReady = (): void => {
    // An attempt under way was for the connection before: it must not report this one live.
    this.attempt++;
    this.setLive(false);
    void this.connect();
  };

  private readonly onClientError = (): void => {
    if (!this.client.isReady) this.setLive(false);
  };

  private readonly onClientLost = (): void => {
    this.attempt++;
    this.setLive(false);
  };

  /**
   * Points the client's tracking at the subscriber (REDIRECT, OPTIN; not NOLOOP, for the reasons
   * given in `TrackingChannel.connect`). Live only once Redis confirmed it for the current pair
   * of connections.
   */
  private async connect(): Promise<void> {
    const subId = this.push ? undefined : this.subscriber.id;
    if (this.closed || (!this.push && (subId === undefined || !this.subscriber.live)) || !this.client.isReady) return;
    const attempt = ++this.attempt;
    this.connecting++;
    try {
      // Sent back to back: the client writes them in order, and the OFF resets any earlier mode.
      const off = this.client.sendCommand(['CLIENT', 'TRACKING', 'off']);
      this.started = true;
      const on = this.client.sendCommand(['CLIENT', 'TRACKING', 'on', ...(subId === undefined ? [] : ['REDIRECT', String(subId)]), 'OPTIN']);
      off.catch(() => {});
      await withDeadline('tracking', this.opts.commandTimeoutMs, Promise.all([off, on]));
    } catch (err) {
      // Retried by the periodic check while the connections are up.
      if (!this.closed) this.opts.onError(err instanceof Error ? err : new Error(String(err)));
      return;
    } finally {
      this.connecting--;
    }
    if (attempt !== this.attempt || !this.client.isReady) return;
    if (this.push || (subId === this.subscriber.id && this.subscriber.live)) this.setLive(true);
  }

  /** An invalidation pushed on the client's own connection: one key, or null for all (a flush). */
  private readonly onPush = (key: unknown): void => {
    this.receive(key === null || key === undefined ? null : [Buffer.isBuffer(key) ? key.toString() : String(key)]);
  };

  private setLive(live: boolean): void {
    if (this.isLive === live || this.closed) return;
    this.isLive = live;
    this.listener.onTrackingChange(live);
  }

  /**
   * Not live while the connections are up (an attempt to turn tracking on failed, or, with
   * pushes, a check failed while the client stayed ready: a silent partition): try again. Live: a
   * subscriber (or, with pushes, the client) that stopped answering PING is treated as lost, as
   * invalidations may be missing.
   */
  private check(): void {
    if (!this.isLive) {
      if (this.connecting === 0 && this.started) void this.connect();
      return;
    }
    if (this.push) {
      withDeadline('tracking', Math.max(this.opts.commandTimeoutMs, 500), this.client.sendCommand(['PING'])).catch(() => this.setLive(false));
      return;
    }
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

import { StoreError } from '../../errors.js';
import { checkWithPing, type PingAttempt, reconnectDelay, silenceLimitMs } from '../connection.js';
import { withDeadline } from '../deadline.js';
import { deliver } from '../channel-delivery.js';
import type { ChannelListener } from '../store.js';
import type { NodeRedisConnection } from './client-shape.js';

/** The channel Redis publishes client-side-caching invalidations on (RESP2 REDIRECT mode). */
export const INVALIDATE_CHANNEL = '__redis__:invalidate';

/** Follows the subscriber connection on behalf of the tracking channel (see `NodeRedisTracking`). */
export interface NodeRedisSubscriberWatcher {
  /** A message of `__redis__:invalidate`: the keys, or null for a flush of everything. */
  onInvalidate(keys: readonly string[] | null): void;
  /** A connection is up, its client id known and every subscription confirmed. */
  onLive(): void;
  /** The connection was lost. */
  onClosed(): void;
}

export interface NodeRedisSubscriberOptions {
  /** Deadline of a subscription, of a PING, and of closing, in milliseconds. */
  commandTimeoutMs: number;
  /** Connection errors, and failures to subscribe. */
  onError(err: Error): void;
  /**
   * How often a live connection is checked with PING when no watcher checks it (the tracking
   * channel does), in ms; one not answering within the set-up deadline is replaced. Default 1000.
   */
  checkIntervalMs?: number;
}

/**
 * The pub/sub connection of the node-redis driver: a `duplicate()` of the user's client, in RESP2
 * (so that Redis delivers redirected invalidations as messages of `__redis__:invalidate`), opened
 * on first use.
 *
 * Each connection lives once: it does not reconnect by itself (node-redis would resubscribe
 * before anything else could run, and a subscribed RESP2 connection cannot tell its CLIENT ID,
 * which CLIENT TRACKING REDIRECT needs). When it is lost, a new duplicate is opened after a
 * backoff, reads its id, then subscribes to every channel, and listeners are told that messages
 * may have been missed in between.
 */
export class NodeRedisSubscriber {
  private connection: NodeRedisConnection | undefined;
  /** Bumped on every new connection: callbacks of an older one are ignored. */
  private generation = 0;
  private readonly channels = new Map<string, Set<ChannelListener>>();
  private readonly liveWaiters = new Set<() => void>();
  private watcher: NodeRedisSubscriberWatcher | undefined;
  private isLive = false;
  private clientId: number | undefined;
  private attempts = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private started = false;
  private closed = false;
  /** The PING check of a live connection that no watcher checks (see `pingAttempt`); set once started. */
  private checkTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly main: NodeRedisConnection,
    private readonly opts: NodeRedisSubscriberOptions,
  ) {}

  /** Whether a connection is up with every subscription confirmed (messages are being received). */
  get live(): boolean {
    return this.isLive;
  }

  /** The live connection's client id (a target for CLIENT TRACKING REDIRECT); undefined while down. */
  get id(): number | undefined {
    return this.isLive ? this.clientId : undefined;
  }

  /** Subscribes to a channel; resolves once the subscription is active (or after the deadline), to an unsubscribe function. */
  async subscribe(channel: string, listener: ChannelListener): Promise<() => void> {
    if (this.closed) throw new StoreError('Store is closed');
    let set = this.channels.get(channel);
    const fresh = !set;
    if (!set) {
      set = new Set();
      this.channels.set(channel, set);
    }
    set.add(listener);
    this.start();
    const conn = this.connection;
    if (fresh && this.isLive && conn) await withDeadline('subscribe', this.opts.commandTimeoutMs, conn.subscribe([channel], this.dispatch, true));
    else await this.untilLive();
    return () => {
      const current = this.channels.get(channel);
      if (!current?.delete(listener) || current.size > 0) return;
      this.channels.delete(channel);
      const c = this.connection;
      if (c && this.isLive) c.unsubscribe([channel], this.dispatch, true).catch(() => {});
    };
  }

  /** Registers the watcher (one at most) and opens the connection if needed; `onLive` follows once it is up. */
  watch(watcher: NodeRedisSubscriberWatcher): void {
    this.watcher = watcher;
    const conn = this.connection;
    if (this.isLive && conn) {
      withDeadline('subscribe', this.opts.commandTimeoutMs, conn.subscribe([INVALIDATE_CHANNEL], this.onInvalidate)).then(
        () => {
          if (conn === this.connection && this.isLive) watcher.onLive();
        },
        (err: unknown) => this.fail(conn, err),
      );
    } else this.start();
  }

  /** PING within `timeoutMs`; undefined when not live. */
  ping(timeoutMs: number): Promise<unknown> | undefined {
    const conn = this.connection;
    if (!conn || !this.isLive) return undefined;
    return withDeadline('ping', timeoutMs, conn.sendCommand(['PING']));
  }

  /** Treats the connection as lost (it stopped answering): a new one is opened. */
  drop(): void {
    const conn = this.connection;
    if (conn) this.lost(conn);
  }

  /**
   * A PING of a live connection nothing else checks (the tracking channel PINGs it while tracking
   * is on): one gone silent without a reset would otherwise deliver nothing until the kernel gives
   * up on it, and waiters for another process's value would sit out their `waitTimeout` (see
   * `checkWithPing`; `ConnectionWatch` for the ioredis command connections).
   */
  private pingAttempt(): PingAttempt | undefined {
    const conn = this.connection;
    if (conn === undefined || !this.isLive || this.watcher !== undefined) return undefined;
    const ping = this.ping(silenceLimitMs(this.opts.commandTimeoutMs));
    if (ping === undefined) return undefined;
    return { ping, current: () => conn === this.connection && !this.closed };
  }

  /** Closes the connection (and cancels a pending attempt). */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.checkTimer);
    clearTimeout(this.retryTimer);
    this.isLive = false;
    this.channels.clear();
    for (const done of [...this.liveWaiters]) done();
    const conn = this.connection;
    this.connection = undefined;
    this.generation++;
    if (conn) destroyQuietly(conn);
  }

  private start(): void {
    if (this.started || this.closed) return;
    this.started = true;
    this.checkTimer = checkWithPing(
      this.opts.checkIntervalMs ?? 1_000,
      silenceLimitMs(this.opts.commandTimeoutMs),
      () => this.pingAttempt(),
      (err) => {
        this.opts.onError(err);
        this.drop();
      },
    );
    void this.open();
  }

  /** Opens one connection: connect, CLIENT ID, SUBSCRIBE every channel, all within a deadline. */
  private async open(): Promise<void> {
    if (this.closed) return;
    const generation = ++this.generation;
    const conn = this.main.duplicate(subscriberOverrides(this.main));
    this.connection = conn;
    conn.on('error', (err: Error) => {
      if (generation !== this.generation) return;
      // A connection the server closed is not a failure (ioredis reports it as a plain close):
      // its loss is reported as such, to the tracking channel and the listeners.
      if (!isClosedByServer(err)) this.opts.onError(err);
      // The socket is gone for good (no reconnection is configured): open a new one.
      if (!conn.isReady) this.lost(conn);
    });
    try {
      const steps = (async () => {
        await conn.connect();
        const id = Number(await conn.sendCommand(['CLIENT', 'ID']));
        await this.subscribeAll(conn);
        // Set here, with no await after the last subscription, so a channel added meanwhile is
        // either subscribed above or subscribes itself on the live connection.
        if (generation !== this.generation) return;
        this.clientId = id;
        this.attempts = 0;
        this.isLive = true;
      })();
      // Past the deadline the attempt is abandoned (destroyed by fail()): a late settle is nobody's.
      steps.catch(() => {});
      await withDeadline('subscribe', silenceLimitMs(this.opts.commandTimeoutMs), steps);
      if (generation !== this.generation || !this.isLive) return;
      this.resetListeners();
      for (const done of [...this.liveWaiters]) done();
      this.watcher?.onLive();
    } catch (err) {
      if (generation !== this.generation) return;
      this.fail(conn, err);
    }
  }

  /** Subscribes the connection to every channel and the watcher's, including any added while it subscribes. */
  private async subscribeAll(conn: NodeRedisConnection): Promise<void> {
    const done = new Set<string>();
    for (;;) {
      const missing = [...this.channels.keys()].filter((c) => !done.has(c));
      if (missing.length > 0) {
        for (const c of missing) done.add(c);
        await conn.subscribe(missing, this.dispatch, true);
      } else if (this.watcher && !done.has(INVALIDATE_CHANNEL)) {
        done.add(INVALIDATE_CHANNEL);
        await conn.subscribe([INVALIDATE_CHANNEL], this.onInvalidate);
      } else return;
    }
  }

  private fail(conn: NodeRedisConnection, err: unknown): void {
    if (conn !== this.connection || this.closed) return;
    this.opts.onError(err instanceof Error ? err : new Error(String(err)));
    this.lost(conn);
  }

  /** The connection is gone: tell the watcher and listeners, and open another after a backoff. */
  private lost(conn: NodeRedisConnection): void {
    if (conn !== this.connection || this.closed) return;
    this.connection = undefined;
    this.generation++;
    this.clientId = undefined;
    destroyQuietly(conn);
    const wasLive = this.isLive;
    this.isLive = false;
    this.watcher?.onClosed();
    if (wasLive) this.resetListeners();
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => void this.open(), reconnectDelay(this.attempts++));
    this.retryTimer.unref();
  }

  /** Listener of the channels, in buffer mode: a listener may take bytes (see `deliver`). */
  private readonly dispatch = (message: unknown, channel: unknown): void => {
    const set = this.channels.get(String(channel));
    if (set) for (const l of set) deliver(l, message);
  };

  private readonly onInvalidate = (message: unknown): void => {
    // node-redis hands this channel's messages over as the list of keys, or null for a flush.
    const keys = message === null || message === undefined ? null : Array.isArray(message) ? message.map(String) : [String(message)];
    this.watcher?.onInvalidate(keys);
  };

  /** Waits (up to the deadline) for the connection to confirm its subscriptions. */
  private untilLive(): Promise<void> {
    if (this.isLive) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.liveWaiters.delete(done);
        resolve();
      };
      // Not fatal if it takes longer: the subscription activates on connect, and `live` tells
      // whether messages are flowing.
      const timer = setTimeout(done, this.opts.commandTimeoutMs);
      this.liveWaiters.add(done);
    });
  }

  private resetListeners(): void {
    for (const set of this.channels.values()) for (const l of set) l.onReset?.();
  }
}

/**
 * Settings of the subscriber duplicate over the user's: RESP2 (RESP3 would get invalidations as
 * push replies rather than channel messages), no reconnection and no offline queue (a lost
 * connection is replaced, see the class), none of the RESP3-only features, no ping timer of
 * node-redis's own (the tracking channel pings it, or the subscriber's own check), and no name of
 * its own.
 */
function subscriberOverrides(main: NodeRedisConnection): Record<string, unknown> {
  return {
    RESP: 2,
    clientSideCache: undefined,
    emitInvalidate: undefined,
    maintNotifications: 'disabled',
    disableOfflineQueue: true,
    pingInterval: undefined,
    socket: { ...main.options?.socket, reconnectStrategy: false },
  };
}

function destroyQuietly(conn: NodeRedisConnection): void {
  // A late 'error' of a discarded connection must find a listener: without one it would crash the process.
  conn.on('error', () => {});
  try {
    conn.destroy();
  } catch {
    // Already gone.
  }
}

/** node-redis's SocketClosedUnexpectedlyError: the server closed the connection (CLIENT KILL, a restart). */
function isClosedByServer(err: Error): boolean {
  return err.constructor.name === 'SocketClosedUnexpectedlyError' || err.message === 'Socket closed unexpectedly';
}

import { randomUUID } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { StoreError } from '../errors.js';
import { deliver } from './channel-delivery.js';
import { checkWithPing, closeClient, type PingAttempt, reconnectDelay, reviveWhenEnded, silenceLimitMs } from './connection.js';
import { withDeadline } from './deadline.js';
import type { ChannelListener } from './store.js';

/**
 * Follows the subscriber connection's state on behalf of something that has a channel of its own
 * on it (the tracking channel): messages of that channel go to it alone, unparsed.
 */
export interface SubscriberWatcher {
  /** Subscribed on every connect, together with the listeners' channels. */
  readonly channel: string;
  /** A message of `channel`, as ioredis parsed it from buffers: an array of several keys stays an array. */
  onMessage(message: unknown): void;
  /** The connection is up, its client id known and every subscription confirmed (called after the listeners' `onReset`). */
  onLive(): void;
  /** The connection closed (called before the listeners' `onReset`). */
  onClosed(): void;
}

/** A connection that can subscribe: one server's, or a Redis Cluster's (ioredis subscribes on one node, and PUBLISH reaches every node). */
export type PubSubConnection = Redis | Cluster;

export interface SubscriberOptions {
  /** Deadline of a subscription, and of closing, in milliseconds. */
  commandTimeoutMs: number;
  /** Opens the pub/sub connection (not connected yet, or connecting), on first use. */
  open(): PubSubConnection;
  /** Connection errors, and failures to subscribe after a reconnect. */
  onError(err: Error): void;
  /**
   * How often a live connection is checked with PING when no watcher checks it (a tracking
   * channel does), in ms; one not answering within the set-up deadline is started over. Default 1000.
   */
  checkIntervalMs?: number;
}

/**
 * The dedicated pub/sub connection, opened on first use (a subscribed connection cannot run other
 * commands). It resubscribes itself after a reconnect
 * and tells listeners, since messages sent while it was away are lost.
 */
export class Subscriber {
  private connection: PubSubConnection | undefined;
  private readonly channels = new Map<string, Set<ChannelListener>>();
  private readonly liveWaiters = new Set<() => void>();
  private watcher: SubscriberWatcher | undefined;
  private isLive = false;
  /** Client id of the connection, read on every connect; undefined while disconnected. */
  private clientId: number | undefined;
  private closed = false;
  /**
   * Counts the connection's connects and closes: a set-up (CLIENT ID, SUBSCRIBE) counts only for
   * the connection it was sent on, never for a later one (its replies may arrive after a reconnect).
   */
  private generation = 0;
  /** Set-ups failed in a row, for the delay before the next attempt. */
  private setupFailures = 0;
  /** The PING check of a live connection that no watcher checks (see `pingAttempt`); set while the connection exists. */
  private checkTimer: NodeJS.Timeout | undefined;
  /**
   * On a Cluster, a channel of this subscriber's own, published to and expected back in place of a
   * PING (see `pingAttempt`); subscribed with the others on every connect.
   */
  private readonly probeChannel = `__trove:probe:${randomUUID()}`;
  /** Ends the probe awaiting its message, if one is. */
  private probeArrived: (() => void) | undefined;

  constructor(private readonly opts: SubscriberOptions) {}

  /** How long a connection may take from connecting to subscribed, in ms, before it is started over. */
  private get setupDeadlineMs(): number {
    return silenceLimitMs(this.opts.commandTimeoutMs);
  }

  /** Whether the connection is up with every subscription confirmed (messages are being received). */
  get live(): boolean {
    return this.isLive;
  }

  /** The connection's client id (a target for CLIENT TRACKING REDIRECT), once connected; never on a cluster. */
  get id(): number | undefined {
    return this.clientId;
  }

  /** Subscribes to a channel; resolves once the subscription is active, to an unsubscribe function. */
  async subscribe(channel: string, listener: ChannelListener): Promise<() => void> {
    if (this.closed) throw new StoreError('Store is closed');
    const sub = this.connect();
    let set = this.channels.get(channel);
    if (!set) {
      set = new Set();
      this.channels.set(channel, set);
    }
    set.add(listener);
    if (sub.status === 'ready' && this.isLive) await withDeadline('subscribe', this.opts.commandTimeoutMs, sub.subscribe(channel));
    else await this.untilLive();
    return () => {
      const current = this.channels.get(channel);
      if (!current?.delete(listener) || current.size > 0) return;
      this.channels.delete(channel);
      if (sub.status === 'ready') sub.unsubscribe(channel).catch(() => {});
    };
  }

  /**
   * Registers the watcher (one at most) and opens the connection if needed. When the connection is
   * live already, resolves once the watcher's channel is subscribed; otherwise undefined, and the
   * channel is subscribed with the others on connect (followed by `onLive`).
   */
  watch(watcher: SubscriberWatcher): Promise<unknown> | undefined {
    this.watcher = watcher;
    const sub = this.connect();
    if (sub.status === 'ready' && this.isLive) return sub.subscribe(watcher.channel);
    return undefined;
  }

  /** PING within `timeoutMs`; undefined when not connected. */
  ping(timeoutMs: number): Promise<unknown> | undefined {
    const sub = this.connection;
    if (sub?.status !== 'ready') return undefined;
    return withDeadline('ping', timeoutMs, sub.ping());
  }

  /** Treats the connection as lost (e.g. it stopped answering): listeners are reset and it reconnects. */
  drop(): void {
    this.isLive = false;
    this.resetListeners();
    this.connection?.disconnect(true);
  }

  /**
   * A PING of a live connection nothing else checks (a tracking channel PINGs it while tracking is
   * on): one gone silent without a reset (a failover behind a NAT that drops the old flow) would
   * otherwise deliver nothing until the kernel gives up on it, about 15 minutes on Linux, and
   * waiters for another process's value would sit out their `waitTimeout`.
   */
  private pingAttempt(): PingAttempt | undefined {
    const sub = this.connection;
    if (!this.isLive || this.watcher !== undefined || sub === undefined) return undefined;
    const generation = this.generation;
    const current = () => generation === this.generation && !this.closed;
    // A Cluster would send a PING on a node's command connection, not on the one subscribed.
    if (sub.isCluster) return { ping: this.probe(sub as Cluster), current, expected: 'deliver a message published to it' };
    const ping = this.ping(this.setupDeadlineMs);
    return ping === undefined ? undefined : { ping, current };
  }

  /**
   * A message published to the probe channel (PUBLISH reaches every node of a Cluster), expected
   * back on the subscribed connection within the set-up deadline. A PUBLISH that fails (the
   * cluster down) says nothing about that connection: only a message that never comes does.
   */
  private probe(sub: Cluster): Promise<unknown> {
    const arrived = new Promise<void>((resolve) => {
      this.probeArrived = resolve;
    });
    sub.publish(this.probeChannel, '1').catch(() => this.probeArrived?.());
    return withDeadline('probe', this.setupDeadlineMs, arrived).finally(() => {
      this.probeArrived = undefined;
    });
  }

  /** Closes the connection; resolves once its socket is gone. */
  close(): Promise<void> {
    this.closed = true;
    clearInterval(this.checkTimer);
    // A probe under way is moot: ended now, its deadline does not hold the process open.
    this.probeArrived?.();
    this.isLive = false;
    this.channels.clear();
    for (const done of [...this.liveWaiters]) done();
    const sub = this.connection;
    return sub ? closeClient(sub, this.opts.commandTimeoutMs, true) : Promise.resolve();
  }

  private connect(): PubSubConnection {
    if (this.connection) return this.connection;
    const sub = this.opts.open();
    this.connection = sub;
    this.checkTimer = checkWithPing(
      this.opts.checkIntervalMs ?? 1_000,
      this.setupDeadlineMs,
      () => this.pingAttempt(),
      (err) => {
        this.opts.onError(err);
        this.drop();
      },
    );
    sub.on('error', this.opts.onError);
    // Always Trove's own connection. A Cluster reaches 'end' by its own rules (clusterRetryStrategy).
    if (!sub.isCluster) reviveWhenEnded(sub as Redis, () => this.closed, this.opts.onError);
    // Messages are read as buffers: a listener may take bytes (`onBytes`), and the string form of
    // a message joins an array with commas, so a message of the watcher naming several keys (as
    // Redis sends in BCAST mode) would be lost.
    sub.on('messageBuffer', (channelBytes: Buffer, message: unknown) => {
      const channel = channelBytes.toString();
      if (channel === this.probeChannel) {
        this.probeArrived?.();
        return;
      }
      const watcher = this.watcher;
      if (watcher && channel === watcher.channel) {
        watcher.onMessage(message);
        return;
      }
      const set = this.channels.get(channel);
      if (set) for (const l of set) deliver(l, message);
    });
    sub.on('connect', () => {
      // ioredis bounds the TCP connect only: a server that accepts the connection and then never
      // answers (its ready check, its client set-up) would hold it forever. Neither ready nor
      // closed by the deadline: start over on a new connection.
      this.startOverAfter(
        sub,
        this.generation,
        this.setupDeadlineMs,
        () => new StoreError(`the pub/sub connection was not ready within ${this.setupDeadlineMs} ms of connecting: reconnecting it`),
      );
    });
    sub.on('close', () => {
      this.generation++;
      this.clientId = undefined;
      // A probe of the connection that closed says nothing of the next one.
      this.probeArrived?.();
      this.watcher?.onClosed();
      if (!this.isLive) return;
      this.isLive = false;
      this.resetListeners();
    });
    sub.on('ready', () => {
      const generation = ++this.generation;
      const current = () => generation === this.generation && !this.closed;
      const channels = [...this.channels.keys()];
      if (this.watcher) channels.push(this.watcher.channel);
      if (sub.isCluster) channels.push(this.probeChannel);
      // The id must be read before subscribing: a subscribed RESP2 connection accepts no other
      // command. A cluster would answer from any node: only tracking needs it, and a cluster has none.
      const id = sub.isCluster ? Promise.resolve(undefined) : sub.client('ID');
      const steps = id.then((id) => {
        if (!current()) return;
        this.clientId = id === undefined ? undefined : Number(id);
        return channels.length === 0 ? 0 : sub.subscribe(...channels);
      });
      // Bounded: a set-up whose replies never come (a server that stopped answering) is given up
      // and tried again on a new connection, as one Redis refuses.
      const confirmed = withDeadline('subscribe', this.setupDeadlineMs, steps);
      confirmed.then(
        () => {
          if (!current()) return;
          this.setupFailures = 0;
          this.isLive = true;
          this.resetListeners();
          for (const done of [...this.liveWaiters]) done();
          this.watcher?.onLive();
        },
        (err: unknown) => {
          if (!current()) return;
          this.opts.onError(err instanceof Error ? err : new Error(String(err)));
          // Without its id and subscriptions this connection delivers nothing: a new one tries again.
          this.startOverAfter(sub, generation, reconnectDelay(++this.setupFailures));
        },
      );
    });
    return sub;
  }

  /**
   * After `delayMs`, unless the connection has moved on since `generation` (it became ready or
   * closed) or the subscriber was closed: reports `why()`, if given, and reconnects.
   */
  private startOverAfter(sub: PubSubConnection, generation: number, delayMs: number, why?: () => Error): void {
    const timer = setTimeout(() => {
      if (generation !== this.generation || this.closed) return;
      if (why) this.opts.onError(why());
      sub.disconnect(true);
    }, delayMs);
    timer.unref();
  }

  /** Waits (up to the deadline) for the connection to confirm its subscriptions. */
  private untilLive(): Promise<void> {
    if (this.isLive) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.liveWaiters.delete(done);
        resolve();
      };
      // Not fatal if it takes longer: the subscription activates on (re)connect, and
      // `live` tells whether messages are flowing.
      const timer = setTimeout(done, this.opts.commandTimeoutMs);
      this.liveWaiters.add(done);
    });
  }

  private resetListeners(): void {
    for (const set of this.channels.values()) for (const l of set) l.onReset?.();
  }
}

/** A pub/sub connection to the server of `main`, with its settings: it reconnects by itself and queues while away. */
export function pubSubDuplicate(main: Redis): Redis {
  return main.duplicate({
    enableOfflineQueue: true,
    autoResubscribe: false,
    // A connection's set-up (CLIENT ID, SUBSCRIBE) is its own: sent again on the next connection,
    // a SUBSCRIBE would make it refuse that connection's own CLIENT ID.
    autoResendUnfulfilledCommands: false,
    maxRetriesPerRequest: null,
    enableAutoPipelining: false,
    retryStrategy: reconnectDelay,
    lazyConnect: false,
    disconnectTimeout: 50,
    connectionName: undefined,
  });
}

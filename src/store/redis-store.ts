import { type ChainableCommander, type Cluster, Command, type Redis, type RedisOptions } from 'ioredis';
import { InvalidOptionError, StoreError } from '../errors.js';
import { CommandKeys } from './command-keys.js';
import { asStoreError, SharedDeadline, withDeadline } from './deadline.js';
import { closeClient, reconnectDelay, reviveWhenEnded, silenceLimitMs } from './connection.js';
import { ConnectionWatch } from './connection-watch.js';
import { byBucket, FieldBatcher } from './field-batcher.js';
import { GetBatcher } from './get-batcher.js';
import { ReadyGate } from './ready-gate.js';
import { prefixPattern, withoutKeyPrefix } from './key-prefix.js';
import { acquireAndReadOutcome, acquireOutcome } from './lock-replies.js';
import {
  acquireManyArgs,
  acquireManyOutcomes,
  fieldStoreArgs,
  fieldStoreOutcome,
  type LockRequest,
  loneLock,
  repeatsKey,
  storeManyArgs,
  trackedStoreArgs,
  writtenOutcomes,
} from './lock-batches.js';
import { TickBatcher } from './tick-batcher.js';
import { countedFields, countedHash, countedWrite } from './counted-fields.js';
import { ClaimBatches, type ClaimRequest, ClaimLocks, claimedStoreArgs } from './claim-locks.js';
import { STORE_TRACKED_CLAIMED_MANY } from './claims.js';
import {
  ACQUIRE,
  ACQUIRE_AND_READ_MANY,
  ACQUIRE_FIELD_AND_READ,
  DELETE_ENTRIES,
  DELETE_ENTRIES_CHUNK,
  FIELD_WRITE,
  STORE_FIELD_AND_RELEASE,
  HSET_COUNT_AND_PUBLISH,
  COUNTED_READ_ALL,
  COUNTED_READ_INIT,
  NODE_MGET,
  RELEASE,
  RENEW,
  REPLACE,
  replaceArgs,
  STORE_AND_RELEASE,
  STORE_AND_RELEASE_MANY,
  STORE_TRACKED_AND_RELEASE_MANY,
  type Script,
} from './scripts.js';
import {
  type FieldRef,
  type FieldValue,
  type FieldWriteOp,
  type StoreFieldAndRelease,
  type ChannelListener,
  type ClaimOption,
  type CommandCall,
  type CountedFields,
  type CountedHash,
  type CountedWrite,
  type HashInit,
  type LockAttempt,
  type ReadOrLock,
  type Store,
  type StoreAndRelease,
  type StoreListener,
  type TrackingListener,
  trackedSet,
  type WriteOp,
} from './store.js';
import { type PubSubConnection, pubSubDuplicate, Subscriber } from './subscriber.js';
import { TickCork } from './tick-cork.js';
import { writeManyCommand, writeManyParts } from './write-many.js';
import { mgetCommand, setGetCommand } from './written-command.js';
import { TrackingChannel } from './tracking-channel.js';
import { joinTracking, type TrackingHandle } from './tracking-share.js';

export interface RedisStoreOptions {
  /** Deadline for every Redis operation, in milliseconds. */
  commandTimeoutMs: number;
  /** Whether the store created the client (and so closes it) or was handed one (and leaves it open). */
  owned: boolean;
  /**
   * How often the invalidation connection is checked with PING while tracking is live, in ms. A
   * silent network partition is noticed within this period plus the PING's deadline, after which
   * the near cache is emptied and bypassed. Default 1000.
   */
  trackingCheckIntervalMs?: number;
  listener?: StoreListener;
  /**
   * Where entry reads go (`get`, `mget`, the per-tick batch): the primary, or its replicas. Read by
   * the Cluster driver (each shard's replicas); on one server, replica reads are `ReplicatedStore`'s
   * (this class reads from its own connection whatever this says). Default `'primary'`.
   */
  readFrom?: 'primary' | 'replica';
  /**
   * A connection to one node of a Cluster (a reader): a script's keys must share a slot there, so
   * lock-holder writes are not batched across keys. Default false.
   */
  nodeOfCluster?: boolean;
  /** Whether misses may claim their values' own keys where the server allows (see `claims.ts`). Default true. */
  claims?: boolean;
}

/** A tracked write script's keys and arguments for a batch of lock-holder writes. */
type TrackedArgs = (ops: readonly StoreAndRelease[]) => { keys: string[]; args: (string | number | Buffer)[] };

/** Client options Trove uses when it creates the ioredis connection itself. */
export function defaultClientOptions(commandTimeoutMs: number): RedisOptions {
  return {
    // Commands fail fast while disconnected instead of queueing without bound; our own
    // readiness gate below covers the first connect.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    // Commands of one tick are coalesced by TickCork instead (see there): auto-pipelining would
    // allow only one read batch in flight.
    enableAutoPipelining: false,
    connectTimeout: silenceLimitMs(commandTimeoutMs),
    // ioredis arms this timer on every disconnect, even of an already-closed socket, and it holds
    // the process open; our close() has already sent QUIT, so there is nothing to wait for.
    disconnectTimeout: 50,
    retryStrategy: reconnectDelay,
    lazyConnect: false,
  };
}

/** The ioredis driver (one server, or a primary Sentinel names); `ClusterStore` extends it for Redis Cluster. */
export class RedisStore<C extends Redis | Cluster = Redis> implements Store {
  readonly kind = 'redis' as const;
  /** Whether entry keys carry hash tags: on one server, no (see `ClusterStore`). */
  get hashTags(): boolean {
    return false;
  }
  private readonly batcher: GetBatcher;
  /** Deadlines of untracked reads on a ready connection, on one timer (see `mgetNow`). */
  private readonly readDeadline: SharedDeadline;
  /** Reads whose keys must be tracked go in batches of their own, sent after `CLIENT CACHING yes`. */
  private readonly trackedBatcher: GetBatcher;
  /** Single-field reads of hash storage, untracked and tracked; created on first use. */
  private fieldBatcher: FieldBatcher | undefined;
  private trackedFieldBatcher: FieldBatcher | undefined;
  /** Whether field writes still ask for HPEXPIRE (Redis 7.4+); cleared once the server refuses it. */
  protected fieldExpiry = true;
  private readonly cork = new TickCork();
  private readonly readyGate: ReadyGate;
  /** Drops the connection once it goes silent with replies awaited; only on a connection the store owns (see `ConnectionWatch`). */
  private readonly watch: ConnectionWatch | undefined;
  private closed = false;
  /** The pub/sub connection, shared by the channels' listeners and the tracking channel. */
  private readonly subscriber: Subscriber;
  /**
   * Set once tracking is enabled: reads and writes asked to be tracked are then sent with `CLIENT
   * CACHING yes`. The connection's channel, shared with any other store on it (see tracking-share.ts).
   */
  private trackingChannel: TrackingHandle | undefined;
  /** The client's `keyPrefix`: ioredis adds it to the keys of commands, but not to SCAN patterns and replies. */
  protected readonly keyPrefix: string;
  /**
   * Whether commands leave in the order they are issued. ioredis's auto-pipelining (on a
   * user-supplied client) queues single commands until the next tick but writes a MULTI at once,
   * so `CLIENT CACHING yes` could reach Redis after the command it is meant for.
   */
  private readonly ordered: boolean;

  constructor(
    readonly client: C,
    private readonly opts: RedisStoreOptions,
  ) {
    this.keyPrefix = client.options.keyPrefix ?? '';
    this.readyGate = new ReadyGate(opts.commandTimeoutMs);
    this.ordered = client.options.enableAutoPipelining !== true;
    this.readDeadline = new SharedDeadline('get', opts.commandTimeoutMs);
    this.batcher = new GetBatcher((keys, done, failed) => this.fetchBatch(keys, false, done, failed));
    this.trackedBatcher = new GetBatcher((keys, done, failed) => this.fetchBatch(keys, true, done, failed));
    this.subscriber = new Subscriber({
      commandTimeoutMs: opts.commandTimeoutMs,
      onError: this.onError,
      open: () => this.openSubscriber(),
      ...(opts.trackingCheckIntervalMs === undefined ? {} : { checkIntervalMs: opts.trackingCheckIntervalMs }),
    });
    client.on('error', this.onError);
    client.on('ready', this.onReady);
    client.on('close', this.onClose);
    // A client handed over stays its owner's (it may wait on blocking commands of its own); a
    // Cluster's connections are its nodes', not one stream.
    if (opts.owned && !client.isCluster) {
      this.watch = new ConnectionWatch(client as Redis, silenceLimitMs(opts.commandTimeoutMs), this.onError);
      reviveWhenEnded(client as Redis, () => this.closed, this.onError);
    }
    if (client.status === 'wait') client.connect().catch(() => {});
    // A client handed over connected has no 'ready' event to come.
    else if (client.status === 'ready')
      queueMicrotask(() => {
        if (!this.closed) this.opts.listener?.onReady?.();
      });
  }

  /** A new connection for pub/sub, duplicating the command connection's settings. */
  protected openSubscriber(): PubSubConnection {
    return pubSubDuplicate(this.client as Redis);
  }

  protected readonly onError = (err: Error): void => {
    this.opts.listener?.onConnectionError?.(err);
  };

  private readonly onClose = (): void => {
    if (!this.closed) this.opts.listener?.onDisconnect?.();
  };

  private readonly onReady = (): void => {
    this.readyGate.open();
    this.opts.listener?.onReady?.();
  };

  get tracking(): boolean {
    return this.trackingChannel?.live ?? false;
  }

  enableTracking(listener: TrackingListener): boolean {
    if (this.trackingChannel) return true;
    this.trackingChannel = joinTracking(this.client, {
      listener,
      open: (shared) =>
        new TrackingChannel(this.client as Redis, this.subscriber, shared, {
          commandTimeoutMs: this.opts.commandTimeoutMs,
          checkIntervalMs: this.opts.trackingCheckIntervalMs,
          // The connection stays its owner's: leave it as it was found, without tracking.
          turnOffOnClose: !this.opts.owned,
          onError: this.onError,
        }),
    });
    return true;
  }

  /**
   * Resolves when commands can be sent. While the first connection attempt is under way, waits up
   * to the deadline; while reconnecting, fails at once so callers degrade instead of queueing.
   */
  private ready(operation: string): Promise<void> | undefined {
    const status = this.client.status;
    if (status === 'ready') return undefined;
    if (this.closed || status === 'end') return Promise.reject(new StoreError('Store is closed'));
    if (status === 'reconnecting' || status === 'close') {
      return Promise.reject(new StoreError(`Redis is not connected (status ${status}); operation "${operation}" skipped`));
    }
    return this.readyGate.wait(operation);
  }

  protected run<T>(operation: string, send: () => Promise<T>): Promise<T> {
    const gate = this.ready(operation);
    if (gate === undefined) return this.sendNow(operation, send);
    return gate.then(() => this.sendNow(operation, send));
  }

  private sendNow<T>(operation: string, send: () => Promise<T>): Promise<T> {
    // A Cluster has no stream of its own (one per node): its commands leave as issued, or auto-pipelined.
    this.cork.hold((this.client as Partial<Redis>).stream);
    return withDeadline(operation, this.opts.commandTimeoutMs, safeSend(send));
  }

  /**
   * Whether the commands every read and every miss send are written by Trove (see
   * written-command.ts): on one server, not a Cluster, and not on a connection that auto-pipelines
   * (ioredis queues its own commands there but writes one handed to `sendCommand` at once).
   */
  protected get writesOwnCommands(): boolean {
    return this.ordered;
  }

  /** `MGET` of `keys`, replies as Buffers. */
  private mgetBytes(keys: string[]): Promise<(Buffer | null)[]> {
    if (this.writesOwnCommands) return this.client.sendCommand(mgetCommand(this.keyPrefix, keys)) as Promise<(Buffer | null)[]>;
    return this.client.mgetBuffer(keys);
  }

  /** Whether tracking was enabled: reads and writes asked to be tracked are then sent tracked. */
  protected get trackingEnabled(): boolean {
    return this.trackingChannel !== undefined;
  }

  get(key: string, track = false): Promise<Buffer | null> {
    return (track && this.trackingEnabled ? this.trackedBatcher : this.batcher).get(key);
  }

  mget(keys: readonly string[], track = false): Promise<(Buffer | null)[]> {
    if (keys.length === 0) return Promise.resolve([]);
    return this.mgetNow([...keys], track);
  }

  /** Whether `mgetNow` is this class's: a subclass that sends reads elsewhere (Cluster, replicas) overrides it, and batches go through it. */
  private readonly ownMget = this.mgetNow === RedisStore.prototype.mgetNow;

  /** A batch of reads (see GetBatcher): as `mgetNow`, the common read without a promise of its own. */
  private fetchBatch(keys: string[], track: boolean, done: (values: (Buffer | null)[]) => void, failed: (err: unknown) => void): void {
    if (this.ownMget && this.plainReadNow(track))
      this.readDeadline.watch(
        safeSend(() => this.mgetBytes(keys)),
        done,
        failed,
      );
    else this.mgetNow(keys, track).then(done, failed);
  }

  /**
   * Whether a read goes the common way: one command, written at once (the batcher already
   * gathered the tick's reads), under the shared read deadline instead of a timer of its own.
   */
  private plainReadNow(track: boolean): boolean {
    return (!track || !this.trackingChannel) && this.client.status === 'ready';
  }

  protected mgetNow(keys: string[], track: boolean): Promise<(Buffer | null)[]> {
    if (this.plainReadNow(track)) return this.readDeadline.bound(safeSend(() => this.mgetBytes(keys)));
    return this.run('get', () => {
      // Keys go as one array argument: spreading 100k+ of them overflows the call stack.
      if (!track || !this.trackingChannel) return this.mgetBytes(keys);
      return this.cachingThen(
        () => this.mgetBytes(keys),
        (p) => p.mgetBuffer(keys),
      ) as Promise<(Buffer | null)[]>;
    });
  }

  /**
   * Values of keys of several slots that this Redis Cluster node serves, in one command (see
   * NODE_MGET); fails whole when the node does not serve one of them. Never tracked: Redis tracks
   * the keys a script declares, not those it reads from its arguments.
   */
  mgetScattered(keys: readonly string[]): Promise<(Buffer | null)[]> {
    const args = keys.map((k) => this.keyPrefix + k);
    return this.run('get', () => NODE_MGET.runBuffer(this.client, [], args) as Promise<(Buffer | null)[]>);
  }

  /**
   * Tracking runs in OPTIN mode: Redis tracks only the keys of the command that follows
   * `CLIENT CACHING yes`. This sends the two back to back, with nothing of this connection in
   * between: issued one after the other on a connection that writes commands in order, or as one
   * explicit pipeline (written at once) on an auto-pipelining one. A failed CLIENT CACHING (while
   * tracking is being switched on) is ignored: nothing read then is kept, as tracking is not live.
   */
  private cachingThen(direct: () => Promise<unknown>, piped: (p: ChainableCommander) => void): Promise<unknown> {
    if (this.ordered) {
      this.client.call('CLIENT', 'CACHING', 'yes').catch(() => {});
      return direct();
    }
    const p = this.client.pipeline();
    p.call('CLIENT', 'CACHING', 'yes');
    piped(p);
    return p.exec().then((results) => {
      const reply = results?.[1];
      if (!reply) throw new StoreError('Redis answered no reply to a pipelined command');
      if (reply[0]) throw reply[0];
      return reply[1];
    });
  }

  /**
   * A write of `keys` with their tracking in one MULTI: `CLIENT CACHING yes` inside it (so no
   * client setting can reorder it), then EXISTS of every key, the writes, and EXISTS again. The
   * first EXISTS makes Redis track each key before it changes, so the write announces exactly one
   * invalidation per distinct key to this process, whether or not it tracked the key before; the
   * near cache absorbs that one and treats any later one as a change by someone else. The second
   * EXISTS registers the new value. Being one transaction, no other client's write can fall
   * between a write and its tracking (a pipeline split across TCP segments could).
   * Resolves to the replies of the writes themselves.
   */
  private async trackedWrite(keys: readonly string[], write: (tx: ChainableCommander) => void): Promise<unknown[]> {
    const tx = this.client.multi();
    tx.call('CLIENT', 'CACHING', 'yes');
    tx.exists([...keys]);
    write(tx);
    tx.exists([...keys]);
    const results = await tx.exec();
    if (results === null) throw new StoreError('Transaction aborted');
    // CLIENT CACHING fails only while tracking is being switched on; nothing is kept locally then.
    const replies = results.slice(2, -1);
    for (const [err] of replies) if (err) throw err;
    return replies.map(([, value]) => value);
  }

  set(key: string, value: Buffer, ttlMs: number | undefined, track = false): Promise<void> {
    return this.run('set', async () => {
      if (track && this.trackingChannel) {
        await this.trackedWrite([key], (tx) => {
          if (ttlMs === undefined) tx.set(key, value);
          else tx.set(key, value, 'PX', Math.max(1, Math.ceil(ttlMs)));
        });
        return;
      }
      if (ttlMs === undefined) await this.client.set(key, value);
      else await this.client.set(key, value, 'PX', Math.max(1, Math.ceil(ttlMs)));
    });
  }

  delete(keys: readonly string[]): Promise<number> {
    if (keys.length === 0) return Promise.resolve(0);
    return this.run('delete', () => this.client.unlink([...keys]));
  }

  deleteEntries(keys: readonly string[]): Promise<number> {
    if (keys.length === 0) return Promise.resolve(0);
    return this.run('delete', () => deleteEntriesBy(keys, (chunk) => DELETE_ENTRIES.run(this.client, chunk, [])));
  }

  expire(key: string, ttlMs: number, track = false): Promise<boolean> {
    const ms = Math.max(1, Math.ceil(ttlMs));
    return this.run('expire', async () => {
      if (!track || !this.trackingChannel) return (await this.client.pexpire(key, ms)) === 1;
      const [done] = await this.trackedWrite([key], (tx) => tx.pexpire(key, ms));
      return done === 1;
    });
  }

  replace(key: string, expected: Buffer, value: Buffer): Promise<boolean> {
    return this.run('replace', async () => Number(await REPLACE.run(this.client, [key], replaceArgs(expected, value))) === 1);
  }

  exists(key: string): Promise<boolean> {
    return this.run('exists', async () => (await this.client.exists(key)) === 1);
  }

  remainingTtl(key: string): Promise<number | undefined> {
    return this.run('pttl', async () => {
      const ms = await this.client.pttl(key);
      // PTTL: -2 when the key does not exist, -1 when it has no expiry.
      return ms === -2 ? undefined : ms === -1 ? Number.POSITIVE_INFINITY : ms;
    });
  }

  exec(ops: readonly WriteOp[], track = false): Promise<void> {
    if (ops.length === 0) return Promise.resolve();
    return this.run('batch', async () => {
      if (this.writesOwnCommands) {
        await this.writeMany(ops, track && this.trackingChannel !== undefined && ops.some(trackedSet));
        return;
      }
      if (track && this.trackingChannel) {
        const keys = new Set<string>();
        for (const op of ops) if (trackedSet(op)) keys.add(op.key);
        if (keys.size > 0) {
          await this.trackedWrite([...keys], (tx) => queueWrites(tx, ops));
          return;
        }
      }
      await this.execMulti(ops);
    });
  }

  /**
   * The writes as scripts Trove writes itself (see write-many.ts): one for a small untracked
   * batch, else each part in one MULTI/EXEC, after `CLIENT CACHING yes` when tracked (its failure,
   * while tracking is being switched on, is ignored: nothing is kept locally then).
   */
  private async writeMany(ops: readonly WriteOp[], tracked: boolean): Promise<void> {
    const ends = writeManyParts(ops);
    if (ends.length === 1 && !tracked) {
      await this.client.sendCommand(writeManyCommand(this.keyPrefix, ops, false));
      return;
    }
    const tx = this.client.multi();
    // A prepared command is queued as ioredis queues its own (a transaction is a Pipeline).
    const queue = tx as unknown as { sendCommand(command: Command): unknown };
    let from = 0;
    for (const end of ends) {
      if (tracked) tx.call('CLIENT', 'CACHING', 'yes');
      queue.sendCommand(writeManyCommand(this.keyPrefix, ops.slice(from, end), tracked));
      from = end;
    }
    const results = await tx.exec();
    if (results === null) throw new StoreError('Transaction aborted');
    for (let i = tracked ? 1 : 0; i < results.length; i += tracked ? 2 : 1) {
      const err = results[i]?.[0];
      if (err) throw err;
    }
  }

  /** The writes as one MULTI/EXEC: all or none. */
  protected async execMulti(ops: readonly WriteOp[]): Promise<void> {
    const tx = this.client.multi();
    queueWrites(tx, ops);
    const results = await tx.exec();
    if (results === null) throw new StoreError('Transaction aborted');
    for (const [err] of results) if (err) throw err;
  }

  /**
   * Whether one tick's lock attempts and lock-holder writes may go as one script each. On one
   * server, yes; a Cluster refuses a script whose keys span slots.
   */
  protected get batchesLocks(): boolean {
    return this.opts.nodeOfCluster !== true;
  }

  /** Claims of missing values in their own keys (see `claims.ts`), where the server takes them. */
  private claimLocks: ClaimLocks | undefined;
  private get claims(): ClaimLocks {
    this.claimLocks ??= new ClaimLocks(this.opts.claims !== false, {
      setGet: (key, value, pxMs, only) => {
        if (this.writesOwnCommands) return this.client.sendCommand(setGetCommand(this.keyPrefix, key, value, pxMs, only)) as Promise<Buffer | null>;
        if (pxMs === undefined) return only === 'NX' ? this.client.setBuffer(key, value, 'NX', 'GET') : this.client.setBuffer(key, value, 'XX', 'GET');
        return only === 'NX' ? this.client.setBuffer(key, value, 'PX', pxMs, 'NX', 'GET') : this.client.setBuffer(key, value, 'PX', pxMs, 'XX', 'GET');
      },
      // One server: one EXISTS of every key; a Cluster refuses keys of several slots in one.
      anyExists: (keys) =>
        this.batchesLocks
          ? this.client.exists(...keys).then((n) => n > 0)
          : Promise.all(keys.map((k) => this.client.exists(k))).then((ns) => ns.some((n) => n > 0)),
      script: (script, keys, args) => script.runBuffer(this.client, keys, args),
      publish: (channel, message) => this.client.publish(channel, message),
    });
    return this.claimLocks;
  }
  /** One tick's claims and untracked claimed stores, each as one batch; created on first use. */
  private claimBatchesOf: ClaimBatches | undefined;
  private get claimBatches(): ClaimBatches {
    this.claimBatchesOf ??= new ClaimBatches(this.claims, {
      run: (operation, send) => this.run(operation, send),
      lockAlone: (request) => this.lockAlone(request),
      releaseLock: (key, token) => this.releaseLock(key, token),
    });
    return this.claimBatchesOf;
  }
  /** One tick's tracked stores of claimed values (values kept locally), as one script. */
  private trackedClaimBatcher: TickBatcher<StoreAndRelease, boolean> | undefined;

  /** One tick's lock attempts (with their value reads), as one script; created on first use. */
  private lockBatcher: TickBatcher<LockRequest, ReadOrLock> | undefined;
  /** One tick's untracked writes by lock holders, as one script; created on first use. */
  private storeBatcher: TickBatcher<StoreAndRelease, boolean> | undefined;
  /** The same for tracked writes (values kept locally). */
  private trackedStoreBatcher: TickBatcher<StoreAndRelease, boolean> | undefined;

  acquireLock(key: string, token: string, ttlMs: number, readKey?: string, claim?: ClaimOption): Promise<LockAttempt> {
    const lease = Math.max(1, Math.ceil(ttlMs));
    if (readKey === undefined) return this.run('acquireLock', () => ACQUIRE.run(this.client, [key], [token, lease])).then(acquireOutcome);
    if (claim !== undefined) return this.claim({ key, readKey, token, lease, readFirst: false, channel: claim.channel }) as Promise<LockAttempt>;
    return this.lock({ key, readKey, token, lease, readFirst: false }) as Promise<LockAttempt>;
  }

  readOrLock(key: string, token: string, ttlMs: number, readKey: string, claim?: ClaimOption): Promise<ReadOrLock> {
    const lease = Math.max(1, Math.ceil(ttlMs));
    if (claim !== undefined) return this.claim({ key, readKey, token, lease, readFirst: true, channel: claim.channel });
    return this.lock({ key, readKey, token, lease, readFirst: true });
  }

  /** A lock attempt that may claim the value's own key (see `ClaimBatches.claim`), else with lock keys. */
  private claim(request: ClaimRequest): Promise<ReadOrLock> {
    if (this.claims.supported === false) return this.lock(request);
    return this.claimBatches.claim(request);
  }

  /** A lock attempt with its value read: with the tick's others where locks are batched, else on its own. */
  private lock(request: LockRequest): Promise<ReadOrLock> {
    // Handed on as is, not awaited: a miss is a handful of promise hops, each one counts.
    if (!this.batchesLocks) return this.run('acquireLock', () => this.lockAlone(request));
    this.lockBatcher ??= new TickBatcher((requests) => this.acquireMany(requests));
    return this.lockBatcher.add(request);
  }

  private lockAlone(request: LockRequest): Promise<ReadOrLock> {
    const lone = loneLock(request);
    return lone.script.runBuffer(this.client, lone.keys, lone.args).then(lone.outcome);
  }

  async renewLock(key: string, token: string, ttlMs: number): Promise<boolean> {
    return Number(await this.run('renewLock', () => RENEW.run(this.client, [key], [token, Math.max(1, Math.ceil(ttlMs))]))) === 1;
  }

  async releaseLock(key: string, token: string): Promise<boolean> {
    return Number(await this.run('releaseLock', () => RELEASE.run(this.client, [key], [token]))) === 1;
  }

  /** Several lock attempts with their value reads, in one script (one alone: the single-lock scripts). */
  private acquireMany(requests: readonly LockRequest[]): Promise<ReadOrLock[]> {
    return this.run('acquireLock', async () => {
      if (requests.length === 1) return [await this.lockAlone(requests[0]!)];
      const { keys, args } = acquireManyArgs(requests);
      return acquireManyOutcomes(await ACQUIRE_AND_READ_MANY.runBuffer(this.client, keys, args), requests.length);
    });
  }

  /** Several untracked writes by lock holders, in one script (one alone: the single-write script). */
  private storeMany(ops: readonly StoreAndRelease[]): Promise<boolean[]> {
    return this.run('set', async () => {
      const { keys, args } = storeManyArgs(ops);
      if (ops.length === 1) return writtenOutcomes(await STORE_AND_RELEASE.run(this.client, keys, [...args, '0']), 1);
      return writtenOutcomes(await STORE_AND_RELEASE_MANY.run(this.client, keys, args), ops.length);
    });
  }

  /** Several tracked writes by lock holders, in one script (see `trackedWrites`). */
  private storeManyTracked(ops: readonly StoreAndRelease[]): Promise<boolean[]> {
    return this.trackedWrites(ops, STORE_TRACKED_AND_RELEASE_MANY, (batch) => trackedStoreArgs(batch, this.keyPrefix));
  }

  /**
   * Tracked writes by lock holders in one script after `CLIENT CACHING yes` (see
   * STORE_TRACKED_AND_RELEASE_MANY, STORE_TRACKED_CLAIMED_MANY). A key written twice must announce
   * two invalidations, which one read on each side of the batch would not make Redis send: such a
   * batch goes write by write.
   */
  private trackedWrites(ops: readonly StoreAndRelease[], script: Script, argsOf: TrackedArgs): Promise<boolean[]> {
    if (repeatsKey(ops)) return Promise.all(ops.map((op) => this.trackedWrites([op], script, argsOf).then(([written]) => written === true)));
    return this.run('set', async () => {
      const { keys, args } = argsOf(ops);
      return writtenOutcomes(await this.trackedScript(script, keys, args), ops.length);
    });
  }

  storeAndRelease(op: StoreAndRelease): Promise<boolean> {
    const tracked = op.track === true && this.trackingChannel !== undefined;
    if (op.lockKey === op.key) return this.storeClaimed(op, tracked);
    if (this.batchesLocks) {
      if (tracked) {
        this.trackedStoreBatcher ??= new TickBatcher((ops) => this.storeManyTracked(ops));
        return this.trackedStoreBatcher.add(op);
      }
      this.storeBatcher ??= new TickBatcher((ops) => this.storeMany(ops));
      return this.storeBatcher.add(op);
    }
    const { keys, args } = storeManyArgs([op]);
    args.push(tracked ? '1' : '0');
    return this.run('set', () => (tracked ? this.trackedScript(STORE_AND_RELEASE, keys, args) : STORE_AND_RELEASE.run(this.client, keys, args))).then(
      (reply) => Number(reply) === 1,
    );
  }

  /** A claimed value's store (see `claims.ts`): plain commands, or one script per tick when tracked. */
  private storeClaimed(op: StoreAndRelease, tracked: boolean): Promise<boolean> {
    if (tracked) {
      if (!this.batchesLocks) return this.storeClaimedTracked([op]).then(([written]) => written === true);
      this.trackedClaimBatcher ??= new TickBatcher((ops) => this.storeClaimedTracked(ops));
      return this.trackedClaimBatcher.add(op);
    }
    return this.claimBatches.store(op);
  }

  /** Tracked stores of claimed values in one script (see `trackedWrites`). */
  private storeClaimedTracked(ops: readonly StoreAndRelease[]): Promise<boolean[]> {
    return this.trackedWrites(ops, STORE_TRACKED_CLAIMED_MANY, claimedStoreArgs);
  }

  /** Runs a script whose reads are tracked: `CLIENT CACHING yes` right before it (see `cachingThen`). */
  private trackedScript(script: Script, keys: readonly string[], args: readonly (string | number | Buffer)[]): Promise<unknown> {
    return script.runVia(
      (s) =>
        'sha' in s
          ? this.cachingThen(
              () => this.client.evalsha(s.sha, keys.length, ...keys, ...args),
              (p) => p.evalsha(s.sha, keys.length, ...keys, ...args),
            )
          : this.cachingThen(
              () => this.client.eval(s.source, keys.length, ...keys, ...args),
              (p) => p.eval(s.source, keys.length, ...keys, ...args),
            ),
      this.client,
    );
  }

  /** Which keys commands read (`cachedCommand`): COMMAND INFO asked once per command name. */
  private readonly commandTable = new CommandKeys((args) => this.run('cachedCommand', () => this.client.call('COMMAND', ...args)));

  async prepareCommand(name: string, args: readonly (string | number | Buffer)[], buffers: boolean): Promise<CommandCall> {
    if (this.keyPrefix === '') return { name, args, keys: (await this.commandTable.find(name, args)).keys, buffers };
    // ioredis adds its keyPrefix to the keys of the commands it knows (`call` included), and Redis
    // names the prefixed key in its invalidations: the keys are found in what ioredis will send.
    const sent = new Command(name, [...args], { keyPrefix: this.keyPrefix }).args as (string | Buffer)[];
    const { keys } = await this.commandTable.find(name, sent);
    if (keys.some((k) => !k.startsWith(this.keyPrefix))) {
      throw new InvalidOptionError('name', `cachedCommand cannot cache ${name.toUpperCase()}: ioredis does not add the client's keyPrefix to its keys`);
    }
    return { name, args, keys: keys.map((k) => k.slice(this.keyPrefix.length)), buffers };
  }

  readCommand(call: CommandCall, track: boolean): Promise<unknown> {
    const { name, args } = call;
    return this.run('cachedCommand', () => {
      const direct = () => (call.buffers ? this.client.callBuffer(name, ...args) : this.client.call(name, ...args));
      if (!track || !this.trackingChannel) return direct();
      return this.cachingThen(direct, (p) => (call.buffers ? p.callBuffer(name, ...args) : p.call(name, ...args)));
    });
  }

  // The generation and tag tables are kept in memory: their reads are tracked.
  hashGetAllCounted(key: string, init?: HashInit): Promise<CountedHash> {
    return this.run('sync', async () => {
      const args = init === undefined ? [] : [init[0], init[1]];
      const reply = await (this.trackingChannel ? this.trackedScript(COUNTED_READ_ALL, [key], args) : COUNTED_READ_ALL.run(this.client, [key], args));
      return countedHash(reply as (string | null)[]);
    });
  }

  hashGetCounted(key: string, fields: readonly string[], init: HashInit): Promise<CountedFields> {
    return this.run('sync', async () => {
      const args = [init[0], init[1], ...fields];
      const reply = (await (this.trackingChannel ? this.trackedScript(COUNTED_READ_INIT, [key], args) : COUNTED_READ_INIT.run(this.client, [key], args))) as (
        | string
        | null
      )[];
      return countedFields(reply);
    });
  }

  hashSetCountAndPublish(
    key: string,
    entries: readonly (readonly [string, string])[],
    channel: string,
    message: string,
    epochField: string,
  ): Promise<CountedWrite> {
    return this.run('hashSetAndPublish', async () =>
      countedWrite(await HSET_COUNT_AND_PUBLISH.run(this.client, [key], [channel, message, epochField, ...entries.flat()])),
    );
  }

  async hashIncrement(
    key: string,
    counts: readonly (readonly [string, number])[],
    fractions: readonly (readonly [string, number])[],
    ttlMs: number,
  ): Promise<void> {
    await this.run('stats', async () => {
      const tx = this.client.multi();
      for (const [field, n] of counts) tx.hincrby(key, field, n);
      for (const [field, x] of fractions) tx.hincrbyfloat(key, field, x);
      tx.pexpire(key, Math.max(1, Math.ceil(ttlMs)));
      const results = await tx.exec();
      if (results === null) throw new StoreError('Transaction aborted');
      for (const [err] of results) if (err) throw err;
    });
  }

  hashReadMany(keys: readonly string[]): Promise<Record<string, string>[]> {
    if (keys.length === 0) return Promise.resolve([]);
    return this.run('stats', () => Promise.all(keys.map((key) => this.client.hgetall(key))));
  }

  async publish(channel: string, message: string): Promise<void> {
    await this.run('publish', () => this.client.publish(channel, message));
  }

  get subscribed(): boolean {
    return this.subscriber.live;
  }

  subscribe(channel: string, listener: ChannelListener): Promise<() => void> {
    return this.subscriber.subscribe(channel, listener);
  }

  async delivered(): Promise<void> {
    // Any failure only means the caller cannot count on the order: it reads the table instead.
    await this.subscriber.ping(this.opts.commandTimeoutMs)?.catch(() => {});
  }

  fieldGet(bucket: string, field: string, track = false): Promise<Buffer | null> {
    const tracked = track && this.trackingEnabled;
    if (tracked) this.trackedFieldBatcher ??= new FieldBatcher((refs) => this.fieldReadNow(refs, true));
    else this.fieldBatcher ??= new FieldBatcher((refs) => this.fieldReadNow(refs, false));
    return (tracked ? this.trackedFieldBatcher! : this.fieldBatcher!).get(bucket, field);
  }

  fieldGetMany(refs: readonly FieldRef[], track = false): Promise<FieldValue[]> {
    if (refs.length === 0) return Promise.resolve([]);
    return this.fieldReadNow([...refs], track);
  }

  /**
   * One HMGET per bucket, issued together (one socket write); a bucket's failure (WRONGTYPE) is
   * the answer of its reads alone. Tracked: each HMGET right after its `CLIENT CACHING yes`.
   */
  protected fieldReadNow(refs: readonly FieldRef[], track: boolean): Promise<FieldValue[]> {
    return this.run('get', async () => {
      const out = new Array<FieldValue>(refs.length);
      const tracked = track && this.trackingChannel !== undefined;
      await Promise.all(
        [...byBucket(refs)].map(async ([bucket, at]) => {
          const fields = at.map((i) => refs[i]![1]);
          let values: FieldValue[];
          try {
            values = (await (tracked
              ? this.cachingThen(
                  () => this.client.hmgetBuffer(bucket, ...fields),
                  (p) => p.hmgetBuffer(bucket, ...fields),
                )
              : this.client.hmgetBuffer(bucket, ...fields))) as (Buffer | null)[];
          } catch (err) {
            if (!isReplyError(err)) throw err;
            const error = asStoreError('get', err);
            values = fields.map(() => error);
          }
          for (let j = 0; j < at.length; j++) out[at[j]!] = values[j] ?? null;
        }),
      );
      return out;
    });
  }

  fieldWrite(ops: readonly FieldWriteOp[]): Promise<number> {
    if (ops.length === 0) return Promise.resolve(0);
    return this.run('set', () => this.fieldWriteNow(ops));
  }

  /** The writes as one FIELD_WRITE script (every bucket in it: on one server, all or none). */
  protected async fieldWriteNow(ops: readonly FieldWriteOp[]): Promise<number> {
    const { keys, args } = fieldWriteArgs(ops, this.fieldExpiry);
    const [deleted, refused] = (await FIELD_WRITE.run(this.client, keys, args)) as [number, number];
    if (refused === 1) this.fieldExpiry = false;
    return deleted;
  }

  fieldEntries(bucket: string): Promise<[string, Buffer][]> {
    return this.run('scan', async () => {
      return Object.entries(await this.client.hgetallBuffer(bucket));
    });
  }

  async acquireFieldLock(lockKey: string, token: string, ttlMs: number, bucket: string, field: string): Promise<LockAttempt> {
    const lease = Math.max(1, Math.ceil(ttlMs));
    return acquireAndReadOutcome(await this.run('acquireLock', () => ACQUIRE_FIELD_AND_READ.runBuffer(this.client, [lockKey, bucket], [token, lease, field])));
  }

  async storeFieldAndRelease(op: StoreFieldAndRelease): Promise<boolean> {
    const args = fieldStoreArgs(op, this.fieldExpiry);
    const reply = await this.run('set', () => STORE_FIELD_AND_RELEASE.run(this.client, [op.bucket, op.lockKey], args));
    const { written, noFieldExpiry } = fieldStoreOutcome(reply);
    if (noFieldExpiry) this.fieldExpiry = false;
    return written;
  }

  async *scanPrefix(prefix: string, count = 500): AsyncIterable<string[]> {
    let cursor = '0';
    // SCAN's pattern and replies are not prefixed by ioredis, unlike the keys of other commands.
    const pattern = prefixPattern(this.keyPrefix + prefix);
    do {
      const [next, keys] = await this.run('scan', () => this.client.scan(cursor, 'MATCH', pattern, 'COUNT', count));
      cursor = next;
      const ours = withoutKeyPrefix(keys, this.keyPrefix);
      if (ours.length > 0) yield ours;
    } while (cursor !== '0');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Tracking first: another store sharing the connection may take it over from this subscriber.
    const trackingClosed = this.trackingChannel?.close() ?? Promise.resolve();
    this.trackingChannel = undefined;
    const subClosed = this.subscriber.close();
    this.readyGate.close();
    this.watch?.stop();
    this.client.off('ready', this.onReady);
    this.client.off('close', this.onClose);
    this.client.off('error', this.onError);
    if (!this.opts.owned) {
      await Promise.all([trackingClosed, subClosed]);
      return;
    }
    await Promise.all([closeClient(this.client, this.opts.commandTimeoutMs, false), subClosed, trackingClosed]);
  }
}

/** Turns a synchronous throw from the driver (e.g. stream not writeable) into a rejection. */
function safeSend<T>(send: () => Promise<T>): Promise<T> {
  try {
    return send();
  } catch (e) {
    return Promise.reject(asStoreError('send', e));
  }
}

/** A reply Redis gave to one command (WRONGTYPE and the like), as opposed to a connection or deadline failure. */
function isReplyError(err: unknown): err is Error {
  return err instanceof Error && err.name === 'ReplyError';
}

/** FIELD_WRITE's keys and arguments (see scripts.ts). */
export function fieldWriteArgs(ops: readonly FieldWriteOp[], fieldExpiry: boolean): { keys: string[]; args: (string | number | Buffer)[] } {
  const keys: string[] = [];
  const index = new Map<string, number>();
  const args: (string | number | Buffer)[] = [fieldExpiry ? '1' : '0'];
  for (const op of ops) {
    let at = index.get(op.bucket);
    if (at === undefined) {
      keys.push(op.bucket);
      at = keys.length;
      index.set(op.bucket, at);
    }
    const conditional = op.expected !== undefined;
    if (op.type === 'delete') args.push(at, conditional ? 'D' : 'd', op.field, '', 0, op.expected ?? '');
    else {
      const ttl = op.ttlMs === undefined ? 0 : Math.max(1, Math.ceil(op.ttlMs));
      const kind = op.fieldExpiry === false ? 'l' : 's';
      args.push(at, conditional ? kind.toUpperCase() : kind, op.field, op.value, ttl, op.expected ?? '');
    }
  }
  return { keys, args };
}

/** Queues the writes on a transaction, in order. */
function queueWrites(tx: ChainableCommander, ops: readonly WriteOp[]): void {
  for (const op of ops) {
    if (op.type === 'delete') tx.unlink(op.key);
    else if (op.ttlMs === undefined) tx.set(op.key, op.value);
    else tx.set(op.key, op.value, 'PX', Math.max(1, Math.ceil(op.ttlMs)));
  }
}

/** DELETE_ENTRIES over `keys`, each once, in calls of at most DELETE_ENTRIES_CHUNK keys sent together; the sum of their counts. */
export async function deleteEntriesBy(keys: readonly string[], run: (chunk: readonly string[]) => Promise<unknown>): Promise<number> {
  const distinct = [...new Set(keys)];
  const calls: Promise<unknown>[] = [];
  for (let at = 0; at < distinct.length; at += DELETE_ENTRIES_CHUNK) calls.push(run(distinct.slice(at, at + DELETE_ENTRIES_CHUNK)));
  let n = 0;
  for (const count of await Promise.all(calls)) n += Number(count);
  return n;
}

/**
 * The node-redis driver: the `Store` over a node-redis client the user created and connected
 * (`createClient` from `redis` or `@redis/client`, v5 and later). It is the ioredis driver's
 * protocol over another client library: the same Lua scripts, lock protocol, per-tick MGET
 * batching (`GetBatcher`), deadlines, OPTIN tracking with `CLIENT CACHING yes` right before each
 * tracked read, and tracked writes as one MULTI (see `RedisStore`).
 *
 * What node-redis does differently, and how this driver relies on it:
 * - A client is one socket, and commands are written in the order they are issued; everything
 *   issued before the next `setImmediate` leaves in one socket write. So a tick's MGET, and a
 *   CLIENT CACHING with the read it announces, go out together, in order, with no corking of ours.
 * - Commands are sent raw (`sendCommand`) through views of the client bound to the driver's reply
 *   type mappings (`TypedSenders`), so the client's own `typeMapping` or RESP version (node-redis 6
 *   defaults to RESP3) never changes what is read. A client `keyPrefix` is applied here, as
 *   node-redis applies it only to its typed commands.
 * - Hash storage (`FieldStore`) is the ioredis driver's too: a tick's field reads as one HMGET per
 *   bucket (`FieldBatcher`), written together; writes and field locks as the same scripts.
 * - The client is the user's: it is never closed, only its listeners removed and tracking turned
 *   off. The subscriber is a `duplicate()` of it, owned and closed here.
 */
import { Buffer } from 'node:buffer';
import { InvalidOptionError, StoreError } from '../../errors.js';
import { countedFields, countedHash, countedWrite } from '../counted-fields.js';
import { CommandKeys } from '../command-keys.js';
import { asStoreError, SharedDeadline, withDeadline } from '../deadline.js';
import { byBucket, FieldBatcher } from '../field-batcher.js';
import { GetBatcher } from '../get-batcher.js';
import { ReadyGate } from '../ready-gate.js';
import { prefixPattern, withoutKeyPrefix } from '../key-prefix.js';
import { acquireAndReadOutcome, acquireOutcome } from '../lock-replies.js';
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
} from '../lock-batches.js';
import { TickBatcher } from '../tick-batcher.js';
import { joinTracking, type TrackingHandle } from '../tracking-share.js';
import { TypedSenders } from './typed-senders.js';
import { ClaimBatches, type ClaimRequest, ClaimLocks, claimedStoreArgs } from '../claim-locks.js';
import { STORE_TRACKED_CLAIMED_MANY } from '../claims.js';
import { deleteEntriesBy, fieldWriteArgs } from '../redis-store.js';
import {
  ACQUIRE,
  ACQUIRE_AND_READ_MANY,
  ACQUIRE_FIELD_AND_READ,
  DELETE_ENTRIES,
  FIELD_WRITE,
  HSET_COUNT_AND_PUBLISH,
  COUNTED_READ_ALL,
  COUNTED_READ_INIT,
  RELEASE,
  RENEW,
  REPLACE,
  replaceArgs,
  STORE_AND_RELEASE,
  STORE_AND_RELEASE_MANY,
  STORE_TRACKED_AND_RELEASE_MANY,
  STORE_FIELD_AND_RELEASE,
  type Script,
} from '../scripts.js';
import {
  type ClaimOption,
  type ChannelListener,
  type CommandCall,
  type FieldRef,
  type FieldValue,
  type FieldWriteOp,
  type CountedFields,
  type CountedHash,
  type CountedWrite,
  type HashInit,
  type LockAttempt,
  type ReadOrLock,
  type Store,
  type StoreAndRelease,
  type StoreFieldAndRelease,
  type StoreListener,
  type TrackingListener,
  trackedSet,
  type WriteOp,
} from '../store.js';
import { BUFFERS, type NodeRedisArgument, type NodeRedisConnection, type NodeRedisMulti, type NodeRedisTypeMapping, STRINGS } from './client-shape.js';
import { NodeRedisSubscriber } from './subscriber.js';
import { NodeRedisTracking } from './tracking.js';

export interface NodeRedisStoreOptions {
  /** Deadline for every Redis operation, in milliseconds. */
  commandTimeoutMs: number;
  /** How often the invalidation connection is checked with PING while tracking is live, in ms. Default 1000. */
  trackingCheckIntervalMs?: number;
  listener?: StoreListener;
  /** Whether misses may claim their values' own keys where the server allows (see `claims.ts`). Default true. */
  claims?: boolean;
}

export class NodeRedisStore implements Store {
  readonly kind = 'redis' as const;
  readonly hashTags = false;
  private readonly batcher: GetBatcher;
  private readonly trackedBatcher: GetBatcher;
  /** Deadlines of untracked reads on a ready connection, on one timer (see `mgetNow`). */
  private readonly readDeadline: SharedDeadline;
  /** Single-field reads of hash storage, untracked and tracked; created on first use. */
  private fieldBatcher: FieldBatcher | undefined;
  private trackedFieldBatcher: FieldBatcher | undefined;
  /** Whether field writes still ask for HPEXPIRE (Redis 7.4+); cleared once the server refuses it. */
  private fieldExpiry = true;
  private readonly subscriber: NodeRedisSubscriber;
  private tracker: TrackingHandle | undefined;
  private readonly readyGate: ReadyGate;
  /** Whether the client was ever ready while this store watched it: until then a read waits for the first connect. */
  private everReady: boolean;
  /** Whether the connection is up as far as the listener was told (one `onDisconnect` per loss). */
  private up: boolean;
  private closed = false;
  private readonly keyPrefix: string;
  /** Raw commands, by the type mapping their replies are decoded with. */
  private readonly senders: TypedSenders;

  constructor(
    readonly client: NodeRedisConnection,
    private readonly opts: NodeRedisStoreOptions,
  ) {
    this.keyPrefix = client.options?.keyPrefix ?? '';
    this.senders = new TypedSenders(client);
    this.readyGate = new ReadyGate(opts.commandTimeoutMs);
    this.readDeadline = new SharedDeadline('get', opts.commandTimeoutMs);
    this.batcher = new GetBatcher((keys, done, failed) => this.fetchBatch(keys, false, done, failed));
    this.trackedBatcher = new GetBatcher((keys, done, failed) => this.fetchBatch(keys, true, done, failed));
    this.subscriber = new NodeRedisSubscriber(client, {
      commandTimeoutMs: opts.commandTimeoutMs,
      onError: this.onError,
      ...(opts.trackingCheckIntervalMs === undefined ? {} : { checkIntervalMs: opts.trackingCheckIntervalMs }),
    });
    this.everReady = this.up = client.isReady;
    client.on('error', this.onClientError);
    client.on('ready', this.onReady);
    client.on('reconnecting', this.onLost);
    client.on('end', this.onLost);
    // A client handed over connected has no 'ready' event to come.
    if (client.isReady)
      queueMicrotask(() => {
        if (!this.closed) this.opts.listener?.onReady?.();
      });
  }

  private readonly onError = (err: Error): void => {
    if (!this.closed) this.opts.listener?.onConnectionError?.(err);
  };

  private readonly onClientError = (err: Error): void => {
    this.onError(err);
    if (!this.client.isReady) this.onLost();
  };

  private readonly onLost = (): void => {
    if (this.closed || !this.up) return;
    this.up = false;
    this.opts.listener?.onDisconnect?.();
  };

  private readonly onReady = (): void => {
    this.everReady = this.up = true;
    this.readyGate.open();
    if (!this.closed) this.opts.listener?.onReady?.();
  };

  get tracking(): boolean {
    return this.tracker?.live ?? false;
  }

  enableTracking(listener: TrackingListener): boolean {
    if (this.tracker) return true;
    // One channel per connection, shared with any other store on the client (see tracking-share.ts).
    this.tracker = joinTracking(socketOwner(this.client), {
      listener,
      open: (shared) =>
        new NodeRedisTracking(this.client, this.subscriber, shared, {
          commandTimeoutMs: this.opts.commandTimeoutMs,
          checkIntervalMs: this.opts.trackingCheckIntervalMs,
          keyPrefix: this.keyPrefix,
          onError: this.onError,
        }),
    });
    return true;
  }

  /**
   * Resolves when commands can be sent. During the client's first connect, waits up to the
   * deadline; while it reconnects, fails at once so callers degrade instead of queueing (the
   * client's offline queue would send a command long after its caller gave up).
   */
  private ready(operation: string): Promise<void> | undefined {
    if (this.closed) return Promise.reject(new StoreError('Store is closed'));
    if (this.client.isReady) return undefined;
    if (!this.client.isOpen) return Promise.reject(new StoreError(`The node-redis client is closed; operation "${operation}" skipped`));
    if (this.everReady) return Promise.reject(new StoreError(`Redis is not connected (reconnecting); operation "${operation}" skipped`));
    return this.readyGate.wait(operation);
  }

  private run<T>(operation: string, send: () => Promise<T>): Promise<T> {
    const gate = this.ready(operation);
    if (gate === undefined) return withDeadline(operation, this.opts.commandTimeoutMs, safeSend(send));
    return gate.then(() => withDeadline(operation, this.opts.commandTimeoutMs, safeSend(send)));
  }

  private send(args: NodeRedisArgument[], typeMapping: NodeRedisTypeMapping = STRINGS): Promise<unknown> {
    return this.senders.send(args, typeMapping);
  }

  /** The key as sent to Redis: with the client's `keyPrefix`. */
  private k(key: string): string {
    return this.keyPrefix === '' ? key : this.keyPrefix + key;
  }

  private ks(keys: readonly string[]): string[] {
    return this.keyPrefix === '' ? [...keys] : keys.map((key) => this.keyPrefix + key);
  }

  private get trackingEnabled(): boolean {
    return this.tracker !== undefined;
  }

  get(key: string, track = false): Promise<Buffer | null> {
    return (track && this.trackingEnabled ? this.trackedBatcher : this.batcher).get(key);
  }

  mget(keys: readonly string[], track = false): Promise<(Buffer | null)[]> {
    if (keys.length === 0) return Promise.resolve([]);
    return this.mgetNow([...keys], track);
  }

  /** A batch of reads (see GetBatcher): as `mgetNow`, the common read without a promise of its own. */
  private fetchBatch(keys: string[], track: boolean, done: (values: (Buffer | null)[]) => void, failed: (err: unknown) => void): void {
    if (this.plainReadNow(track)) this.readDeadline.watch(this.sendMget(keys), done, failed);
    else this.mgetNow(keys, track).then(done, failed);
  }

  /** Whether a read goes the common way: sent at once, under the shared read deadline instead of a timer of its own. */
  private plainReadNow(track: boolean): boolean {
    return !(track && this.trackingEnabled) && !this.closed && this.client.isReady;
  }

  private sendMget(keys: string[]): Promise<(Buffer | null)[]> {
    return safeSend(() => this.send(this.mgetArgs(keys), BUFFERS) as Promise<(Buffer | null)[]>);
  }

  private mgetNow(keys: string[], track: boolean): Promise<(Buffer | null)[]> {
    if (this.plainReadNow(track)) return this.readDeadline.bound(this.sendMget(keys));
    const tracked = track && this.trackingEnabled;
    return this.run('get', () => {
      const args = this.mgetArgs(keys);
      const read = tracked ? this.cachingThen(args, BUFFERS) : this.send(args, BUFFERS);
      return read as Promise<(Buffer | null)[]>;
    });
  }

  private mgetArgs(keys: readonly string[]): NodeRedisArgument[] {
    // concat, not spread: 100k+ keys as call arguments overflow the stack.
    return (['MGET'] as NodeRedisArgument[]).concat(this.keyPrefix === '' ? keys : this.ks(keys));
  }

  /**
   * Tracking runs in OPTIN mode: Redis tracks only the keys of the command that follows
   * `CLIENT CACHING yes` on the same connection. node-redis writes commands in the order they are
   * issued, on its one socket, so issuing the two back to back is enough. A failed CLIENT CACHING
   * (while tracking is being switched on) is ignored: nothing read then is kept, as tracking is not live.
   */
  private cachingThen(args: NodeRedisArgument[], typeMapping: NodeRedisTypeMapping): Promise<unknown> {
    this.send(['CLIENT', 'CACHING', 'yes']).catch(() => {});
    return this.send(args, typeMapping);
  }

  /**
   * A write of `keys` with their tracking in one MULTI, as `RedisStore.trackedWrite` (see there):
   * CLIENT CACHING yes, EXISTS of every key, the writes, EXISTS again. Resolves to the replies of
   * the writes themselves.
   */
  private async trackedWrite(keys: readonly string[], write: (tx: NodeRedisMulti) => void): Promise<unknown[]> {
    const tx = this.client.multi();
    const sent = this.ks(keys);
    tx.addCommand(['CLIENT', 'CACHING', 'yes']);
    tx.addCommand(['EXISTS', ...sent]);
    write(tx);
    tx.addCommand(['EXISTS', ...sent]);
    const replies = await execMulti(tx, [0]);
    return replies.slice(2, -1);
  }

  private setArgs(key: string, value: Buffer, ttlMs: number | undefined): NodeRedisArgument[] {
    return ttlMs === undefined ? ['SET', this.k(key), value] : ['SET', this.k(key), value, 'PX', String(Math.max(1, Math.ceil(ttlMs)))];
  }

  set(key: string, value: Buffer, ttlMs: number | undefined, track = false): Promise<void> {
    return this.run('set', async () => {
      if (track && this.trackingEnabled) await this.trackedWrite([key], (tx) => tx.addCommand(this.setArgs(key, value, ttlMs)));
      else await this.send(this.setArgs(key, value, ttlMs));
    });
  }

  delete(keys: readonly string[]): Promise<number> {
    if (keys.length === 0) return Promise.resolve(0);
    return this.run('delete', async () => Number(await this.send((['UNLINK'] as NodeRedisArgument[]).concat(this.ks(keys)))));
  }

  deleteEntries(keys: readonly string[]): Promise<number> {
    if (keys.length === 0) return Promise.resolve(0);
    return this.run('delete', () => deleteEntriesBy(keys, (chunk) => this.script(DELETE_ENTRIES, chunk, [])));
  }

  expire(key: string, ttlMs: number, track = false): Promise<boolean> {
    const args = ['PEXPIRE', this.k(key), String(Math.max(1, Math.ceil(ttlMs)))];
    return this.run('expire', async () => {
      if (!track || !this.trackingEnabled) return Number(await this.send(args)) === 1;
      const [done] = await this.trackedWrite([key], (tx) => tx.addCommand(args));
      return Number(done) === 1;
    });
  }

  replace(key: string, expected: Buffer, value: Buffer): Promise<boolean> {
    return this.run('replace', async () => Number(await this.script(REPLACE, [key], replaceArgs(expected, value))) === 1);
  }

  exists(key: string): Promise<boolean> {
    return this.run('exists', async () => Number(await this.send(['EXISTS', this.k(key)])) === 1);
  }

  remainingTtl(key: string): Promise<number | undefined> {
    return this.run('pttl', async () => {
      const ms = Number(await this.send(['PTTL', this.k(key)]));
      // PTTL: -2 when the key does not exist, -1 when it has no expiry.
      return ms === -2 ? undefined : ms === -1 ? Number.POSITIVE_INFINITY : ms;
    });
  }

  exec(ops: readonly WriteOp[], track = false): Promise<void> {
    if (ops.length === 0) return Promise.resolve();
    return this.run('batch', async () => {
      if (track && this.trackingEnabled) {
        const keys = new Set<string>();
        for (const op of ops) if (trackedSet(op)) keys.add(op.key);
        if (keys.size > 0) {
          await this.trackedWrite([...keys], (tx) => this.queueWrites(tx, ops));
          return;
        }
      }
      const tx = this.client.multi();
      this.queueWrites(tx, ops);
      await execMulti(tx, []);
    });
  }

  private queueWrites(tx: NodeRedisMulti, ops: readonly WriteOp[]): void {
    for (const op of ops) tx.addCommand(op.type === 'delete' ? ['UNLINK', this.k(op.key)] : this.setArgs(op.key, op.value, op.ttlMs));
  }

  /** EVALSHA, re-sent as EVAL after NOSCRIPT (a restart, a failover, SCRIPT FLUSH); `tracked`: under CLIENT CACHING yes. */
  private script(
    script: Script,
    keys: readonly string[],
    args: readonly (string | number | Buffer)[],
    typeMapping = STRINGS,
    tracked = false,
  ): Promise<unknown> {
    const rest: NodeRedisArgument[] = [String(keys.length), ...this.ks(keys), ...args.map((a) => (typeof a === 'number' ? String(a) : a))];
    return script.runVia((s) => {
      const command: NodeRedisArgument[] = 'sha' in s ? ['EVALSHA', s.sha, ...rest] : ['EVAL', s.source, ...rest];
      return tracked ? this.cachingThen(command, typeMapping) : this.send(command, typeMapping);
    }, this.client);
  }

  /** One tick's lock attempts (with their value reads), as one script; created on first use. */
  private lockBatcher: TickBatcher<LockRequest, ReadOrLock> | undefined;
  /** One tick's untracked writes by lock holders, as one script; created on first use. */
  private storeBatcher: TickBatcher<StoreAndRelease, boolean> | undefined;
  /** The same for tracked writes (values kept locally). */
  private trackedStoreBatcher: TickBatcher<StoreAndRelease, boolean> | undefined;

  /** Claims of missing values in their own keys (see `claims.ts`), where the server takes them. */
  private claimLocks: ClaimLocks | undefined;
  private get claims(): ClaimLocks {
    this.claimLocks ??= new ClaimLocks(this.opts.claims !== false, {
      setGet: (key, value, pxMs, only) => {
        const args: NodeRedisArgument[] = ['SET', this.k(key), value];
        if (pxMs !== undefined) args.push('PX', String(pxMs));
        args.push(only);
        args.push('GET');
        return this.send(args, BUFFERS) as Promise<Buffer | null>;
      },
      anyExists: (keys) => this.send(['EXISTS', ...this.ks(keys)]).then((n) => Number(n) > 0),
      script: (script, keys, args) => this.script(script, keys, args, BUFFERS),
      publish: (channel, message) => this.send(['PUBLISH', channel, message]),
    });
    return this.claimLocks;
  }
  /** One tick's claims and untracked claimed stores, each as one batch (see RedisStore). */
  private claimBatchesOf: ClaimBatches | undefined;
  private get claimBatches(): ClaimBatches {
    this.claimBatchesOf ??= new ClaimBatches(this.claims, {
      run: (operation, send) => this.run(operation, send),
      lockAlone: (request) => {
        const lone = loneLock(request);
        return this.script(lone.script, lone.keys, lone.args, BUFFERS).then(lone.outcome);
      },
      releaseLock: (key, token) => this.releaseLock(key, token),
    });
    return this.claimBatchesOf;
  }
  private trackedClaimBatcher: TickBatcher<StoreAndRelease, boolean> | undefined;

  acquireLock(key: string, token: string, ttlMs: number, readKey?: string, claim?: ClaimOption): Promise<LockAttempt> {
    const lease = Math.max(1, Math.ceil(ttlMs));
    if (readKey === undefined) return this.run('acquireLock', () => this.script(ACQUIRE, [key], [token, lease])).then(acquireOutcome);
    if (claim !== undefined) return this.claim({ key, readKey, token, lease, readFirst: false, channel: claim.channel }) as Promise<LockAttempt>;
    return this.lockBatch({ key, readKey, token, lease, readFirst: false }) as Promise<LockAttempt>;
  }

  readOrLock(key: string, token: string, ttlMs: number, readKey: string, claim?: ClaimOption): Promise<ReadOrLock> {
    const lease = Math.max(1, Math.ceil(ttlMs));
    if (claim !== undefined) return this.claim({ key, readKey, token, lease, readFirst: true, channel: claim.channel });
    return this.lockBatch({ key, readKey, token, lease, readFirst: true });
  }

  /** As RedisStore.claim. */
  private claim(request: ClaimRequest): Promise<ReadOrLock> {
    if (this.claims.supported === false) return this.lockBatch(request);
    return this.claimBatches.claim(request);
  }

  private lockBatch(request: LockRequest): Promise<ReadOrLock> {
    this.lockBatcher ??= new TickBatcher((requests) => this.acquireMany(requests));
    return this.lockBatcher.add(request);
  }

  /** Several lock attempts with their value reads, in one script (one alone: the single-lock scripts). */
  private acquireMany(requests: readonly LockRequest[]): Promise<ReadOrLock[]> {
    return this.run('acquireLock', async () => {
      if (requests.length === 1) {
        const lone = loneLock(requests[0]!);
        return [lone.outcome(await this.script(lone.script, lone.keys, lone.args, BUFFERS))];
      }
      const { keys, args } = acquireManyArgs(requests);
      return acquireManyOutcomes(await this.script(ACQUIRE_AND_READ_MANY, keys, args, BUFFERS), requests.length);
    });
  }

  /** Several untracked writes by lock holders, in one script (one alone: the single-write script). */
  private storeMany(ops: readonly StoreAndRelease[]): Promise<boolean[]> {
    return this.run('set', async () => {
      const { keys, args } = storeManyArgs(ops);
      if (ops.length === 1) return writtenOutcomes(await this.script(STORE_AND_RELEASE, keys, [...args, '0']), 1);
      return writtenOutcomes(await this.script(STORE_AND_RELEASE_MANY, keys, args), ops.length);
    });
  }

  async renewLock(key: string, token: string, ttlMs: number): Promise<boolean> {
    return Number(await this.run('renewLock', () => this.script(RENEW, [key], [token, Math.max(1, Math.ceil(ttlMs))]))) === 1;
  }

  async releaseLock(key: string, token: string): Promise<boolean> {
    return Number(await this.run('releaseLock', () => this.script(RELEASE, [key], [token]))) === 1;
  }

  /** Several tracked writes by lock holders, in one script (see `trackedWrites`). */
  private storeManyTracked(ops: readonly StoreAndRelease[]): Promise<boolean[]> {
    return this.trackedWrites(ops, STORE_TRACKED_AND_RELEASE_MANY, (batch) => trackedStoreArgs(batch, this.keyPrefix));
  }

  /** Tracked writes by lock holders in one script under CLIENT CACHING yes (see RedisStore.trackedWrites). */
  private trackedWrites(
    ops: readonly StoreAndRelease[],
    script: Script,
    argsOf: (ops: readonly StoreAndRelease[]) => { keys: string[]; args: (string | number | Buffer)[] },
  ): Promise<boolean[]> {
    if (repeatsKey(ops)) return Promise.all(ops.map((op) => this.trackedWrites([op], script, argsOf).then(([written]) => written === true)));
    return this.run('set', async () => {
      const { keys, args } = argsOf(ops);
      return writtenOutcomes(await this.script(script, keys, args, STRINGS, true), ops.length);
    });
  }

  storeAndRelease(op: StoreAndRelease): Promise<boolean> {
    if (op.lockKey === op.key) return this.storeClaimed(op);
    if (op.track === true && this.trackingEnabled) {
      this.trackedStoreBatcher ??= new TickBatcher((ops) => this.storeManyTracked(ops));
      return this.trackedStoreBatcher.add(op);
    }
    this.storeBatcher ??= new TickBatcher((ops) => this.storeMany(ops));
    return this.storeBatcher.add(op);
  }

  /** A claimed value's store (see RedisStore.storeClaimed). */
  private storeClaimed(op: StoreAndRelease): Promise<boolean> {
    if (op.track === true && this.trackingEnabled) {
      this.trackedClaimBatcher ??= new TickBatcher((ops) => this.storeClaimedTracked(ops));
      return this.trackedClaimBatcher.add(op);
    }
    return this.claimBatches.store(op);
  }

  private storeClaimedTracked(ops: readonly StoreAndRelease[]): Promise<boolean[]> {
    return this.trackedWrites(ops, STORE_TRACKED_CLAIMED_MANY, claimedStoreArgs);
  }

  /** Which keys commands read (`cachedCommand`): COMMAND INFO asked once per command name. */
  private readonly commandTable = new CommandKeys((args) => this.run('cachedCommand', () => this.send(['COMMAND', ...args])));

  async prepareCommand(name: string, args: readonly (string | number | Buffer)[], buffers: boolean): Promise<CommandCall> {
    const { keys, at } = await this.commandTable.find(name, args);
    if (this.keyPrefix === '') return { name, args, keys, buffers };
    // Raw commands get no keyPrefix from node-redis: this driver adds it to the key arguments, as
    // to its own commands, since invalidations name the prefixed key (and drop any other).
    if (at === undefined) {
      throw new InvalidOptionError(
        'name',
        `cachedCommand cannot cache ${name.toUpperCase()}: its keys cannot be told from its other arguments to add the client's keyPrefix`,
      );
    }
    const sent = [...args];
    for (const i of at) {
      const a = args[i]!;
      sent[i] = Buffer.isBuffer(a) ? Buffer.concat([Buffer.from(this.keyPrefix), a]) : this.keyPrefix + String(a);
    }
    return { name, args: sent, keys, buffers };
  }

  readCommand(call: CommandCall, track: boolean): Promise<unknown> {
    const args = [call.name, ...call.args.map((a) => (typeof a === 'number' ? String(a) : a))];
    const mapping = call.buffers ? COMMAND_BUFFERS : COMMAND_STRINGS;
    return this.run('cachedCommand', async () => {
      const reply = await (track && this.trackingEnabled ? this.cachingThen(args, mapping) : this.send(args, mapping));
      return withScoresFlat(args, reply);
    });
  }

  // The generation and tag tables are kept in memory: their reads are tracked.
  hashGetAllCounted(key: string, init?: HashInit): Promise<CountedHash> {
    const args = init === undefined ? [] : [init[0], init[1]];
    return this.run('sync', async () => countedHash((await this.script(COUNTED_READ_ALL, [key], args, STRINGS, this.trackingEnabled)) as (string | null)[]));
  }

  hashGetCounted(key: string, fields: readonly string[], init: HashInit): Promise<CountedFields> {
    return this.run('sync', async () =>
      countedFields((await this.script(COUNTED_READ_INIT, [key], [init[0], init[1], ...fields], STRINGS, this.trackingEnabled)) as (string | null)[]),
    );
  }

  hashSetCountAndPublish(
    key: string,
    entries: readonly (readonly [string, string])[],
    channel: string,
    message: string,
    epochField: string,
  ): Promise<CountedWrite> {
    return this.run('hashSetAndPublish', async () =>
      countedWrite(await this.script(HSET_COUNT_AND_PUBLISH, [key], [channel, message, epochField, ...entries.flat()])),
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
      const k = this.k(key);
      for (const [field, n] of counts) tx.addCommand(['HINCRBY', k, field, String(n)]);
      for (const [field, x] of fractions) tx.addCommand(['HINCRBYFLOAT', k, field, String(x)]);
      tx.addCommand(['PEXPIRE', k, String(Math.max(1, Math.ceil(ttlMs)))]);
      await execMulti(tx, []);
    });
  }

  hashReadMany(keys: readonly string[]): Promise<Record<string, string>[]> {
    if (keys.length === 0) return Promise.resolve([]);
    // Issued in one tick: node-redis writes them together.
    return this.run('stats', () => Promise.all(keys.map(async (key) => fromFlat((await this.send(['HGETALL', this.k(key)])) as string[]))));
  }

  async publish(channel: string, message: string): Promise<void> {
    await this.run('publish', () => this.send(['PUBLISH', channel, message]));
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
    if (track && this.trackingEnabled) {
      this.trackedFieldBatcher ??= new FieldBatcher((refs) => this.fieldReadNow(refs, true));
      return this.trackedFieldBatcher.get(bucket, field);
    }
    this.fieldBatcher ??= new FieldBatcher((refs) => this.fieldReadNow(refs, false));
    return this.fieldBatcher.get(bucket, field);
  }

  fieldGetMany(refs: readonly FieldRef[], track = false): Promise<FieldValue[]> {
    if (refs.length === 0) return Promise.resolve([]);
    return this.fieldReadNow(refs, track);
  }

  /**
   * One HMGET per bucket, issued back to back (node-redis writes them in one socket write); a
   * bucket's failure (WRONGTYPE) is the answer of its reads alone. Tracked: each HMGET right after
   * a `CLIENT CACHING yes` of its own, as OPTIN tracks only the command that follows it.
   */
  private fieldReadNow(refs: readonly FieldRef[], track: boolean): Promise<FieldValue[]> {
    return this.run('get', async () => {
      const out = new Array<FieldValue>(refs.length);
      const tracked = track && this.trackingEnabled;
      await Promise.all(
        [...byBucket(refs)].map(async ([bucket, at]) => {
          const args: NodeRedisArgument[] = ['HMGET', this.k(bucket)];
          for (const i of at) args.push(refs[i]![1]);
          let values: FieldValue[];
          try {
            values = (await (tracked ? this.cachingThen(args, BUFFERS) : this.send(args, BUFFERS))) as (Buffer | null)[];
          } catch (err) {
            if (!isReplyError(err)) throw err;
            const error = asStoreError('get', err);
            values = at.map(() => error);
          }
          for (let j = 0; j < at.length; j++) out[at[j]!] = values[j] ?? null;
        }),
      );
      return out;
    });
  }

  /** One FIELD_WRITE script for every bucket: all or none, as on one server with ioredis. */
  fieldWrite(ops: readonly FieldWriteOp[]): Promise<number> {
    if (ops.length === 0) return Promise.resolve(0);
    return this.run('set', async () => {
      const { keys, args } = fieldWriteArgs(ops, this.fieldExpiry);
      const [deleted, refused] = (await this.script(FIELD_WRITE, keys, args)) as [unknown, unknown];
      if (Number(refused) === 1) this.fieldExpiry = false;
      return Number(deleted);
    });
  }

  fieldEntries(bucket: string): Promise<[string, Buffer][]> {
    return this.run('scan', async () => {
      // A flat [field, value, …] list whatever the protocol (BUFFERS maps RESP3 maps to arrays).
      const flat = (await this.send(['HGETALL', this.k(bucket)], BUFFERS)) as Buffer[];
      const out: [string, Buffer][] = [];
      for (let i = 0; i + 1 < flat.length; i += 2) out.push([flat[i]!.toString(), flat[i + 1]!]);
      return out;
    });
  }

  async acquireFieldLock(lockKey: string, token: string, ttlMs: number, bucket: string, field: string): Promise<LockAttempt> {
    const lease = Math.max(1, Math.ceil(ttlMs));
    return acquireAndReadOutcome(await this.run('acquireLock', () => this.script(ACQUIRE_FIELD_AND_READ, [lockKey, bucket], [token, lease, field], BUFFERS)));
  }

  async storeFieldAndRelease(op: StoreFieldAndRelease): Promise<boolean> {
    const args = fieldStoreArgs(op, this.fieldExpiry);
    const reply = await this.run('set', () => this.script(STORE_FIELD_AND_RELEASE, [op.bucket, op.lockKey], args));
    const { written, noFieldExpiry } = fieldStoreOutcome(reply);
    if (noFieldExpiry) this.fieldExpiry = false;
    return written;
  }

  async *scanPrefix(prefix: string, count = 500): AsyncIterable<string[]> {
    let cursor = '0';
    // SCAN's pattern and replies carry the client's keyPrefix, like every key sent.
    const pattern = prefixPattern(this.keyPrefix + prefix);
    do {
      const [next, keys] = (await this.run('scan', () => this.send(['SCAN', cursor, 'MATCH', pattern, 'COUNT', String(count)]))) as [string, string[]];
      cursor = String(next);
      const ours = withoutKeyPrefix(keys.map(String), this.keyPrefix);
      if (ours.length > 0) yield ours;
    } while (cursor !== '0');
  }

  /** Closes what the store opened (the subscriber), leaves the client's tracking (the last store on it turns it off) and removes its listeners; the client stays open. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const trackingClosed = this.tracker?.close() ?? Promise.resolve();
    this.tracker = undefined;
    this.readyGate.close();
    this.client.off('error', this.onClientError);
    this.client.off('ready', this.onReady);
    this.client.off('reconnecting', this.onLost);
    this.client.off('end', this.onLost);
    await Promise.all([trackingClosed, this.subscriber.close()]);
  }
}

/**
 * RESP3 answers a sorted-set read WITHSCORES (ZRANGE, ZUNION, ZRANDMEMBER…) as [member, score]
 * pairs; RESP2, and so ioredis's `call`, as one flat list. Flattened, so replies have one shape
 * whatever the client's protocol (a RESP2 reply is flat already).
 */
function withScoresFlat(args: readonly NodeRedisArgument[], reply: unknown): unknown {
  if (!Array.isArray(reply) || !Array.isArray(reply[0])) return reply;
  if (!String(args[0]).toUpperCase().startsWith('Z') || !args.some((a) => typeof a === 'string' && a.toUpperCase() === 'WITHSCORES')) return reply;
  return (reply as unknown[][]).flat();
}

/** RESP3 doubles (ZSCORE…) as the text RESP2 sends, so replies match ioredis's `call` whatever the client's protocol. */
const RESP_DOUBLE = 44; // ,
const COMMAND_STRINGS: NodeRedisTypeMapping = { ...STRINGS, [RESP_DOUBLE]: String };
const COMMAND_BUFFERS: NodeRedisTypeMapping = { ...BUFFERS, [RESP_DOUBLE]: String };

/**
 * Runs a MULTI; a failed command inside it fails the whole, except those at `ignored` (CLIENT
 * CACHING, which fails only while tracking is being switched on). Resolves to every reply.
 */
async function execMulti(tx: NodeRedisMulti, ignored: readonly number[]): Promise<unknown[]> {
  try {
    return await tx.exec();
  } catch (err) {
    // node-redis rejects a MULTI with a failed command (MultiErrorReply) and keeps every reply.
    const multi = err as { replies?: unknown[]; errorIndexes?: number[] };
    if (!Array.isArray(multi.replies) || !Array.isArray(multi.errorIndexes)) throw err;
    const failed = multi.errorIndexes.filter((i) => !ignored.includes(i));
    if (failed.length > 0) throw multi.replies[failed[0]!];
    return multi.replies;
  }
}

function fromFlat(flat: readonly unknown[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[String(flat[i])] = String(flat[i + 1]);
  return out;
}

/**
 * A reply Redis gave to one command (WRONGTYPE and the like), as opposed to a connection or
 * deadline failure: node-redis's `ErrorReply`, told by its class name (node-redis is never
 * imported), as it sets no `name` of its own.
 */
function isReplyError(err: unknown): err is Error {
  if (!(err instanceof Error)) return false;
  let proto = Object.getPrototypeOf(err) as { constructor?: { name?: string } } | null;
  while (proto !== null && proto !== Error.prototype) {
    if (proto.constructor?.name === 'ErrorReply') return true;
    proto = Object.getPrototypeOf(proto) as typeof proto;
  }
  return false;
}

/** Turns a synchronous throw from the client into a rejection. */
function safeSend<T>(send: () => Promise<T>): Promise<T> {
  try {
    return send();
  } catch (e) {
    return Promise.reject(asStoreError('send', e));
  }
}

/**
 * The client object that owns the socket: node-redis's views of a client (`withTypeMapping`,
 * `withCommandOptions`) are objects of their own over the same connection, naming it `_self`.
 */
function socketOwner(client: NodeRedisConnection): object {
  const self = (client as { _self?: unknown })._self;
  return typeof self === 'object' && self !== null ? self : client;
}

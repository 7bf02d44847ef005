/**
 * The ioredis driver on Redis Cluster: the one-server driver (`RedisStore`) with what changes when
 * keys live on several masters.
 *
 * - Multi-key commands only take keys of one slot (else CROSSSLOT). Untracked reads go as one
 *   script per master (see `readNode`). Tracked reads (the per-tick MGET,
 *   `mget`) and deletes go as one command per slot, sent together: with auto-pipelining, which
 *   Trove turns on for a Cluster it creates, they leave as one write per node. Results come back
 *   in the order of the keys.
 * - A batch (`exec`) is one MULTI/EXEC per slot, sent together: atomic within each slot, not
 *   across slots (Redis Cluster has no cross-slot transaction). Each slot's writes apply all or
 *   none; when one slot fails, the others may have applied.
 * - Scripts touch an entry and its lock, which share a slot thanks to the key layout's hash tags.
 *   The generation and tag tables and the pub/sub channels are single keys. PUBLISH reaches every
 *   node, so one subscription (ioredis picks a node, and another one when it goes) hears all.
 *   When ioredis moves the subscription to another node, messages sent meanwhile are lost without
 *   a reset being reported (only a lost cluster connection is): missed invalidations are caught up
 *   by the periodic resync (`syncInterval`), and a missed notification by the waiter's timeout.
 * - SCAN walks every master.
 * - Tracking (the near cache) is per node: each master, and each replica read from, gets a tracked
 *   connection and a subscriber of its own, to which tracked reads and writes are routed by slot
 *   (see `ClusterReaders`). A failover, a slot move or a lost node empties the near cache until
 *   every reader is re-armed.
 * - `readFrom: 'replica'`: entry reads go to one replica of each shard, through those connections,
 *   falling back to the master (and the Cluster client) when it cannot serve.
 *
 * MOVED and ASK (a slot migrating, a failover) are followed by ioredis; every operation is still
 * bounded by the store's deadline.
 */
import calculateSlot from 'cluster-key-slot';
import type { Cluster, ClusterOptions, Redis } from 'ioredis';
import { reconnectDelay, silenceLimitMs } from './connection.js';
import { ConnectionWatch } from './connection-watch.js';
import { prefixPattern, withoutKeyPrefix } from './key-prefix.js';
import { defaultClientOptions, deleteEntriesBy, RedisStore, type RedisStoreOptions } from './redis-store.js';
import { StoreTimeoutError } from '../errors.js';
import { ClusterReaders } from './cluster-readers.js';
import { byBucket } from './field-batcher.js';
import type {
  FieldRef,
  FieldValue,
  FieldWriteOp,
  CommandCall,
  CountedFields,
  CountedHash,
  HashInit,
  StoreAndRelease,
  TrackingListener,
  WriteOp,
} from './store.js';
import type { PubSubConnection } from './subscriber.js';
import { DELETE_ENTRIES, NODE_MGET } from './scripts.js';
import { GetBatcher, promised } from './get-batcher.js';

/** Commands whose first argument is not a key (see the constructor of `ClusterStore`). */
const SCRIPT_COMMANDS = ['evalsha', 'eval'];

/**
 * Cluster options Trove uses when it creates the ioredis `Cluster` itself; `user` (the options
 * given next to `cluster`) override them.
 */
export function defaultClusterOptions(commandTimeoutMs: number, user: ClusterOptions): ClusterOptions {
  // Per node, the one-server defaults that apply to a node connection. Left to ioredis: its offline
  // queue (a node connects lazily, on its first command) and its retry strategy (none: a node that
  // is gone is replaced by a refresh of the slot map, not reconnected to forever).
  const {
    enableOfflineQueue: _queue,
    retryStrategy: _retry,
    lazyConnect: _lazy,
    enableAutoPipelining: _pipelining,
    ...node
  } = defaultClientOptions(commandTimeoutMs);
  return {
    // As on one server: commands fail fast while the cluster is not ready instead of queueing.
    enableOfflineQueue: false,
    // One MGET per slot: auto-pipelining sends a tick's commands as one write per node.
    enableAutoPipelining: true,
    clusterRetryStrategy: reconnectDelay,
    lazyConnect: false,
    ...user,
    redisOptions: { ...node, ...user.redisOptions },
  };
}

export interface ClusterStoreOptions extends RedisStoreOptions {
  /** `'replica'`: entry reads go to a replica of each shard (falling back to its master); default `'primary'`. */
  readFrom?: 'primary' | 'replica';
}

/** The ioredis driver on Redis Cluster (see the module comment). */
export class ClusterStore extends RedisStore<Cluster> {
  /** A script's keys must share a slot: each lock attempt and lock-holder write goes alone. */
  protected override get batchesLocks(): boolean {
    return false;
  }

  /** A Cluster routes each command by its keys, which ioredis finds among the arguments it builds. */
  protected override get writesOwnCommands(): boolean {
    return false;
  }

  override get hashTags(): boolean {
    return true;
  }

  /** Connections of its own to the nodes read from with tracking, or from replicas; undefined: everything goes through the Cluster client. */
  private readers: ClusterReaders | undefined;
  private trackingWanted = false;
  /** Whether untracked reads of several slots on one node go as one NODE_MGET (Redis 7+). */
  private nodeBatches = true;
  /** Per master address (`host:port`), the batch of untracked single-key reads for it (see `get`). */
  private readonly nodeBatchers = new Map<string, GetBatcher>();
  /** Node batches sent and not yet answered, over every node (see `get`). */
  private nodeReadsInFlight = 0;
  /** The Cluster client's node connections and their watches, when the store made the client (see `ConnectionWatch`). */
  private readonly nodeWatches = new Map<Redis, ConnectionWatch>();

  constructor(
    client: Cluster,
    private readonly clusterOpts: ClusterStoreOptions,
  ) {
    super(client, clusterOpts);
    if (clusterOpts.readFrom === 'replica') this.readers = this.openReaders(undefined);
    // ioredis gives a node connection up only when the kernel does, and a slot-map refresh keeps
    // one whose node still answers others: a node connection gone silent is dropped here, and the
    // Cluster opens a new one on its next command for that node.
    if (clusterOpts.owned) {
      client.on('+node', this.watchNode);
      client.on('-node', this.unwatchNode);
      for (const node of client.nodes('all')) this.watchNode(node);
    }
    // ioredis's auto-pipelining groups a command by the slot of its first argument, which for
    // EVALSHA and EVAL is the script, not a key: a script would join another node's pipeline and
    // fail it whole. Scripts are sent on their own, routed by their keys.
    const options = client.options;
    if (options.enableAutoPipelining) {
      const ignored = options.autoPipeliningIgnoredCommands ?? [];
      const missing = SCRIPT_COMMANDS.filter((c) => !ignored.includes(c));
      if (missing.length > 0) options.autoPipeliningIgnoredCommands = [...ignored, ...missing];
    }
  }

  /** A Cluster of its own for pub/sub, with the command Cluster's nodes and settings. */
  protected override openSubscriber(): PubSubConnection {
    return this.client.duplicate([], { enableOfflineQueue: true, enableAutoPipelining: false, lazyConnect: false, clusterRetryStrategy: reconnectDelay });
  }

  /**
   * Tracking on a cluster: each master (and replica read from) gets a tracked connection and a
   * subscriber of its own (see `ClusterReaders`); tracked reads and writes are routed to them.
   */
  override enableTracking(listener: TrackingListener): boolean {
    if (this.trackingWanted) return true;
    this.trackingWanted = true;
    // Readers opened for replica reads only are replaced by tracked ones.
    void this.readers?.close();
    this.readers = this.openReaders(listener);
    return true;
  }

  private openReaders(tracking: TrackingListener | undefined): ClusterReaders {
    const { commandTimeoutMs, trackingCheckIntervalMs, readFrom = 'primary' } = this.clusterOpts;
    return new ClusterReaders(this.client, {
      commandTimeoutMs,
      readFrom,
      tracking,
      ...(trackingCheckIntervalMs === undefined ? {} : { trackingCheckIntervalMs }),
    });
  }

  private readonly watchNode = (node: Redis): void => {
    if (!this.nodeWatches.has(node)) this.nodeWatches.set(node, new ConnectionWatch(node, silenceLimitMs(this.clusterOpts.commandTimeoutMs), this.onError));
  };

  private readonly unwatchNode = (node: Redis): void => {
    this.nodeWatches.get(node)?.stop();
    this.nodeWatches.delete(node);
  };

  override async close(): Promise<void> {
    this.client.off('+node', this.watchNode);
    this.client.off('-node', this.unwatchNode);
    for (const watch of this.nodeWatches.values()) watch.stop();
    this.nodeWatches.clear();
    const readers = this.readers;
    this.readers = undefined;
    await Promise.all([readers?.close(), super.close()]);
  }

  override get tracking(): boolean {
    return this.readers?.live ?? false;
  }

  protected override get trackingEnabled(): boolean {
    return this.trackingWanted;
  }

  override mget(keys: readonly string[], track = false): Promise<(Buffer | null)[]> {
    if (keys.length === 0) return Promise.resolve([]);
    return this.mgetNow([...keys], track);
  }

  protected override mgetNow(keys: string[], track: boolean): Promise<(Buffer | null)[]> {
    const tracked = track && this.trackingWanted;
    if (this.readers === undefined && this.nodeBatches) return this.run('get', () => this.mgetByNode(keys));
    return this.run('get', async () => {
      const out = new Array<Buffer | null>(keys.length);
      const fill = (at: readonly number[], values: readonly (Buffer | null)[]) => {
        for (let j = 0; j < at.length; j++) out[at[j]!] = values[j] ?? null;
      };
      const perSlot = (groups: readonly number[][]) => Promise.all(groups.map(async (at) => fill(at, await this.slotMget(at.map((i) => keys[i]!)))));
      const readerPerSlot = async (reader: RedisStore, groups: readonly number[][]): Promise<(Buffer | null)[]> => {
        await Promise.all(
          groups.map(async (at) => {
            const slotKeys = at.map((i) => keys[i]!);
            fill(
              at,
              await this.viaReader(
                () => reader.mget(slotKeys, tracked),
                () => this.slotMget(slotKeys),
              ),
            );
          }),
        );
        return groups.flat().map((i) => out[i] ?? null);
      };
      // By the reader each slot is read from (undefined: through the Cluster client, untracked).
      const byReader = new Map<RedisStore | undefined, number[][]>();
      for (const [slot, at] of this.slotGroups(keys)) {
        const reader = this.readers?.reader(slot, tracked);
        const groups = byReader.get(reader);
        if (groups === undefined) byReader.set(reader, [at]);
        else groups.push(at);
      }
      await Promise.all(
        [...byReader].map(async ([reader, groups]) => {
          if (reader === undefined) return perSlot(groups);
          if (groups.length > 1 && this.nodeBatches && !tracked) {
            // Keys of several slots on one node: one script (see `readNode`). Not for tracked
            // reads: Redis tracks the keys a script declares, not those it reads from its arguments.
            const at = groups.flat();
            return fill(
              at,
              await this.viaReader(
                () => reader.mgetScattered(at.map((i) => keys[i]!)).catch((err: unknown) => this.unlessUnsupported(err, () => readerPerSlot(reader, groups))),
                async () => {
                  await perSlot(groups);
                  return at.map((i) => out[i] ?? null);
                },
              ),
            );
          }
          return readerPerSlot(reader, groups);
        }),
      );
      return out;
    });
  }

  /**
   * A script taking keys of several slots fails on a server older than Redis 7 (scripts take no
   * flags): from then on such reads go per slot (`fallback`). Any other failure is the caller's.
   */
  private unlessUnsupported<T>(err: unknown, fallback: () => Promise<T>): Promise<T> {
    if (!this.noteUnsupported(err)) throw err;
    return fallback();
  }

  /** Whether `err` says the server takes no script flags (before Redis 7); if so, node batches stop. */
  private noteUnsupported(err: unknown): boolean {
    const unsupported = err instanceof Error && /compiling script|flag/i.test(err.message);
    if (unsupported) this.nodeBatches = false;
    return unsupported;
  }

  /**
   * A single-key read: untracked reads from the masters are batched per node (each node's batch
   * settles as soon as that node answers, not when the slowest of them has); the others go in the
   * store's one batch, split by slot (`mgetNow`).
   */
  override get(key: string, track = false): Promise<Buffer | null> {
    if (this.readers !== undefined || !this.nodeBatches) return super.get(key, track);
    const address = this.client.slots[this.slotOf(key)]?.[0];
    if (address === undefined) return super.get(key, track);
    let batcher = this.nodeBatchers.get(address);
    if (batcher === undefined) {
      batcher = new GetBatcher(
        promised(async (keys) => {
          this.nodeReadsInFlight++;
          try {
            return await this.run('get', () => this.readNode(address, keys));
          } finally {
            this.nodeReadsInFlight--;
          }
        }),
        () => this.nodeReadsInFlight > 0,
      );
      this.nodeBatchers.set(address, batcher);
    }
    return batcher.get(key);
  }

  /**
   * Untracked reads from the masters, one command per node (see `readNode`); results in the
   * order of the keys.
   */
  private async mgetByNode(keys: readonly string[]): Promise<(Buffer | null)[]> {
    const out = new Array<Buffer | null>(keys.length);
    const slotMap = this.client.slots;
    const byNode = new Map<string, number[]>();
    for (let i = 0; i < keys.length; i++) {
      const node = slotMap[this.slotOf(keys[i]!)]?.[0] ?? '';
      const at = byNode.get(node);
      if (at === undefined) byNode.set(node, [i]);
      else at.push(i);
    }
    await Promise.all(
      [...byNode].map(async ([address, at]) => {
        const values = await this.readNode(
          address,
          at.map((i) => keys[i]!),
        );
        for (let j = 0; j < at.length; j++) out[at[j]!] = values[j] ?? null;
      }),
    );
    return out;
  }

  /**
   * Reads keys that ioredis's slot map places on the master at `address`. A lone key goes as an
   * MGET through the Cluster client; several keys as one NODE_MGET script on that node's
   * connection: per-key hash tags put nearly every key in a slot of its own, so without it
   * a tick of 64 reads would cost 64 commands. When the map is behind (a slot moved, a failover)
   * the script fails whole and the keys go again as one MGET per slot through the Cluster client,
   * which follows the redirections.
   */
  private async readNode(address: string, keys: readonly string[]): Promise<(Buffer | null)[]> {
    // Several keys are nearly always of several slots: the script takes them whatever their slots.
    const connection = keys.length > 1 && this.nodeBatches ? this.masterConnection(address) : undefined;
    if (connection !== undefined) {
      try {
        return (await NODE_MGET.runBuffer(
          connection,
          [],
          keys.map((k) => this.keyPrefix + k),
        )) as (Buffer | null)[];
      } catch (err) {
        // Whatever the failure, these keys go per slot below; before Redis 7, from now on.
        this.noteUnsupported(err);
      }
    }
    const out = new Array<Buffer | null>(keys.length);
    await Promise.all(
      [...this.slotGroups(keys).values()].map(async (at) => {
        const values = await this.slotMget(at.map((i) => keys[i]!));
        for (let j = 0; j < at.length; j++) out[at[j]!] = values[j] ?? null;
      }),
    );
    return out;
  }

  /** MGET of keys of one slot through the Cluster client. */
  private slotMget(keys: readonly string[]): Promise<(Buffer | null)[]> {
    return afterRedirect(() => this.client.mgetBuffer(keys as string[]));
  }

  /** ioredis's connection to the master at `address` (`host:port`, as in its slot map). */
  private masterConnection(address: string): Redis | undefined {
    for (const node of this.client.nodes('master')) if (`${node.options.host}:${node.options.port}` === address) return node;
    return undefined;
  }

  override set(key: string, value: Buffer, ttlMs: number | undefined, track = false): Promise<void> {
    const reader = track ? this.readers?.master(this.slotOf(key)) : undefined;
    if (reader === undefined) return super.set(key, value, ttlMs, false);
    return this.run('set', () =>
      this.viaReader(
        () => reader.set(key, value, ttlMs, true),
        () => super.set(key, value, ttlMs, false),
      ),
    );
  }

  override expire(key: string, ttlMs: number, track = false): Promise<boolean> {
    const reader = track ? this.readers?.master(this.slotOf(key)) : undefined;
    if (reader === undefined) return super.expire(key, ttlMs, false);
    return this.run('expire', () =>
      this.viaReader(
        () => reader.expire(key, ttlMs, true),
        () => super.expire(key, ttlMs, false),
      ),
    );
  }

  override storeAndRelease(op: StoreAndRelease): Promise<boolean> {
    const reader = op.track === true ? this.readers?.master(this.slotOf(op.key)) : undefined;
    if (reader === undefined) return super.storeAndRelease({ ...op, track: false });
    return this.run('set', () =>
      this.viaReader(
        () => reader.storeAndRelease(op),
        () => super.storeAndRelease({ ...op, track: false }),
      ),
    );
  }

  /**
   * Messages reach a node's subscribers through the cluster bus, in no order with a PING of the
   * subscribed connection: this only lets in what has already been received.
   */
  override delivered(): Promise<void> {
    return new Promise((resolve) => setImmediate(resolve));
  }

  // The generation and tag tables are kept in memory: read on the tracked connection of their master.
  override hashGetAllCounted(key: string, init?: HashInit): Promise<CountedHash> {
    const reader = this.readers?.master(this.slotOf(key));
    if (reader === undefined) return super.hashGetAllCounted(key, init);
    return this.run('sync', () =>
      this.viaReader(
        () => reader.hashGetAllCounted(key, init),
        () => super.hashGetAllCounted(key, init),
      ),
    );
  }

  override hashGetCounted(key: string, fields: readonly string[], init: HashInit): Promise<CountedFields> {
    const reader = this.readers?.master(this.slotOf(key));
    if (reader === undefined) return super.hashGetCounted(key, fields, init);
    return this.run('sync', () =>
      this.viaReader(
        () => reader.hashGetCounted(key, fields, init),
        () => super.hashGetCounted(key, fields, init),
      ),
    );
  }

  /**
   * A cached command's keys share one slot (Redis refuses others with CROSSSLOT). Tracked, it goes
   * to the reader of that slot's master, as tracked reads do; else through the Cluster client.
   */
  override readCommand(call: CommandCall, track: boolean): Promise<unknown> {
    const first = call.keys[0];
    const reader = track && first !== undefined ? this.readers?.master(this.slotOf(first)) : undefined;
    if (reader === undefined) return super.readCommand(call, false);
    return this.run('cachedCommand', () =>
      this.viaReader(
        () => reader.readCommand(call, true),
        () => super.readCommand(call, false),
      ),
    );
  }

  /**
   * Runs an operation on a node's reader. When the reader fails for any reason but its deadline (a
   * MOVED or ASK reply after a slot moved, a demoted master, a lost connection), the slot map is
   * suspect: the near cache is emptied (nothing in flight is kept) and the operation is sent again
   * through the Cluster client, which follows redirections, untracked.
   */
  private async viaReader<T>(onReader: () => Promise<T>, onCluster: () => Promise<T>): Promise<T> {
    try {
      return await onReader();
    } catch (err) {
      if (err instanceof StoreTimeoutError || this.readers === undefined) throw err;
      this.readers.suspect();
      return onCluster();
    }
  }

  override delete(keys: readonly string[]): Promise<number> {
    if (keys.length === 0) return Promise.resolve(0);
    return this.run('delete', async () => {
      const counts = await Promise.all(this.bySlot(keys).map((at) => afterRedirect(() => this.client.unlink(at.map((i) => keys[i]!)))));
      return counts.reduce((a, b) => a + b, 0);
    });
  }

  override deleteEntries(keys: readonly string[]): Promise<number> {
    if (keys.length === 0) return Promise.resolve(0);
    return this.run('delete', async () => {
      const counts = await Promise.all(
        this.bySlot(keys).map((at) =>
          deleteEntriesBy(
            at.map((i) => keys[i]!),
            (chunk) => afterRedirect(() => DELETE_ENTRIES.run(this.client, chunk, [])),
          ),
        ),
      );
      return counts.reduce((a, b) => a + b, 0);
    });
  }

  /**
   * One MULTI/EXEC per slot, all sent at once: atomic per slot, not across slots. Tracked: each
   * slot's transaction goes to its master's reader, tracked there.
   */
  override exec(ops: readonly WriteOp[], track = false): Promise<void> {
    if (ops.length === 0) return Promise.resolve();
    return this.run('batch', async () => {
      const outcomes = await Promise.allSettled(
        this.bySlot(ops.map((op) => op.key)).map((at) => {
          const slotOps = at.map((i) => ops[i]!);
          const reader = track ? this.readers?.master(this.slotOf(slotOps[0]!.key)) : undefined;
          if (reader === undefined) return this.execMulti(slotOps);
          return this.viaReader(
            () => reader.exec(slotOps, true),
            () => this.execMulti(slotOps),
          );
        }),
      );
      // Every slot's transaction has settled before the batch answers, so a failure says it all.
      for (const o of outcomes) if (o.status === 'rejected') throw o.reason;
    });
  }

  /**
   * Field reads (hash storage): each bucket is one key, so one HMGET per bucket through the
   * Cluster client (auto-pipelined: one write per node); tracked, or from replicas, through the
   * reader of the bucket's slot, like entry reads.
   */
  protected override fieldReadNow(refs: readonly FieldRef[], track: boolean): Promise<FieldValue[]> {
    const tracked = track && this.trackingWanted;
    if (this.readers === undefined) return super.fieldReadNow(refs, false);
    return this.run('get', async () => {
      const out = new Array<FieldValue>(refs.length);
      const byReader = new Map<RedisStore | undefined, number[]>();
      for (const [bucket, at] of byBucket(refs)) {
        const reader = this.readers?.reader(this.slotOf(bucket), tracked);
        const list = byReader.get(reader);
        if (list === undefined) byReader.set(reader, [...at]);
        else list.push(...at);
      }
      await Promise.all(
        [...byReader].map(async ([reader, at]) => {
          const sub = at.map((i) => refs[i]!);
          const values =
            reader === undefined
              ? await super.fieldReadNow(sub, false)
              : await this.viaReader(
                  () => reader.fieldGetMany(sub, tracked),
                  () => super.fieldReadNow(sub, false),
                );
          for (let j = 0; j < at.length; j++) out[at[j]!] = values[j] ?? null;
        }),
      );
      return out;
    });
  }

  /** Field writes: one script per slot (each bucket's hash tag is its own), sent together; atomic per bucket. */
  protected override async fieldWriteNow(ops: readonly FieldWriteOp[]): Promise<number> {
    const groups = this.bySlot(ops.map((op) => op.bucket));
    if (groups.length === 1) return super.fieldWriteNow(ops);
    const outcomes = await Promise.allSettled(groups.map((at) => super.fieldWriteNow(at.map((i) => ops[i]!))));
    let deleted = 0;
    for (const o of outcomes) {
      if (o.status === 'rejected') throw o.reason;
      deleted += o.value;
    }
    return deleted;
  }

  /** Walks every master in turn (replicas hold copies). A master that takes over during the walk may be missed. */
  override async *scanPrefix(prefix: string, count = 500): AsyncIterable<string[]> {
    const pattern = prefixPattern(this.keyPrefix + prefix);
    const masters = await this.run('scan', () => Promise.resolve(this.client.nodes('master')));
    for (const node of masters) {
      let cursor = '0';
      do {
        const [next, keys] = await this.run('scan', () => node.scan(cursor, 'MATCH', pattern, 'COUNT', count));
        cursor = next;
        const ours = withoutKeyPrefix(keys, this.keyPrefix);
        if (ours.length > 0) yield ours;
      } while (cursor !== '0');
    }
  }

  private slotOf(key: string): number {
    return calculateSlot(this.keyPrefix + key);
  }

  /** Indexes of `keys` grouped by slot, in order of first appearance, each group in key order. */
  private bySlot(keys: readonly string[]): number[][] {
    return [...this.slotGroups(keys).values()];
  }

  /** Indexes of `keys` by slot, in order of first appearance, each group in key order. */
  private slotGroups(keys: readonly string[]): Map<number, number[]> {
    const groups = new Map<number, number[]>();
    const prefix = this.keyPrefix;
    for (let i = 0; i < keys.length; i++) {
      const slot = calculateSlot(prefix + keys[i]!);
      const group = groups.get(slot);
      if (group === undefined) groups.set(slot, [i]);
      else group.push(i);
    }
    return groups;
  }
}

/**
 * ioredis's auto-pipelining sends a tick's commands for a node as one pipeline; when one of them
 * is redirected (MOVED, after a slot moved), ioredis updates its slot map but fails the whole
 * pipeline if it holds keys of several slots. Sent once more, each command goes where the updated
 * map says.
 */
async function afterRedirect<T>(send: () => Promise<T>): Promise<T> {
  try {
    return await send();
  } catch (err) {
    if (err instanceof Error && err.message.includes('should belong to the same slot')) return send();
    throw err;
  }
}

/**
 * The ioredis driver on Redis Cluster: the one-server driver (`RedisStore`) with what changes when
 * keys live on several masters.
 *
 * - Multi-key commands only take keys of one slot (else CROSSSLOT). Reads (the per-tick MGET,
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
 * - No CLIENT TRACKING yet: `enableTracking` answers false, so a trove on a cluster runs without a
 *   near cache. Invalidations are per node on a cluster (each master announces its own keys), which
 *   needs one tracked connection and one redirect target per node.
 *
 * MOVED and ASK (a slot migrating, a failover) are followed by ioredis; every operation is still
 * bounded by the store's deadline.
 */
import calculateSlot from 'cluster-key-slot';
import type { Cluster, ClusterOptions } from 'ioredis';
import { reconnectDelay } from './connection.js';
import { prefixPattern, withoutKeyPrefix } from './key-prefix.js';
import { defaultClientOptions, RedisStore, type RedisStoreOptions } from './redis-store.js';
import type { TrackingListener, WriteOp } from './store.js';
import type { PubSubConnection } from './subscriber.js';

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

/** The ioredis driver on Redis Cluster (see the module comment). */
export class ClusterStore extends RedisStore<Cluster> {
  override get hashTags(): boolean {
    return true;
  }

  constructor(client: Cluster, opts: RedisStoreOptions) {
    super(client, opts);
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

  /** Not on a cluster yet: a trove then runs without a near cache. */
  override enableTracking(_listener: TrackingListener): boolean {
    return false;
  }

  override get tracking(): boolean {
    return false;
  }

  override mget(keys: readonly string[], _track = false): Promise<(Buffer | null)[]> {
    if (keys.length === 0) return Promise.resolve([]);
    return this.mgetNow([...keys], false);
  }

  protected override mgetNow(keys: string[], _track: boolean): Promise<(Buffer | null)[]> {
    return this.run('get', async () => {
      const groups = this.bySlot(keys);
      if (groups.length === 1) return this.client.mgetBuffer(keys);
      const out = new Array<Buffer | null>(keys.length);
      await Promise.all(
        groups.map(async (at) => {
          const values = await this.client.mgetBuffer(at.map((i) => keys[i]!));
          for (let j = 0; j < at.length; j++) out[at[j]!] = values[j] ?? null;
        }),
      );
      return out;
    });
  }

  override delete(keys: readonly string[]): Promise<number> {
    if (keys.length === 0) return Promise.resolve(0);
    return this.run('delete', async () => {
      const counts = await Promise.all(this.bySlot(keys).map((at) => this.client.unlink(at.map((i) => keys[i]!))));
      return counts.reduce((a, b) => a + b, 0);
    });
  }

  /** One MULTI/EXEC per slot, all sent at once: atomic per slot, not across slots. */
  override exec(ops: readonly WriteOp[], _track = false): Promise<void> {
    if (ops.length === 0) return Promise.resolve();
    return this.run('batch', async () => {
      const outcomes = await Promise.allSettled(this.bySlot(ops.map((op) => op.key)).map((at) => this.execMulti(at.map((i) => ops[i]!))));
      // Every slot's transaction has settled before the batch answers, so a failure says it all.
      for (const o of outcomes) if (o.status === 'rejected') throw o.reason;
    });
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

  /** Indexes of `keys` grouped by slot, in order of first appearance, each group in key order. */
  private bySlot(keys: readonly string[]): number[][] {
    const groups = new Map<number, number[]>();
    const prefix = this.keyPrefix;
    for (let i = 0; i < keys.length; i++) {
      const slot = calculateSlot(prefix + keys[i]!);
      const group = groups.get(slot);
      if (group === undefined) groups.set(slot, [i]);
      else group.push(i);
    }
    return [...groups.values()];
  }
}

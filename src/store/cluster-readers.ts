/**
 * Connections of its own to each cluster node that Trove reads from with tracking (or from a
 * replica), for the near cache on Redis Cluster.
 *
 * CLIENT TRACKING is per server: a key is announced by the node that served the tracked read, to a
 * subscriber on that same node. ioredis's Cluster hides its node connections and may replace them
 * at any time, so each node read from gets a `RedisStore` here (a command connection with tracking
 * and a REDIRECT subscriber on that node), and tracked reads and writes are routed to it by slot.
 *
 * Routing follows a snapshot of the slot map taken from ioredis at each `sync()`, never ioredis's
 * live map (which a MOVED reply changes before the readers can follow). A node that answers for a
 * slot it no longer serves (MOVED, ASK, a demoted master) or fails otherwise makes the caller call
 * `suspect()`: the near cache is emptied and stays off until the slot map has been read again and
 * every reader re-armed. A failover, a slot that moved or a node that was added or removed changes
 * the snapshot, and does the same. Emptying everything on such a change is coarse, but topology
 * changes are rare and a precise per-node drop would need to know which node served each entry.
 */
import type { Cluster } from 'ioredis';
import { Redis } from 'ioredis';
import { reconnectDelay } from './connection.js';
import { defaultClientOptions, RedisStore } from './redis-store.js';
import type { TrackingListener } from './store.js';
import { TrackingGroup } from './tracking-group.js';

const SLOTS = 16_384;
/**
 * How soon the slot map is read again while the group is down (a node gone, a reader re-arming),
 * in ms: doubling from the first to the last while it stays down.
 */
const REPAIR_FIRST_MS = 250;
const REPAIR_LAST_MS = 4_000;
/**
 * How often the slot map is read again when reading from replicas, in ms. Nothing redirects a read
 * to a replica that joined (or to one that Redis lists only once it has replicated something), so
 * without it new replicas would not be used until the next topology change.
 */
const REPLICA_REFRESH_MS = 5_000;

export interface ClusterReadersOptions {
  commandTimeoutMs: number;
  trackingCheckIntervalMs?: number;
  /** `'replica'`: entry reads go to one replica of each shard, falling back to its master. */
  readFrom: 'primary' | 'replica';
  /** Receives the merged invalidations of every reader; undefined: no tracking (replica reads only). */
  tracking: TrackingListener | undefined;
}

interface Reader {
  readonly id: string;
  readonly store: RedisStore;
}

export class ClusterReaders {
  private readonly readers = new Map<string, Reader>();
  /** Per slot, the id of the master's reader and of the replica's reader read from (snapshot of the last sync). */
  private masterOf: (string | undefined)[] = [];
  private replicaOf: (string | undefined)[] = [];
  private readonly group: TrackingGroup | undefined;
  /** A required member of the group that is live only while the snapshot is believed current. */
  private readonly slotMap: TrackingListener | undefined;
  private repairTimer: NodeJS.Timeout | undefined;
  private repairDelayMs = REPAIR_FIRST_MS;
  private readonly refreshTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Spreads processes over a shard's replicas while keeping each process on one. */
  private readonly seed = Math.floor(Math.random() * 1_000);

  constructor(
    private readonly cluster: Cluster,
    private readonly opts: ClusterReadersOptions,
  ) {
    const listener = opts.tracking;
    if (listener !== undefined) {
      this.group = new TrackingGroup({
        onInvalidate: (keys) => listener.onInvalidate(keys),
        onTrackingChange: (live) => {
          listener.onTrackingChange(live);
          if (live) this.repairDelayMs = REPAIR_FIRST_MS;
          else this.scheduleRepair();
        },
      });
      this.slotMap = this.group.add('slot-map');
    }
    cluster.on('refresh', this.onRefresh);
    cluster.on('ready', this.onRefresh);
    if (opts.readFrom === 'replica') {
      this.refreshTimer = setInterval(() => {
        if (cluster.status === 'ready') cluster.refreshSlotsCache();
      }, REPLICA_REFRESH_MS);
      this.refreshTimer.unref();
    }
    this.sync();
  }

  /** Whether tracked reads and writes can be routed to readers now (every master's reader is live). */
  get live(): boolean {
    return this.group?.live ?? false;
  }

  /** The reader of the master serving `slot` (tracked writes, tables, scripts), when tracking is live. */
  master(slot: number): RedisStore | undefined {
    if (!this.live) return undefined;
    const id = this.masterOf[slot];
    return id === undefined ? undefined : this.readers.get(id)?.store;
  }

  /**
   * Where to read `slot` from: its replica's reader when reading from replicas and that reader can
   * serve (connected; tracking live when `tracked`), else, for a tracked read, its master's
   * reader; undefined: read through the Cluster client (untracked).
   */
  reader(slot: number, tracked: boolean): RedisStore | undefined {
    if (tracked && !this.live) return undefined;
    const replicaId = this.replicaOf[slot];
    if (replicaId !== undefined) {
      const r = this.readers.get(replicaId);
      if (r !== undefined && r.store.client.status === 'ready' && (!tracked || this.group?.memberLive(replicaId) === true)) return r.store;
    }
    return tracked ? this.master(slot) : undefined;
  }

  /**
   * A reader failed for a reason other than its deadline (MOVED, ASK, a demoted master, a lost
   * connection): the snapshot may be out of date. Nothing kept may be trusted until it is read
   * again and every reader re-armed.
   */
  suspect(): void {
    if (this.closed) return;
    this.slotMap?.onTrackingChange(false);
    this.scheduleRepair();
  }

  private readonly onRefresh = (): void => {
    this.sync();
  };

  /** Takes a new snapshot of the slot map and opens and closes readers to match; true when complete. */
  sync(): boolean {
    if (this.closed || this.cluster.status !== 'ready') return false;
    const slots = this.cluster.slots;
    const masterOf = new Array<string | undefined>(SLOTS);
    const replicaOf = new Array<string | undefined>(SLOTS);
    for (let s = 0; s < SLOTS; s++) {
      const nodes = slots[s];
      const master = nodes?.[0];
      // A slot without an owner (the map is being rebuilt): try again later.
      if (master === undefined) {
        this.scheduleRepair();
        return false;
      }
      if (this.group !== undefined) masterOf[s] = `master ${master}`;
      if (this.opts.readFrom === 'replica' && nodes!.length > 1) {
        const replicas = nodes!.slice(1).sort();
        replicaOf[s] = `replica ${replicas[this.seed % replicas.length]!}`;
      }
    }
    const changed = !sameArray(masterOf, this.masterOf) || !sameArray(replicaOf, this.replicaOf);
    if (changed) {
      const wanted = new Set<string>();
      for (const id of masterOf) if (id !== undefined) wanted.add(id);
      for (const id of replicaOf) if (id !== undefined) wanted.add(id);
      // A reader whose node left (or changed role) no longer sees changes of its keys.
      for (const [id, reader] of this.readers) {
        if (wanted.has(id)) continue;
        this.readers.delete(id);
        this.group?.remove(id);
        void reader.store.close();
      }
      this.masterOf = masterOf;
      this.replicaOf = replicaOf;
      for (const id of wanted) if (!this.readers.has(id)) this.open(id);
      // Slots may have moved between readers that stay: start over all the same.
      this.group?.restart();
    }
    this.slotMap?.onTrackingChange(true);
    return true;
  }

  private open(id: string): void {
    const [role, address] = id.split(' ') as ['master' | 'replica', string];
    const at = address.lastIndexOf(':');
    const client = new Redis({
      ...defaultClientOptions(this.opts.commandTimeoutMs),
      ...this.cluster.options.redisOptions,
      host: address.slice(0, at),
      port: Number(address.slice(at + 1)),
      keyPrefix: this.cluster.options.keyPrefix,
      // A replica serves reads of its shard only after READONLY, which ioredis sends on connect.
      readOnly: role === 'replica',
      // Commands leave in order (tracking needs `CLIENT CACHING yes` right before its read) and
      // fail fast while the node is away.
      enableAutoPipelining: false,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: reconnectDelay,
      lazyConnect: false,
    });
    const store = new RedisStore(client, {
      commandTimeoutMs: this.opts.commandTimeoutMs,
      owned: true,
      nodeOfCluster: true,
      ...(this.opts.trackingCheckIntervalMs === undefined ? {} : { trackingCheckIntervalMs: this.opts.trackingCheckIntervalMs }),
      // No listener: the Cluster client reports the same outages; a reader that cannot track
      // shows as the near cache not being live.
    });
    if (this.group !== undefined) store.enableTracking(this.group.add(id, role === 'master'));
    this.readers.set(id, { id, store });
  }

  /** While the group is down, reads the slot map again every little while until it is back. */
  private scheduleRepair(): void {
    if (this.closed || this.repairTimer !== undefined) return;
    this.repairTimer = setTimeout(() => {
      this.repairTimer = undefined;
      if (this.closed) return;
      this.cluster.refreshSlotsCache((err?: Error | null) => {
        if (err) this.scheduleRepair();
        else this.sync();
        // Readers that are re-arming come back by themselves; keep checking until they have.
        if (this.group !== undefined && !this.group.live) this.scheduleRepair();
      });
    }, this.repairDelayMs);
    this.repairDelayMs = Math.min(this.repairDelayMs * 2, REPAIR_LAST_MS);
    this.repairTimer.unref();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.repairTimer);
    clearInterval(this.refreshTimer);
    this.group?.close();
    this.cluster.off('refresh', this.onRefresh);
    this.cluster.off('ready', this.onRefresh);
    const stores = [...this.readers.values()].map((r) => r.store);
    this.readers.clear();
    await Promise.all(stores.map((s) => s.close()));
  }
}

function sameArray(a: readonly (string | undefined)[], b: readonly (string | undefined)[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

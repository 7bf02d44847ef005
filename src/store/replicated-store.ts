/**
 * One primary with read replicas (`readFrom: 'replica'`): the replicas listed in `replicas`, or the
 * one Sentinel names. What goes where:
 *
 * - Entry reads (`get`, `mget`, the per-tick MGET batch, tracked or not) go to a replica, each
 *   batch whole to one replica, picked round robin among the usable ones.
 * - Everything else stays on the primary, through the `RedisStore` this class extends: writes,
 *   deletes, batches, locks and the reads made with them, scripts, the generation and tag tables
 *   (read and written), pub/sub, SCAN. A replica may lag, and these must see the latest state.
 *
 * Each replica is a `RedisStore` of its own (its own connection) with tracking enabled, so a read
 * kept in the near cache is tracked on the replica that served it, and announced by that replica
 * (through its own REDIRECT subscriber, on that replica) when the write reaches it through
 * replication. A `TrackingGroup` merges the channels: the primary is a required member (the
 * tables and tracked writes are tracked there), each replica an optional one. A tracked read goes
 * to a replica only while that replica's channel is live, else to the primary, tracked there. A
 * replica whose channel is lost, or that stops being usable, restarts the group: the near cache
 * drops everything and keeps nothing read before, so no value read from it outlives its channel.
 *
 * A replica is usable while its connection is ready and its last check passed. The primary and
 * every connected replica are asked `ROLE` every `trackingCheckIntervalMs` (1 s by default), when
 * a replica (re)connects, and 200 ms later while one is linked but not usable yet. A replica
 * passes when it is a replica, linked to its primary, and has applied everything the primary
 * reported an interval earlier or more (100 ms, to become usable after a connect), counting only
 * what the primary reported after the replica was first seen linked. So a usable replica is at
 * most about two intervals behind, and one whose replication stalls is no longer read from. A
 * replica read that fails (at once when not connected; past its deadline when it does not answer)
 * makes it unusable too, and is retried on the primary. The replica's attempt gets half of
 * `commandTimeoutMs` and the whole read is bounded by `commandTimeoutMs`: a dead replica costs a
 * read at most its deadline, never a failure of its own. A replica becoming unusable is reported
 * once (to `onReplicaError`, not as a failure of the store's own connection), not again until it
 * has been usable again; one still catching up after it connected is not reported for that.
 *
 * Through Sentinel, the replica connection asks Sentinel for a replica (ioredis's `role: 'slave'`,
 * following failovers like the primary's connection). Sentinel may name another replica on each
 * connect, but CLIENT TRACKING's REDIRECT names a client id of the server it runs on: the
 * subscriber must reach the same replica as the command connection. The subscriber is opened once
 * the command connection has connected, and both prefer the replica the command connection last
 * picked. Tracking on the replica counts as live only while both are connected to the same
 * address; a subscriber found elsewhere (at each check) reconnects.
 */
import { performance } from 'node:perf_hooks';
import { Redis, type RedisOptions } from 'ioredis';
import { StoreError } from '../errors.js';
import { withDeadline } from './deadline.js';
import { defaultClientOptions, RedisStore, type RedisStoreOptions } from './redis-store.js';
import type { TrackingListener } from './store.js';
import { type PubSubConnection, pubSubDuplicate } from './subscriber.js';
import { TrackingGroup } from './tracking-group.js';

/** The primary's id in the tracking group. */
const PRIMARY = 'primary';

/** A replica as Sentinel describes it (the records `preferredSlaves` chooses among). */
type SentinelReplica = { ip: string; port: string; flags?: string };
type ReplicaChooser = (available: SentinelReplica[]) => SentinelReplica | null;

/** A connection to a replica, owned by the store. */
export interface ReplicaConnection {
  client: Redis;
  /** How error messages name it: its address (`127.0.0.1:6380`), or where it comes from (then with its current address). */
  label: string;
  /** Through Sentinel: how the subscriber picks its replica (the one the command connection is on). */
  follow?: ReplicaChooser;
}

/**
 * The settings of the primary that replica connections share: the data they read (`keyPrefix`,
 * `db`) and the credentials and TLS the servers of a deployment usually share. A replica URL that
 * sets one of them wins.
 */
const SHARED = ['keyPrefix', 'db', 'username', 'password', 'tls'] as const;

/** Connections to the replicas at `urls`, with Trove's connection settings and the primary's shared ones (`primary`: its ioredis options). */
export function replicaConnections(urls: readonly string[], primary: RedisOptions, commandTimeoutMs: number): ReplicaConnection[] {
  const shared: RedisOptions = {};
  for (const name of SHARED) if (primary[name] !== undefined) (shared as Record<string, unknown>)[name] = primary[name];
  return urls.map((url) => {
    const { hostname, port } = new URL(url);
    // The URL's fields come first in ioredis: what it sets wins over these.
    return { client: new Redis(url, { ...defaultClientOptions(commandTimeoutMs), ...shared }), label: `${hostname}:${port || 6379}` };
  });
}

/**
 * A connection to one of the replicas Sentinel names for `primary` (ioredis options with
 * `sentinels` and `name`, as the primary's connection was made). `preferredSlaves` chooses among
 * them as in ioredis; the choice then sticks while Sentinel lists it as available.
 */
export function sentinelReplicaConnection(primary: RedisOptions): ReplicaConnection {
  let pinned: string | undefined;
  const find = (available: SentinelReplica[]) => available.find((r) => `${r.ip}:${r.port}` === pinned);
  const choose: ReplicaChooser = (available) => {
    const replica = find(available) ?? pick(available, primary.preferredSlaves);
    pinned = replica === null ? undefined : `${replica.ip}:${replica.port}`;
    return replica;
  };
  // The subscriber never moves the pin: it goes where the command connection went.
  const follow: ReplicaChooser = (available) => find(available) ?? pick(available, primary.preferredSlaves);
  const client = new Redis({ ...primary, role: 'slave', preferredSlaves: choose as RedisOptions['preferredSlaves'] });
  return { client, label: `named by Sentinel for '${primary.name}'`, follow };
}

/** ioredis's choice among available replicas: `preferred` (a function, or addresses by priority), else one at random. */
function pick(available: SentinelReplica[], preferred: RedisOptions['preferredSlaves']): SentinelReplica | null {
  if (available.length === 0) return null;
  if (typeof preferred === 'function') {
    const chosen = (preferred as unknown as ReplicaChooser)(available);
    if (chosen) return chosen;
  } else if (preferred) {
    const ranked = (Array.isArray(preferred) ? [...preferred] : [preferred]).sort((a, b) => (a.prio ?? 1) - (b.prio ?? 1));
    for (const p of ranked) {
      const found = available.find((r) => r.ip === p.ip && String(r.port) === String(p.port));
      if (found) return found;
    }
  }
  return available[Math.floor(Math.random() * available.length)]!;
}

/** A replica's store: a `RedisStore` that can tell whether its subscriber reached the same server as its command connection. */
class ReplicaStore extends RedisStore {
  private sub: Redis | undefined;

  constructor(
    client: Redis,
    opts: RedisStoreOptions,
    private readonly follow: ReplicaChooser | undefined,
  ) {
    super(client, opts);
  }

  protected override openSubscriber(): PubSubConnection {
    const sub = pubSubDuplicate(this.client);
    // Read when the connection asks Sentinel, after this returns (the connector shares the options object).
    if (this.follow !== undefined) sub.options.preferredSlaves = this.follow as RedisOptions['preferredSlaves'];
    this.sub = sub;
    return sub;
  }

  /** Whether the command connection and the subscriber are connected to the same address. */
  get paired(): boolean {
    const a = this.client.stream;
    const b = this.sub?.stream;
    return a?.remoteAddress !== undefined && a.remoteAddress === b?.remoteAddress && a.remotePort === b?.remotePort;
  }

  /** Reconnects the subscriber when it is connected elsewhere than the command connection (through Sentinel: it then follows it). */
  repair(): void {
    if (this.sub?.status === 'ready' && this.client.status === 'ready' && !this.paired) this.sub.disconnect(true);
  }

  /** The address the command connection is connected to, if any. */
  get address(): string | undefined {
    const s = this.client.stream;
    return s?.remoteAddress === undefined ? undefined : `${s.remoteAddress}:${s.remotePort}`;
  }
}

interface Replica {
  readonly id: string;
  readonly label: string;
  readonly store: ReplicaStore;
  /** Usable for reads: connected, and the last check passed. */
  up: boolean;
  /** Its current outage was reported already. */
  reported: boolean;
  /**
   * When (performance.now()) a check first found it linked to its primary since it last
   * (re)connected or failed a check; undefined until then. It passes only against an offset the
   * primary reported after that: a replica that has just loaded a full sync holds back the writes
   * made meanwhile until it acknowledges the load (up to a second later), looking in sync but frozen.
   */
  linkedAt: number | undefined;
  /** Counts (re)connects and disconnects: a check that spans one says nothing of the new connection. */
  connection: number;
  /** Whether it has been usable since it (re)connected: before, being behind is catching up, not an outage. */
  usedSinceConnect: boolean;
}

/** A replication offset the primary reported, and when it was asked (performance.now()). */
interface PrimaryOffset {
  readonly at: number;
  readonly offset: number;
}

/**
 * How soon a replica that is linked but not usable yet (just connected, or catching up) is
 * checked again, in ms; half of it is how far behind the primary it may be to become usable.
 */
const CONFIRM_MS = 200;

/** A primary whose entry reads go to replicas (see the module comment). */
export class ReplicatedStore extends RedisStore {
  private readonly replicas: Replica[];
  private group: TrackingGroup | undefined;
  /** Round robin position. */
  private next = 0;
  private readonly timer: NodeJS.Timeout;
  private checking = false;
  private confirmTimer: NodeJS.Timeout | undefined;
  private readonly intervalMs: number;
  /** Recent replication offsets of the primary, oldest first. */
  private readonly offsets: PrimaryOffset[] = [];
  private readonly timeoutMs: number;
  /** The deadline of a replica's attempt (and of its checks): half of the whole read's. */
  private readonly replicaTimeoutMs: number;
  private closing = false;

  /** `onReplicaError`: a replica became unusable (reported once per outage). */
  constructor(
    client: Redis,
    opts: RedisStoreOptions,
    replicas: readonly ReplicaConnection[],
    private readonly onReplicaError: (error: Error) => void,
  ) {
    super(client, opts);
    this.timeoutMs = opts.commandTimeoutMs;
    this.replicaTimeoutMs = Math.max(1, Math.floor(opts.commandTimeoutMs / 2));
    this.intervalMs = opts.trackingCheckIntervalMs ?? 1_000;
    this.replicas = replicas.map((c, i) => {
      const replica: Replica = {
        id: `replica ${i}`,
        label: c.label,
        store: new ReplicaStore(
          c.client,
          {
            commandTimeoutMs: this.replicaTimeoutMs,
            owned: true,
            ...(opts.trackingCheckIntervalMs === undefined ? {} : { trackingCheckIntervalMs: opts.trackingCheckIntervalMs }),
            listener: { onConnectionError: (err) => this.down(replica, err) },
          },
          c.follow,
        ),
        up: false,
        reported: false,
        linkedAt: undefined,
        connection: 0,
        usedSinceConnect: false,
      };
      const reconnected = () => {
        replica.connection++;
        replica.linkedAt = undefined;
        replica.usedSinceConnect = false;
      };
      c.client.on('ready', () => {
        reconnected();
        this.check();
      });
      c.client.on('close', () => {
        reconnected();
        this.down(replica, new StoreError('connection closed'));
      });
      return replica;
    });
    this.timer = setInterval(() => this.check(), this.intervalMs);
    this.timer.unref();
  }

  override get tracking(): boolean {
    return this.group?.live ?? false;
  }

  override enableTracking(listener: TrackingListener): boolean {
    if (this.group !== undefined) return true;
    const group = new TrackingGroup(listener);
    this.group = group;
    super.enableTracking(group.add(PRIMARY));
    for (const r of this.replicas) {
      const member = group.add(r.id, false);
      const enable = () =>
        !this.closing &&
        r.store.enableTracking({
          onInvalidate: (keys) => member.onInvalidate(keys),
          onTrackingChange: (live) => {
            // A REDIRECT to a client id of another server announces nothing to us: not live until paired.
            if (live && !r.store.paired) {
              r.store.repair();
              return;
            }
            member.onTrackingChange(live);
          },
        });
      // Through Sentinel, the subscriber (opened by enableTracking) goes where the command
      // connection went: it must have connected first.
      if (r.store.client.status === 'ready') enable();
      else r.store.client.once('ready', enable);
    }
    return true;
  }

  protected override mgetNow(keys: string[], track: boolean): Promise<(Buffer | null)[]> {
    const tracked = track && this.trackingEnabled;
    const replica = this.pick(tracked);
    if (replica === undefined) return super.mgetNow(keys, track);
    const read = replica.store.mget(keys, tracked).catch((err: unknown) => {
      this.down(replica, err);
      return super.mgetNow(keys, track);
    });
    return withDeadline('get', this.timeoutMs, read);
  }

  /** The next usable replica, round robin; for a tracked read, only one whose channel is live. */
  private pick(tracked: boolean): Replica | undefined {
    const n = this.replicas.length;
    for (let i = 0; i < n; i++) {
      const at = (this.next + i) % n;
      const r = this.replicas[at]!;
      if (!r.up || r.store.client.status !== 'ready') continue;
      if (tracked && this.group?.memberLive(r.id) !== true) continue;
      this.next = (at + 1) % n;
      return r;
    }
    return undefined;
  }

  private check(): void {
    this.checkAll().catch((err: unknown) => this.onReplicaError(asError(err)));
  }

  /**
   * Asks the primary and every connected replica `ROLE` at once, and judges each replica (see
   * `judge`). A replica that is linked but not usable yet is checked again soon.
   */
  private async checkAll(): Promise<void> {
    if (this.closing || this.checking) return;
    this.checking = true;
    try {
      // Everything is asked in this one step: the time of all the questions.
      const askedAt = performance.now();
      const primary =
        this.client.status === 'ready'
          ? withDeadline('role', this.replicaTimeoutMs, this.client.call('ROLE')).then(masterOffset, () => undefined)
          : Promise.resolve(undefined);
      const asked = this.replicas.map((r) => ({
        connection: r.connection,
        reply: r.store.client.status === 'ready' ? withDeadline('role', this.replicaTimeoutMs, r.store.client.call('ROLE')).catch(asError) : undefined,
      }));
      const offset = await primary;
      if (offset !== undefined) this.recordOffset(askedAt, offset);
      let soon = false;
      for (const [i, { connection, reply }] of asked.entries()) {
        const r = this.replicas[i]!;
        if (reply === undefined) continue;
        const answer = await reply;
        if (this.closing) return;
        // The connection it was asked on is gone: the answer says nothing of the new one.
        if (r.connection !== connection) continue;
        this.judge(r, answer, askedAt);
        if (!r.up && r.linkedAt !== undefined) soon = true;
      }
      if (soon && this.confirmTimer === undefined) {
        this.confirmTimer = setTimeout(() => {
          this.confirmTimer = undefined;
          this.check();
        }, CONFIRM_MS);
        this.confirmTimer.unref();
      }
    } finally {
      this.checking = false;
    }
  }

  private recordOffset(at: number, offset: number): void {
    this.offsets.push({ at, offset });
    // Kept while a newer one is not old enough to judge by (see `judge`).
    const horizon = at - 3 * Math.max(this.intervalMs, CONFIRM_MS);
    while (this.offsets.length > 2 && this.offsets[1]!.at < horizon) this.offsets.shift();
  }

  /**
   * Judges a replica by its `ROLE` reply (or failure), asked at `askedAt`. It passes when it is a
   * replica linked to its primary that has applied what the primary had some time before: an
   * interval or more before (one used since it connected: a usable replica is at most about two
   * intervals behind), or half of CONFIRM_MS before (one catching up after a connect, which is
   * not reported as lagging), and not before it was first seen linked (see `linkedAt`). Without
   * such an offset yet it keeps its state.
   */
  private judge(r: Replica, reply: unknown, askedAt: number): void {
    if (reply instanceof Error) {
      r.linkedAt = undefined;
      this.down(r, reply);
      return;
    }
    // Either connection may have reconnected to another replica that Sentinel named.
    r.store.repair();
    const unlinked = linkProblem(reply);
    if (unlinked !== undefined) {
      r.linkedAt = undefined;
      this.down(r, new StoreError(unlinked));
      return;
    }
    r.linkedAt ??= askedAt;
    const slack = r.usedSinceConnect ? Math.max(this.intervalMs, CONFIRM_MS) : CONFIRM_MS / 2;
    const bar = this.offsetBetween(r.linkedAt, askedAt - slack);
    if (bar === undefined) return;
    if (Number((reply as unknown[])[4]) < bar) {
      if (r.usedSinceConnect) this.down(r, new StoreError(LAGS));
      return;
    }
    r.up = true;
    r.usedSinceConnect = true;
    r.reported = false;
  }

  /** The newest offset the primary reported between `from` and `to`; undefined if none. */
  private offsetBetween(from: number, to: number): number | undefined {
    for (let i = this.offsets.length - 1; i >= 0; i--) {
      const o = this.offsets[i]!;
      if (o.at <= to) return o.at >= from ? o.offset : undefined;
    }
    return undefined;
  }

  /** The replica cannot serve reads until a check passes; reported once per outage. */
  private down(r: Replica, err: unknown): void {
    if (this.closing) return;
    const wasUp = r.up;
    r.up = false;
    // Values read from it may be older than the primary's, and their changes may never be announced.
    // (A channel that is not live has restarted the group already when it went down.)
    if (wasUp && this.group?.memberLive(r.id)) this.group.restart();
    if (r.reported) return;
    r.reported = true;
    const address = r.store.address;
    const where = address === undefined || r.label.includes(address) ? r.label : `${address} (${r.label})`;
    const reason = err instanceof Error ? err.message : String(err);
    this.onReplicaError(new StoreError(`Replica ${where} is not read from until it is back (reads go to the primary): ${reason}`, { cause: err }));
  }

  override async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    clearInterval(this.timer);
    clearTimeout(this.confirmTimer);
    this.group?.close();
    await Promise.all([super.close(), ...this.replicas.map((r) => r.store.close())]);
  }
}

/** Why a `ROLE` reply shows no replica linked to its primary; undefined when it does. */
function linkProblem(reply: unknown): string | undefined {
  if (!Array.isArray(reply) || reply[0] !== 'slave') return `it is not a replica (ROLE answered ${Array.isArray(reply) ? String(reply[0]) : String(reply)})`;
  if (reply[3] !== 'connected') return `its link to the primary is ${String(reply[3])}`;
  return undefined;
}

const LAGS = 'it lags behind the primary by more than a check interval';

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

/** The replication offset in a primary's `ROLE` reply; undefined from a replica. */
function masterOffset(reply: unknown): number | undefined {
  return Array.isArray(reply) && reply[0] === 'master' ? Number(reply[1]) : undefined;
}

/**
 * A primary with read replicas, all private redis-server processes (`--replicaof`). A replica can
 * reach its primary through a TCP proxy, so a test can hold back the replication stream (the
 * replica then lags, still answering reads) and let it go again.
 */
import { afterAll, beforeAll } from 'vitest';
import { RedisServer } from './redis-server.js';
import { TcpProxy } from './tcp-proxy.js';
import { until } from './troves.js';

export interface ReplicaSetOptions {
  /** @defaultValue 1 */
  replicas?: number;
  /** Each replica replicates through a TCP proxy (see `holdReplication`). @defaultValue false */
  viaProxy?: boolean;
  /** Extra arguments of every replica, e.g. `['--replica-read-only', 'no']`. */
  replicaArgs?: string[];
}

export class ReplicaSet {
  private constructor(
    readonly primary: RedisServer,
    readonly replicas: RedisServer[],
    /** The proxy each replica replicates through (empty without `viaProxy`). */
    readonly proxies: TcpProxy[],
  ) {}

  static async start(opts: ReplicaSetOptions = {}): Promise<ReplicaSet> {
    const primary = await RedisServer.start({ args: ['--repl-diskless-sync-delay', '0'] });
    const set = new ReplicaSet(primary, [], []);
    try {
      for (let i = 0; i < (opts.replicas ?? 1); i++) {
        let upstream = primary.port;
        if (opts.viaProxy) {
          const proxy = await TcpProxy.start(primary.port);
          set.proxies.push(proxy);
          upstream = proxy.port;
        }
        set.replicas.push(await RedisServer.start({ replicaOf: upstream, args: opts.replicaArgs ?? [] }));
      }
      await set.caughtUp();
      return set;
    } catch (err) {
      await set.stop();
      throw err;
    }
  }

  get replica(): RedisServer {
    return this.replicas[0]!;
  }

  /** The replicas' URLs, for the `replicas` option. */
  get urls(): string[] {
    return this.replicas.map((r) => r.url);
  }

  /** Waits until every running replica is linked and has applied everything the primary has. */
  async caughtUp(ms = 20_000): Promise<void> {
    await until(
      async () => (await Promise.all(this.replicas.filter((r) => r.running).map((r) => r.caughtUpWith(this.primary)))).every(Boolean),
      ms,
      'the replicas to catch up',
    );
  }

  /** Holds back the replication stream of replica `i` (it lags, answering reads with what it has); `release` delivers it. */
  holdReplication(i = 0): { release(): void } {
    const proxy = this.proxies[i];
    if (!proxy) throw new Error('holdReplication needs a replica set started with viaProxy');
    // The replication stream: the replica's connection still open (Redis 8 also opens one for
    // the snapshot of a full sync, closed once it is loaded).
    const connection = proxy.lastOpen();
    if (connection < 0) throw new Error('the replica has no open connection to its primary');
    proxy.holdReplies(connection);
    return { release: () => proxy.releaseReplies(connection) };
  }

  async stop(): Promise<void> {
    await Promise.all([this.primary, ...this.replicas].map((s) => s.stop()));
    await Promise.all(this.proxies.map((p) => p.close()));
  }
}

/** A replica set for the enclosing suite: started in beforeAll, stopped in afterAll. */
export function useReplicaSet(opts: ReplicaSetOptions = {}): { readonly set: ReplicaSet } {
  let set: ReplicaSet | undefined;
  beforeAll(async () => {
    set = await ReplicaSet.start(opts);
  }, 60_000);
  afterAll(async () => {
    await set?.stop();
  });
  return {
    get set(): ReplicaSet {
      if (!set) throw new Error('the replica set starts in beforeAll: use it inside hooks and tests');
      return set;
    },
  };
}

/** MGET calls `server` has run (INFO commandstats). */
export async function mgets(server: RedisServer): Promise<number> {
  return (await server.commandCalls()).mget ?? 0;
}

/** Commands `server` refused or failed (INFO commandstats' rejected_calls and failed_calls), e.g. writes sent to a read-only replica. */
export async function refusedCalls(server: RedisServer): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(await server.info('commandstats'))) {
    const rejected = Number(/rejected_calls=(\d+)/.exec(v)?.[1] ?? 0);
    const failed = Number(/failed_calls=(\d+)/.exec(v)?.[1] ?? 0);
    if (k.startsWith('cmdstat_') && rejected + failed > 0) out[k.slice(8)] = rejected + failed;
  }
  return out;
}

/**
 * Repeats `read` until `server` serves one (its MGET count grows): a replica is read from once its
 * connection is up, its first check passed and, for tracked reads, its invalidation channel is live.
 */
export async function untilServedBy(server: RedisServer, read: () => Promise<unknown>, ms = 20_000): Promise<void> {
  await until(
    async () => {
      const before = await mgets(server);
      await read();
      return (await mgets(server)) > before;
    },
    ms,
    `a read served by the server on ${server.port}`,
  );
}

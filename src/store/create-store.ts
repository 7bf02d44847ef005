import { Cluster, type ClusterOptions, Redis, type RedisOptions } from 'ioredis';
import { InvalidOptionError } from '../errors.js';
import { ClusterStore, defaultClusterOptions } from './cluster-store.js';
import { MemoryStore, type MemoryStoreOptions } from './memory-store.js';
import { isNodeRedisLike, type NodeRedisClient, type NodeRedisConnection, unsupportedNodeRedis } from './node-redis/client-shape.js';
import { NodeRedisStore } from './node-redis/node-redis-store.js';
import { defaultClientOptions, RedisStore, type RedisStoreOptions } from './redis-store.js';
import { type ReplicaConnection, ReplicatedStore, replicaConnections, sentinelReplicaConnection } from './replicated-store.js';
import type { Store, StoreListener } from './store.js';

/** A Redis Cluster that Trove connects to: ioredis `ClusterOptions` plus the startup nodes. */
export interface RedisClusterOption extends ClusterOptions {
  /**
   * `redis://` or `rediss://` URLs of some nodes of the cluster (one is enough; ioredis discovers
   * the others), e.g. `['redis://10.0.0.1:6379', 'redis://10.0.0.2:6379']`.
   */
  cluster: string[];
}

/**
 * Where the shared cache lives: a URL (`redis://`, `rediss://`), an ioredis `Redis` or `Cluster`
 * instance, ioredis options (including Sentinel's), `{ cluster: [urls], ...ClusterOptions }`, or
 * a connected node-redis client (`createClient()` of `redis` or `@redis/client`, v5 and later).
 */
export type RedisOption = string | Redis | Cluster | RedisOptions | RedisClusterOption | NodeRedisClient;

export interface CreateStoreOptions {
  redis: RedisOption | undefined;
  memory: MemoryStoreOptions | undefined;
  commandTimeoutMs: number;
  /** How often the invalidation connection is checked with PING while tracking is live, in ms. */
  trackingCheckIntervalMs?: number;
  /**
   * `onReplicaError`: a replica read from with `readFrom: 'replica'` cannot be used (its reads go
   * to the primary): not a failure of the store's own connection (default: `onConnectionError`).
   */
  listener: StoreListener & { onReplicaError?(error: Error): void };
  /** `redis://` URLs of replicas of a standalone primary, read from with `readFrom: 'replica'`. */
  replicas?: readonly string[];
  /** Where entry reads go: the primary (default), or replicas (`replicas`, Sentinel's, a cluster's). */
  readFrom?: 'primary' | 'replica';
  /** Whether misses may claim their values' own keys where the server allows (see `claims.ts`). Default true. */
  claims?: boolean;
}

/**
 * Checks the `redis` and `memory` options without opening anything, so that a caller can check
 * every option before the first connection: a throw after it would leave that connection open
 * and reconnecting. `memory` is checked even when `redis` is given, so a typo is never ignored.
 */
export function checkStoreOptions(opts: { redis?: unknown; memory?: unknown; replicas?: unknown; readFrom?: unknown }): void {
  checkMemoryOptions(opts.memory);
  checkReadOptions(opts.replicas, opts.readFrom, checkRedisOption(opts.redis));
}

/** Where `redis` points. */
type Topology = 'embedded' | 'cluster' | 'sentinel' | 'standalone' | 'node-redis';

function checkRedisOption(redis: unknown): Topology {
  if (redis === undefined) return 'embedded';
  if (isNodeRedisLike(redis)) {
    const why = unsupportedNodeRedis(redis);
    if (why !== undefined) throw new InvalidOptionError('redis', why);
    return 'node-redis';
  }
  if (isClusterClient(redis)) return 'cluster';
  // A client has a `cluster` method (the CLUSTER command): only an options object is judged by that name.
  if (isClusterOptions(redis)) {
    checkClusterOptions(redis);
    return 'cluster';
  }
  if (isRedisClient(redis)) return isSentinel(redis.options) ? 'sentinel' : 'standalone';
  if (typeof redis === 'string') validateRedisUrl(redis);
  else if (typeof redis !== 'object' || redis === null || Array.isArray(redis)) {
    throw new InvalidOptionError('redis', 'expected a redis:// URL, an ioredis instance, or ioredis options');
  }
  return typeof redis === 'object' && isSentinel(redis as RedisOptions) ? 'sentinel' : 'standalone';
}

function isSentinel(options: RedisOptions): boolean {
  return Array.isArray(options.sentinels) && options.sentinels.length > 0;
}

/**
 * `replicas` are a standalone primary's (Sentinel names its own, a cluster has its shards'), and
 * are read from only with `readFrom: 'replica'`: a list that would be ignored is refused, as a typo is.
 */
function checkReadOptions(replicas: unknown, readFrom: unknown, topology: Topology): void {
  if (readFrom !== undefined && readFrom !== 'primary' && readFrom !== 'replica') {
    throw new InvalidOptionError('readFrom', `expected 'primary' or 'replica', got ${JSON.stringify(readFrom) ?? String(readFrom)}`);
  }
  if (replicas !== undefined) {
    if (topology !== 'standalone') {
      const why =
        topology === 'embedded'
          ? 'replicas need a standalone primary in redis'
          : topology === 'node-redis'
            ? 'replicas are not supported with a node-redis client yet; give the primary as a URL or ioredis instance'
            : topology === 'sentinel'
              ? "with Sentinel, readFrom: 'replica' reads from the replicas Sentinel names; drop replicas"
              : "on a cluster, readFrom: 'replica' reads from each shard's replicas; drop replicas";
      throw new InvalidOptionError('replicas', why);
    }
    if (!Array.isArray(replicas) || replicas.length === 0) {
      throw new InvalidOptionError(
        'replicas',
        `expected a non-empty array of redis:// URLs of replicas, got ${Array.isArray(replicas) ? '[]' : typeof replicas}`,
      );
    }
    for (const url of replicas) {
      if (typeof url !== 'string') throw new InvalidOptionError('replicas', `expected redis:// URLs, got ${typeof url}`);
      validateRedisUrl(url, 'replicas');
    }
    if (readFrom !== 'replica') {
      throw new InvalidOptionError('readFrom', "replicas are read from only with readFrom: 'replica'; set it, or drop replicas");
    }
  } else if (readFrom === 'replica' && topology === 'node-redis') {
    throw new InvalidOptionError('readFrom', "'replica' is not supported with a node-redis client yet");
  } else if (readFrom === 'replica' && (topology === 'standalone' || topology === 'embedded')) {
    throw new InvalidOptionError('readFrom', "'replica' needs replicas (redis:// URLs of the primary's replicas), Sentinel options in redis, or a cluster");
  }
}

function isClusterClient(value: unknown): value is Cluster {
  if (value instanceof Cluster) return true;
  // Another copy of ioredis fails instanceof; recognise it by shape.
  const v = value as { isCluster?: unknown; nodes?: unknown };
  return typeof v === 'object' && v !== null && v.isCluster === true && typeof v.nodes === 'function';
}

function isClusterOptions(value: unknown): value is RedisClusterOption {
  return typeof value === 'object' && value !== null && !isRedisClient(value) && !isClusterClient(value) && 'cluster' in value;
}

/** The startup nodes: a non-empty array of valid URLs. Never a silent fallback (ioredis would take `{ cluster }` for options of 127.0.0.1:6379). */
function checkClusterOptions(redis: RedisClusterOption): void {
  const nodes: unknown = redis.cluster;
  if (!Array.isArray(nodes) || nodes.length === 0) {
    throw new InvalidOptionError(
      'redis.cluster',
      `expected a non-empty array of redis:// URLs of cluster nodes, got ${Array.isArray(nodes) ? '[]' : typeof nodes}`,
    );
  }
  for (const url of nodes) {
    if (typeof url !== 'string') throw new InvalidOptionError('redis.cluster', `expected redis:// URLs, got ${typeof url}`);
    validateRedisUrl(url, 'redis.cluster');
  }
  if ('sentinels' in redis) throw new InvalidOptionError('redis', 'give either cluster or sentinels, not both');
}

function checkMemoryOptions(memory: unknown): void {
  if (memory === undefined) return;
  if (typeof memory !== 'object' || memory === null || Array.isArray(memory)) throw new InvalidOptionError('memory', 'expected an options object');
  for (const [k, v] of Object.entries(memory)) {
    if (k !== 'maxEntries' && k !== 'maxBytes') throw new InvalidOptionError(`memory.${k}`, 'unknown option');
    if (v !== undefined && (typeof v !== 'number' || !Number.isInteger(v) || v < 1))
      throw new InvalidOptionError(`memory.${k}`, `expected a positive integer, got ${String(v)}`);
  }
}

/** Builds the store: Redis when configured, else the embedded in-memory store. */
export function createStore(opts: CreateStoreOptions): Store {
  checkStoreOptions(opts);
  const { redis } = opts;
  if (redis === undefined) return new MemoryStore(opts.memory);
  if (isNodeRedisLike(redis)) {
    const options: ConstructorParameters<typeof NodeRedisStore>[1] = { commandTimeoutMs: opts.commandTimeoutMs, listener: opts.listener };
    if (opts.trackingCheckIntervalMs !== undefined) options.trackingCheckIntervalMs = opts.trackingCheckIntervalMs;
    if (opts.claims !== undefined) options.claims = opts.claims;
    return new NodeRedisStore(redis as NodeRedisConnection, options);
  }
  if (isClusterClient(redis)) return new ClusterStore(redis, storeOptions(opts, false));
  if (isClusterOptions(redis)) {
    const { cluster: nodes, ...clusterOptions } = redis;
    const client = new Cluster(nodes, defaultClusterOptions(opts.commandTimeoutMs, clusterOptions));
    return new ClusterStore(client, storeOptions(opts, true));
  }
  if (typeof redis === 'string') {
    const client = new Redis(redis, defaultClientOptions(opts.commandTimeoutMs));
    return primaryStore(client, opts, true, {});
  }
  if (isRedisClient(redis)) {
    // Replica connections are Trove's own: its connection settings over the instance's.
    const own = isSentinel(redis.options) ? { ...redis.options, ...defaultClientOptions(opts.commandTimeoutMs), failoverDetector: true } : redis.options;
    return primaryStore(redis, opts, false, own);
  }
  if (typeof redis === 'object' && redis !== null) {
    // With Sentinel, follow a graceful failover at once (Sentinel's +switch-master): without it,
    // ioredis stays on the old primary until Sentinel demotes it, reading stale values and losing
    // writes meanwhile.
    const sentinel = Array.isArray((redis as RedisOptions).sentinels) ? { failoverDetector: true } : {};
    const options = { ...defaultClientOptions(opts.commandTimeoutMs), ...sentinel, ...redis };
    return primaryStore(new Redis(options), opts, true, options);
  }
  throw new InvalidOptionError('redis', 'expected a redis:// URL, an ioredis instance, or ioredis options');
}

/** The store of a primary (one server, or Sentinel's); with `readFrom: 'replica'`, reading from replicas made with `settings` (the primary's ioredis options). */
function primaryStore(client: Redis, opts: CreateStoreOptions, owned: boolean, settings: RedisOptions): RedisStore {
  if (opts.readFrom !== 'replica') return new RedisStore(client, storeOptions(opts, owned));
  const replicas: ReplicaConnection[] = isSentinel(settings)
    ? [sentinelReplicaConnection(settings)]
    : replicaConnections(opts.replicas ?? [], settings, opts.commandTimeoutMs);
  const { listener } = opts;
  const onReplicaError = (err: Error) => (listener.onReplicaError ?? listener.onConnectionError)?.(err);
  return new ReplicatedStore(client, storeOptions(opts, owned), replicas, onReplicaError);
}

function storeOptions(opts: CreateStoreOptions, owned: boolean): RedisStoreOptions {
  const out: RedisStoreOptions = { commandTimeoutMs: opts.commandTimeoutMs, owned, listener: opts.listener };
  if (opts.trackingCheckIntervalMs !== undefined) out.trackingCheckIntervalMs = opts.trackingCheckIntervalMs;
  if (opts.readFrom !== undefined) out.readFrom = opts.readFrom;
  if (opts.claims !== undefined) out.claims = opts.claims;
  return out;
}

function isRedisClient(value: unknown): value is Redis {
  if (value instanceof Redis) return true;
  // Another copy of ioredis (a different installed version) fails instanceof; recognise it by shape.
  const v = value as { mgetBuffer?: unknown; status?: unknown; duplicate?: unknown };
  return typeof v === 'object' && v !== null && typeof v.mgetBuffer === 'function' && typeof v.duplicate === 'function' && typeof v.status === 'string';
}

function validateRedisUrl(url: string, option = 'redis'): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new InvalidOptionError(option, `not a valid URL: '${url}' (expected e.g. 'redis://127.0.0.1:6379')`);
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new InvalidOptionError(option, `unsupported protocol '${parsed.protocol}' (expected redis: or rediss:)`);
  }
  if (parsed.hostname === '') throw new InvalidOptionError(option, `missing host in '${url}'`);
  if (parsed.port !== '' && (Number(parsed.port) < 1 || Number(parsed.port) > 65_535)) {
    throw new InvalidOptionError(option, `invalid port in '${url}'`);
  }
}

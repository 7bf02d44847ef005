/**
 * What Trove uses of a node-redis client (`createClient` from `redis` or `@redis/client`, v5 and
 * later), declared here so that the core never imports node-redis: it is an optional peer
 * dependency, and a client is recognised by its shape.
 *
 * `NodeRedisClient` is the public, minimal shape (what `createTrove({ redis })` accepts, so any
 * v5 or later client type-checks); `NodeRedisConnection` is the part of it the driver calls.
 */

/**
 * A node-redis client, from `createClient()` of `redis` or `@redis/client` (v5 and later),
 * connected (or connecting) before it is given to `createTrove`. Trove leaves it open on
 * `close()`: its owner closes it.
 */
export interface NodeRedisClient {
  /** Whether `connect()` was called and the client was not closed since. */
  readonly isOpen: boolean;
  /** Whether the connection is up and its handshake done. */
  readonly isReady: boolean;
  /** Sends one command: Trove sends every command of its own this way, on this connection. */
  sendCommand(args: (string | Buffer)[]): Promise<unknown>;
  /** A new client with the same settings: Trove opens its subscriber connection with it. */
  duplicate(): unknown;
}

/** An argument of a command: node-redis sends strings and Buffers as bulk strings. */
export type NodeRedisArgument = string | Buffer;

/**
 * How node-redis decodes reply types (RESP type byte → constructor); set per command, so that a
 * client's own `typeMapping` never changes what the driver reads.
 */
export type NodeRedisTypeMapping = Readonly<Record<number, unknown>>;

/** A MULTI being built: raw commands, sent together by `exec()` (one unit in the client's queue). */
export interface NodeRedisMulti {
  addCommand(args: NodeRedisArgument[]): NodeRedisMulti;
  exec(): Promise<unknown[]>;
}

/** The options node-redis keeps on a client (`client.options`): those the driver reads or overrides in duplicates. */
export interface NodeRedisClientOptions {
  readonly keyPrefix?: string;
  readonly RESP?: number;
  readonly socket?: Readonly<Record<string, unknown>>;
  readonly clientSideCache?: unknown;
  readonly emitInvalidate?: boolean;
  readonly disableOfflineQueue?: boolean;
}

/** The node-redis client API the driver calls (a structural view of `RedisClientType`). */
export interface NodeRedisConnection {
  readonly isOpen: boolean;
  readonly isReady: boolean;
  readonly options?: NodeRedisClientOptions | undefined;
  sendCommand(args: NodeRedisArgument[], options?: { typeMapping?: NodeRedisTypeMapping }): Promise<unknown>;
  /** The same connection, with replies of its typed commands decoded by `typeMapping` (node-redis 5 and later; node-redis 6 applies it to raw commands too). */
  withTypeMapping?(typeMapping: NodeRedisTypeMapping): Pick<NodeRedisConnection, 'sendCommand'>;
  multi(): NodeRedisMulti;
  duplicate(overrides?: Record<string, unknown>): NodeRedisConnection;
  connect(): Promise<unknown>;
  destroy(): void;
  /**
   * String mode: a message of `__redis__:invalidate` arrives as the keys (string[]) or null.
   * Buffer mode (`bufferMode` true): message and channel arrive as Buffers.
   */
  subscribe(channels: string[], listener: (message: never, channel: never) => void, bufferMode?: boolean): Promise<void>;
  unsubscribe(channels: string[], listener: (message: never, channel: never) => void, bufferMode?: boolean): Promise<void>;
  on(event: string, listener: (arg: never) => void): unknown;
  off(event: string, listener: (arg: never) => void): unknown;
}

/** RESP type bytes (`RESP_TYPES` in node-redis). */
const BLOB_STRING = 36; // $
const VERBATIM_STRING = 61; // =
const MAP = 37; // %
const SET = 126; // ~

/** Bulk strings as strings; maps and sets (RESP3) as flat arrays, as RESP2 sends them. */
export const STRINGS: NodeRedisTypeMapping = { [BLOB_STRING]: String, [VERBATIM_STRING]: String, [MAP]: Array, [SET]: Array };
/** As `STRINGS`, with bulk strings as Buffers (stored values). */
export const BUFFERS: NodeRedisTypeMapping = { [BLOB_STRING]: Buffer, [VERBATIM_STRING]: String, [MAP]: Array, [SET]: Array };

/** Whether `value` looks like a node-redis client, cluster, pool or sentinel (ioredis has `status`, not `isOpen`). */
export function isNodeRedisLike(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v.sendCommand === 'function' && typeof v.isOpen === 'boolean' && !('status' in v);
}

/**
 * Why a node-redis object cannot be used, or undefined for a single client. Only a single client
 * (one connection) works: CLIENT CACHING must reach Redis on the connection of the read it
 * announces, which a cluster or a pool would send elsewhere.
 */
export function unsupportedNodeRedis(value: unknown): string | undefined {
  const v = value as Record<string, unknown>;
  if (typeof v.getMasters === 'function' || typeof v.nodeClient === 'function') {
    return 'a node-redis cluster (createCluster) is not supported yet: use an ioredis Cluster, or { cluster: [urls] }';
  }
  if (typeof v.getMasterNode === 'function' || typeof v.getSentinelNode === 'function') {
    return 'a node-redis sentinel (createSentinel) is not supported yet: use ioredis options with sentinels';
  }
  if (typeof v.totalClients === 'number') return 'a node-redis pool (createClientPool) is not supported: give one client from createClient()';
  if (typeof v.duplicate !== 'function' || typeof v.multi !== 'function' || typeof v.connect !== 'function') {
    return 'expected a node-redis client from createClient() (a sentinel or other wrapper is not supported)';
  }
  if (v.isOpen !== true) return 'the node-redis client is not open: call connect() before handing it over';
  const options = v.options as NodeRedisClientOptions | undefined;
  if (options?.clientSideCache) {
    return "a node-redis client with clientSideCache: Trove's near cache sets up tracking on the connection itself; create the client without it";
  }
  return undefined;
}

/**
 * The narrow interface every backend implements. It is the only place that knows about Redis;
 * a node-redis or Cluster driver is one more implementation of it.
 */

/** One write inside an atomic batch. `ttlMs` undefined means no expiry. */
export type WriteOp =
  | { readonly type: 'set'; readonly key: string; readonly value: Buffer; readonly ttlMs: number | undefined }
  | { readonly type: 'delete'; readonly key: string };

/** What a store reports about its connection, forwarded as trove events. */
export interface StoreListener {
  /** A connection-level error (refused, reset, timed out); operations fail with StoreError meanwhile. */
  onConnectionError?(error: Error): void;
  /** The store is (again) able to serve. */
  onReady?(): void;
}

export interface Store {
  /** `'redis'` for a shared Redis, `'memory'` for the embedded single-process store. */
  readonly kind: 'redis' | 'memory';
  /** Reads one key; concurrent reads issued in the same tick are sent as one MGET. */
  get(key: string): Promise<Buffer | null>;
  /** Reads several keys in one round trip; results in the order of `keys`. */
  mget(keys: readonly string[]): Promise<(Buffer | null)[]>;
  /** Writes one key, with a time-to-live in milliseconds (undefined: no expiry). */
  set(key: string, value: Buffer, ttlMs: number | undefined): Promise<void>;
  /** Deletes keys; resolves to how many existed. */
  delete(keys: readonly string[]): Promise<number>;
  /** Sets a key's time-to-live in milliseconds; resolves to whether the key exists. */
  expire(key: string, ttlMs: number): Promise<boolean>;
  /** Whether a key exists (without reading its value). */
  exists(key: string): Promise<boolean>;
  /** Applies the writes atomically (MULTI/EXEC on Redis): all or none. */
  exec(ops: readonly WriteOp[]): Promise<void>;
  /** Iterates the keys matching a Redis glob pattern in batches, without blocking the server. */
  scan(match: string, count?: number): AsyncIterable<string[]>;
  /** Releases connections and timers that the store owns. */
  close(): Promise<void>;
}

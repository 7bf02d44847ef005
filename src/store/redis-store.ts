import { Redis, type RedisOptions } from 'ioredis';
import { StoreError } from '../errors.js';
import { asStoreError, withDeadline } from './deadline.js';
import { GetBatcher } from './get-batcher.js';
import type { Store, StoreListener, WriteOp } from './store.js';

export interface RedisStoreOptions {
  /** Deadline for every Redis operation, in milliseconds. */
  commandTimeoutMs: number;
  /** Whether the store created the client (and so closes it) or was handed one (and leaves it open). */
  owned: boolean;
  listener?: StoreListener;
}

/** Reconnect delays grow 50 ms, 100 ms, … up to 2 s, with jitter so many processes do not reconnect in lockstep. */
export function reconnectDelay(attempt: number): number {
  const base = Math.min(50 * 2 ** Math.min(attempt, 6), 2_000);
  return Math.round(base / 2 + Math.random() * (base / 2));
}

/** Client options Trove uses when it creates the ioredis connection itself. */
export function defaultClientOptions(commandTimeoutMs: number): RedisOptions {
  return {
    // Commands fail fast while disconnected instead of queueing without bound; our own
    // readiness gate below covers the first connect.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    enableAutoPipelining: true,
    connectTimeout: Math.max(commandTimeoutMs * 4, 1_000),
    // ioredis arms this timer on every disconnect, even of an already-closed socket, and it holds
    // the process open; our close() has already sent QUIT, so there is nothing to wait for.
    disconnectTimeout: 50,
    retryStrategy: reconnectDelay,
    lazyConnect: false,
  };
}

interface ReadyWaiter {
  resolve(): void;
  reject(e: unknown): void;
  timer: NodeJS.Timeout;
}

/** The ioredis driver. */
export class RedisStore implements Store {
  readonly kind = 'redis' as const;
  private readonly batcher: GetBatcher;
  private readonly readyWaiters = new Set<ReadyWaiter>();
  private closed = false;

  constructor(
    readonly client: Redis,
    private readonly opts: RedisStoreOptions,
  ) {
    this.batcher = new GetBatcher((keys) => this.mgetNow(keys));
    client.on('error', this.onError);
    client.on('ready', this.onReady);
    if (client.status === 'wait') client.connect().catch(() => {});
  }

  private readonly onError = (err: Error): void => {
    this.opts.listener?.onConnectionError?.(err);
  };

  private readonly onReady = (): void => {
    for (const w of this.readyWaiters) {
      clearTimeout(w.timer);
      w.resolve();
    }
    this.readyWaiters.clear();
    this.opts.listener?.onReady?.();
  };

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
    return new Promise<void>((resolve, reject) => {
      const waiter: ReadyWaiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          this.readyWaiters.delete(waiter);
          reject(new StoreError(`Redis did not become ready within ${this.opts.commandTimeoutMs} ms; operation "${operation}" skipped`));
        }, this.opts.commandTimeoutMs),
      };
      this.readyWaiters.add(waiter);
    });
  }

  private run<T>(operation: string, send: () => Promise<T>): Promise<T> {
    const gate = this.ready(operation);
    if (gate === undefined) return withDeadline(operation, this.opts.commandTimeoutMs, safeSend(send));
    return gate.then(() => withDeadline(operation, this.opts.commandTimeoutMs, safeSend(send)));
  }

  get(key: string): Promise<Buffer | null> {
    return this.batcher.get(key);
  }

  mget(keys: readonly string[]): Promise<(Buffer | null)[]> {
    if (keys.length === 0) return Promise.resolve([]);
    return this.mgetNow([...keys]);
  }

  private mgetNow(keys: string[]): Promise<(Buffer | null)[]> {
    return this.run('mget', () => this.client.mgetBuffer(...keys));
  }

  set(key: string, value: Buffer, ttlMs: number | undefined): Promise<void> {
    return this.run('set', async () => {
      if (ttlMs === undefined) await this.client.set(key, value);
      else await this.client.set(key, value, 'PX', Math.max(1, Math.ceil(ttlMs)));
    });
  }

  delete(keys: readonly string[]): Promise<number> {
    if (keys.length === 0) return Promise.resolve(0);
    return this.run('delete', () => this.client.unlink(...keys));
  }

  expire(key: string, ttlMs: number): Promise<boolean> {
    return this.run('expire', async () => (await this.client.pexpire(key, Math.max(1, Math.ceil(ttlMs)))) === 1);
  }

  exists(key: string): Promise<boolean> {
    return this.run('exists', async () => (await this.client.exists(key)) === 1);
  }

  exec(ops: readonly WriteOp[]): Promise<void> {
    if (ops.length === 0) return Promise.resolve();
    return this.run('exec', async () => {
      const tx = this.client.multi();
      for (const op of ops) {
        if (op.type === 'delete') tx.unlink(op.key);
        else if (op.ttlMs === undefined) tx.set(op.key, op.value);
        else tx.set(op.key, op.value, 'PX', Math.max(1, Math.ceil(op.ttlMs)));
      }
      const results = await tx.exec();
      if (results === null) throw new StoreError('Transaction aborted');
      for (const [err] of results) if (err) throw err;
    });
  }

  async *scan(match: string, count = 500): AsyncIterable<string[]> {
    let cursor = '0';
    do {
      const [next, keys] = await this.run('scan', () => this.client.scan(cursor, 'MATCH', match, 'COUNT', count));
      cursor = next;
      if (keys.length > 0) yield keys;
    } while (cursor !== '0');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.readyWaiters) {
      clearTimeout(w.timer);
      w.reject(new StoreError('Store is closed'));
    }
    this.readyWaiters.clear();
    this.client.off('ready', this.onReady);
    if (!this.opts.owned) {
      this.client.off('error', this.onError);
      return;
    }
    // Keep swallowing connection errors until the socket is gone: an 'error' event without a
    // listener would crash the process.
    this.client.on('error', () => {});
    this.client.off('error', this.onError);
    const status = this.client.status;
    if (status === 'end') return;
    // Between attempts ('reconnecting', 'close') there is no socket: disconnect only cancels the
    // pending attempt and ioredis emits no 'end', so there is nothing to wait for.
    const socketOpen = status !== 'reconnecting' && status !== 'close';
    let timer: NodeJS.Timeout | undefined;
    const ended = new Promise<void>((resolve) => {
      this.client.once('end', resolve);
      timer = setTimeout(resolve, this.opts.commandTimeoutMs);
    });
    if (status === 'ready') {
      try {
        await withDeadline('quit', this.opts.commandTimeoutMs, this.client.quit());
      } catch {
        // Falls through to disconnect below.
      }
    }
    this.client.disconnect(false);
    // Resolve once the socket is really gone, so nothing of ours outlives close().
    if (socketOpen) await ended;
    clearTimeout(timer);
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

/**
 * The Redis client libraries a trove can run on, as a test dimension: suites that must hold for
 * every driver run once per entry of `drivers` (`describe.each(drivers)`), building the trove's
 * `redis` option with `useDriverClients`.
 */
import { createClient as createClient5 } from '@redis/client';
import { createClient } from 'redis';
import { afterAll, afterEach } from 'vitest';
import type { RedisOption } from '../../src/index.js';

/** `ioredis`: a URL (Trove creates the ioredis connection); `node-redis`: a connected client of `redis` (v6, RESP3 by default). */
export type Driver = 'ioredis' | 'node-redis';

export const drivers: readonly Driver[] = ['ioredis', 'node-redis'];

/** A node-redis client of either major version, as the tests handle it. */
export interface TestNodeRedisClient {
  readonly isOpen: boolean;
  readonly isReady: boolean;
  sendCommand(args: string[]): Promise<unknown>;
  duplicate(): unknown;
  destroy(): void;
  on(event: 'error', listener: (err: Error) => void): unknown;
}

export interface NodeRedisClientOptions {
  /** `redis` (v6, the default) or `@redis/client` 5. */
  major?: 5 | 6;
  /** RESP version; node-redis 6 defaults to 3, 5 to 2. */
  RESP?: 2 | 3;
  keyPrefix?: string;
}

/**
 * A connected node-redis client. Its connection errors are swallowed (a test that kills Redis
 * would otherwise crash on an unhandled 'error'); the caller destroys it.
 */
export async function nodeRedisClient(url: string, opts: NodeRedisClientOptions = {}): Promise<TestNodeRedisClient> {
  const options = { url, ...(opts.RESP === undefined ? {} : { RESP: opts.RESP }), ...(opts.keyPrefix === undefined ? {} : { keyPrefix: opts.keyPrefix }) };
  // Reconnect quickly: the fault tests restart the server and wait for the trove to recover.
  const socket = { reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, 500) };
  const client = (opts.major === 5 ? createClient5({ ...options, socket }) : createClient({ ...options, socket })) as unknown as TestNodeRedisClient & {
    connect(): Promise<unknown>;
  };
  client.on('error', () => {});
  await client.connect();
  return client;
}

/**
 * `redis(driver, url)` builds the trove option that selects `driver`: the URL itself for ioredis,
 * a connected node-redis client otherwise. The clients are destroyed after each test (`scope:
 * 'test'`, the default) or after the suite; register this before `useTroves` so that troves
 * close first (hooks run in reverse order of registration).
 */
export function useDriverClients(scope: 'test' | 'suite' = 'test'): {
  redis(driver: Driver, url: string, opts?: NodeRedisClientOptions): Promise<RedisOption>;
} {
  const clients: TestNodeRedisClient[] = [];
  const cleanup = () => {
    for (const c of clients.splice(0)) c.destroy();
  };
  if (scope === 'test') afterEach(cleanup);
  else afterAll(cleanup);
  return {
    async redis(driver, url, opts) {
      if (driver === 'ioredis') return url;
      const client = await nodeRedisClient(url, opts);
      clients.push(client);
      return client;
    },
  };
}

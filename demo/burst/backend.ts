/**
 * Where the demo's cache lives: REDIS_URL when set, else a private redis-server on a free port,
 * else (no redis-server available) Trove's embedded store, which is single-process only.
 * Also the demo's computation counter: a Redis key, or a count of worker messages without Redis.
 */
import { spawnSync } from 'node:child_process';
import { Redis } from 'ioredis';
import { RedisServer } from '../../tools/redis-server.js';
import { COUNTER_KEY } from './protocol.js';

export interface Backend {
  /** Redis URL the workers connect to; undefined for the embedded store. */
  url: string | undefined;
  /** One line saying what is used and why. */
  description: string;
  /** Where computations are counted. */
  counter: string;
  /** How many times a report was computed, in all processes, since the start. */
  computations(): Promise<number>;
  /** Counts one computation (embedded store only: reported by the worker over IPC). */
  countLocal(): void;
  close(): Promise<void>;
}

export async function openBackend(opts: { embedded: boolean; version: string }): Promise<Backend> {
  if (opts.embedded) return embedded('--embedded given');
  const envUrl = process.env.REDIS_URL;
  if (envUrl) {
    const client = await connect(envUrl).catch((err: unknown) => err as Error);
    if (client instanceof Error) return embedded(`cannot reach REDIS_URL ${envUrl} (${client.message})`);
    const start = Number((await client.get(COUNTER_KEY)) ?? 0);
    return redisBackend(client, envUrl, `Redis at ${envUrl} (REDIS_URL)`, start, {
      // Leave a shared Redis as it was: drop this run's reports (the counter key stays).
      beforeQuit: async () => {
        let cursor = '0';
        do {
          const [next, keys] = await client.scan(cursor, 'MATCH', `demo:${opts.version}:*`, 'COUNT', 1000);
          if (keys.length > 0) await client.del(...keys);
          cursor = next;
        } while (cursor !== '0');
      },
    });
  }
  // RedisServer.start() cannot report a missing binary (the spawn error is unhandled): look first.
  const probe = spawnSync('redis-server', ['--version'], { stdio: 'ignore', timeout: 5_000 });
  if (probe.error) return embedded(`could not start redis-server (${probe.error.message})`);
  let server: RedisServer;
  try {
    server = await RedisServer.start();
  } catch (err) {
    return embedded(`could not start redis-server (${(err as Error).message.split('\n')[0]})`);
  }
  const client = await connect(server.url).catch(async (err: unknown) => {
    await server.stop();
    throw err;
  });
  const redisVersion = (await server.info('server')).redis_version ?? '?';
  return redisBackend(client, server.url, `private redis-server ${redisVersion} on port ${server.port}`, 0, { afterQuit: () => server.stop() });
}

async function connect(url: string): Promise<Redis> {
  const client = new Redis(url, { lazyConnect: true, connectTimeout: 2_000, maxRetriesPerRequest: 1, retryStrategy: (n) => (n > 3 ? null : 100) });
  let cause: Error | undefined;
  client.on('error', (err: Error) => {
    cause ??= err;
  });
  try {
    await client.connect();
    await client.ping();
    return client;
  } catch (err) {
    client.disconnect();
    // "Connection is closed" says less than the socket error that closed it.
    throw cause ?? err;
  }
}

interface Cleanup {
  beforeQuit?: () => Promise<void>;
  afterQuit?: () => Promise<void>;
}

function redisBackend(client: Redis, url: string, description: string, start: number, cleanup: Cleanup): Backend {
  return {
    url,
    description,
    counter: `the Redis key ${COUNTER_KEY}`,
    computations: async () => Number((await client.get(COUNTER_KEY)) ?? 0) - start,
    countLocal: () => {},
    close: async () => {
      try {
        await cleanup.beforeQuit?.();
      } finally {
        await client.quit().catch(() => client.disconnect());
        await cleanup.afterQuit?.();
      }
    },
  };
}

function embedded(why: string): Backend {
  let count = 0;
  return {
    url: undefined,
    description: `Trove's embedded store: ${why}`,
    counter: 'the primary (the worker reports each run)',
    computations: async () => count,
    countLocal: () => {
      count++;
    },
    close: async () => {},
  };
}

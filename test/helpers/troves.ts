/**
 * Suite fixtures shared by the trove tests: a private redis-server per suite, troves that are
 * closed after each test, and polling until a condition holds.
 */
import { afterAll, afterEach, beforeAll } from 'vitest';
import { createTrove, type Trove, type TroveOptions } from '../../src/index.js';
import { RedisServer, sleep } from './redis-server.js';

/** A private redis-server for the enclosing suite: started in beforeAll, stopped in afterAll. */
export function useRedisServer(): { readonly server: RedisServer } {
  let server: RedisServer | undefined;
  beforeAll(async () => {
    server = await RedisServer.start();
  });
  afterAll(async () => {
    await server?.stop();
  });
  return {
    get server(): RedisServer {
      if (!server) throw new Error('the redis-server starts in beforeAll: use it inside hooks and tests');
      return server;
    },
  };
}

/** Where troves keep their entries: the embedded store or a private redis-server. */
export type StoreKind = 'memory' | 'redis';

export const storeKinds: readonly StoreKind[] = ['memory', 'redis'];

/**
 * The trove options that select `kind` for the enclosing suite, and its redis-server (none for
 * `memory`; for `redis`, one as from {@link useRedisServer}).
 */
export function useStore(kind: StoreKind): { readonly opts: TroveOptions; readonly server: RedisServer | undefined } {
  if (kind === 'memory') return { opts: {}, server: undefined };
  const redis = useRedisServer();
  return {
    get opts(): TroveOptions {
      return { redis: redis.server.url };
    },
    get server(): RedisServer {
      return redis.server;
    },
  };
}

export interface Troves {
  /** Creates a trove from `defaults()` overlaid with `opts`. */
  open(opts?: TroveOptions): Trove;
  /** Adds a trove created some other way to those closed after the test; returns it. */
  track<T extends Trove>(trove: T): T;
}

/**
 * Troves for the enclosing suite, all closed in afterEach. `defaults` is called once per `open`,
 * so it can hand out a fresh prefix each time or keep one that several troves share.
 */
export function useTroves(defaults: () => TroveOptions): Troves {
  const troves: Trove[] = [];
  afterEach(async () => {
    await Promise.all(troves.splice(0).map((t) => t.close()));
  });
  const track = <T extends Trove>(trove: T): T => {
    troves.push(trove);
    return trove;
  };
  return {
    open: (opts = {}) => track(createTrove({ ...defaults(), ...opts })),
    track,
  };
}

/** Polls `check` every 2 ms until it holds; returns the ms that took, or throws after `ms`. */
export async function until(check: () => boolean | Promise<boolean>, ms = 3_000): Promise<number> {
  const t0 = Date.now();
  while (!(await check())) {
    if (Date.now() - t0 > ms) throw new Error(`condition not met within ${ms} ms`);
    await sleep(2);
  }
  return Date.now() - t0;
}

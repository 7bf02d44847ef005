/**
 * Suite fixtures shared by the trove tests: a private redis-server per suite, troves that are
 * closed after each test (and fail it on an unexpected `error` event), polling until a condition
 * holds, and a fake Date for freshness logic.
 */
import { afterAll, afterEach, beforeAll, describe, onTestFinished, vi } from 'vitest';
import { createTrove, type ErrorEvent, type Region, type RegionOptions, type Trove, type TroveOptions } from '../../src/index.js';
import { RedisServer, sleep } from './redis-server.js';

/**
 * The deadline of every Redis operation of a test trove, unless the test sets its own. Far above
 * any round trip on a loaded machine: with the production 300 ms a slow setup write would be
 * dropped (a cache write is best-effort) and the test would fail far from the cause. Tests of
 * deadlines set a short one explicitly.
 */
export const TEST_COMMAND_TIMEOUT = 10_000;

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
  /** Creates a trove from `defaults()` overlaid with `opts`, with {@link TEST_COMMAND_TIMEOUT} unless either sets one. */
  open(opts?: TroveOptions): Trove;
  /** Adds a trove created some other way to those watched for errors and closed after the test; returns it. */
  track<T extends Trove>(trove: T): T;
  /** The current test provokes `error` events on purpose (and checks them itself): they do not fail it. */
  expectErrors(): void;
}

/**
 * Troves for the enclosing suite, all closed in afterEach. `defaults` is called once per `open`,
 * so it can hand out a fresh prefix each time or keep one that several troves share.
 *
 * An `error` event is how a trove reports a failure it absorbed (a dropped write, a timed-out
 * read answered as a miss), so a test would otherwise pass over one unnoticed: any such event
 * fails the test after it ran, unless the test called `expectErrors()`.
 */
export function useTroves(defaults: () => TroveOptions): Troves {
  const troves: Trove[] = [];
  const unexpected: string[] = [];
  let errorsExpected = false;
  afterEach(async () => {
    // Closed first: an error reported while closing counts too.
    await Promise.all(troves.splice(0).map((t) => t.close()));
    const errors = unexpected.splice(0);
    const expected = errorsExpected;
    errorsExpected = false;
    if (errors.length > 0 && !expected) {
      throw new Error(`${errors.length} unexpected error event(s); a test that provokes them calls expectErrors():\n${errors.slice(0, 10).join('\n')}`);
    }
  });
  const track = <T extends Trove>(trove: T): T => {
    // What a trove reports once close() was called (its own connections going away) is not the test's business.
    trove.on('error', (e) => {
      if (!trove.isClosed) unexpected.push(describeError(e));
    });
    troves.push(trove);
    return trove;
  };
  return {
    open: (opts = {}) => track(createTrove({ commandTimeout: TEST_COMMAND_TIMEOUT, ...defaults(), ...opts })),
    track,
    expectErrors: () => {
      errorsExpected = true;
    },
  };
}

/** What {@link describeEachStorage} hands each suite. */
export interface StorageSuite {
  readonly store: { readonly opts: TroveOptions; readonly server: RedisServer | undefined };
  readonly troves: Troves;
  /** A region of `t` in the suite's storage (hash storage: 4 buckets). */
  region(t: Trove, name: string, more?: RegionOptions): Region<string>;
}

/**
 * One suite per store kind and storage (`'string'`, `'hash'`): `${title} (kind, storage storage)`,
 * its troves on a new prefix (`prefix` and a number) for each one opened.
 */
export function describeEachStorage(title: string, prefix: string, body: (suite: StorageSuite) => void): void {
  for (const kind of storeKinds) {
    for (const storage of ['string', 'hash'] as const) {
      describe(`${title} (${kind}, ${storage} storage)`, () => {
        const store = useStore(kind);
        let n = 0;
        const troves = useTroves(() => ({ ...store.opts, prefix: `${prefix}${++n}` }));
        body({ store, troves, region: (t, name, more = {}) => t.region<string>(name, { storage, hashBuckets: 4, ...more }) });
      });
    }
  }
}

/** One line per error event, for failure messages. */
export function describeError(e: ErrorEvent): string {
  const where = [e.region, e.key].filter((x) => x !== undefined).join(' ');
  return `${e.operation} ${e.error.code}${where ? ` (${where})` : ''}: ${e.error.message}`;
}

/**
 * Polls `check` every 2 ms until it holds; returns the ms that took, or throws after `ms`
 * (`what` names the condition; a function is asked then, to describe the last state seen).
 * Measured with performance.now(), which a test faking Date leaves alone.
 */
export async function until(check: () => boolean | Promise<boolean>, ms = 10_000, what: string | (() => string) = 'condition'): Promise<number> {
  const t0 = performance.now();
  while (!(await check())) {
    if (performance.now() - t0 > ms) throw new Error(`${typeof what === 'string' ? what : what()} not met within ${ms} ms`);
    await sleep(2);
  }
  return performance.now() - t0;
}

/**
 * Fakes Date only, for the rest of the test: freshness (freshFor, eager refresh, fail-safe backoff,
 * the near cache's cap) is computed in-process from Date.now(), so the test moves that clock
 * instead of waiting. Timers stay real, so ioredis, deadlines and polling work as usual; entries
 * still expire in the store by its own clock.
 */
export function fakeDate(): { advance(ms: number): void } {
  vi.useFakeTimers({ toFake: ['Date'], now: Date.now() });
  onTestFinished(() => {
    vi.useRealTimers();
  });
  return {
    advance: (ms) => {
      vi.setSystemTime(Date.now() + ms);
    },
  };
}

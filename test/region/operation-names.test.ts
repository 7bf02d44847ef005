/**
 * Errors of region operations name the caller's operation: when Redis fails before the region
 * generations were ever read (so every call must read them first), or while reading tag tokens,
 * the rejection and the `error` event say `get`, `set`, `delete`, …, never the internal step
 * (the generation or tag table read, a hash command). A timeout stays a StoreTimeoutError.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type ErrorEvent, type Region, StoreError, StoreTimeoutError, type Trove } from '../../src/index.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { useRedisServer, useTroves } from '../helpers/troves.js';

/** Names of internal steps and commands that must not reach the caller. */
const INTERNAL = /sync|hgetall|hmget|hashGet|hashSetAndPublish|evalsha/i;
const COMMAND_TIMEOUT = 200;

/** Error events of region operations (the trove's own background reads have no region). */
function regionErrors(t: Trove): ErrorEvent[] {
  const seen: ErrorEvent[] = [];
  t.on('error', (e) => {
    if (e.region !== undefined) seen.push(e);
  });
  return seen;
}

function expectNamed(error: unknown, operation: string): void {
  expect(error).toBeInstanceOf(StoreError);
  const message = (error as Error).message;
  expect(message).toContain(`"${operation}"`);
  expect(message).not.toMatch(INTERNAL);
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

describe('errors name the operation the caller asked for', () => {
  const redis = useRedisServer();
  let n = 0;
  // No periodic re-read of generations: only the calls under test talk to Redis.
  const troves = useTroves(() => ({ prefix: `op${++n}`, commandTimeout: COMMAND_TIMEOUT, syncInterval: Infinity, nearCache: false }));
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    // Before the troves close (this hook runs first): their QUIT must not wait out a pause.
    for (const c of cleanups.splice(0)) await c();
  });

  describe('Redis unreachable before the generations were read', () => {
    const unreachable = async (): Promise<{ t: Trove; r: Region<string>; errors: ErrorEvent[] }> => {
      const proxy = await TcpProxy.start(redis.server.port);
      proxy.refuse = true;
      cleanups.push(() => proxy.close());
      troves.expectErrors();
      const t = troves.open({ redis: proxy.url });
      return { t, r: t.region<string>('users'), errors: regionErrors(t) };
    };

    it.each([
      ['get', (r: Region<string>) => r.get('k'), undefined],
      ['has', (r: Region<string>) => r.has('k'), false],
      ['getMany', (r: Region<string>) => r.getMany(['a', 'b']), [undefined, undefined]],
      ['set', (r: Region<string>) => r.set('k', 'v'), undefined],
      ['set', (r: Region<string>) => r.set('k', 'v', { tags: ['org:1'] }), undefined],
      ['setMany', (r: Region<string>) => r.setMany([['a', 'v']]), undefined],
      ['batch', (r: Region<string>) => r.batch((tx) => tx.set('a', 'v')), undefined],
    ] as const)('%s resolves and reports an error event of its own name', async (operation, call, answer) => {
      const { r, errors } = await unreachable();
      expect(await call(r)).toEqual(answer);
      expect(errors.length).toBeGreaterThan(0);
      for (const e of errors) {
        expect(e.operation).toBe(operation);
        expectNamed(e.error, operation);
      }
    });

    it('getOrSet answers the computed value; its error names getOrSet', async () => {
      const { r, errors } = await unreachable();
      expect(await r.getOrSet('k', () => 'computed')).toBe('computed');
      expect(await r.getOrSet('t', () => 'tagged', { tags: ['org:1'] })).toBe('tagged');
      expect(errors.length).toBeGreaterThan(0);
      for (const e of errors) expectNamed(e.error, 'getOrSet');
    });

    it.each([
      ['delete', (r: Region<string>) => r.delete('k')],
      ['invalidate', (r: Region<string>) => r.invalidate()],
      ['clear', (r: Region<string>) => r.clear()],
      ['entries', (r: Region<string>) => r.entries().next()],
      ['keys', (r: Region<string>) => r.keys().next()],
      ['values', (r: Region<string>) => r.values().next()],
      ['size', (r: Region<string>) => r.size()],
    ] as const)('%s rejects with a StoreError of its own name, the original as its cause', async (operation, call) => {
      const { r } = await unreachable();
      const err = await rejection(call(r));
      expectNamed(err, operation);
      expect((err as Error).cause).toBeInstanceOf(StoreError);
    });
  });

  describe('Redis stalls the read of the generations', () => {
    it('the timeout is a StoreTimeoutError of the operation, with the deadline and the original as its cause', async () => {
      // A pause of writes holds every script, among them the atomic read of the generation table.
      expect(await redis.server.command('CLIENT', 'PAUSE', 10_000, 'WRITE')).toBe('OK');
      cleanups.push(() => redis.server.command('CLIENT', 'UNPAUSE'));
      troves.expectErrors();
      const t = troves.open({ redis: redis.server.url });
      const errors = regionErrors(t);
      const r = t.region<string>('users');

      expect(await r.get('k')).toBeUndefined();
      expect(errors.map((e) => [e.operation, e.error.code])).toEqual([['get', 'STORE_TIMEOUT']]);
      const timeout = errors[0]!.error as StoreTimeoutError;
      expect(timeout).toBeInstanceOf(StoreTimeoutError);
      expect(timeout.message).toBe(`Store operation "get" exceeded its ${COMMAND_TIMEOUT} ms deadline`);
      expect(timeout.timeoutMs).toBe(COMMAND_TIMEOUT);
      expect(timeout.cause).toBeInstanceOf(StoreTimeoutError);

      const err = await rejection(r.delete('k'));
      expect(err).toBeInstanceOf(StoreTimeoutError);
      expectNamed(err, 'delete');
    });

    it('a tag check that times out names the read that needed it', async () => {
      const prefix = `tags${++n}`;
      const writer = troves.open({ redis: redis.server.url, prefix });
      await writer.region('users').set('k', 'v', { tags: ['org:1'] });
      // Generations read, but not the token of org:1: reading k has to fetch it. One reader per
      // call, since a paused command holds every later one on its connection.
      const readers = await Promise.all(
        [0, 1].map(async () => {
          const t = troves.open({ redis: redis.server.url, prefix });
          await t.ready();
          const r = t.region<string>('users');
          expect(await r.get('absent')).toBeUndefined();
          return { r, errors: regionErrors(t) };
        }),
      );
      expect(await redis.server.command('CLIENT', 'PAUSE', 10_000, 'WRITE')).toBe('OK');
      cleanups.push(() => redis.server.command('CLIENT', 'UNPAUSE'));
      troves.expectErrors();

      const [plain, through] = readers as [(typeof readers)[0], (typeof readers)[0]];
      expect(await plain.r.get('k')).toBeUndefined();
      expect(plain.errors.map((e) => [e.operation, e.error.code])).toEqual([['tags', 'STORE_TIMEOUT']]);
      expectNamed(plain.errors[0]!.error, 'get');

      expect(await through.r.getOrSet('k', () => 'computed')).toBe('computed');
      expect(through.errors.map((e) => [e.operation, e.error.code])).toEqual([['get', 'STORE_TIMEOUT']]);
      expectNamed(through.errors[0]!.error, 'getOrSet');
    });
  });
});

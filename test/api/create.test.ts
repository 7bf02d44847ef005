/**
 * createTrove checks every option before it opens anything: an invalid option throws
 * InvalidOptionError and leaves no connection behind, so the process can still exit by itself.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createTrove, InvalidOptionError, type TroveOptions } from '../../src/index.js';
import { bundled } from '../helpers/bundled.js';
import { useRedisServer, useTroves } from '../helpers/troves.js';

const child = fileURLToPath(new URL('./fixtures/create-bad-child.ts', import.meta.url));

/** Invalid options that come after `redis`, each with the option its error must name. */
const invalid: [string, TroveOptions, string][] = [
  ['a near-cache option typo', { nearCache: { maxEntires: 10 } as never }, 'nearCache.maxEntires'],
  ['a near-cache option of the wrong type', { nearCache: { clone: 'yes' } as never }, 'nearCache.clone'],
  ['nearCache: true', { nearCache: true as never }, 'nearCache'],
  ['an unparsable syncInterval', { syncInterval: 'abc' }, 'syncInterval'],
  ['a bad region option', { regions: { users: { ttl: -1 } } }, 'regions.users.ttl'],
  ['regions that are not an object', { regions: 'users' as never }, 'regions'],
  ['a memory option typo', { memory: { maxEntires: 10 } as never }, 'memory.maxEntires'],
  ['a zero memory bound', { memory: { maxBytes: 0 } }, 'memory.maxBytes'],
  ['a negative commandTimeout', { commandTimeout: -1 }, 'commandTimeout'],
  ['freshFor above ttl', { ttl: '1m', freshFor: '2m' }, 'freshFor'],
];

describe('createTrove with an invalid option', () => {
  const redis = useRedisServer();
  const { track } = useTroves(() => ({}));

  /** Connections the server has accepted so far, counting the one this question arrives on. */
  async function accepted(): Promise<number> {
    return Number((await redis.server.info('stats')).total_connections_received);
  }

  /**
   * Connections the server accepted for `fn`. A connection opened in `fn` starts within a few
   * ticks (ioredis defers its connect), all before the next macrotask; on loopback its handshake
   * completes in connect(), and Redis accepts in order: the question asked after that is
   * answered only once any such connection was accepted. Neither question's own connection counts.
   */
  async function connectionsFor(fn: () => void): Promise<number> {
    const before = await accepted();
    fn();
    await new Promise<void>((resolve) => setImmediate(resolve));
    return (await accepted()) - before - 1;
  }

  it('the connection count sees the connections of a valid trove', async () => {
    const opened = await connectionsFor(() => {
      track(createTrove({ redis: redis.server.url }));
    });
    // Its command connection and its subscriber connection.
    expect(opened).toBe(2);
  });

  for (const [what, bad, option] of invalid) {
    it(`${what}: InvalidOptionError naming "${option}", and no connection`, async () => {
      let error: unknown;
      const opened = await connectionsFor(() => {
        try {
          track(createTrove({ redis: redis.server.url, ...bad }));
        } catch (err) {
          error = err;
        }
      });
      expect(error).toBeInstanceOf(InvalidOptionError);
      expect((error as InvalidOptionError).option).toBe(option);
      expect(opened).toBe(0);
    });
  }

  it('a process whose createTrove threw exits by itself', async () => {
    const run = (bad: TroveOptions) =>
      new Promise<{ code: number | null; out: string }>((resolve) => {
        const p = spawn(process.execPath, [bundled(child), redis.server.url, JSON.stringify(bad)], { stdio: ['ignore', 'pipe', 'inherit'] });
        let out = '';
        p.stdout.on('data', (d: Buffer) => {
          out += d.toString();
        });
        // A process held open by a leaked connection never exits: stop it before the test times out.
        const killer = setTimeout(() => p.kill('SIGKILL'), 20_000);
        p.on('exit', (code) => {
          clearTimeout(killer);
          resolve({ code, out });
        });
      });
    const [nearCache, syncInterval] = await Promise.all([run({ nearCache: { maxEntires: 10 } as never }), run({ syncInterval: 'abc' })]);
    expect(nearCache).toEqual({ code: 0, out: 'invalid nearCache.maxEntires\n' });
    expect(syncInterval).toEqual({ code: 0, out: 'invalid syncInterval\n' });
  }, 30_000);
});

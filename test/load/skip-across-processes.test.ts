/**
 * `ctx.skip()` across processes: the value is answered to the callers sharing the computation in
 * the process that computed it, and not stored; a process waiting on the lock is woken by the
 * release (not by its waitTimeout) and computes the value itself, since nothing was stored for it
 * to read.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { RedisServer } from '../helpers/redis-server.js';
import { startWorker } from './workers.js';

let server: RedisServer;
beforeAll(async () => {
  server = await RedisServer.start();
});
afterAll(async () => {
  await server.stop();
});

it('a skipped value answers its own process; a process waiting on the lock is woken and computes it itself', async () => {
  const prefix = 'skip1';
  const gate = `${prefix}:gate`;
  const runs = async () => Number((await server.command('GET', `${prefix}:runs`)) || 0);
  // Far beyond the test's timeout: only the release's notification can end the waiter's wait.
  const region = { lockLease: '120s', waitTimeout: '120s' };
  const first = startWorker({ url: server.url, prefix, key: 'k', callers: 5, gate, skip: true, announce: true, region });
  await first.ready;
  first.go();
  await first.computing;
  const second = startWorker({ url: server.url, prefix, key: 'k', callers: 5, factoryMs: 1, skip: true, announceWait: true, region });
  await second.ready;
  second.go();
  await second.waiting;
  expect(await runs()).toBe(1);
  await server.command('RPUSH', gate, 'go');
  const [a, b] = await Promise.all([first.done, second.done]);
  // The first process's 5 callers shared its one computation.
  expect(a!.results.map((r) => r.value)).toEqual(Array(5).fill(a!.pid));
  // The second process's 5 callers were woken, and shared one computation of their own.
  expect(b!.results.map((r) => r.value)).toEqual(Array(5).fill(b!.pid));
  expect(await runs()).toBe(2);
  // Nothing was stored, and no lock is left behind.
  const keys = (await server.keys()).filter((k) => k.startsWith(`${prefix}:`) && !k.startsWith(`${prefix}:runs`) && !k.includes('__'));
  expect(keys).toEqual([]);
  expect(a!.errors).toEqual([]);
  expect(b!.errors).toEqual([]);
});

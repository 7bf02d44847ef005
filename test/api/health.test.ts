/**
 * Health, readiness and error reporting under an outage: `health()`, `ready({ required })`,
 * `disconnected` / `reconnected` events, errors counted instead of reported while Redis is down,
 * the logger (rate-limited per code) and the one-time process warning when nobody listens.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createTrove, type ErrorEvent, StoreError, type TroveLogger } from '../../src/index.js';
import { ErrorLog, LOG_SUMMARY_INTERVAL_MS } from '../../src/api/logger.js';
import { freePort, RedisServer } from '../helpers/redis-server.js';
import { until, useRedisServer, useTroves } from '../helpers/troves.js';

const redis = useRedisServer();
let n = 0;
const troves = useTroves(() => ({ redis: redis.server.url, prefix: `h${++n}` }));

const servers: RedisServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

describe('health()', () => {
  it('is ok once connected with the near cache live, and the embedded store is always ok', async () => {
    const t = troves.open();
    await until(() => t.health().status === 'ok');
    expect(t.health()).toMatchObject({ status: 'ok', redis: 'connected', tracking: true, lastError: undefined });
    const embedded = createTrove();
    try {
      expect(embedded.health()).toMatchObject({ status: 'ok', redis: 'connected', tracking: undefined });
    } finally {
      await embedded.close();
    }
  });

  it('an outage: one disconnected event, the first failure reported and the rest counted, then reconnected with the count', async () => {
    troves.expectErrors();
    const server = await RedisServer.start();
    servers.push(server);
    const t = troves.open({ redis: server.url, commandTimeout: 300 });
    const r = t.region('r');
    await r.set('k', 1);
    await until(() => t.health().status === 'ok');
    const timeline: string[] = [];
    t.on('disconnected', () => timeline.push('disconnected'));
    t.on('reconnected', (e) => timeline.push(`reconnected:${e.suppressedErrors}`));
    t.on('error', (e) =>
      timeline.push(!(e.error instanceof StoreError) ? `other:${e.error.code}` : e.region === undefined ? 'background-error' : 'call-error'),
    );
    await server.kill();
    await until(() => t.health().status === 'down');
    expect(t.health().redis).toBe('disconnected');
    const reads = 200;
    for (let i = 0; i < reads; i++) expect(await r.get(`missing${i}`)).toBeUndefined();
    const suppressed = t.stats().suppressedErrors;
    expect(suppressed).toBeGreaterThanOrEqual(reads - 1);
    expect(t.health().lastError?.code).toBe('STORE');
    await server.restart();
    await until(() => t.health().status === 'ok');
    // Failures seen before the loss was known are reported; after it, only the first of the
    // calls' and the first of background work's (reconnection attempts, table re-reads).
    const down = timeline.indexOf('disconnected');
    expect(down).toBeGreaterThanOrEqual(0);
    const outage = timeline.slice(down);
    expect(outage[0]).toBe('disconnected');
    expect(outage.at(-1)).toBe(`reconnected:${t.stats().suppressedErrors}`);
    expect(outage.filter((e) => e === 'call-error')).toEqual(['call-error']);
    expect(outage.filter((e) => e === 'background-error').length).toBeLessThanOrEqual(1);
    expect(outage).toHaveLength(2 + outage.filter((e) => e.endsWith('-error')).length);
    expect(timeline.filter((e) => e === 'disconnected')).toHaveLength(1);
    expect(t.stats().suppressedErrors).toBeGreaterThanOrEqual(suppressed);
    expect(await r.get('k')).toBeUndefined(); // the restarted server holds nothing
  });
});

describe('ready({ required: true })', () => {
  it('resolves when Redis can be used', async () => {
    await troves.open().ready({ required: true });
  });

  it('rejects with the cause when nothing listens on the port', async () => {
    troves.expectErrors();
    const t = troves.open({ redis: `redis://127.0.0.1:${await freePort()}` });
    const err = await t.ready({ required: true }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StoreError);
    expect(String((err as StoreError).cause)).toMatch(/ECONNREFUSED/);
  });

  it('rejects with the cause on a wrong password', async () => {
    troves.expectErrors();
    const server = await RedisServer.start();
    servers.push(server);
    // Set after start: the harness checks a new server with a PING that needs no password.
    await server.command('CONFIG', 'SET', 'requirepass', 'secret');
    const t = troves.open({ redis: `redis://:wrong@127.0.0.1:${server.port}` });
    await expect(t.ready({ required: true })).rejects.toThrow(/WRONGPASS|invalid username-password/);
    expect(t.health().status).toBe('down');
  });

  it('without required, resolves and degrades', async () => {
    troves.expectErrors();
    const t = troves.open({ redis: `redis://127.0.0.1:${await freePort()}`, commandTimeout: 300 });
    await t.ready();
    expect(await t.region('r').getOrSet('k', () => 'computed')).toBe('computed');
  });
});

describe('logging', () => {
  it('a logger gets the first error of each code at once, not one line per failure', async () => {
    troves.expectErrors();
    const logger = { error: vi.fn(), warn: vi.fn() } satisfies TroveLogger;
    const t = troves.open({ logger });
    const r = t.region('g');
    await r.set('ok', 1);
    await redis.server.command('SET', r.keyOf('bad'), 'garbage');
    for (let i = 0; i < 20; i++) expect(await r.get('bad')).toBeUndefined();
    expect(logger.error).toHaveBeenCalledTimes(1);
    expect(logger.error.mock.calls[0]![0]).toMatchObject({ code: 'DECODE', operation: 'decode', region: 'g', key: 'bad' });
  });

  it('repeats are summed up once per interval', () => {
    vi.useFakeTimers();
    try {
      const logger = { error: vi.fn(), warn: vi.fn() } satisfies TroveLogger;
      const log = new ErrorLog(logger);
      const event = (code: string) => ({ error: Object.assign(new StoreError('x'), { code }), operation: 'get' }) as ErrorEvent;
      for (let i = 0; i < 5; i++) log.write(event('STORE'), false);
      log.write(event('DECODE'), false);
      expect(logger.error).toHaveBeenCalledTimes(2);
      vi.advanceTimersByTime(LOG_SUMMARY_INTERVAL_MS);
      expect(logger.warn).toHaveBeenCalledTimes(1);
      expect(logger.warn.mock.calls[0]![0]).toEqual({ code: 'STORE', count: 4 });
      vi.advanceTimersByTime(LOG_SUMMARY_INTERVAL_MS);
      expect(logger.warn).toHaveBeenCalledTimes(1);
      // A code that went quiet is reported at once again.
      log.write(event('STORE'), false);
      expect(logger.error).toHaveBeenCalledTimes(3);
      log.close();
    } finally {
      vi.useRealTimers();
    }
  });

  it('without a logger or an error listener, the first error of each code is a process warning, once', async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    const t = createTrove({ redis: redis.server.url, prefix: `h${++n}`, commandTimeout: 10_000 });
    try {
      const r = t.region('g');
      await r.set('ok', 1);
      await redis.server.command('SET', r.keyOf('bad'), 'garbage');
      for (let i = 0; i < 5; i++) await r.get('bad');
      await until(() => warnings.some((w) => (w as { code?: string }).code === 'TROVE_DECODE'));
      expect(warnings.filter((w) => (w as { code?: string }).code === 'TROVE_DECODE')).toHaveLength(1);
      expect(warnings.find((w) => (w as { code?: string }).code === 'TROVE_DECODE')!.message).toMatch(/pass a logger or listen to 'error' events/);
    } finally {
      process.off('warning', onWarning);
      await t.close();
    }
  });
});

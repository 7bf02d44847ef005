/**
 * The tracking channel on its own, against a private redis-server: it turns tracking on for a
 * connection it is handed, delivers Redis's invalidations, reports a lost subscriber and recovers,
 * and leaves the connection without tracking when closed.
 */
import { Redis, type RedisOptions } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { pubSubDuplicate, Subscriber } from '../../src/store/subscriber.js';
import { TrackingChannel, type TrackingChannelOptions } from '../../src/store/tracking-channel.js';
import { expectSilentSubscriberReplaced } from '../helpers/silent-subscriber.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { until, useRedisServer } from '../helpers/troves.js';

const redis = useRedisServer();
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Opened {
  client: Redis;
  subscriber: Subscriber;
  channel: TrackingChannel;
  /** Every onInvalidate call, in order. */
  invalidations: (readonly string[] | null)[];
  /** Every onTrackingChange call, in order. */
  changes: boolean[];
  errors: Error[];
}

function open(clientOptions: RedisOptions = {}, opts: Partial<TrackingChannelOptions> = {}): Opened {
  const client = new Redis({ port: redis.server.port, host: '127.0.0.1', ...clientOptions });
  cleanups.push(() => client.quit().catch(() => client.disconnect()));
  const errors: Error[] = [];
  const subscriber = new Subscriber({ commandTimeoutMs: 1_000, onError: (e) => errors.push(e), open: () => pubSubDuplicate(client) });
  cleanups.push(() => subscriber.close());
  const invalidations: (readonly string[] | null)[] = [];
  const changes: boolean[] = [];
  const channel = new TrackingChannel(
    client,
    subscriber,
    { onInvalidate: (keys) => invalidations.push(keys), onTrackingChange: (live) => changes.push(live) },
    { commandTimeoutMs: 1_000, checkIntervalMs: 100, turnOffOnClose: true, onError: (e) => errors.push(e), ...opts },
  );
  cleanups.push(() => channel.close());
  return { client, subscriber, channel, invalidations, changes, errors };
}

/** A channel whose connections go through a TCP proxy, once live. */
async function openBehindProxy(): Promise<{ proxy: TcpProxy; o: Opened }> {
  const proxy = await TcpProxy.start(redis.server.port);
  cleanups.push(() => proxy.close());
  const o = open({ port: proxy.port });
  await until(() => o.channel.live);
  return { proxy, o };
}

/** CLIENT TRACKINGINFO of a connection: its flags and the client id its invalidations go to. */
async function trackingInfo(client: Redis): Promise<{ flags: string[]; redirect: number }> {
  const reply = (await client.call('CLIENT', 'TRACKINGINFO')) as unknown[];
  const info = new Map<string, unknown>();
  for (let i = 0; i + 1 < reply.length; i += 2) info.set(String(reply[i]), reply[i + 1]);
  return { flags: (info.get('flags') as unknown[]).map(String), redirect: Number(info.get('redirect')) };
}

/** Reads `key` with tracking (OPTIN: CLIENT CACHING yes right before the read). */
async function trackedRead(client: Redis, key: string): Promise<void> {
  const caching = client.call('CLIENT', 'CACHING', 'yes');
  await client.get(key);
  await caching;
}

const flat = (o: Opened): (string | null)[] => o.invalidations.flatMap((keys) => (keys === null ? [null] : [...keys]));

/** Tracking points at the current subscriber connection, and a write elsewhere of a key read tracked reaches the channel. */
async function expectInvalidationsFlow(o: Opened, key: string): Promise<void> {
  expect((await trackingInfo(o.client)).redirect).toBe(o.subscriber.id);
  await trackedRead(o.client, key);
  await redis.server.command('SET', key, '1');
  await until(() => flat(o).includes(key));
}

describe('TrackingChannel', () => {
  it('becomes live: tracking on in OPTIN mode, redirected to the subscriber connection', async () => {
    const o = open();
    await until(() => o.channel.live);
    expect(o.changes).toEqual([true]);
    const info = await trackingInfo(o.client);
    expect(info.flags).toEqual(expect.arrayContaining(['on', 'optin']));
    expect(info.flags).not.toContain('noloop');
    expect(info.redirect).toBe(o.subscriber.id);
    expect(o.subscriber.live).toBe(true);
    expect(o.errors).toEqual([]);
  });

  it('an attempt to turn tracking on that Redis refuses is tried again while both connections are up: live without a reconnect', async () => {
    const admin = new Redis({ port: redis.server.port, host: '127.0.0.1' });
    cleanups.push(() => admin.quit());
    // A user who may not turn tracking on, yet.
    await admin.call('ACL', 'SETUSER', 'tracker', 'on', '>pw', '~*', '&*', '+@all', '-client|tracking');
    cleanups.push(() => admin.call('ACL', 'DELUSER', 'tracker'));
    const o = open({ username: 'tracker', password: 'pw' });
    await until(
      () => o.errors.some((e) => e.message.includes('NOPERM')),
      10_000,
      () => `a refused CLIENT TRACKING, errors: ${o.errors.map((e) => e.message).join(' | ')}`,
    );
    const id = await o.client.call('CLIENT', 'ID');
    expect(o.channel.live).toBe(false);
    await admin.call('ACL', 'SETUSER', 'tracker', '+client|tracking');
    await until(() => o.channel.live);
    expect(o.changes).toEqual([true]);
    const info = await trackingInfo(o.client);
    expect(info.flags).toEqual(expect.arrayContaining(['on', 'optin']));
    expect(info.redirect).toBe(o.subscriber.id);
    // The same connection: tried again, not reconnected.
    expect(await o.client.call('CLIENT', 'ID')).toBe(id);
  });

  it('delivers invalidations of tracked keys written by another connection, and only of those', async () => {
    const o = open();
    await until(() => o.channel.live);
    await o.client.set('tracked', '1');
    await o.client.set('untracked', '1');
    await trackedRead(o.client, 'tracked');
    await o.client.get('untracked');
    await redis.server.command('SET', 'untracked', '2');
    await redis.server.command('SET', 'tracked', '2');
    // Invalidations arrive in order on one connection: once 'tracked' is in, 'untracked' would have been too.
    await until(() => flat(o).includes('tracked'));
    expect(flat(o)).toEqual(['tracked']);
    // Announced once: the key must be read (tracked) again for its next change to be announced.
    await redis.server.command('SET', 'tracked', '3');
    await trackedRead(o.client, 'tracked');
    await redis.server.command('SET', 'tracked', '4');
    await until(() => flat(o).length === 2);
    expect(flat(o)).toEqual(['tracked', 'tracked']);
  });

  it("names keys without the client's keyPrefix, and drops keys outside it", async () => {
    const o = open({ keyPrefix: 'app:' });
    await until(() => o.channel.live);
    await trackedRead(o.client, 'k');
    await redis.server.command('SET', 'app:k', 'v');
    await until(() => o.invalidations.length > 0);
    expect(o.invalidations).toEqual([['k']]);
  });

  it('announces a flush of everything as null', async () => {
    const o = open();
    await until(() => o.channel.live);
    await trackedRead(o.client, 'k');
    await redis.server.flushall();
    await until(() => o.invalidations.includes(null));
  });

  it('reports the loss of the subscriber connection (CLIENT KILL) and comes back live', async () => {
    const o = open();
    await until(() => o.channel.live);
    const before = o.subscriber.id!;
    await redis.server.command('CLIENT', 'KILL', 'ID', before);
    await until(() => o.changes.length >= 2);
    expect(o.changes.slice(0, 2)).toEqual([true, false]);
    await until(() => o.channel.live);
    expect(o.changes).toEqual([true, false, true]);
    // Redirected to the new subscriber connection, and invalidations flow again.
    expect(o.subscriber.id).not.toBe(before);
    await expectInvalidationsFlow(o, 'again');
  });

  it('reports the loss of the command connection and comes back live', async () => {
    const o = open();
    await until(() => o.channel.live);
    const id = Number(await o.client.client('ID'));
    await redis.server.command('CLIENT', 'KILL', 'ID', id);
    await until(() => o.changes.length >= 2);
    await until(() => o.channel.live);
    expect(o.changes).toEqual([true, false, true]);
    expect((await trackingInfo(o.client)).flags).toContain('on');
  });

  it('a subscriber that stops answering PING is reported lost, reconnected, and live again', async () => {
    const { proxy, o } = await openBehindProxy();
    expect(proxy.acceptedCount).toBe(2); // 0: the command connection, 1: the subscriber
    const resets: number[] = [];
    await o.subscriber.subscribe('news', { onMessage: () => {}, onReset: () => resets.push(Date.now()) });
    proxy.holdReplies(1);
    await until(() => !o.channel.live);
    expect(o.changes).toEqual([true, false]);
    expect(resets.length).toBeGreaterThan(0); // messages may have been missed on that connection too
    await until(() => o.channel.live);
    // A new subscriber connection (a loaded machine may need more than one attempt), and tracking
    // redirected to it.
    expect(proxy.acceptedCount).toBeGreaterThanOrEqual(3);
    expect(o.changes.at(-1)).toBe(true);
    // Read together, once settled: on a loaded machine a late PING may start the subscriber over
    // once more, its id unset until it is connected again.
    let redirect: unknown;
    await until(
      async () => {
        redirect = (await trackingInfo(o.client)).redirect;
        return o.channel.live && o.subscriber.id !== undefined && redirect === o.subscriber.id;
      },
      10_000,
      () => `tracking redirected to the live subscriber (redirect ${String(redirect)}, subscriber ${String(o.subscriber.id)}, live ${o.channel.live})`,
    );
  });

  it('a subscriber connection lost with its SUBSCRIBE unanswered: the next one subscribes under its own id, and tracking is live again', async () => {
    const { proxy, o } = await openBehindProxy();
    // The next connection's SUBSCRIBE never arrives: ioredis sends it again on the one after, ahead
    // of the set-up that connection runs itself (CLIENT ID, refused once the connection is subscribed).
    const cut = proxy.cutOn('SUBSCRIBE');
    await redis.server.command('CLIENT', 'KILL', 'ID', o.subscriber.id!);
    await cut;
    await until(() => o.channel.live, 10_000, 'tracking to be live again');
    const clients = String(await redis.server.command('CLIENT', 'LIST'));
    const subscribed = clients
      .split('\n')
      .filter((line) => / sub=[1-9]/.test(line))
      .map((line) => Number(/^id=(\d+)/.exec(line)![1]));
    expect(subscribed).toEqual([o.subscriber.id]);
    await expectInvalidationsFlow(o, 'after-cut');
  });

  it('a set-up Redis refuses (CLIENT ID denied) is reported and tried again on a new connection: live once allowed', async () => {
    const o = open();
    await until(() => o.channel.live);
    await redis.server.command('ACL', 'SETUSER', 'default', '-client|id');
    try {
      await redis.server.command('CLIENT', 'KILL', 'ID', o.subscriber.id!);
      await until(() => o.errors.some((e) => /NOPERM/.test(e.message)), 10_000, 'the refusal to be reported');
      expect(o.channel.live).toBe(false);
    } finally {
      await redis.server.command('ACL', 'SETUSER', 'default', '+client|id');
    }
    await until(() => o.channel.live, 10_000, 'tracking to be live again');
    expect((await trackingInfo(o.client)).redirect).toBe(o.subscriber.id);
  });

  it('a subscriber whose new connection never answers its set-up is started over while Redis answers: the stall reported, live again', async () => {
    const { proxy, o } = await openBehindProxy();
    const next = proxy.acceptedCount;
    proxy.holdRepliesOfNext();
    await redis.server.command('CLIENT', 'KILL', 'ID', o.subscriber.id!);
    await until(() => proxy.acceptedCount > next, 10_000, 'the subscriber to reconnect');
    await until(() => o.channel.live, 10_000, 'tracking to be live again');
    // Started over: a connection after the silent one.
    expect(proxy.acceptedCount).toBeGreaterThanOrEqual(next + 2);
    expect(o.errors.filter((e) => /not subscribed after 5 checks/.test(e.message)).length).toBeGreaterThanOrEqual(1);
    await expectInvalidationsFlow(o, 'after-stall');
  });

  it.each([
    ['its ready check and client set-up (replies held from its first CLIENT command)', 'CLIENT', /not ready within 1000 ms/],
    ['its SUBSCRIBE', 'SUBSCRIBE', /"subscribe" exceeded its 1000 ms deadline/],
  ])('a subscriber (no tracking) whose new connection never answers %s starts over on another one', async (_, command, reported) => {
    const proxy = await TcpProxy.start(redis.server.port);
    cleanups.push(() => proxy.close());
    const client = new Redis({ port: proxy.port, host: '127.0.0.1' });
    cleanups.push(() => client.quit().catch(() => client.disconnect()));
    const errors: Error[] = [];
    const subscriber = new Subscriber({ commandTimeoutMs: 250, onError: (e) => errors.push(e), open: () => pubSubDuplicate(client) });
    cleanups.push(() => subscriber.close());
    const messages: string[] = [];
    await subscriber.subscribe('news', { onMessage: (m) => messages.push(String(m)) });
    await until(() => subscriber.live);
    const next = proxy.acceptedCount;
    proxy.holdRepliesFrom(command);
    await redis.server.command('CLIENT', 'KILL', 'ID', subscriber.id!);
    await until(() => proxy.acceptedCount > next, 10_000, 'the subscriber to reconnect');
    await until(
      () => subscriber.live,
      10_000,
      () => `the subscriber to be live again (${errors.map((e) => e.message).join(' | ')}; ${proxy.acceptedCount} connections)`,
    );
    expect(proxy.acceptedCount).toBeGreaterThanOrEqual(next + 2);
    expect(errors.some((e) => reported.test(e.message))).toBe(true);
    await redis.server.command('PUBLISH', 'news', 'again');
    await until(() => messages.includes('again'));
  });

  it('a subscriber (no tracking) whose connection goes silent for good is PINGed, reported and started over on a new one', async () => {
    const proxy = await TcpProxy.start(redis.server.port);
    cleanups.push(() => proxy.close());
    const client = new Redis({ port: proxy.port, host: '127.0.0.1' });
    // Black-holed below too: a QUIT would never be answered.
    cleanups.push(async () => client.disconnect());
    const errors: Error[] = [];
    const subscriber = new Subscriber({ commandTimeoutMs: 250, checkIntervalMs: 100, onError: (e) => errors.push(e), open: () => pubSubDuplicate(client) });
    cleanups.push(() => subscriber.close());
    const messages: string[] = [];
    await subscriber.subscribe('news', { onMessage: (m) => messages.push(String(m)) });
    await until(() => subscriber.live);
    await expectSilentSubscriberReplaced({ proxies: [proxy], subscriber, errors, messages, publish: (m) => redis.server.command('PUBLISH', 'news', m) });
  });

  it('close() turns tracking off on a connection it did not create, and leaves it open', async () => {
    const o = open();
    await until(() => o.channel.live);
    const listeners = { ready: o.client.listenerCount('ready'), close: o.client.listenerCount('close') };
    await o.channel.close();
    expect(o.channel.live).toBe(false);
    expect((await trackingInfo(o.client)).flags).toContain('off');
    expect(o.client.status).toBe('ready');
    expect(o.client.listenerCount('ready')).toBe(listeners.ready - 1);
    expect(o.client.listenerCount('close')).toBe(listeners.close - 1);
    // Nothing is reported after close, even when the subscriber goes away.
    await redis.server.command('CLIENT', 'KILL', 'ID', o.subscriber.id!);
    await until(() => !o.subscriber.live);
    expect(o.changes).toEqual([true]);
  });

  it('without turnOffOnClose, close() leaves tracking as it is (the connection is about to close)', async () => {
    const o = open({}, { turnOffOnClose: false });
    await until(() => o.channel.live);
    await o.channel.close();
    expect((await trackingInfo(o.client)).flags).toContain('on');
  });
});

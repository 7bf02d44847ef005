/** The fault every subscriber must survive: its connection goes silent for good, with nothing awaited on it. */
import { expect } from 'vitest';
import type { TcpProxy } from './tcp-proxy.js';
import { until } from './troves.js';

export interface SilentSubscriberCase {
  /** The proxies every connection of the subscriber goes through (one per node of a Cluster). */
  proxies: readonly TcpProxy[];
  /** A live subscriber that no tracking channel checks, subscribed to `news`. */
  subscriber: { readonly live: boolean };
  /** What the subscriber reported. */
  errors: readonly Error[];
  /** The messages of `news` it received. */
  messages: readonly string[];
  /** Publishes `message` to `news` on the server itself. */
  publish(message: string): Promise<unknown>;
  /** The report of the silence expected: the unanswered PING by default (its limit is 1000 ms for the 250 ms deadline the tests give). */
  reported?: string;
}

/**
 * Swallows every byte of the connections open behind the proxies, for good, and expects the
 * subscriber to give its connection up, report the silence, be live again on a new connection,
 * and receive what is then published.
 */
export async function expectSilentSubscriberReplaced(c: SilentSubscriberCase): Promise<void> {
  const before = c.proxies.reduce((n, p) => n + p.acceptedCount, 0);
  for (const p of c.proxies) p.blackholeOpen();
  await until(() => !c.subscriber.live, 10_000, 'the silent subscriber to be given up');
  await until(
    () => c.subscriber.live,
    20_000,
    () => `the subscriber to be live again (${c.errors.map((e) => e.message).join(' | ')})`,
  );
  expect(c.proxies.reduce((n, p) => n + p.acceptedCount, 0)).toBeGreaterThan(before);
  expect(c.errors.map((e) => e.message)).toContain(c.reported ?? 'the pub/sub connection did not answer PING within 1000 ms: reconnecting it');
  await c.publish('again');
  await until(() => c.messages.includes('again'));
}

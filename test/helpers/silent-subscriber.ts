/** The fault both drivers' subscribers must survive: their connection goes silent for good, with nothing awaited on it. */
import { expect } from 'vitest';
import type { TcpProxy } from './tcp-proxy.js';
import { until } from './troves.js';

export interface SilentSubscriberCase {
  /** The proxy every connection of the subscriber goes through. */
  proxy: TcpProxy;
  /** A live subscriber that no tracking channel checks, subscribed to `news`. */
  subscriber: { readonly live: boolean };
  /** What the subscriber reported. */
  errors: readonly Error[];
  /** The messages of `news` it received. */
  messages: readonly string[];
  /** Publishes `message` to `news` on the server itself. */
  publish(message: string): Promise<unknown>;
}

/**
 * Swallows every byte of the connections open behind the proxy, for good, and expects the
 * subscriber to give its connection up, report the unanswered PING (its limit is 1000 ms for the
 * 250 ms deadline the tests give), be live again on a new connection, and receive what is then
 * published.
 */
export async function expectSilentSubscriberReplaced(c: SilentSubscriberCase): Promise<void> {
  const before = c.proxy.acceptedCount;
  c.proxy.blackholeOpen();
  await until(() => !c.subscriber.live, 10_000, 'the silent subscriber to be given up');
  await until(
    () => c.subscriber.live,
    10_000,
    () => `the subscriber to be live again (${c.errors.map((e) => e.message).join(' | ')})`,
  );
  expect(c.proxy.acceptedCount).toBeGreaterThan(before);
  expect(c.errors.map((e) => e.message)).toContain('the pub/sub connection did not answer PING within 1000 ms: reconnecting it');
  await c.publish('again');
  await until(() => c.messages.includes('again'));
}

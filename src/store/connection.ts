/** Connection handling shared by the command connection and the subscriber connection. */
import type { Cluster, Redis } from 'ioredis';
import { StoreError } from '../errors.js';
import { withDeadline } from './deadline.js';

/** Reconnect delays grow 50 ms, 100 ms, … up to 2 s, with jitter so many processes do not reconnect in lockstep. */
export function reconnectDelay(attempt: number): number {
  const base = Math.min(50 * 2 ** Math.min(attempt, 6), 2_000);
  return Math.round(base / 2 + Math.random() * (base / 2));
}

/**
 * How long a connection may take to connect, or stay silent while a reply is awaited, before it is
 * started over, in ms: 4 × the command deadline, at least 1 s (a loaded machine or a busy server
 * is slow, not gone).
 */
export function silenceLimitMs(commandTimeoutMs: number): number {
  return Math.max(commandTimeoutMs * 4, 1_000);
}

/** One check of `checkWithPing`: the PING sent, and whether the connection it was sent on is still the current one. */
export interface PingAttempt {
  ping: Promise<unknown>;
  current(): boolean;
  /** What the connection failed to do when `ping` rejects, for the report: default `'answer PING'`. */
  expected?: string;
}

/**
 * Checks a pub/sub connection with PING every `intervalMs`, one PING at a time: `attempt` sends it
 * (undefined when there is nothing to check now: not live, or checked by someone else), bounded
 * by `limitMs`. A PING unanswered by then on the still-current connection calls `onSilent`, which
 * starts the connection over. Idle, such a connection has nothing awaited, so nothing else would
 * notice it gone silent without a reset. Returns the timer (unref'd), to be cleared on close.
 */
export function checkWithPing(
  intervalMs: number,
  limitMs: number,
  attempt: () => PingAttempt | undefined,
  onSilent: (error: StoreError) => void,
): NodeJS.Timeout {
  let checking = false;
  const timer = setInterval(() => {
    if (checking) return;
    const sent = attempt();
    if (sent === undefined) return;
    checking = true;
    sent.ping.then(
      () => {
        checking = false;
      },
      () => {
        checking = false;
        if (sent.current()) onSilent(new StoreError(`the pub/sub connection did not ${sent.expected ?? 'answer PING'} within ${limitMs} ms: reconnecting it`));
      },
    );
  }, intervalMs);
  timer.unref();
  return timer;
}

/**
 * Closes an ioredis connection (or Cluster) and resolves once its socket is gone, so nothing of ours
 * outlives close(). QUIT first when connected, so the server sees a clean goodbye.
 */
export async function closeClient(client: Redis | Cluster, timeoutMs: number, ownListeners: boolean): Promise<void> {
  // Keep swallowing connection errors until the socket is gone: an 'error' event without a
  // listener would crash the process.
  client.on('error', () => {});
  if (ownListeners) {
    client.removeAllListeners('message');
    // An ioredis Cluster follows its own 'close' to reach 'end': without its listener it never ends.
    // The owner's 'ready' and 'close' listeners do nothing once it is closed.
    if (!client.isCluster) {
      client.removeAllListeners('ready');
      client.removeAllListeners('close');
    }
  }
  const status = client.status;
  if (status === 'end') return;
  // Between attempts ('reconnecting', 'close') there is no socket: disconnect only cancels the
  // pending attempt and ioredis emits no 'end', so there is nothing to wait for.
  const socketOpen = status !== 'reconnecting' && status !== 'close';
  let timer: NodeJS.Timeout | undefined;
  const ended = new Promise<void>((resolve) => {
    client.once('end', resolve);
    timer = setTimeout(resolve, timeoutMs);
  });
  if (status === 'ready') {
    try {
      await withDeadline('quit', timeoutMs, client.quit());
    } catch {
      // Falls through to disconnect below.
    }
  }
  client.disconnect(false);
  if (socketOpen) await ended;
  clearTimeout(timer);
}

/**
 * Connects again a connection Trove owns that ioredis ended by itself, until `stopped()`. ioredis
 * ends a connection for good when one attempt to connect fails as a whole, not only when told to
 * close. With Sentinel that happens in a failover: the failover detector of the connection before
 * (subscribed to `+switch-master`) disconnects the connector while the next attempt is still
 * asking the sentinels for the new primary, and that attempt gives up with "Connection is closed."
 * Nothing would connect it again: every call would fail and the near cache stay off for good.
 * Attempts are spaced by `reconnectDelay`. Reported to `onError` once connected again: while
 * disconnected, only the first failure is reported, and that is the driver's own.
 */
export function reviveWhenEnded(client: Redis, stopped: () => boolean, onError: (error: StoreError) => void): void {
  let attempts = 0;
  let lastError = '';
  /** The driver's last error before it ended the connection. */
  let endedWith = '';
  client.on('error', (err: Error) => {
    lastError = err.message;
  });
  client.on('ready', () => {
    if (attempts > 0 && !stopped()) {
      onError(
        new StoreError(`the driver had ended the Redis connection by itself (${endedWith || 'no error given'}): connected again after ${attempts} attempt(s)`),
      );
    }
    attempts = 0;
  });
  client.on('end', () => {
    if (stopped()) return;
    if (attempts === 0) endedWith = lastError;
    const timer = setTimeout(
      () => {
        if (stopped() || client.status !== 'end') return;
        attempts++;
        client.connect().catch(() => {});
      },
      reconnectDelay(attempts + 1),
    );
    timer.unref();
  });
}

import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Redis } from 'ioredis';
import { StoreError } from '../errors.js';

/**
 * Drops a connection Trove owns once it has gone silent: commands sent (its ready check included)
 * and not a byte back for `silentMs`. ioredis gives up on a connection only when the kernel does,
 * and a peer that vanishes without a reset (a failover behind a NAT or load balancer that drops the
 * old flow, a host powered off) leaves Linux retransmitting for about 15 minutes (tcp_retries2).
 * Meanwhile every call would wait out its deadline, and a ready check never answered would hold
 * the connection short of ready for as long. Dropped, it reconnects at once, as after a reset.
 *
 * Nothing here runs per command or per reply: a timer looks at the socket's count of bytes read
 * and at ioredis's queue of commands awaiting replies every quarter of `silentMs`. A connection with
 * nothing awaited is never dropped, however long it stays quiet; one whose server answers slowly
 * keeps receiving bytes. A server that answers nothing at all for `silentMs` (paused, or running
 * one very long command) is reconnected to, which costs it a connection and nothing else.
 */
export class ConnectionWatch {
  /** The socket of the last check, and how many bytes it had read then. */
  private stream: Socket | undefined;
  private bytesRead = 0;
  /** When the current stretch of silence with a reply awaited was first seen (performance.now()). */
  private silentSince: number | undefined;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly client: Redis,
    private readonly silentMs: number,
    private readonly onSilent: (error: StoreError) => void,
  ) {
    this.timer = setInterval(this.check, Math.max(Math.floor(silentMs / 4), 25));
    this.timer.unref();
  }

  /** Stops watching (the store closes). */
  stop(): void {
    clearInterval(this.timer);
  }

  private readonly check = (): void => {
    const status = this.client.status;
    // A new socket, or bytes read since the last check: not silent.
    const stream = this.client.stream as Socket | undefined;
    const bytesRead = stream?.bytesRead ?? 0;
    const heard = stream !== this.stream || bytesRead !== this.bytesRead;
    this.stream = stream;
    this.bytesRead = bytesRead;
    // Between connections there is nothing to wait for; reconnecting is ioredis's business.
    const awaited = (status === 'ready' || status === 'connect') && this.client.commandQueue.length > 0;
    if (heard || !awaited) {
      this.silentSince = undefined;
      return;
    }
    const now = performance.now();
    if (this.silentSince === undefined) {
      this.silentSince = now;
      return;
    }
    if (now - this.silentSince < this.silentMs) return;
    this.silentSince = undefined;
    const what = status === 'ready' ? 'commands' : 'its ready check';
    this.onSilent(new StoreError(`Redis sent nothing for ${this.silentMs} ms on a connection with ${what} awaiting replies: reconnecting it`));
    // ioredis ends the socket and destroys it after `disconnectTimeout` (a silent peer never
    // acknowledges the end), then reconnects by its retryStrategy.
    this.client.disconnect(true);
  };
}

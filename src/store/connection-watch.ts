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
 * Nothing here runs per command: a data listener sets a flag, and a timer looks at the flag and
 * at ioredis's queue of commands awaiting replies every quarter of `silentMs`. A connection with
 * nothing awaited is never dropped, however long it stays quiet; one whose server answers slowly
 * keeps receiving bytes. A server that answers nothing at all for `silentMs` (paused, or running
 * one very long command) is reconnected to, which costs it a connection and nothing else.
 */
export class ConnectionWatch {
  /** Whether a byte arrived since the last check. */
  private heard = false;
  /** When the current stretch of silence with a reply awaited was first seen (performance.now()). */
  private silentSince: number | undefined;
  private readonly timer: NodeJS.Timeout;
  private stopped = false;

  constructor(
    private readonly client: Redis,
    private readonly silentMs: number,
    private readonly onSilent: (error: StoreError) => void,
  ) {
    client.on('connect', this.onConnect);
    if (client.status === 'connect' || client.status === 'ready') this.listen(client.stream);
    this.timer = setInterval(this.check, Math.max(Math.floor(silentMs / 4), 25));
    this.timer.unref();
  }

  /** Stops watching (the store closes). */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.timer);
    this.client.off('connect', this.onConnect);
  }

  private readonly onConnect = (): void => {
    this.silentSince = undefined;
    this.listen(this.client.stream);
  };

  private listen(stream: Socket | undefined): void {
    stream?.on('data', this.onData);
  }

  private readonly onData = (): void => {
    this.heard = true;
  };

  private readonly check = (): void => {
    const status = this.client.status;
    // Between connections there is nothing to wait for; reconnecting is ioredis's business.
    const awaited = (status === 'ready' || status === 'connect') && this.client.commandQueue.length > 0;
    if (this.heard || !awaited) {
      this.heard = false;
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

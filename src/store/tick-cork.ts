import { nextTick } from 'node:process';
import type { Writable } from 'node:stream';

/**
 * Sends every command issued during one tick in a single socket write, in call order.
 *
 * Without it ioredis writes each command as it is issued (one syscall each). Its own
 * auto-pipelining batches too, but it holds commands until `setImmediate` and keeps one pipeline
 * in flight at a time, so a second read batch waits for the first one's reply instead of
 * overlapping with it. Corking the socket until the end of the tick coalesces the writes and
 * leaves any number of batches in flight.
 */
export class TickCork {
  private held: Writable | undefined;

  /** Corks `stream` until the current tick's end (a no-op if a stream is held already). */
  hold(stream: Writable | undefined): void {
    if (this.held !== undefined || stream === undefined || !stream.writable) return;
    this.held = stream;
    stream.cork();
    nextTick(this.release);
  }

  private readonly release = (): void => {
    const stream = this.held;
    this.held = undefined;
    stream?.uncork();
  };
}

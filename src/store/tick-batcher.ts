import { nextTick } from 'node:process';
import { SPLIT_AT } from './get-batcher.js';

/**
 * Gathers the operations issued in one tick and sends them as one call: N concurrent misses then
 * cost one lock script and one store script on Redis, instead of N of each. The batch leaves on
 * process.nextTick, after every promise continuation of the current callback has added its
 * operation, so a lone operation pays no extra latency. A batch reaching `maxBatch` leaves at once,
 * keeping each script's run on the server short.
 *
 * Each operation gets the answer at its own index; when the call fails, every operation of the
 * batch fails with its error. A batch of `SPLIT_AT` or more answered while no other call is in
 * flight is handed out in halves, the second half at the end of the turn, once the first half's
 * next operations (a miss's store after its lock step) have left: Redis then runs them while this
 * process finishes the batch, instead of both taking turns (see BENCHMARKS.md, misses).
 */
export class TickBatcher<I, O> {
  private items: I[] = [];
  private waiters: Waiter<O>[] = [];
  private scheduled = false;
  /** Calls sent and not yet answered. */
  private inFlight = 0;

  constructor(
    private readonly send: (items: I[]) => Promise<readonly O[]>,
    private readonly maxBatch = 256,
  ) {}

  add(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.items.push(item);
      this.waiters.push({ resolve, reject });
      if (this.items.length >= this.maxBatch) this.flush();
      else if (!this.scheduled) {
        this.scheduled = true;
        nextTick(this.onTick);
      }
    });
  }

  private readonly onTick = (): void => {
    this.scheduled = false;
    if (this.items.length > 0) this.flush();
  };

  private flush(): void {
    const items = this.items;
    const waiters = this.waiters;
    this.items = [];
    this.waiters = [];
    let sent: Promise<readonly O[]>;
    try {
      sent = this.send(items);
    } catch (err) {
      sent = Promise.reject(err);
    }
    this.inFlight++;
    sent.then(
      (outcomes) => {
        const n = waiters.length;
        const settle = (from: number, to: number) => {
          for (let i = from; i < to; i++) waiters[i]!.resolve(outcomes[i]!);
        };
        // As GetBatcher does: halves only when nothing else keeps Redis busy meanwhile.
        if (--this.inFlight > 0 || n < SPLIT_AT) {
          settle(0, n);
          return;
        }
        settle(0, n >> 1);
        setImmediate(() => settle(n >> 1, n));
      },
      (err: unknown) => {
        this.inFlight--;
        for (const w of waiters) w.reject(err);
      },
    );
  }
}

interface Waiter<O> {
  resolve: (v: O) => void;
  reject: (e: unknown) => void;
}

/**
 * Gathers the operations issued in one tick and sends them as one call: N concurrent misses then
 * cost one lock script and one store script on Redis, instead of N of each. The batch leaves on
 * process.nextTick, after every promise continuation of the current callback has added its
 * operation, so a lone operation pays no extra latency. A batch reaching `maxBatch` leaves at once,
 * keeping each script's run on the server short.
 *
 * Each operation gets the answer at its own index; when the call fails, every operation of the
 * batch fails with its error.
 */
export class TickBatcher<I, O> {
  private items: I[] = [];
  private waiters: Waiter<O>[] = [];
  private scheduled = false;

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
        process.nextTick(this.onTick);
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
    sent.then(
      (outcomes) => {
        for (let i = 0; i < waiters.length; i++) waiters[i]!.resolve(outcomes[i]!);
      },
      (err: unknown) => {
        for (const w of waiters) w.reject(err);
      },
    );
  }
}

interface Waiter<O> {
  resolve: (v: O) => void;
  reject: (e: unknown) => void;
}

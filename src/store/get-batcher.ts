/**
 * Collects single-key reads and sends them as one multi-key read.
 *
 * The first flush of an event-loop turn goes out on process.nextTick: every promise continuation
 * of the current callback adds its key first (so N concurrent `get`s cost one round trip) and a
 * lone read pays no extra latency. Reads issued after that flush in the same turn (in a server,
 * each request arrives in its own I/O callback) wait for the end of the turn (setImmediate) and go
 * out together, instead of one MGET per request.
 *
 * A large batch is handed out in two halves: the first half's callers continue at once, and the
 * second half's only after the reads the first half issued next have been sent. Redis then works
 * on that next batch while this process is busy with the rest of the current one, instead of
 * both sides taking turns (stop-and-wait).
 */
export class GetBatcher {
  private keys: string[] = [];
  private waiters: Waiter[][] = [];
  private index = new Map<string, number>();
  private scheduled = false;
  private flushedThisTurn = false;
  /** Second halves of returned batches, handed out by the next flush once it has sent its reads. */
  private deferred: (() => void)[] = [];

  /** Batches sent and not yet answered. */
  private inFlight = 0;

  /**
   * `deferWhileBusy`: while it holds (`true`: while a batch of this batcher is in flight; or a
   * function, e.g. any node of a Cluster busy), new reads wait for the end of the turn even for
   * the turn's first flush, so replies arriving in one turn feed one larger batch. A read issued
   * while nothing is in flight still leaves on the current tick. Used per Cluster node, where each
   * batch is a script whose fixed cost on the node is shared by its keys.
   */
  constructor(
    private readonly fetch: (keys: string[]) => Promise<(Buffer | null)[]>,
    private readonly deferWhileBusy: (() => boolean) | boolean = false,
  ) {}

  get(key: string): Promise<Buffer | null> {
    return new Promise((resolve, reject) => {
      const at = this.index.get(key);
      if (at !== undefined) {
        this.waiters[at]!.push({ resolve, reject });
      } else {
        this.index.set(key, this.keys.length);
        this.keys.push(key);
        this.waiters.push([{ resolve, reject }]);
      }
      if (!this.scheduled) {
        this.scheduled = true;
        if (this.flushedThisTurn || this.busy()) setImmediate(this.flush);
        else process.nextTick(this.flush);
      }
    });
  }

  /** Whether a new read should wait for the end of the turn (see `deferWhileBusy`). */
  private busy(): boolean {
    const d = this.deferWhileBusy;
    return d === true ? this.inFlight > 0 : d !== false && d();
  }

  private readonly endOfTurn = (): void => {
    this.flushedThisTurn = false;
  };

  private readonly flush = (): void => {
    this.scheduled = false;
    if (!this.flushedThisTurn) {
      this.flushedThisTurn = true;
      setImmediate(this.endOfTurn);
    }
    if (this.keys.length > 0) {
      const keys = this.keys;
      const waiters = this.waiters;
      this.keys = [];
      this.waiters = [];
      this.index = new Map();
      this.send(keys, waiters);
    }
    if (this.deferred.length > 0) {
      const deferred = this.deferred;
      this.deferred = [];
      for (const handOut of deferred) handOut();
    }
  };

  private send(keys: string[], waiters: Waiter[][]): void {
    this.inFlight++;
    this.fetch(keys).then(
      (values) => {
        this.inFlight--;
        const n = waiters.length;
        if (n < SPLIT_AT) {
          settle(waiters, values, 0, n);
          return;
        }
        const half = n >> 1;
        settle(waiters, values, 0, half);
        this.deferred.push(() => settle(waiters, values, half, n));
        if (!this.scheduled) {
          // nextTick runs after the first half's continuations (microtasks) have queued their reads.
          this.scheduled = true;
          process.nextTick(this.flush);
        }
      },
      (err: unknown) => {
        this.inFlight--;
        for (const list of waiters) for (const w of list) w.reject(err);
      },
    );
  }
}

interface Waiter {
  resolve: (v: Buffer | null) => void;
  reject: (e: unknown) => void;
}

/**
 * Batches of at least this many distinct keys are handed out in two halves. Below it the overlap
 * gained is smaller than the cost of the extra round trip. At concurrency 64 the batches settle
 * at 16 to 31 keys with two to four in flight.
 */
export const SPLIT_AT = 32;

function settle(waiters: readonly Waiter[][], values: readonly (Buffer | null)[], from: number, to: number): void {
  for (let i = from; i < to; i++) {
    const v = values[i] ?? null;
    for (const w of waiters[i]!) w.resolve(v);
  }
}

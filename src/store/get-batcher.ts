/**
 * Collects single-key reads and sends them as one multi-key read.
 *
 * The first flush of an event-loop turn goes out on process.nextTick: every promise continuation
 * of the current callback adds its key first (so N concurrent `get`s cost one round trip) and a
 * lone read pays no extra latency. Reads issued after that flush in the same turn (in a server,
 * each request arrives in its own I/O callback) wait for the end of the turn (setImmediate) and go
 * out together, instead of one MGET per request.
 */
export class GetBatcher {
  private keys: string[] = [];
  private waiters: { resolve: (v: Buffer | null) => void; reject: (e: unknown) => void }[][] = [];
  private index = new Map<string, number>();
  private scheduled = false;
  private flushedThisTurn = false;

  constructor(private readonly fetch: (keys: string[]) => Promise<(Buffer | null)[]>) {}

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
        if (this.flushedThisTurn) setImmediate(this.flush);
        else process.nextTick(this.flush);
      }
    });
  }

  private readonly endOfTurn = (): void => {
    this.flushedThisTurn = false;
  };

  private readonly flush = (): void => {
    const keys = this.keys;
    const waiters = this.waiters;
    this.keys = [];
    this.waiters = [];
    this.index = new Map();
    this.scheduled = false;
    if (!this.flushedThisTurn) {
      this.flushedThisTurn = true;
      setImmediate(this.endOfTurn);
    }
    this.fetch(keys).then(
      (values) => {
        for (let i = 0; i < waiters.length; i++) {
          const v = values[i] ?? null;
          for (const w of waiters[i]!) w.resolve(v);
        }
      },
      (err: unknown) => {
        for (const list of waiters) for (const w of list) w.reject(err);
      },
    );
  };
}

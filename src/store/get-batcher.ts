/**
 * Collects the single-key reads issued during one turn of the event loop and sends them as one
 * multi-key read. Flushing on setImmediate (not a microtask or nextTick) lets every I/O callback
 * of the current turn add its key first (in a server, each request arrives in its own callback),
 * so N concurrent `get`s cost one round trip; an idle loop runs it at once.
 */
export class GetBatcher {
  private keys: string[] = [];
  private waiters: { resolve: (v: Buffer | null) => void; reject: (e: unknown) => void }[][] = [];
  private index = new Map<string, number>();
  private scheduled = false;

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
        setImmediate(this.flush);
      }
    });
  }

  private readonly flush = (): void => {
    const keys = this.keys;
    const waiters = this.waiters;
    this.keys = [];
    this.waiters = [];
    this.index = new Map();
    this.scheduled = false;
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

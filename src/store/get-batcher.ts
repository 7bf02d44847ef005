/**
 * Collects single-key reads and sends them as one multi-key read.
 *
 * The first flush of an event-loop turn goes out on process.nextTick: every promise continuation
 * of the current callback adds its key first (so N concurrent `get`s cost one round trip) and a
 * lone read pays no extra latency. Reads issued after that flush (in a server, each request arrives
 * in its own I/O callback) wait for the end of the turn (setImmediate) and go out together, instead
 * of one MGET per request. The turn is known to be over once that end-of-turn flush has run, or
 * once every batch sent has been answered (a reply is handled in a later turn than its send): no
 * timer per flush marks it, so nothing runs between a lone read's send and its reply.
 *
 * A large batch answered while no other is in flight is handed out in two halves: the first
 * half's callers continue at once, and the second half's only after the reads the first half
 * issued next have been sent. Redis then works on that next batch while this process is busy with
 * the rest of the current one, instead of both sides taking turns (stop-and-wait). With another
 * batch in flight Redis has work already, and the batch is handed out whole: fewer, larger reads.
 */
import { nextTick } from 'node:process';
export class GetBatcher {
  private keys: string[] = [];
  /** The first caller of each key, by position in `keys`. */
  private resolves: Resolve[] = [];
  private rejects: Reject[] = [];
  /** Further callers of a key already in the batch (rare), with the key's position. */
  private extra: Extra[] | undefined = undefined;
  /** Where each key of the batch is, once a second key joins it (a lone read needs none). */
  private readonly index = new KeyIndex();
  /** How many keys of `keys` are in `index`. */
  private indexed = 0;
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
    private readonly fetch: BatchFetch,
    private readonly deferWhileBusy: (() => boolean) | boolean = false,
  ) {}

  get(key: string): Promise<Buffer | null> {
    // A shared executor: no closure per read.
    const promise = new Promise<Buffer | null>(capture);
    const resolve = captured.resolve!;
    const reject = captured.reject!;
    captured.resolve = captured.reject = undefined;
    const keys = this.keys;
    const at = keys.length === 0 ? -1 : this.positionOf(key);
    if (at >= 0) {
      const extra = { at, resolve, reject };
      if (this.extra === undefined) this.extra = [extra];
      else this.extra.push(extra);
    } else {
      keys.push(key);
      this.resolves.push(resolve);
      this.rejects.push(reject);
    }
    if (!this.scheduled) {
      this.scheduled = true;
      if (this.flushedThisTurn || this.busy()) setImmediate(this.flushAtEndOfTurn);
      else nextTick(this.flush);
    }
    return promise;
  }

  /** Where `key` is in the (non-empty) batch, or -1 after recording it at the end of `keys`. */
  private positionOf(key: string): number {
    const keys = this.keys;
    if (this.indexed === 0) {
      if (key === keys[0]) return 0;
      this.index.add(keys, 0);
      this.indexed = 1;
    }
    const at = this.index.find(keys, key);
    if (at < 0) this.indexed++;
    return at;
  }

  /** Whether a new read should wait for the end of the turn (see `deferWhileBusy`). */
  private busy(): boolean {
    const d = this.deferWhileBusy;
    return d === true ? this.inFlight > 0 : d !== false && d();
  }

  /** A flush in the check phase: the turn is over, so the next read leaves on its own tick again. */
  private readonly flushAtEndOfTurn = (): void => {
    this.flush();
    this.flushedThisTurn = false;
  };

  private readonly flush = (): void => {
    this.scheduled = false;
    if (this.keys.length > 0) {
      const batch = new Batch(this.keys, this.resolves, this.rejects, this.extra);
      this.keys = [];
      this.resolves = [];
      this.rejects = [];
      this.extra = undefined;
      if (this.indexed > 0) {
        this.index.clear();
        this.indexed = 0;
      }
      this.send(batch);
    }
    this.flushedThisTurn = true;
    if (this.deferred.length > 0) {
      const deferred = this.deferred;
      this.deferred = [];
      for (const handOut of deferred) handOut();
    }
  };

  private send(batch: Batch): void {
    this.inFlight++;
    this.fetch(
      batch.keys,
      (values) => {
        if (--this.inFlight === 0) this.flushedThisTurn = false;
        const n = batch.keys.length;
        // Another batch in flight keeps Redis busy while this one is handed out: no need to split.
        if (n < SPLIT_AT || this.inFlight > 0) {
          batch.settle(values, 0, n);
          return;
        }
        const half = n >> 1;
        batch.settle(values, 0, half);
        this.deferred.push(() => batch.settle(values, half, n));
        if (!this.scheduled) {
          // nextTick runs after the first half's continuations (microtasks) have queued their reads.
          this.scheduled = true;
          nextTick(this.flush);
        }
      },
      (err: unknown) => {
        if (--this.inFlight === 0) this.flushedThisTurn = false;
        batch.fail(err);
      },
    );
  }
}

/**
 * Reads the values of `keys`, in order, and hands them to `done`, or the failure to `failed`:
 * exactly one of them, once. Callbacks rather than a promise, so a store can pass a read's reply
 * on without a promise of its own (see `promised` for a fetch that returns one).
 */
export type BatchFetch = (keys: string[], done: (values: (Buffer | null)[]) => void, failed: (err: unknown) => void) => void;

/** A BatchFetch from a function that returns a promise of the values. */
export function promised(fetch: (keys: string[]) => Promise<(Buffer | null)[]>): BatchFetch {
  return (keys, done, failed) => {
    fetch(keys).then(done, failed);
  };
}

type Resolve = (v: Buffer | null) => void;
type Reject = (e: unknown) => void;

interface Extra {
  at: number;
  resolve: Resolve;
  reject: Reject;
}

/** The resolving functions of the promise being created, set by `capture` (a promise's executor runs synchronously). */
const captured: { resolve: Resolve | undefined; reject: Reject | undefined } = { resolve: undefined, reject: undefined };

function capture(resolve: Resolve, reject: Reject): void {
  captured.resolve = resolve;
  captured.reject = reject;
}

/** One sent read: its distinct keys and their callers. */
class Batch {
  constructor(
    readonly keys: string[],
    private readonly resolves: Resolve[],
    private readonly rejects: Reject[],
    private readonly extra: Extra[] | undefined,
  ) {}

  /** Answers the callers of the keys at positions `from` to `to` (excluded). */
  settle(values: readonly (Buffer | null)[], from: number, to: number): void {
    const resolves = this.resolves;
    for (let i = from; i < to; i++) resolves[i]!(values[i] ?? null);
    if (this.extra !== undefined) for (const e of this.extra) if (e.at >= from && e.at < to) e.resolve(values[e.at] ?? null);
  }

  fail(err: unknown): void {
    for (const reject of this.rejects) reject(err);
    if (this.extra !== undefined) for (const e of this.extra) e.reject(err);
  }
}

/**
 * The positions of a batch's keys by key: open addressing on a hash of the key, in one table kept
 * from batch to batch (a Map or Set would be allocated, and rehashed as it grows, for every batch).
 */
class KeyIndex {
  /** Position + 1 of the key hashed to each slot; 0: free. */
  private slots = new Int32Array(64);
  private hashes: number[] = [];
  private used = 0;

  /** Where `key` is in `keys`, or -1 after recording it at position `keys.length`. */
  find(keys: readonly string[], key: string): number {
    const h = hashOf(key);
    const mask = this.slots.length - 1;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const slot = this.slots[i]!;
      if (slot === 0) {
        this.put(i, keys.length, h);
        return -1;
      }
      if (this.hashes[slot - 1] === h && keys[slot - 1] === key) return slot - 1;
    }
  }

  /** Records the key at `position` of `keys` (known not to be in the index). */
  add(keys: readonly string[], position: number): void {
    const h = hashOf(keys[position]!);
    const mask = this.slots.length - 1;
    let i = h & mask;
    while (this.slots[i] !== 0) i = (i + 1) & mask;
    this.put(i, position, h);
  }

  private put(slot: number, position: number, h: number): void {
    this.slots[slot] = position + 1;
    this.hashes[position] = h;
    // At most half full, so probes stay short.
    if (++this.used * 2 > this.slots.length) this.grow();
  }

  private grow(): void {
    const slots = new Int32Array(this.slots.length * 2);
    const mask = slots.length - 1;
    for (let p = 0; p < this.used; p++) {
      let i = this.hashes[p]! & mask;
      while (slots[i] !== 0) i = (i + 1) & mask;
      slots[i] = p + 1;
    }
    this.slots = slots;
  }

  clear(): void {
    // A table grown for one large batch shrinks back once batches are small again.
    if (this.slots.length > 64 && this.used * 8 < this.slots.length) this.slots = new Int32Array(this.slots.length / 2);
    else this.slots.fill(0);
    this.used = 0;
  }
}

/** FNV-1a over the UTF-16 code units. */
function hashOf(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/**
 * Batches of at least this many distinct keys, answered while no other is in flight, are handed
 * out in two halves. Below it the overlap gained is smaller than the cost of the extra round trip.
 * At concurrency 64 the batches settle at about 40 keys, two in flight.
 */
export const SPLIT_AT = 32;

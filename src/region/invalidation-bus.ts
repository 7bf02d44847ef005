import type { MessageBus } from '../store/index.js';
import { newToken } from './tokens.js';
import type { Generations } from './generations.js';
import type { TagTokens } from './tag-tokens.js';

/** What an invalidation message says. */
export interface Invalidation {
  region?: string;
  tags?: string[];
}

/**
 * Carries invalidations between processes: every region or tag invalidation is published, and
 * every process applies it to its local generations and tag tokens at once. Because a broadcast
 * can be missed (connection lost), the tables are also re-read after every reconnect, and checked
 * every `syncIntervalMs` by their change counts (see `TableSync`): that interval bounds how long a
 * process can serve invalidated data.
 */
export class InvalidationBus {
  private unsubscribe: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Identifies this trove's own messages, so only other processes' invalidations count as remote. */
  readonly origin = newToken();

  constructor(
    private readonly store: MessageBus,
    readonly channel: string,
    private readonly generations: Generations,
    private readonly tags: TagTokens,
    private readonly syncIntervalMs: number,
    private readonly onError: (err: unknown) => void,
    private readonly onRemote: (inv: Invalidation) => void,
  ) {}

  start(): void {
    this.store
      .subscribe(this.channel, {
        onMessage: (message) => this.receive(message),
        onReset: () => void this.resync(),
      })
      .then(
        (unsubscribe) => {
          if (this.closed) unsubscribe();
          else this.unsubscribe = unsubscribe;
        },
        (err: unknown) => this.onError(err),
      );
    if (Number.isFinite(this.syncIntervalMs)) {
      this.timer = setInterval(() => void this.check(), this.syncIntervalMs);
      this.timer.unref();
    }
  }

  /** Tells every process that this one created a new epoch of a table (`ge`: generations, `te`: tags). */
  announceEpoch(table: 'ge' | 'te', epoch: string): void {
    this.store.publish(this.channel, JSON.stringify({ [table]: epoch, o: this.origin })).catch((err: unknown) => this.onError(err));
  }

  /** Re-reads both tables in full: broadcasts may have been lost (a subscription or the tracked connection came back). */
  resync(): Promise<void> {
    return this.settle(Promise.all([this.generations.load(), this.tags.refresh()]));
  }

  /** The periodic check of both tables, by their change counts (see `TableSync`). */
  check(): Promise<void> {
    return this.settle(Promise.all([this.generations.sync(true), this.tags.sync(true)]));
  }

  private settle(work: Promise<unknown>): Promise<void> {
    return work.then(
      () => {},
      (err: unknown) => this.onError(err),
    );
  }

  private receive(message: string): void {
    let parsed: { g?: [string, string]; t?: [string, string][]; n?: number; e?: string; ge?: string; te?: string; o?: string };
    try {
      parsed = JSON.parse(message) as typeof parsed;
    } catch {
      return; // not ours
    }
    const remote = parsed.o !== this.origin;
    // A table was recreated with a new epoch (it had been evicted or flushed): re-read it now.
    if (typeof parsed.ge === 'string') this.generations.noteEpoch(parsed.ge).catch((err: unknown) => this.onError(err));
    if (typeof parsed.te === 'string') this.tags.noteEpoch(parsed.te).catch((err: unknown) => this.onError(err));
    // Counted by the table (`n`, `e`) unless sent by a release that does not count.
    const n = Number.isSafeInteger(parsed.n) ? parsed.n : undefined;
    const e = typeof parsed.e === 'string' ? parsed.e : undefined;
    if (Array.isArray(parsed.g) && typeof parsed.g[0] === 'string' && typeof parsed.g[1] === 'string') {
      this.generations.receive(parsed.g[0], parsed.g[1], n, e).catch((err: unknown) => this.onError(err));
      if (remote) this.onRemote({ region: parsed.g[0] });
    }
    if (Array.isArray(parsed.t)) {
      const entries = parsed.t.filter((pair) => Array.isArray(pair) && typeof pair[0] === 'string' && typeof pair[1] === 'string');
      if (entries.length > 0) this.tags.receive(entries, n, e).catch((err: unknown) => this.onError(err));
      if (entries.length > 0 && remote) this.onRemote({ tags: entries.map(([tag]) => tag) });
    }
  }

  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }
}

/**
 * One soak process: a trove with the near cache on, under a mixed load until the parent says
 * stop, sampling itself every second and checking every value it reads. Forked by `run.ts`
 * with `--expose-gc`; it reports over the IPC channel only.
 */
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import { createTrove, type Region, type Trove } from '../../src/index.js';
import { prng } from '../prng.js';
import { Checks } from './checks.js';
import { zipf } from './math.js';
import {
  ACK_WINDOW_MS,
  type ChildSummary,
  type ComputedValue,
  type FeedValue,
  type FromChild,
  feedKey,
  itemKey,
  REGIONS,
  type Sample,
  type SoakConfig,
  type ToChild,
  warmupOps,
} from './protocol.js';

const gc = (globalThis as { gc?: () => void }).gc;
const PAD = 'x'.repeat(200);
/** Recently created tagged keys that `tagged.get` picks from. */
const RECENT_TAGGED = 256;
/** Longest wait for the resources left by close() to go away (sockets close asynchronously). */
const SETTLE_MS = 5_000;

function send(msg: FromChild): void {
  if (process.connected) process.send?.(msg);
}

function codeOf(err: unknown): string {
  if (err !== null && typeof err === 'object' && 'code' in err && typeof err.code === 'string') return err.code;
  return err instanceof Error ? err.name : 'unknown';
}

/** Resources keeping the loop alive, once the count is at most `target` or `SETTLE_MS` passed. */
async function settledResources(target: number): Promise<string[]> {
  const deadline = performance.now() + SETTLE_MS;
  for (;;) {
    const now = process.getActiveResourcesInfo();
    if (now.length <= target || performance.now() > deadline) return now;
    await sleep(20);
  }
}

class Soaker {
  private readonly trove: Trove;
  private readonly items: Region<ComputedValue>;
  private readonly feed: Region<FeedValue>;
  private readonly tagged: Region<ComputedValue>;
  private readonly checks: Checks;
  private readonly random: () => number;
  private readonly pickItem: () => number;
  private readonly pickFeed: () => number;
  private readonly recent: { key: string; tags: string[] }[] = [];
  private created = 0;
  private ops = 0;
  private readonly opsByKind: Record<string, number> = {};
  private readonly errors: Record<string, number> = {};
  private errorTotal = 0;
  private stopping = false;
  private readonly abort = new AbortController();
  private running: Promise<void>[] = [];
  private sampler: NodeJS.Timeout | undefined;
  private warmTimer: NodeJS.Timeout | undefined;
  /** Whether the warm-up's length has passed; it ends once its operations are done too (see `warmupOps`). */
  private warmClock = false;
  private measuring = false;
  /** Propagation windows of acknowledged writes still running. */
  private readonly ackTimers = new Set<NodeJS.Timeout>();
  private t0 = 0;
  private cpu0: NodeJS.CpuUsage = { user: 0, system: 0 };

  constructor(
    private readonly index: number,
    url: string,
    private readonly config: SoakConfig,
    private readonly resourcesBefore: string[],
  ) {
    this.random = prng(config.seed * 101 + index);
    this.pickItem = zipf(config.itemKeys, 1, this.random);
    this.pickFeed = zipf(config.feedKeys, 1, this.random);
    this.checks = new Checks(config.feedKeys);
    this.trove = createTrove({ redis: url, prefix: config.prefix, regions: REGIONS });
    this.trove.on('error', (e) => this.countError(e.error.code));
    this.items = this.trove.region<ComputedValue>('items');
    this.feed = this.trove.region<FeedValue>('feed');
    this.tagged = this.trove.region<ComputedValue>('tagged');
  }

  /** Subscribed, generations read, and every items and feed key read once, so the warm-up starts from a full near cache. */
  async warm(): Promise<void> {
    await this.trove.ready();
    const chunk = 250;
    for (let i = 0; i < this.config.itemKeys; i += chunk) {
      const end = Math.min(i + chunk, this.config.itemKeys);
      const reads: Promise<void>[] = [];
      for (let j = i; j < end; j++) reads.push(this.readItem(itemKey(j), true));
      await Promise.all(reads);
    }
    const reads: Promise<void>[] = [];
    for (let i = 0; i < this.config.feedKeys; i++) reads.push(this.readFeed(i));
    await Promise.all(reads);
  }

  /** Starts the load; after the warm-up, starts sampling and tells the parent. */
  start(): void {
    this.t0 = performance.now();
    for (let i = 0; i < this.config.concurrency; i++) this.running.push(this.worker());
    this.running.push(this.invalidator('region', this.config.regionInvalidateEveryMs));
    this.running.push(this.invalidator('tags', this.config.tagInvalidateEveryMs));
    this.warmTimer = setTimeout(() => {
      this.warmClock = true;
      this.maybeWarmed();
    }, this.config.warmupMs);
  }

  private maybeWarmed(): void {
    if (this.measuring || !this.warmClock || this.ops < warmupOps(this.config)) return;
    this.measuring = true;
    this.warmed();
  }

  private warmed(): void {
    this.t0 = performance.now();
    this.cpu0 = process.cpuUsage();
    this.ops = 0;
    for (const k of Object.keys(this.opsByKind)) delete this.opsByKind[k];
    this.sample();
    this.sampler = setInterval(() => this.sample(), 1_000);
    send({ type: 'warm' });
  }

  async stop(): Promise<ChildSummary> {
    this.stopping = true;
    this.abort.abort();
    clearTimeout(this.warmTimer);
    for (const t of this.ackTimers) clearTimeout(t);
    this.ackTimers.clear();
    await Promise.all(this.running);
    this.running = [];
    clearInterval(this.sampler);
    this.sample();
    const near = this.trove.stats().near;
    const closing = performance.now();
    await this.trove.close();
    const closeMs = performance.now() - closing;
    const resourcesAfter = await settledResources(this.resourcesBefore.length);
    gc?.();
    return {
      ops: this.ops,
      opsByKind: this.opsByKind,
      errors: this.errors,
      stale: this.checks.stale,
      examples: this.checks.examples,
      checked: this.checks.checked,
      late: this.checks.late,
      resourcesBefore: this.resourcesBefore,
      resourcesAfter,
      near: near && {
        hits: near.hits,
        misses: near.misses,
        evictions: near.evictions,
        invalidations: near.invalidations,
        resets: near.resets,
        entries: near.entries,
      },
      closeMs,
      heapAfterClose: process.memoryUsage().heapUsed,
    };
  }

  /**
   * An outside write Redis acknowledged. Noted after the current poll phase (any invalidation
   * already received has been applied by then); required of reads once the process has polled
   * its sockets again at least ACK_WINDOW_MS later.
   */
  acked(keys: number[], seqs: number[]): void {
    setImmediate(() => {
      this.checks.noticeAcked(keys, seqs);
      if (this.stopping) return;
      const timer = setTimeout(() => {
        this.ackTimers.delete(timer);
        setImmediate(() => this.checks.applyAcked(keys, seqs));
      }, ACK_WINDOW_MS);
      this.ackTimers.add(timer);
    });
  }

  private sample(): void {
    gc?.();
    const cpu = process.cpuUsage(this.cpu0);
    const sample: Sample = {
      t: performance.now() - this.t0,
      heapUsed: process.memoryUsage().heapUsed,
      resources: process.getActiveResourcesInfo().length,
      nearEntries: this.trove.stats().near?.entries ?? 0,
      ops: this.ops,
      errors: this.errorTotal,
      cpuMs: (cpu.user + cpu.system) / 1000,
    };
    send({ type: 'sample', sample });
  }

  private countError(code: string): void {
    this.errors[code] = (this.errors[code] ?? 0) + 1;
    this.errorTotal++;
  }

  private done(kind: string): void {
    this.ops++;
    this.opsByKind[kind] = (this.opsByKind[kind] ?? 0) + 1;
    if (!this.measuring) this.maybeWarmed();
  }

  private async worker(): Promise<void> {
    let n = 0;
    while (!this.stopping) {
      if (this.config.opsPerSecond > 0 && this.ops >= (this.config.opsPerSecond * (performance.now() - this.t0)) / 1000) {
        await sleep(5);
        continue;
      }
      await this.oneOp();
      // Near-cache hits settle in microtasks only: without this the loop would starve timers and IPC.
      if ((++n & 15) === 0) await nextTurn();
    }
  }

  private async oneOp(): Promise<void> {
    const r = this.random();
    try {
      if (r < 0.55) await this.readItem(itemKey(this.pickItem()), true);
      else if (r < 0.65) await this.readItem(itemKey(this.pickItem()), false);
      else if (r < 0.85) await this.readFeed(this.pickFeed());
      else if (r < 0.92 || this.recent.length === 0) await this.createTagged();
      else await this.readTagged();
    } catch (err) {
      this.countError(`thrown ${codeOf(err)}`);
    }
  }

  private compute(key: string, tags?: string[]): ComputedValue {
    return tags === undefined ? { k: key, at: Date.now(), by: this.index, pad: PAD } : { k: key, at: Date.now(), by: this.index, tags, pad: PAD };
  }

  private async readItem(key: string, orSet: boolean): Promise<void> {
    const floor = this.checks.regionFloor();
    const v = orSet ? await this.items.getOrSet(key, () => this.compute(key)) : await this.items.get(key);
    this.checks.checkItem(key, v, floor);
    this.done(orSet ? 'items.getOrSet' : 'items.get');
  }

  private async readFeed(i: number): Promise<void> {
    const key = feedKey(i);
    const floor = this.checks.feedFloor(i);
    const startedAt = performance.now();
    const v = await this.feed.get(key);
    this.checks.checkFeed(i, key, v, floor, startedAt);
    this.done('feed.get');
  }

  private pickTags(): string[] {
    const a = `t${Math.floor(this.random() * this.config.tags)}`;
    const b = `t${Math.floor(this.random() * this.config.tags)}`;
    return this.random() < 0.5 || a === b ? [a] : [a, b];
  }

  /** A miss with tags: a key never used before. */
  private async createTagged(): Promise<void> {
    const key = `c${this.index}.${this.created++}`;
    const tags = this.pickTags();
    const floor = this.checks.tagFloor(tags);
    const v = await this.tagged.getOrSet(key, () => this.compute(key, tags), { tags });
    this.checks.checkTagged(key, v, floor);
    if (this.recent.length < RECENT_TAGGED) this.recent.push({ key, tags });
    else this.recent[this.created % RECENT_TAGGED] = { key, tags };
    this.done('tagged.getOrSet');
  }

  private async readTagged(): Promise<void> {
    const { key, tags } = this.recent[Math.floor(this.random() * this.recent.length)]!;
    const floor = this.checks.tagFloor(tags);
    const v = await this.tagged.get(key);
    this.checks.checkTagged(key, v, floor);
    this.done('tagged.get');
  }

  /** Invalidates now and then, at exponentially distributed intervals of mean `meanMs`. */
  private async invalidator(kind: 'region' | 'tags', meanMs: number): Promise<void> {
    for (;;) {
      const wait = -meanMs * Math.log(1 - this.random());
      await sleep(wait, undefined, { signal: this.abort.signal }).catch(() => {});
      if (this.stopping) return;
      const startedAt = Date.now();
      try {
        if (kind === 'region') {
          await this.items.invalidate();
          this.checks.regionInvalidated(startedAt);
          this.done('items.invalidate');
        } else {
          const tags = [`t${Math.floor(this.random() * this.config.tags)}`];
          await this.trove.invalidateTags(tags);
          this.checks.tagsInvalidated(tags, startedAt);
          this.done('invalidateTags');
        }
      } catch (err) {
        this.countError(`thrown ${codeOf(err)}`);
      }
    }
  }
}

let soaker: Soaker | undefined;
let finishing = false;

async function handle(msg: ToChild): Promise<void> {
  switch (msg.type) {
    case 'init': {
      // Measured before the trove exists, once the start-up's own transient requests are done.
      await sleep(50);
      const before = process.getActiveResourcesInfo();
      soaker = new Soaker(msg.index, msg.url, msg.config, before);
      await soaker.warm();
      send({ type: 'ready' });
      return;
    }
    case 'start':
      soaker?.start();
      return;
    case 'acked':
      soaker?.acked(msg.keys, msg.seqs);
      return;
    case 'stop': {
      const summary = await soaker!.stop();
      send({ type: 'closed', summary });
      return;
    }
    case 'exit':
      // Nothing else should keep the process alive: it exits on its own once the channel closes.
      finishing = true;
      process.off('message', onMessage);
      process.disconnect();
      return;
  }
}

function onMessage(msg: ToChild): void {
  handle(msg).catch((err: unknown) => {
    send({ type: 'failed', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    process.exitCode = 1;
    process.disconnect();
  });
}

process.on('message', onMessage);
// The parent went away without saying goodbye: do not linger.
process.on('disconnect', () => {
  if (!finishing) process.exit(2);
});

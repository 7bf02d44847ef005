import { performance } from 'node:perf_hooks';
import type { DecodedEntry, TagStamp } from '../codec/index.js';
import { ClosedError, ColdCacheError, FactoryError, TimeoutError, TroveError } from '../errors.js';
import type { ClaimOption, LockStore, ReadOrLock } from '../store/index.js';
import { callFactory, type FactoryContext, type FactoryOverrides, RunContext } from './factory-context.js';
import { ExpiringKeys } from './expiring-keys.js';
import { type HeldElsewhere, Lease } from './lease.js';
import type { Notifier } from './notifier.js';
import type { ResolvedReadThrough } from './options.js';
import { isThenable } from '../thenable.js';
import { TransientMap } from '../transient-map.js';

/** Why a stale value was answered. */
export type StaleReason = 'refreshing' | 'fail-safe' | 'timeout';

/** A value encoded for storage, with what the near cache needs to keep it. */
export interface Encoded {
  bytes: Buffer;
  ttlMs: number;
  freshUntil: number | undefined;
  expiresAt: number | undefined;
  stamps: readonly TagStamp[] | undefined;
}

/** How the loader reads, encodes and reports for one region. */
export interface EntryAccess<W> {
  /** Reads and decodes an entry; undefined when absent, undecodable or invalidated; rejects on store failure (also of its tag check). */
  read(full: string, key: string): Promise<DecodedEntry | undefined>;
  /** The cached function whose calls these are; undefined for a region's own. */
  readonly function?: string;
  /**
   * Decodes bytes already read (with the lock); undefined when undecodable or invalidated; rejects
   * when the store fails its tag check. Bytes equal to `reported` (what the call's own read found
   * and reported) are not reported undecodable a second time.
   */
  fromBytes(key: string, bytes: Buffer, reported?: Buffer): Promise<DecodedEntry | undefined>;
  /** Encodes a value for storage with the write options (throws SerializationError, ValueTooLargeError). */
  encode(value: unknown, write: W | undefined, freshForMs?: number): Encoded;
  /** Stores encoded bytes (no lock involved); `track` as in `Store.set`. */
  store(full: string, bytes: Buffer, ttlMs: number, track: boolean): Promise<void>;
  /** Before a write is sent: returns a ticket for `endWrite` (keeps the near cache race-free). */
  beginWrite(full: string): number;
  /** After a write: keeps the written value locally (`value` undefined when the write failed). */
  endWrite(full: string, ticket: number, written: { value: unknown; encoded: Encoded } | undefined): void;
  /** Resolved freshFor of a write, for eager refresh. */
  freshForMs(write: W | undefined): number;
  shouldCache(value: unknown, write: W | undefined): boolean;
  /** The region's dotted path (for the factory's context). */
  readonly region: string;
  /** Checks tags set by a factory (throws InvalidOptionError). */
  checkTags(tags: readonly string[]): void;
  /** A counter of the tag invalidations this process has learnt of, read when a computation starts (see `adapt`). */
  tagClock(): number;
  /**
   * The write options of a computed value, with what its factory set (ttl, freshness, tags; tags
   * are stamped now). Undefined when the value must not be stored: a tag it set was invalidated,
   * as far as this process knows, after `since` (a `tagClock()` reading taken when it started).
   */
  adapt(write: W | undefined, overrides: FactoryOverrides, since: number): Promise<W | undefined> | W | undefined;
  /** Mean factory time of this region or cached function in this process, in ms; undefined when nothing was computed yet (or statistics are off). */
  meanComputeMs(): number | undefined;
  onSet(key: string, bytes: number, ttlMs: number, startedAt: number): void;
  /** A factory run ended, with a value or thrown (`failed`), after `durationMs`. */
  onCompute(key: string, durationMs: number, failed: boolean): void;
  onStale(key: string, reason: StaleReason): void;
  onError(err: unknown, operation: string, key: string): void;
  /** Where the region's entry locks live, when not the trove's (hash storage: next to each entry's bucket). */
  readonly locks?: EntryLocks | undefined;
  /**
   * Whether a miss may claim the entry's own key instead of taking a lock key (`LockStore.acquireLock`'s
   * `claim`): the key holds envelopes only (not raw payloads, not a bucket), and the value is not
   * kept in the near cache.
   */
  readonly claimable: boolean;
}

/** A region's own locks: the lock operations, with `readKey`/`key` naming entries, and the lock key of an entry. */
export interface EntryLocks extends LockStore {
  lockKey(full: string): string;
}

/** Shared by every region of a trove. */
export interface LoaderContext {
  readonly store: LockStore;
  readonly notifier: Notifier;
  lockKey(full: string): string;
}

interface Job<T, W> {
  key: string;
  full: string;
  factory: (ctx: FactoryContext<T>) => T | Promise<T>;
  write: W | undefined;
  rt: ResolvedReadThrough;
  access: EntryAccess<W>;
  /** The bytes the call's read found and could not use (undecodable, say), reported already. */
  readBytes?: Buffer | undefined;
}

const isFresh = (e: DecodedEntry): boolean => e.freshUntil === undefined || e.freshUntil > Date.now();

/** `Run.until` gave up waiting: the run has failed. */
const TROUBLE: unique symbol = Symbol('trouble');
/** A read the store failed (reported; the run has failed). */
const FAILED: unique symbol = Symbol('failed');

/**
 * What the callers of one run of a key share. Once a store operation of the run, or of a caller
 * that joins it, has failed (StoreError, StoreTimeoutError), Redis is down or stalled and each
 * further wait on it would cost up to another full commandTimeout: the run then waits on the
 * store no more. It computes without the lock, answers without storing, and lets go of a lock it
 * holds in the background.
 */
class Run {
  failed = false;
  /** The waits under way, answered TROUBLE if the run fails (no promise of its own: most runs never fail). */
  private waits: ((t: typeof TROUBLE) => void)[] | undefined;

  constructor(failed = false) {
    if (failed) this.fail();
  }

  fail(): void {
    this.failed = true;
    const waits = this.waits;
    this.waits = undefined;
    if (waits !== undefined) for (const w of waits) w(TROUBLE);
  }

  /**
   * Runs `ok` or `failed` on `op`'s outcome (they must not throw), whatever becomes of the run;
   * then calls `next`, once: after one of them has run, or as soon as the run fails. `until` of a
   * `then`, without a promise of its own.
   */
  after<T>(op: Promise<T>, ok: (value: T) => void, failed: (err: unknown) => void, next: () => void): void {
    let called = false;
    const once = (): void => {
      if (called) return;
      called = true;
      next();
    };
    if (this.failed) once();
    else {
      this.waits ??= [];
      this.waits.push(once);
    }
    op.then(
      (value) => {
        ok(value);
        once();
      },
      (err: unknown) => {
        failed(err);
        once();
      },
    );
  }

  /** `op`'s outcome, or TROUBLE as soon as the run fails (`op` then goes on unobserved, so it must not reject). */
  until<T>(op: Promise<T>): Promise<T | typeof TROUBLE> {
    if (this.failed) return Promise.resolve(TROUBLE);
    return new Promise<T | typeof TROUBLE>((resolve, reject) => {
      this.waits ??= [];
      this.waits.push(resolve);
      op.then(resolve, reject);
    });
  }
}

/** An in-process run of a miss, joined by concurrent callers of the same key. */
interface Flight {
  readonly promise: Promise<unknown>;
  readonly run: Run;
}

/**
 * A `readOrMiss` step under way, shared by the callers of its key that come meanwhile. Kept in the
 * same map as the flights, which replace it when the miss goes on: one entry per key instead of
 * one in each of two maps, two Map operations less per miss (string keys: hashed, compared).
 */
class FirstRead {
  constructor(readonly step: Promise<ReadOrLock>) {}
}

/**
 * Read-through beyond the fresh hit: misses (one computation across all processes), stale values
 * (served while one process refreshes), timeouts and fail-safe. One Loader per trove.
 */
export class Loader {
  /** In-process single flight for misses, and the `readOrMiss` steps that come before one (see FirstRead). */
  private readonly cold = new TransientMap<string, Flight | FirstRead>();
  /** In-process single flight for refreshes of stale (or eagerly refreshed) values. */
  private readonly refreshing = new TransientMap<string, Promise<void>>();
  /** Keys another process is refreshing: don't ask for its lock on every request meanwhile. */
  private readonly heldElsewhere = new ExpiringKeys<true>(10_000);
  /** Factories running in this process, until they settle (a caller may have stopped waiting). */
  private readonly computing = new TransientMap<string, Promise<unknown>>();
  /** Since when (epoch ms) this process has seen another process computing a key: for `ColdCacheError.retryAfterMs`. */
  private readonly heldSince = new ExpiringKeys<number>(10_000);
  /** The leave to claim value keys, made once (see `claimOf`). */
  private claim: ClaimOption | undefined;
  /** Contexts of the factories running here, whose signal `close()` fires. */
  private readonly running = new TransientMap<RunContext<unknown>, true>();

  constructor(private readonly ctx: LoaderContext) {
    // The value landed (stored by any process): whoever was computing it is done.
    ctx.notifier.onNotified = (full) => {
      this.heldElsewhere.delete(full);
      this.heldSince.delete(full);
    };
  }

  /** Runs a factory outside read-through (`trove.bypass()`), with a context whose settings have no effect. */
  uncached<T, W>(job: Job<T, W>): Promise<T> {
    const run = new RunContext<T>(this, job.key, job.access.region, undefined, (tags) => job.access.checkTags(tags));
    return Promise.resolve(run).then((c) => callFactory(c, job.factory));
  }

  /** Fires the signal of every factory still running (the trove is closing). */
  close(): void {
    const closed = new ClosedError();
    for (const c of this.running.keys()) c.abort(closed);
    this.running.clear();
  }

  /** Whether a refresh of this key is under way here or, as far as we know, elsewhere. */
  private busy(full: string): boolean {
    return this.refreshing.has(full) || this.computing.has(full) || this.heldElsewhere.has(full);
  }

  /** A miss: compute once across processes (lock), or wait for the process that does. */
  miss<T, W>(job: Job<T, W>): Promise<T> {
    const flight = this.flightOf(job.full);
    if (flight) return flight.promise as Promise<T>;
    const run = new Run();
    return this.fly(job.full, run, () => this.missOnce(job, run));
  }

  /**
   * Whether `readOrMiss` can serve this job: it locks, its entries' locks are the trove's (not a
   * hash bucket's), and the store reads and locks in one step.
   */
  readsFirst<T, W>(job: Job<T, W>): boolean {
    return job.rt.lock && job.access.locks === undefined && this.ctx.store.readOrLock !== undefined;
  }

  /**
   * getOrSet's read where reads mostly miss (see `readsFirst`): the value is read and, only when
   * absent, the lock attempted, in one step, saving a miss the round trip of a read of its own.
   * A present value goes to `found` (no lock was taken), whose answer is this call's. Otherwise
   * `missed` is called and the miss goes on from that attempt, as `miss` does; an in-process run
   * of the key is joined without asking Redis. When the store fails the step, `failed` (given the
   * error, unreported) answers instead, as after a failed read.
   */
  readOrMiss<T, W>(job: Job<T, W>, found: (bytes: Buffer) => T | Promise<T>, missed: () => void, failed: (err: unknown) => T | Promise<T>): Promise<T> {
    const entry = this.cold.get(job.full);
    if (entry instanceof FirstRead) {
      // Another caller here asked already: share its step. Its own handler, registered first,
      // has started the run by the time this one runs.
      return entry.step.then((read) => {
        if ('found' in read) return found(read.found);
        missed();
        return (this.flightOf(job.full)?.promise as Promise<T> | undefined) ?? this.miss(job);
      }, failed);
    }
    if (entry !== undefined) {
      missed();
      return entry.promise as Promise<T>;
    }
    const run = new Run();
    const store = this.ctx.store as LockStore & Pick<Required<LockStore>, 'readOrLock'>;
    const lockKey = this.ctx.lockKey(job.full);
    const token = Lease.newToken();
    const step = store.readOrLock(lockKey, token, job.rt.lockLeaseMs, job.full, this.claimOf(job));
    const first = new FirstRead(step);
    this.cold.set(job.full, first);
    return step.then(
      (read) => {
        // Still ours, unless a run of the key started here meanwhile (`miss`, `direct`), which
        // replaced it (and may have ended since, and another caller's step taken the place).
        const now = this.cold.get(job.full);
        if ('found' in read) {
          if (now === first) this.cold.delete(job.full);
          return found(read.found);
        }
        const renewFailed = (err: unknown) => {
          job.access.onError(err, 'lock', job.key);
          run.fail();
        };
        const attempt = Lease.fromAttempt(store, lockKey, token, job.rt.lockLeaseMs, renewFailed, read);
        missed();
        if (now !== undefined && !(now instanceof FirstRead)) {
          // That run is under way: ours would compute twice.
          if (attempt instanceof Lease) this.letGo(job, attempt);
          return now.promise as Promise<T>;
        }
        // `fly` puts the run in the step's place (ours, or a later caller's, which then joins it).
        // The value was absent when the lock was won: compute, without missOnce's steps.
        if (attempt instanceof Lease && attempt.value === null) {
          return this.fly(job.full, run, () => this.produce(job, { stale: undefined, lease: attempt, store: true, background: false, run }));
        }
        return this.fly(job.full, run, () => this.missOnce(job, run, attempt));
      },
      (err: unknown) => {
        if (this.cold.get(job.full) === first) this.cold.delete(job.full);
        Lease.giveUp(store, lockKey, token);
        return failed(err);
      },
    );
  }

  /** The store failed the read: compute here, without lock and without writing. */
  direct<T, W>(job: Job<T, W>): Promise<T> {
    const flight = this.flightOf(job.full);
    if (flight) {
      // This caller has waited out a deadline already: the run it joins must stop waiting on the
      // store (a lock attempt, another process's notification, a write) and answer.
      flight.run.fail();
      return flight.promise as Promise<T>;
    }
    const run = new Run(true);
    return this.fly(job.full, run, () => this.computeHere(job, run));
  }

  /** The run of this key under way here, if any (a FirstRead is not one yet). */
  private flightOf(full: string): Flight | undefined {
    const entry = this.cold.get(full);
    return entry instanceof FirstRead ? undefined : entry;
  }

  /** In-process single flight: concurrent callers of the same key share one run. */
  private fly<T>(full: string, run: Run, start: () => Promise<T>): Promise<T> {
    // then, not finally: on a miss, every promise counts.
    const promise = start().then(
      (value) => {
        this.cold.delete(full);
        return value;
      },
      (err: unknown) => {
        this.cold.delete(full);
        throw err;
      },
    );
    this.cold.set(full, { promise, run });
    return promise;
  }

  /** Computes a missing value without the lock, after the store failed: it is answered, not stored. */
  private computeHere<T, W>(job: Job<T, W>, run: Run): Promise<T> {
    return this.produce(job, { stale: undefined, lease: undefined, store: false, background: false, run });
  }

  /** A stale value: answer it and refresh (in the background, or in this caller when 'blocking'). */
  stale<T, W>(job: Job<T, W>, entry: DecodedEntry): Promise<T> {
    const busy = this.busy(job.full);
    if (job.rt.staleRefresh === 'blocking' && !busy) {
      // This caller refreshes and waits; callers arriving meanwhile get the stale value.
      const result = this.refresh(job, entry, 'blocking');
      this.refreshing.set(
        job.full,
        result
          .then(
            () => {},
            () => {},
          )
          .finally(() => this.refreshing.delete(job.full)),
      );
      return result;
    }
    job.access.onStale(job.key, 'refreshing');
    if (!busy) this.background(job, entry, 'background');
    return Promise.resolve(entry.value as T);
  }

  /** A fresh hit past its eager-refresh point: refresh behind the caller, once. */
  eager<T, W>(job: Job<T, W>, entry: DecodedEntry): void {
    const ratio = job.rt.eagerRefresh;
    if (ratio === undefined || entry.freshUntil === undefined) return;
    const freshFor = job.access.freshForMs(job.write);
    if (Date.now() < entry.freshUntil - (1 - ratio) * freshFor) return;
    if (this.busy(job.full)) return;
    this.background(job, entry, 'eager');
  }

  private background<T, W>(job: Job<T, W>, entry: DecodedEntry, mode: 'background' | 'eager'): void {
    const p = this.refresh(job, entry, mode).then(
      () => {},
      (err: unknown) => job.access.onError(asFactoryError(job.key, err), 'refresh', job.key),
    );
    this.refreshing.set(
      job.full,
      p.finally(() => this.refreshing.delete(job.full)),
    );
  }

  /**
   * Refreshes a present value: only the process that wins the lock computes; the others keep
   * answering the current value. Resolves to the value this caller should see.
   */
  private async refresh<T, W>(job: Job<T, W>, entry: DecodedEntry, mode: 'blocking' | 'background' | 'eager'): Promise<T> {
    const current = entry.value as T;
    // Nobody joins a refresh, so only its own failures (lock, re-read, renewal) fail the run.
    const run = new Run();
    let lease: Lease | undefined;
    if (job.rt.lock) {
      const attempt = await this.acquire(job, run);
      if (!(attempt instanceof Lease)) {
        // The store failed the attempt, or another process refreshes: answer the current value.
        if (attempt !== undefined) this.heldElsewhere.set(job.full, true, attempt.ttlMs > 0 ? attempt.ttlMs : job.rt.lockLeaseMs);
        if (mode === 'blocking') job.access.onStale(job.key, 'refreshing');
        return current;
      }
      lease = attempt;
      // Someone may have refreshed it between our read and our lock (read with the lock).
      const again = await this.reread(job, attempt, run);
      if (again === FAILED) {
        this.letGo(job, lease);
        if (mode === 'blocking') job.access.onStale(job.key, 'refreshing');
        return current;
      }
      if (again && isFresh(again) && again.freshUntil !== entry.freshUntil) {
        await this.releaseAndNotify(job, lease);
        return again.value as T;
      }
    }
    // An eager refresh that fails leaves the (still fresh) value alone: no fail-safe rewrite.
    return this.produce(job, {
      stale: mode === 'eager' ? undefined : entry,
      lease,
      store: true,
      background: mode !== 'blocking',
      keepOnError: mode === 'eager' ? { value: current } : undefined,
      run,
    });
  }

  /**
   * Every wait on the store below goes through `run.until`: once the run has failed (here, or in
   * a caller that joined it after its own read failed), it stops waiting and computes here.
   */
  private async missOnce<T, W>(job: Job<T, W>, run: Run, first?: Lease | HeldElsewhere): Promise<T> {
    if (!job.rt.lock) return this.produce(job, { stale: undefined, lease: undefined, store: true, background: false, run });
    const deadline = Date.now() + job.rt.waitTimeoutMs;
    for (let attempt = first; ; attempt = undefined) {
      if (attempt === undefined) {
        const pending = this.acquire(job, run);
        const got = await run.until(pending);
        if (got === TROUBLE || got === undefined) {
          // No lock to be had: compute here. A lock won after we stopped waiting is let go.
          void pending.then((late) => {
            if (late instanceof Lease) this.letGo(job, late);
          });
          return this.computeHere(job, run);
        }
        attempt = got;
      }
      if (attempt instanceof Lease) {
        // The value may have landed between our miss and our lock: never compute twice. It was
        // read in the same atomic step as the lock, so this costs no extra round trip (nor a
        // promise hop when it was absent).
        const again = attempt.value === null ? undefined : await run.until(this.reread(job, attempt, run));
        if (again === TROUBLE || again === FAILED) {
          this.letGo(job, attempt);
          return this.computeHere(job, run);
        }
        if (again && isFresh(again)) {
          await run.until(this.releaseAndNotify(job, attempt));
          return again.value as T;
        }
        return this.produce(job, { stale: again, lease: attempt, store: true, background: false, run });
      }
      // Another process computes it.
      const { onCold } = job.rt;
      if (!this.heldSince.has(job.full)) this.heldSince.set(job.full, Date.now(), attempt.ttlMs > 0 ? attempt.ttlMs : job.rt.lockLeaseMs);
      if (onCold === 'fail') throw new ColdCacheError(job.key, this.retryAfter(job, attempt.ttlMs));
      if (typeof onCold === 'function') return (await onCold(job.key)) as T;
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        // Waited long enough: compute here rather than fail the caller.
        return this.produce(job, { stale: undefined, lease: undefined, store: true, background: false, run });
      }
      // Register before re-reading so a notification cannot slip in between; wake at the latest
      // when the holder's lease would lapse, to take over from a dead holder.
      const bound = attempt.ttlMs >= 0 ? Math.min(remaining, attempt.ttlMs + 25) : remaining;
      const wait = this.ctx.notifier.wait(job.full, bound);
      const landed = await run.until(this.read(job, run));
      if (landed === TROUBLE || landed === FAILED) {
        wait.cancel();
        return this.computeHere(job, run);
      }
      if (landed && isFresh(landed)) {
        wait.cancel();
        return landed.value as T;
      }
      const woke = await run.until(wait.done);
      if (woke === TROUBLE) {
        wait.cancel();
        return this.computeHere(job, run);
      }
      if (woke === 'closed') throw new ClosedError();
      // A small value comes with its notification: the same bytes a read would find, read at the moment they were stored.
      const carried = wait.carried;
      const after = await run.until(carried === undefined ? this.read(job, run) : this.checked(job, run, job.access.fromBytes(job.key, carried)));
      if (after === TROUBLE || after === FAILED) return this.computeHere(job, run);
      if (after && isFresh(after)) return after.value as T;
      // The holder gave up or died, or the channel was reset: try for the lock again.
    }
  }

  /**
   * How long the computation another process runs probably has left, in ms: this region's (or
   * cached function's) mean factory time minus how long this process has seen it running, at
   * least a tenth of the mean (it is running late: retry soon, not at once), and at most the
   * holder's remaining lease. Without factory times yet, the remaining lease (-1: unknown).
   */
  private retryAfter<T, W>(job: Job<T, W>, leaseLeftMs: number): number {
    const mean = job.access.meanComputeMs();
    if (mean === undefined) return leaseLeftMs;
    const elapsed = Date.now() - (this.heldSince.get(job.full) ?? Date.now());
    const estimate = Math.max(mean / 10, mean - elapsed);
    return Math.max(1, Math.round(leaseLeftMs >= 0 ? Math.min(estimate, leaseLeftMs) : estimate));
  }

  /** One lock attempt; undefined when the store failed it (reported, and the run has failed). */
  private acquire<T, W>(job: Job<T, W>, run: Run): Promise<Lease | HeldElsewhere | undefined> {
    const failed = (err: unknown): undefined => {
      job.access.onError(err, 'lock', job.key);
      run.fail();
      return undefined;
    };
    const locks = job.access.locks ?? this.ctx;
    return Lease.acquire(job.access.locks ?? this.ctx.store, locks.lockKey(job.full), job.rt.lockLeaseMs, failed, job.full, this.claimOf(job)).catch(failed);
  }

  /** Leave to claim a job's value key, where its region allows (see `EntryAccess.claimable`). */
  private claimOf<T, W>(job: Job<T, W>): ClaimOption | undefined {
    if (!job.access.claimable) return undefined;
    this.claim ??= { channel: this.ctx.notifier.channel };
    return this.claim;
  }

  /** Reads the entry now; FAILED when the store failed (reported, and the run has failed). */
  private read<T, W>(job: Job<T, W>, run: Run): Promise<DecodedEntry | undefined | typeof FAILED> {
    return this.checked(job, run, job.access.read(job.full, job.key));
  }

  /** The guarded value as read with the lock (or, if the store could not, read now). */
  private reread<T, W>(job: Job<T, W>, lease: Lease, run: Run): Promise<DecodedEntry | undefined | typeof FAILED> {
    if (lease.value === undefined) return this.read(job, run);
    if (lease.value === null) return Promise.resolve(undefined);
    return this.checked(job, run, job.access.fromBytes(job.key, lease.value, job.readBytes));
  }

  private checked<T, W>(job: Job<T, W>, run: Run, read: Promise<DecodedEntry | undefined>): Promise<DecodedEntry | undefined | typeof FAILED> {
    return read.catch((err: unknown) => {
      job.access.onError(err, 'get', job.key);
      run.fail();
      return FAILED;
    });
  }

  /**
   * Lets go of a lock without waiting, once the run has failed. Its failure is not reported: the
   * failure that led here was, and the lease lapses by itself.
   */
  private letGo<T, W>(job: Job<T, W>, lease: Lease): void {
    lease.release().then(
      () => this.ctx.notifier.notify(job.full).catch(() => {}),
      () => {},
    );
  }

  /** Releases the lock and wakes waiters; waits for that only while the run has not failed. */
  private async release<T, W>(job: Job<T, W>, lease: Lease, run: Run): Promise<void> {
    if (run.failed) this.letGo(job, lease);
    else await run.until(this.releaseAndNotify(job, lease));
  }

  private async releaseAndNotify<T, W>(job: Job<T, W>, lease: Lease): Promise<void> {
    try {
      await lease.release();
      await this.ctx.notifier.notify(job.full);
    } catch (err) {
      job.access.onError(err, 'unlock', job.key);
    }
  }

  /**
   * Runs the factory and stores its result (releasing the lock and notifying waiters in the same
   * atomic step), applying timeouts and fail-safe. A caller that stops waiting (timeout) leaves
   * the factory running: its result is still stored when it arrives.
   */
  private produce<T, W>(
    job: Job<T, W>,
    how: { stale: DecodedEntry | undefined; lease: Lease | undefined; store: boolean; background: boolean; keepOnError?: { value: T }; run: Run },
  ): Promise<T> {
    const { access } = job;
    const started = performance.now();
    const previous = how.stale !== undefined ? (how.stale.value as T) : how.keepOnError?.value;
    const context = new RunContext<T>(this, job.key, access.region, previous, (tags) => access.checkTags(tags), access.function);
    const tagsSince = access.tagClock();
    const stored = (value: T, resolve: (v: T) => void, reject: (e: unknown) => void) => {
      access.onCompute(job.key, performance.now() - started, false);
      const keep = how.store && !context.overrides.skipped && access.shouldCache(value, job.write);
      try {
        this.finish(
          job,
          how.lease,
          how.run,
          keep ? value : NOTHING,
          () => resolve(value),
          undefined,
          keep ? { overrides: context.overrides, since: tagsSince } : undefined,
        );
      } catch (err) {
        reject(err);
      }
    };
    // The factory runs now, not after a promise hop: when a burst of callers shares one miss, the
    // hop would wait until every other caller's continuation has run, delaying the computation
    // they all wait for. A synchronous throw rejects like an async one.
    let result: T | PromiseLike<T>;
    try {
      result = callFactory(context, job.factory, true);
    } catch (err) {
      result = Promise.reject(err);
    }
    let settled: Promise<T>;
    if (!isThenable(result)) {
      // A factory that answered at once has settled: nothing of it runs on, so it is not listed as
      // running or computing, and its value is stored now, without a promise step.
      const value = result;
      settled = new Promise<T>((resolve, reject) => stored(value, resolve, reject));
    } else {
      const computed = Promise.resolve(result);
      this.running.set(context as RunContext<unknown>, true);
      this.computing.set(job.full, computed);
      // First thing in both outcomes below: the factory has settled, whatever the write does next.
      const ended = () => {
        this.running.delete(context as RunContext<unknown>);
        if (this.computing.get(job.full) === computed) this.computing.delete(job.full);
      };
      // Settled by hand rather than by returning a promise from `then`: a promise handed to a
      // promise to adopt costs two more steps, on every miss.
      settled = new Promise<T>((resolve, reject) => {
        computed.then(
          (value) => {
            ended();
            stored(value, resolve, reject);
          },
          (err: unknown) => {
            ended();
            access.onCompute(job.key, performance.now() - started, true);
            this.factoryFailed(job, how, err).then(resolve, reject);
          },
        );
      });
    }
    if (how.background) return settled;
    return this.withTimeouts(job, settled, how.stale, context);
  }

  /** What a failed factory answers: the stale value under fail-safe, the value kept on error, else its error. */
  private async factoryFailed<T, W>(
    job: Job<T, W>,
    how: { stale: DecodedEntry | undefined; lease: Lease | undefined; keepOnError?: { value: T }; run: Run },
    err: unknown,
  ): Promise<T> {
    const { access, rt } = job;
    if (how.stale && rt.failSafe) {
      // Serve the stale value and keep it fresh for the backoff, for every process.
      access.onError(new FactoryError(job.key, err), 'factory', job.key);
      access.onStale(job.key, 'fail-safe');
      await this.finished(job, how.lease, how.run, how.stale.value, rt.failSafeBackoffMs);
      return how.stale.value as T;
    }
    if (how.lease) await this.release(job, how.lease, how.run);
    if (how.keepOnError) {
      access.onError(new FactoryError(job.key, err), 'refresh', job.key);
      return how.keepOnError.value;
    }
    throw err;
  }

  private withTimeouts<T, W>(job: Job<T, W>, settled: Promise<T>, stale: DecodedEntry | undefined, context: RunContext<T>): Promise<T> {
    const { rt } = job;
    const soft = stale && rt.softTimeoutMs !== undefined ? rt.softTimeoutMs : undefined;
    const hard = rt.hardTimeoutMs;
    if (soft === undefined && hard === undefined) return settled;
    return new Promise<T>((resolve, reject) => {
      let done = false;
      const timers: NodeJS.Timeout[] = [];
      const end = () => {
        done = true;
        for (const t of timers) clearTimeout(t);
      };
      const giveUp = (reason: 'soft' | 'hard') => {
        if (done) return;
        end();
        // Nobody waits for the factory anymore: it may stop (its result would still be stored).
        if (reason === 'hard') context.abort(new TimeoutError(job.key, hard!));
        // The factory keeps running; its failure must not go unhandled.
        settled.catch((err: unknown) => job.access.onError(asFactoryError(job.key, err), 'factory', job.key));
        if (stale) {
          job.access.onStale(job.key, 'timeout');
          resolve(stale.value as T);
        } else if (reason === 'hard') reject(new TimeoutError(job.key, hard!));
      };
      if (soft !== undefined) timers.push(setTimeout(() => giveUp('soft'), soft));
      if (hard !== undefined) timers.push(setTimeout(() => giveUp('hard'), hard));
      settled.then(
        (v) => {
          if (done) return;
          end();
          resolve(v);
        },
        (e: unknown) => {
          if (done) return;
          end();
          reject(e);
        },
      );
    });
  }

  /**
   * Stores `value` (unless NOTHING) and, when holding the lock, releases it and notifies waiters in
   * the same atomic step, then calls `next` (at once when there is nothing to wait for). A store
   * failure is reported; the computed value still reaches the caller. A callback, not a promise:
   * the common case, a value written as the call asked, is one step after the write (see
   * `storeValue`).
   */
  private finish<T, W>(
    job: Job<T, W>,
    lease: Lease | undefined,
    run: Run,
    value: unknown,
    next: () => void,
    freshForMs?: number,
    adapted?: { overrides: FactoryOverrides; since: number },
  ): void {
    lease?.stopRenewing();
    this.heldElsewhere.delete(job.full);
    if (run.failed) {
      // The store failed this run already: the value is answered, not stored. Sent without
      // waiting instead, the write would sit in the client's queue with its whole payload for as
      // long as Redis stalls (one per miss, so memory would grow with traffic), then land unguarded
      // by any lock, possibly over a newer value. The first call after recovery stores it.
      if (lease) this.letGo(job, lease);
      next();
      return;
    }
    if (value === NOTHING) {
      if (lease) this.release(job, lease, run).then(next, next);
      else next();
      return;
    }
    const started = performance.now();
    if (adapted !== undefined && changed(adapted.overrides)) {
      this.storeAdapted(job, lease, run, value, freshForMs, adapted, started).then(next, next);
      return;
    }
    this.storeValue(job, lease, run, value, job.write, freshForMs, started, next);
  }

  /** `finish` as a promise. */
  private finished<T, W>(job: Job<T, W>, lease: Lease | undefined, run: Run, value: unknown, freshForMs?: number): Promise<void> {
    return new Promise<void>((resolve) => this.finish(job, lease, run, value, resolve, freshForMs));
  }

  /** `finish` for a value whose factory changed how it is written (ttl, freshness, tags). */
  private async storeAdapted<T, W>(
    job: Job<T, W>,
    lease: Lease | undefined,
    run: Run,
    value: unknown,
    freshForMs: number | undefined,
    adapted: { overrides: FactoryOverrides; since: number },
    started: number,
  ): Promise<void> {
    let write: W | undefined;
    try {
      write = await job.access.adapt(job.write, adapted.overrides, adapted.since);
    } catch (err) {
      job.access.onError(err, 'set', job.key);
      if (lease) await this.release(job, lease, run);
      return;
    }
    if (write === undefined) {
      // A tag the factory set was invalidated while it ran: answered, not stored.
      if (lease) await this.release(job, lease, run);
      return;
    }
    await new Promise<void>((resolve) => this.storeValue(job, lease, run, value, write, freshForMs, started, resolve));
  }

  /** Encodes and writes a computed value (with the lock's release, when held); see `finish`. */
  private storeValue<T, W>(
    job: Job<T, W>,
    lease: Lease | undefined,
    run: Run,
    value: unknown,
    write: W | undefined,
    freshForMs: number | undefined,
    started: number,
    next: () => void,
  ): void {
    const { access } = job;
    let encoded: Encoded;
    try {
      encoded = access.encode(value, write, freshForMs);
    } catch (err) {
      access.onError(err, 'set', job.key);
      if (lease) this.release(job, lease, run).then(next, next);
      else next();
      return;
    }
    const ticket = access.beginWrite(job.full);
    // Tracked only when the value will be kept locally (a near-cache ticket was issued).
    const track = ticket !== -1;
    // A write by a lock holder may be refused (`false`): a `delete` or another's `set` came after
    // the computation started, or the lock was lost. The value is still answered.
    let sent: Promise<unknown>;
    try {
      sent = lease
        ? (access.locks ?? this.ctx.store).storeAndRelease({
            key: job.full,
            value: encoded.bytes,
            ttlMs: Number.isFinite(encoded.ttlMs) ? encoded.ttlMs : undefined,
            lockKey: lease.key,
            token: lease.token,
            channel: this.ctx.notifier.channel,
            message: job.full,
            track,
            heldMs: Date.now() - lease.takenAt,
            seen: lease.value,
          })
        : access.store(job.full, encoded.bytes, encoded.ttlMs, track);
    } catch (err) {
      sent = Promise.reject(err);
    }
    // One step after the write, whatever its outcome (no async wrapper: a miss is a handful of
    // promises, each one counts). A caller that joins after its own read failed stops the wait,
    // not the write already sent.
    run.after(
      sent,
      (written) => {
        if (written === false) {
          access.endWrite(job.full, ticket, undefined);
          return;
        }
        access.endWrite(job.full, ticket, { value, encoded });
        access.onSet(job.key, encoded.bytes.length, encoded.ttlMs, started);
      },
      (err: unknown) => {
        access.endWrite(job.full, ticket, undefined);
        access.onError(err, 'set', job.key);
      },
      next,
    );
  }

  /** Pending work, for tests: nothing may pile up. */
  get pending(): { cold: number; refreshing: number } {
    return { cold: this.cold.size, refreshing: this.refreshing.size + this.computing.size };
  }
}

const NOTHING: unique symbol = Symbol('nothing');

/** Whether a factory changed anything about how its value is written. */
function changed(o: FactoryOverrides): boolean {
  return o.ttlMs !== undefined || o.freshForMs !== undefined || o.tags !== undefined;
}

/** A factory's own failure, reported as such (not mistaken for a store failure). */
function asFactoryError(key: string, err: unknown): unknown {
  return err instanceof TroveError ? err : new FactoryError(key, err);
}

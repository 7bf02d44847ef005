import { randomBytes } from 'node:crypto';
import type { ClaimOption, LockAttempt, LockStore } from '../store/index.js';

/**
 * Lock tokens: a random part drawn once per process and a counter. Unique across processes (72
 * random bits) and within one (the counter), at a fraction of a `randomBytes` call per miss.
 * Neither part contains '+', which the lock protocol appends to mark a waiter.
 */
const PROCESS_PART = randomBytes(9).toString('base64url');
let counter = 0;
function newLockToken(): string {
  counter = (counter + 1) % Number.MAX_SAFE_INTEGER;
  return PROCESS_PART + counter.toString(36);
}

/** A lock attempt that failed: another process holds the lock, for `ttlMs` more (-1: unknown). */
export type HeldElsewhere = Extract<LockAttempt, { acquired: false }>;

/**
 * The held leases of one lease length, renewed by one shared timer every third of the lease: a
 * timer per lease would cost more than a fast factory. A lease younger than a sixth of its length
 * waits for the next tick, so it is renewed at the latest half a lease after it was taken, well
 * before it lapses.
 *
 * The leases form a list linked through the leases themselves, oldest first: a lease is added and
 * removed once per miss, and a Map's hashing, deleted entries and rehashing cost more than the
 * two links (counted with tools/instructions.ts).
 */
class RenewalGroup {
  private first: Lease | undefined;
  private last: Lease | undefined;
  private held = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly leaseMs: number,
    private readonly onEmpty: () => void,
  ) {
    this.timer = setInterval(() => this.tick(), Math.max(10, Math.floor(leaseMs / 3)));
    // Leases must never keep the process alive on their own.
    this.timer.unref();
  }

  add(lease: Lease): void {
    lease.before = this.last;
    lease.after = undefined;
    if (this.last === undefined) this.first = lease;
    else this.last.after = lease;
    this.last = lease;
    this.held++;
  }

  /** How many leases it renews. */
  get size(): number {
    return this.held;
  }

  remove(lease: Lease): void {
    const { before, after } = lease;
    if (before === undefined) this.first = after;
    else before.after = after;
    if (after === undefined) this.last = before;
    else after.before = before;
    lease.before = undefined;
    lease.after = undefined;
    this.held--;
  }

  private tick(): void {
    if (this.held === 0) {
      // Idle for a whole period: stop. (Not at the last removal, which under a steady stream of
      // short computations would stop and start a timer per miss.)
      clearInterval(this.timer);
      this.onEmpty();
      return;
    }
    const youngest = Date.now() - this.leaseMs / 6;
    // The next one read first: a lease that leaves the list forgets its neighbours.
    for (let lease = this.first; lease !== undefined; ) {
      const next = lease.after;
      if (lease.takenAt <= youngest) lease.renew();
      lease = next;
    }
  }
}

const groups = new Map<number, RenewalGroup>();

/** How many leases are being renewed now, in every group (for tests: a lease left renewing after its store is a leak). */
export function renewingLeases(): number {
  let n = 0;
  for (const group of groups.values()) n += group.size;
  return n;
}

function renewalGroup(leaseMs: number): RenewalGroup {
  let group = groups.get(leaseMs);
  if (group === undefined) {
    group = new RenewalGroup(leaseMs, () => groups.delete(leaseMs));
    groups.set(leaseMs, group);
  }
  return group;
}

/**
 * A held cross-process lock: renewed every third of its lease while work runs, so it only lapses
 * when the holder dies. If it vanishes anyway (FLUSHALL, failover), renewal stops and the work
 * goes on: a lost lock never fails a successful computation. A renewal the store fails also ends
 * renewing: the holder then answers without storing (see Loader), so the lock would only keep
 * other processes waiting.
 */
export class Lease {
  private group: RenewalGroup | undefined;
  /** Its neighbours in its renewal group's list (see RenewalGroup). */
  before: Lease | undefined;
  after: Lease | undefined;
  private renewing = false;
  readonly takenAt = Date.now();

  private constructor(
    private readonly store: LockStore,
    readonly key: string,
    readonly token: string,
    private readonly leaseMs: number,
    private readonly onError: (err: unknown) => void,
    /** The guarded value as read together with the lock (null: absent; undefined: not read). */
    readonly value: Buffer | null | undefined,
  ) {}

  /**
   * Tries to take the lock once: a held Lease, or how long the current holder has left. With
   * `readKey`, the guarded value is read in the same step (`lease.value`).
   */
  static acquire(
    store: LockStore,
    key: string,
    leaseMs: number,
    onError: (err: unknown) => void,
    readKey?: string,
    claim?: ClaimOption,
  ): Promise<Lease | HeldElsewhere> {
    const token = newLockToken();
    // Not an async function: on a miss, every promise hop counts.
    return store.acquireLock(key, token, leaseMs, readKey, claim).then(
      (attempt) => Lease.fromAttempt(store, key, token, leaseMs, onError, attempt),
      (err: unknown) => Lease.abandon(store, key, token, err),
    );
  }

  /**
   * A token for `LockStore.readOrLock`, whose answer `fromAttempt` turns into a Lease (or
   * `giveUp` lets go of, when the step failed). Split, not one call returning a promise of the
   * Lease: on a miss that promise was one more step, and every promise hop counts.
   */
  static newToken(): string {
    return newLockToken();
  }

  /** A read-or-lock step that failed: as after a failed `acquire`, its lock let go of (see `abandon`), nothing reported. */
  static giveUp(store: LockStore, key: string, token: string): void {
    store.releaseLock(key, token).catch(() => {});
  }

  /** The lock attempt `attempt`, made with `token` on `key`: a held Lease (renewed from now on), or how long the holder has left. */
  static fromAttempt(
    store: LockStore,
    key: string,
    token: string,
    leaseMs: number,
    onError: (err: unknown) => void,
    attempt: LockAttempt,
  ): Lease | HeldElsewhere {
    if (!attempt.acquired) return attempt;
    // A claim names where it lives: the value's own key, with a marker (see claims.ts).
    const held = attempt.held;
    const lease = new Lease(store, held?.key ?? key, held?.token ?? token, leaseMs, onError, attempt.value);
    lease.group = renewalGroup(leaseMs);
    lease.group.add(lease);
    return lease;
  }

  /**
   * A failed attempt: a timed-out one may still take the lock once Redis answers again, and nobody
   * would release it, so every process would wait out its lease (5 s by default) after the stall.
   * The release follows it on the same connection and removes only our own token. Its failure is
   * not reported: the attempt's was.
   */
  private static abandon(store: LockStore, key: string, token: string, err: unknown): never {
    Lease.giveUp(store, key, token);
    throw err;
  }

  /** Extends the lock by a full lease, unless a renewal is still under way. */
  renew(): void {
    // One renewal at a time: while Redis stalls, one would otherwise queue up per interval.
    if (this.renewing) return;
    this.renewing = true;
    this.store.renewLock(this.key, this.token, this.leaseMs).then(
      (held) => {
        this.renewing = false;
        if (!held) this.stopRenewing();
      },
      (err: unknown) => {
        this.renewing = false;
        this.stopRenewing();
        this.onError(err);
      },
    );
  }

  stopRenewing(): void {
    this.group?.remove(this);
    this.group = undefined;
  }

  /** Releases the lock if still ours. */
  async release(): Promise<void> {
    this.stopRenewing();
    await this.store.releaseLock(this.key, this.token);
  }
}

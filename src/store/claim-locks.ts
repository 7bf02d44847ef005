/** The claim protocol (see `claims.ts`) over any driver: shared by ioredis and node-redis. */
import {
  CLAIM_CHECK,
  CLAIM_OR_LOCK,
  checkOutcome,
  claimedOutcome,
  claimMarker,
  claimOrLockOutcome,
  claimsRefused,
  isClaimMarker,
  replacedOwnMarker,
  replacedWaitedMarker,
  STORE_CLAIMED,
} from './claims.js';
import type { LockRequest } from './lock-batches.js';
import { keyNotification, notificationOf } from './notification.js';
import { RELEASE, type Script } from './scripts.js';
import { TickBatcher } from './tick-batcher.js';
import type { ReadOrLock, StoreAndRelease } from './store.js';

/**
 * A claim held at least this long when its value is stored, in ms, is stored with its notification
 * in one step (STORE_CLAIMED): others had time to find it and wait. A shorter one (a factory that
 * answered within a round trip or so, the common miss) is stored by a plain `SET … GET`, cheaper
 * for Redis, and notifies in a second step in the rare case that someone waits.
 */
export const NOTIFY_INLINE_AFTER_MS = 2;

/** A lock attempt that may claim: `channel` is where the waiters of a claim given back are told (see `LockStore.acquireLock`). */
export interface ClaimRequest extends LockRequest {
  channel: string;
}

/** What the protocol needs of a driver: four commands, replies as bytes. */
export interface ClaimDriver {
  /** `SET key value [PX pxMs] NX|XX GET`: the old value, or null. */
  setGet(key: string, value: string | Buffer, pxMs: number | undefined, only: 'NX' | 'XX'): Promise<Buffer | null>;
  /** Whether any of these keys exists (`EXISTS key key …`; on a Cluster, one per key), sent after the commands already issued for them. */
  anyExists(keys: readonly string[]): Promise<boolean>;
  /** Runs a script, bulk replies as Buffers. */
  script(script: Script, keys: readonly string[], args: readonly (string | number | Buffer)[]): Promise<unknown>;
  publish(channel: string, message: string | Buffer): Promise<unknown>;
}

/**
 * One store's claims: whether its server takes them (unknown until its first answer, then what it
 * answered: Redis before 7.0 refuses `SET … NX GET` with a syntax error, and the store then takes
 * lock keys only), the claims of missing values, and the stores of claimed ones.
 */
export class ClaimLocks {
  /** undefined: not known yet (claims are tried). */
  supported: boolean | undefined;

  /** `enabled` false: lock keys only, whatever the server (the trove's `lockIn: 'key'`). */
  constructor(
    enabled: boolean,
    private readonly driver: ClaimDriver,
  ) {
    this.supported = enabled ? undefined : false;
  }

  /**
   * One tick's lock attempts of claimable values: each `readFirst` as `readOrLock` (a present
   * value is found, no lock taken), else as `acquireLock` with a read (a present value's lock key
   * is taken). The claims go as plain SETs, followed by one EXISTS of their lock keys: held lock
   * keys are rare (a refresh whose value expired meanwhile), and only then is each claim checked
   * again on its own. `lockKeys` answers an attempt the old way when the server refuses claims.
   */
  attemptMany(requests: readonly ClaimRequest[], lockKeys: (request: LockRequest) => Promise<ReadOrLock>): Promise<ReadOrLock[]> {
    if (this.supported === false) return Promise.all(requests.map(lockKeys));
    // One promise for the batch and one reaction per claim's reply, as Promise.all would answer
    // (every outcome, or the first failure) without a promise per claim: a miss is a handful of
    // promise hops, each one counts.
    return new Promise<ReadOrLock[]>((resolve, reject) => {
      const gather = new Gather<ReadOrLock>(requests.length, resolve, reject);
      const claims: { at: number; request: ClaimRequest; marker: string }[] = [];
      const olds: (Buffer | null)[] = [];
      // The answer of the tick's EXISTS, once in.
      let locked: boolean | undefined;
      for (let at = 0; at < requests.length; at++) {
        const request = requests[at]!;
        const marker = claimMarker(request.token);
        // Known to take claims, and a value is expected: one script decides.
        if (this.supported === true && !request.readFirst) gather.put(at, this.claimOrLock(request, marker));
        else {
          const i = claims.length;
          claims.push({ at, request, marker });
          this.driver.setGet(request.readKey, marker, request.lease, 'NX').then(
            (old) => {
              this.supported = true;
              olds[i] = old;
              if (old !== null) gather.put(at, this.claimed(request, marker, old));
              else if (locked !== undefined) gather.put(at, this.unlessLocked(request, marker, locked));
            },
            (err: unknown) => {
              if (!claimsRefused(err)) return gather.fail(err);
              this.supported = false;
              gather.put(at, lockKeys(request));
            },
          );
        }
      }
      if (claims.length === 0) return;
      // The tick's lock keys, asked after the claims: replies come in order, so the claims' are in
      // when this one arrives (the claims still settle in whatever order their replies are handled).
      this.driver.anyExists(claims.map((c) => c.request.key)).then((any) => {
        locked = any;
        for (let i = 0; i < claims.length; i++) {
          const c = claims[i]!;
          if (olds[i] === null) gather.put(c.at, this.unlessLocked(c.request, c.marker, any));
        }
      }, gather.fail);
    });
  }

  /** A claim that found the key absent: claimed, unless a lock key of its batch was held (then checked on its own). */
  private unlessLocked(request: ClaimRequest, marker: string, locked: boolean): ReadOrLock | Promise<ReadOrLock> {
    return locked ? this.check(request, marker) : claimedOutcome(request.readKey, marker);
  }

  /** A claim that found something: a marker (or a value, when a lock is wanted) decided by script, else the value found. */
  private claimed(request: ClaimRequest, marker: string, old: Buffer): ReadOrLock | Promise<ReadOrLock> {
    if (isClaimMarker(old) || !request.readFirst) return this.claimOrLock(request, marker);
    return { found: old };
  }

  private claimOrLock(request: LockRequest, marker: string): Promise<ReadOrLock> {
    return this.driver
      .script(CLAIM_OR_LOCK, [request.key, request.readKey], [request.token, request.lease, marker, request.readFirst ? '1' : '0'])
      .then((reply) => claimOrLockOutcome(reply, request.key, request.token, request.readKey, marker));
  }

  /**
   * A claim of a batch in which a lock key was held, checked on its own: kept, or given back
   * beside its refresh's lock key (its waiters told: they try again and find that lock key).
   */
  private check(request: ClaimRequest, marker: string): Promise<ReadOrLock> {
    return this.driver.script(CLAIM_CHECK, [request.readKey, request.key], [marker]).then((reply) => {
      const { outcome, waited } = checkOutcome(reply, request.readKey, marker);
      if (outcome === undefined) return this.claimOrLock(request, marker);
      if ('found' in outcome && !request.readFirst) return this.claimOrLock(request, marker);
      if (!waited) return outcome;
      return this.driver.publish(request.channel, keyNotification(request.readKey)).then(() => outcome);
    });
  }

  /**
   * Stores claimed values (`op.lockKey` is `op.key`, `op.token` the marker), untracked: each write
   * replaces its marker and nothing else, and waiters are notified when the marker says someone
   * waits, or when the value is not written: in the same step for a claim held long (see
   * NOTIFY_INLINE_AFTER_MS), else once the write's answer says so. `SET … XX GET` writes nothing
   * over a key that was deleted; over another's value (a `set`, or a claim made after ours lapsed)
   * it has written, and the write is taken back at once (compare-and-delete): the key is then
   * empty and the next miss computes again, rather than keep a value computed before that write.
   * Resolves to whether each value was written (and kept), one promise for the batch, as in
   * `attemptMany`.
   */
  storeMany(ops: readonly StoreAndRelease[]): Promise<boolean[]> {
    return new Promise<boolean[]>((resolve, reject) => {
      const gather = new Gather<boolean>(ops.length, resolve, reject);
      for (let at = 0; at < ops.length; at++) {
        const op = ops[at]!;
        if (op.heldMs !== undefined && op.heldMs >= NOTIFY_INLINE_AFTER_MS) {
          const { keys, args } = claimedStoreArgs([op]);
          this.driver.script(STORE_CLAIMED, keys, args).then((written) => gather.put(at, Number(written) === 1), gather.fail);
          continue;
        }
        this.driver.setGet(op.key, op.value, pxOf(op), 'XX').then((old) => {
          if (replacedOwnMarker(old, op.token)) gather.put(at, true);
          else if (replacedWaitedMarker(old, op.token)) gather.put(at, this.tell(op, notificationOf(op.message, op.value), true));
          else if (old === null) gather.put(at, this.tell(op, keyNotification(op.message), false));
          else
            gather.put(
              at,
              this.driver.script(RELEASE, [op.key], [op.value]).then(() => this.tell(op, keyNotification(op.message), false)),
            );
        }, gather.fail);
      }
    });
  }

  /** Tells a claim's waiters (`message`), then answers `written`. */
  private tell(op: StoreAndRelease, message: string | Buffer, written: boolean): Promise<boolean> {
    return this.driver.publish(op.channel, message).then(() => written);
  }
}

/**
 * The outcomes of a batch by index, some of them still to come: `done` once every one is in, or
 * `failed` with the first failure (then nothing more), as `Promise.all` answers.
 */
class Gather<T> {
  private readonly out: T[];
  private left: number;
  private over = false;

  constructor(
    n: number,
    private readonly done: (out: T[]) => void,
    private readonly failed: (err: unknown) => void,
  ) {
    this.out = new Array<T>(n);
    this.left = n;
    if (n === 0) done(this.out);
  }

  put(at: number, outcome: T | Promise<T>): void {
    if (outcome instanceof Promise) {
      outcome.then((o) => this.put(at, o), this.fail);
      return;
    }
    this.out[at] = outcome;
    if (--this.left === 0 && !this.over) {
      this.over = true;
      this.done(this.out);
    }
  }

  readonly fail = (err: unknown): void => {
    if (this.over) return;
    this.over = true;
    this.failed(err);
  };
}

/** What `ClaimBatches` needs of a driver beyond the commands: its deadline, its lock keys, its release. */
export interface ClaimBatching {
  /** Runs `send` as the driver runs any operation: when connected, under its deadline. */
  run<T>(operation: string, send: () => Promise<T>): Promise<T>;
  /** A lock attempt with lock keys, on its own (when the server refuses claims). */
  lockAlone(request: LockRequest): Promise<ReadOrLock>;
  /** Compare-and-delete of a lock (here: a claim's marker in the value key). */
  releaseLock(key: string, token: string): Promise<unknown>;
}

/**
 * One store's claims, and its untracked stores of claimed values: those of one tick are sent as
 * one batch each, under one deadline. Shared by ioredis and node-redis.
 */
export class ClaimBatches {
  private claims: TickBatcher<ClaimRequest, ReadOrLock> | undefined;
  private stores: TickBatcher<StoreAndRelease, boolean> | undefined;

  constructor(
    private readonly locks: ClaimLocks,
    private readonly driver: ClaimBatching,
  ) {}

  /**
   * A lock attempt that claims the value's own key, with the tick's others. When the batch fails,
   * each claim's marker is let go: a claim the deadline gave up on may still land once Redis
   * answers (as `Lease` lets go of a lock key after a failed attempt).
   */
  claim(request: ClaimRequest): Promise<ReadOrLock> {
    this.claims ??= new TickBatcher((requests) =>
      this.driver
        .run('acquireLock', () => this.locks.attemptMany(requests, (r) => this.driver.lockAlone(r)))
        .catch((err: unknown) => {
          for (const r of requests) this.driver.releaseLock(r.readKey, claimMarker(r.token)).catch(() => {});
          throw err;
        }),
    );
    return this.claims.add(request);
  }

  /** An untracked store of a claimed value (see `ClaimLocks.storeMany`); resolves to whether it was written. */
  store(op: StoreAndRelease): Promise<boolean> {
    this.stores ??= new TickBatcher((ops) => this.driver.run('set', () => this.locks.storeMany(ops)));
    return this.stores.add(op);
  }
}

/** A store's expiry as whole milliseconds, at least 1 (undefined: none). */
function pxOf(op: StoreAndRelease): number | undefined {
  return op.ttlMs === undefined ? undefined : Math.max(1, Math.ceil(op.ttlMs));
}

/** The keys (the values) and arguments (bytes, ttl ms or 0, marker, channel, message, ...) of STORE_CLAIMED and STORE_TRACKED_CLAIMED_MANY. */
export function claimedStoreArgs(ops: readonly StoreAndRelease[]): { keys: string[]; args: (string | number | Buffer)[] } {
  const keys: string[] = [];
  const args: (string | number | Buffer)[] = [];
  for (const op of ops) {
    keys.push(op.key);
    args.push(op.value, pxOf(op) ?? 0, op.token, op.channel, op.message);
  }
  return { keys, args };
}

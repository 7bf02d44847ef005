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
} from './claims.js';
import type { LockRequest } from './lock-batches.js';
import { keyNotification, notificationOf } from './notification.js';
import type { Script } from './scripts.js';
import type { ReadOrLock, StoreAndRelease } from './store.js';

/** A lock attempt that may claim: `channel` is where the waiters of a claim given back are told (see `LockStore.acquireLock`). */
export interface ClaimRequest extends LockRequest {
  channel: string;
}

/** What the protocol needs of a driver: four commands, replies as bytes. */
export interface ClaimDriver {
  /** `SET key value [PX pxMs] [NX] GET`: the old value, or null. */
  setGet(key: string, value: string | Buffer, pxMs: number | undefined, nx: boolean): Promise<Buffer | null>;
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
    const out = new Array<Promise<ReadOrLock>>(requests.length);
    const claims: { at: number; request: ClaimRequest; marker: string; old: Promise<Buffer | null> }[] = [];
    for (let at = 0; at < requests.length; at++) {
      const request = requests[at]!;
      const marker = claimMarker(request.token);
      // Known to take claims, and a value is expected: one script decides.
      if (this.supported === true && !request.readFirst) out[at] = this.claimOrLock(request, marker);
      else claims.push({ at, request, marker, old: this.driver.setGet(request.readKey, marker, request.lease, true) });
    }
    if (claims.length > 0) {
      const locked = this.driver.anyExists(claims.map((c) => c.request.key));
      // Read through the claims below: a failure fails the claims that wait for it.
      locked.catch(() => {});
      for (const c of claims) {
        out[c.at] = c.old.then(
          (old) => this.claimed(c.request, c.marker, old, locked),
          (err: unknown) => {
            if (!claimsRefused(err)) throw err;
            this.supported = false;
            return lockKeys(c.request);
          },
        );
      }
    }
    return Promise.all(out);
  }

  /** A claim's answer: claimed unless a lock key of the batch was held; a marker found (or a value, when a lock is wanted) decided by script. */
  private claimed(request: ClaimRequest, marker: string, old: Buffer | null, locked: Promise<boolean>): ReadOrLock | Promise<ReadOrLock> {
    this.supported = true;
    if (old === null) return locked.then((any) => (any ? this.check(request, marker) : claimedOutcome(request.readKey, marker)));
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
   * Stores a claimed value (`op.lockKey` is `op.key`, `op.token` the marker), untracked: the write
   * replaces the marker, and waiters are notified when the marker it replaced says someone waits,
   * or was not ours any more (expired, deleted, claimed again).
   */
  store(op: StoreAndRelease): Promise<undefined> {
    const ttl = op.ttlMs === undefined ? undefined : Math.max(1, Math.ceil(op.ttlMs));
    return this.driver.setGet(op.key, op.value, ttl, false).then((old) => {
      if (replacedOwnMarker(old, op.token)) return undefined;
      return this.driver.publish(op.channel, notificationOf(op.message, op.value)).then(() => undefined);
    });
  }
}

/** STORE_TRACKED_CLAIMED_MANY's keys (the values) and arguments (bytes, ttl ms or 0, marker, channel, message, ...). */
export function trackedClaimArgs(ops: readonly StoreAndRelease[]): { keys: string[]; args: (string | number | Buffer)[] } {
  const keys: string[] = [];
  const args: (string | number | Buffer)[] = [];
  for (const op of ops) {
    keys.push(op.key);
    args.push(op.value, op.ttlMs === undefined ? 0 : Math.max(1, Math.ceil(op.ttlMs)), op.token, op.channel, op.message);
  }
  return { keys, args };
}

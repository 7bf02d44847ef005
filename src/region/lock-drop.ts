import type { RegionCore } from './region-core.js';

/**
 * Deletes the lock keys of entries about to be deleted, sent before the entries' own delete on
 * the same connection: a computation under way (a miss's lock key, a refresh's) then finds its
 * lock gone and does not write a value computed before the delete (see
 * `LockStore.storeAndRelease`; a claim's marker goes with the value itself). Lock first: between
 * the two, a holder's write is refused rather than landing after the value's delete.
 */
export function dropLocks(core: RegionCore, fulls: readonly string[]): Promise<number> {
  const locks = core.entries.locks;
  return core.ctx.store.delete(fulls.map((full) => (locks === undefined ? core.ctx.layout.lockKey(full) : locks.lockKey(full))));
}

/**
 * `write` (a delete, a rewrite, a batch) sent right after the lock keys of `fulls` are deleted,
 * on the same connection, so in that order (see `dropLocks`); both awaited, so neither fails
 * unobserved. Resolves to what `write` answers.
 */
export async function afterLocksDropped<T>(core: RegionCore, fulls: readonly string[], write: () => Promise<T>): Promise<T> {
  const [, out] = await Promise.all([dropLocks(core, fulls), write()]);
  return out;
}

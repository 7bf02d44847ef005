import { deepFreeze } from '../near/index.js';
import type { RegionCore } from './region-core.js';

/*
 * Values a trove hands out or keeps may be shared: the near cache answers every reader with the
 * object it keeps, and keeps the object a writer gave or a factory computed. With `freezeValues`
 * (on by default outside production) every value is deep-frozen where it passes through a region,
 * whatever the store, so that a handler mutating a cached value throws in development and tests,
 * on the embedded store as on Redis, instead of corrupting the shared copy in production only.
 * Off, this costs one boolean check.
 */

/** `value`, frozen when the trove freezes values. */
export function shared<T>(core: RegionCore, value: T): T {
  return core.ctx.freezeValues ? deepFreeze(value) : value;
}

/** `answer`'s value, frozen when the trove freezes values. */
export function sharedLater<T>(core: RegionCore, answer: Promise<T>): Promise<T> {
  return core.ctx.freezeValues ? answer.then(deepFreeze) : answer;
}

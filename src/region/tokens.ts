import { randomBytes } from 'node:crypto';

/**
 * A new invalidation token: random, never reused, so a state reset (FLUSHALL, failover) can never
 * make an old generation current again and resurrect entries written under it.
 */
export function newToken(): string {
  return randomBytes(6).toString('base64url');
}

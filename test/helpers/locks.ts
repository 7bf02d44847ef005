/**
 * Where the tests find an entry's miss lock: a claim's marker in the entry's own key (the
 * default, see src/store/claims.ts), or the lock key beside it (`lockIn: 'key'`, raw regions,
 * refreshes of present values).
 */
import { CLAIM_PREFIX } from '../../src/store/claims.js';
import type { RedisServer } from './redis-server.js';

/** The lock key of an entry: `<prefix>:<version>:__lock:` and the rest of the entry's key (region generation included). */
export function lockKeyOf(entryKey: string): string {
  return entryKey.replace(/^([^:]*:[^:]*:)/, '$1__lock:');
}

/** The marker a claim with this token leaves in the entry's key (`+` appended once someone waits). */
export function markerOf(token: string): string {
  return CLAIM_PREFIX + token;
}

/** Makes the entry look computed by another process for `pxMs`: its key claimed with `token`, as a miss elsewhere leaves it. */
export async function claimElsewhere(server: RedisServer, entryKey: string, token: string, pxMs: number): Promise<void> {
  await server.command('SET', entryKey, markerOf(token), 'PX', pxMs);
}

/** Whether anyone holds the entry's miss lock: a claim in its key, or its lock key. */
export async function missLockHeld(server: RedisServer, entryKey: string): Promise<boolean> {
  const [value, lock] = await Promise.all([server.command('GET', entryKey), server.command('EXISTS', lockKeyOf(entryKey))]);
  return value.startsWith(CLAIM_PREFIX) || lock === '1';
}

/** The keys under `prefix` that hold a miss lock: claimed entry keys and lock keys. */
export async function missLocksUnder(server: RedisServer, prefix: string): Promise<string[]> {
  const keys = (await server.keys()).filter((k) => k.startsWith(`${prefix}:`));
  const held: string[] = [];
  for (const k of keys) if (k.includes(':__lock:') || (await holdsMarker(server, k))) held.push(k);
  return held;
}

/** Whether a key holds a claim's marker (the trove's own tables and counters are hashes: not entries). */
async function holdsMarker(server: RedisServer, key: string): Promise<boolean> {
  if ((await server.command('TYPE', key)) !== 'string') return false;
  return (await server.command('GET', key)).startsWith(CLAIM_PREFIX);
}

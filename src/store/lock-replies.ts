/** The lock scripts' replies (see `scripts.ts`) as lock outcomes: shared by the drivers. */
import { Buffer } from 'node:buffer';
import type { LockAttempt, ReadOrLock } from './store.js';

/** ACQUIRE: -1 when acquired, else the holder's remaining lease in ms (-2: it vanished meanwhile). */
export function acquireOutcome(reply: unknown): LockAttempt {
  const r = Number(reply);
  return r === -1 ? { acquired: true } : { acquired: false, ttlMs: r >= 0 ? r : -1 };
}

/** ACQUIRE_AND_READ: { 1, value or nil } when acquired, else { 0, the holder's remaining lease in ms }. */
export function acquireAndReadOutcome(reply: unknown): LockAttempt {
  const [won, second] = reply as [unknown, unknown];
  if (Number(won) === 1) return { acquired: true, value: Buffer.isBuffer(second) ? second : null };
  const left = Number(second);
  return { acquired: false, ttlMs: left >= 0 ? left : -1 };
}

/** READ_OR_ACQUIRE: { 2, value } when the value was present (no lock taken), else as ACQUIRE_AND_READ. */
export function readOrAcquireOutcome(reply: unknown): ReadOrLock {
  const [kind, second] = reply as [unknown, unknown];
  if (Number(kind) === 2) return { found: Buffer.isBuffer(second) ? second : Buffer.from(String(second)) };
  return acquireAndReadOutcome(reply);
}

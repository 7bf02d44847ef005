/*
 * Messages of a trove's notification channel (a computed value was stored, or its lock let go):
 * `<byte length of the key>:<key>`, followed by the stored bytes when the value is carried. The
 * length prefix lets any key and any bytes pass unchanged. Carrying the value saves each waiting
 * process a read after the notification; every subscribed process receives the message, waiting
 * or not, so only small values are carried.
 */
import { Buffer } from 'node:buffer';

/** Largest stored value (in bytes, envelope included) that a notification carries; larger ones are read by the waiters. */
export const CARRIED_VALUE_MAX_BYTES = 4096;

/** The Lua expression of a notification: `key` and `bytes` are Lua expressions (bytes carried when small). */
export function luaNotification(key: string, bytes: string): string {
  return `#${key} .. ':' .. ${key} .. (#${bytes} <= ${CARRIED_VALUE_MAX_BYTES} and ${bytes} or '')`;
}

/** The Lua expression of a notification naming `key` (a Lua expression) and carrying nothing. */
export function luaKeyNotification(key: string): string {
  return `#${key} .. ':' .. ${key}`;
}

/** A notification naming `key` and carrying nothing. */
export function keyNotification(key: string): string {
  return `${Buffer.byteLength(key)}:${key}`;
}

/** A notification naming `key`, carrying `value` when it is small enough. */
export function notificationOf(key: string, value: Buffer): Buffer {
  const head = Buffer.from(keyNotification(key));
  return value.length > CARRIED_VALUE_MAX_BYTES ? head : Buffer.concat([head, value]);
}

/** A notification's key and carried bytes (a copy); undefined for a message not in this form. */
export function parseNotification(message: Buffer): { key: string; value: Buffer | undefined } | undefined {
  const colon = message.indexOf(0x3a);
  if (colon <= 0 || colon > 10) return undefined;
  const digits = message.toString('latin1', 0, colon);
  if (!/^\d+$/.test(digits)) return undefined;
  const end = colon + 1 + Number(digits);
  if (end > message.length) return undefined;
  return { key: message.toString('utf8', colon + 1, end), value: end === message.length ? undefined : Buffer.from(message.subarray(end)) };
}

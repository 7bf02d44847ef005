import { Buffer } from 'node:buffer';
import type { ChannelListener } from './store.js';

/** A message of a subscribed channel to its listener: the bytes to `onBytes`, else their text to `onMessage`. */
export function deliver(listener: ChannelListener, message: unknown): void {
  const bytes = Buffer.isBuffer(message) ? message : Buffer.from(String(message));
  if (listener.onBytes !== undefined) listener.onBytes(bytes);
  else listener.onMessage(bytes.toString());
}

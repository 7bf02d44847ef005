import { encodeEntry, type TagStamp } from '../codec/index.js';
import { ValueTooLargeError } from '../errors.js';
import type { Encoded } from '../load/index.js';
import { jittered } from './jitter.js';
import { type ResolvedRegionOptions, resolveWrite, type WriteOptions } from './options.js';

/** Encodes a value with its write options; throws SerializationError, or ValueTooLargeError above `maxValueBytes`. */
export function encodeValue(value: unknown, options: ResolvedRegionOptions, opts: WriteOptions | undefined, stamps?: readonly TagStamp[]): Encoded {
  const { ttlMs, freshForMs } = jittered(resolveWrite(options, opts), options.jitter);
  const now = Date.now();
  const freshUntil = !options.raw && freshForMs < ttlMs ? now + freshForMs : undefined;
  // The hard expiry lets every process cap its local copy without asking Redis (whatever the
  // writer's own configuration, since readers may have a near cache).
  const expiresAt = !options.raw && Number.isFinite(ttlMs) ? now + Math.ceil(ttlMs) : undefined;
  const bytes = encodeEntry(value, freshUntil, options, stamps, expiresAt);
  if (bytes.length > options.maxValueBytes) throw new ValueTooLargeError(bytes.length, options.maxValueBytes);
  return { ttlMs, bytes, freshUntil, expiresAt, stamps };
}

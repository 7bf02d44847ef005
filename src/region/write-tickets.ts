import type { Encoded } from '../load/index.js';
import type { RegionCore } from './region-core.js';

/*
 * A write's local copy is race-free only if the near cache knows of the write before it is sent
 * (reads of the key in flight then cannot keep an older value) and learns its outcome after.
 */

/**
 * Before a write is sent: older reads of the key in flight must not be kept. Returns a ticket
 * when the written value is to be kept locally, and then the write must be sent tracked; -1 otherwise.
 */
export function beginWrite(core: RegionCore, full: string): number {
  const near = core.ctx.near;
  if (near === undefined) return -1;
  // Hash storage: the write announces its bucket, which drops the written copy too (see hash-storage.ts).
  if (!core.options.nearCache || core.options.storage === 'hash') {
    near.drop(full);
    return -1;
  }
  return near.beginWrite(full);
}

/**
 * After a write: the written value becomes the local copy (unless it changed again meanwhile).
 * `undefined`: the write failed, and may or may not have reached Redis.
 */
export function endWrite(core: RegionCore, full: string, ticket: number, written: { value: unknown; encoded: Encoded } | undefined): void {
  const near = core.ctx.near;
  if (near === undefined || ticket === -1) return;
  if (written === undefined) {
    near.writeFailed(full, ticket);
    return;
  }
  const { encoded } = written;
  const entry = { value: written.value, freshUntil: encoded.freshUntil, expiresAt: encoded.expiresAt, ...(encoded.stamps ? { tags: encoded.stamps } : {}) };
  near.end(full, ticket, entry, encoded.bytes.length);
}

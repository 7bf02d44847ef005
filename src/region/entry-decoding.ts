import { type DecodedEntry, decodeEntry } from '../codec/index.js';
import { DecodeError, StoreError } from '../errors.js';
import { isClaimMarker } from '../store/index.js';
import { emitError } from './event-emission.js';
import { inOperation } from './operation-errors.js';
import type { RegionCore } from './region-core.js';

/**
 * Decodes an entry and checks its tags: the entry when live, undefined when absent, invalidated
 * or undecodable. When the tags cannot be checked: undefined with an error event, or with
 * `strict` a rejection; either names `operation`, the caller's.
 */
export function live(
  core: RegionCore,
  k: string,
  buf: Buffer,
  operation: string,
  strict = false,
  /** Undecodable bytes are not reported (the caller reported these very bytes already). */
  quiet = false,
): DecodedEntry | undefined | Promise<DecodedEntry | undefined> {
  const entry = decode(core, k, buf, quiet);
  if (entry?.tags === undefined) return entry;
  const quick = core.ctx.tags.isLive(entry.tags);
  if (quick !== undefined) return quick ? entry : undefined;
  return core.ctx.tags.check(entry.tags).then(
    (ok) => (ok ? entry : undefined),
    (err: unknown) => {
      const error = err instanceof StoreError ? inOperation(operation, err, 'the tags of the entry could not be checked') : err;
      if (strict) throw error;
      // Tags cannot be checked: do not serve a possibly invalidated value.
      emitError(core, error, 'tags', k);
      return undefined;
    },
  );
}

/**
 * The entry, or undefined with an error event when its bytes cannot be decoded (a miss, never a
 * failure of the call). A claim's marker (a value being computed, see `claims.ts`) is absent.
 */
function decode(core: RegionCore, k: string, buf: Buffer, quiet: boolean): DecodedEntry | undefined {
  if (!core.options.raw && isClaimMarker(buf)) return undefined;
  try {
    // The resolved options carry `codec` and `raw`, all decoding needs.
    return decodeEntry(buf, core.options);
  } catch (err) {
    if (quiet) return undefined;
    const error = err instanceof DecodeError ? err : new DecodeError(`Cannot decode the value of ${core.keyBase.keyOf(k)}`, { cause: err });
    emitError(core, error, 'decode', k);
    return undefined;
  }
}

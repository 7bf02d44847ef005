import { performance } from 'node:perf_hooks';
import { StoreError } from '../errors.js';
import { checkWriteOptions } from './call-options.js';
import { encodeValue } from './entry-encoding.js';
import { emitDelete, emitError, emitSet } from './event-emission.js';
import { checkKey } from './key-base.js';
import { asOperation } from './operation-errors.js';
import type { Key, SetOptions } from './region.js';
import type { RegionCore } from './region-core.js';
import { shared } from './value-sharing.js';
import { afterLocksDropped } from './lock-drop.js';
import { beginWrite, endWrite } from './write-tickets.js';

/** `set`: encoding failures throw; a store failure is reported as an `error` event (a cache write is best-effort). */
export async function set(core: RegionCore, key: Key, value: unknown, opts: SetOptions | undefined): Promise<void> {
  const k = checkKey(key);
  core.ctx.assertOpen();
  if (opts !== undefined) checkWriteOptions(opts, core.options);
  const started = core.ctx.events.wants('set') ? performance.now() : 0;
  let full: string | undefined;
  let ticket = -1;
  try {
    const stamps = opts?.tags !== undefined ? await asOperation('set', 'the tags could not be read', core.ctx.tags.stamp(opts.tags)) : undefined;
    const encoded = encodeValue(shared(core, value), core.options, opts, stamps);
    full = (await core.keyBase.load('set')) + k + core.keyBase.tail;
    ticket = beginWrite(core, full);
    await core.entries.set(full, encoded.bytes, Number.isFinite(encoded.ttlMs) ? encoded.ttlMs : undefined, ticket !== -1);
    endWrite(core, full, ticket, { value, encoded });
    emitSet(core, k, encoded.bytes.length, encoded.ttlMs, started);
  } catch (err) {
    if (full !== undefined) endWrite(core, full, ticket, undefined);
    if (err instanceof StoreError) emitError(core, err, 'set', k);
    else throw err;
  }
}

/** `delete`: resolves to whether the key existed; a store failure rejects (the caller relies on the delete). */
export async function remove(core: RegionCore, key: Key): Promise<boolean> {
  const k = checkKey(key);
  core.ctx.assertOpen();
  const started = core.ctx.events.wants('delete') ? performance.now() : 0;
  const full = (await core.keyBase.load('delete')) + k + core.keyBase.tail;
  core.ctx.near?.drop(full);
  const n = await afterLocksDropped(core, [full], () => core.entries.delete([full]));
  if (started !== 0) emitDelete(core, k, performance.now() - started);
  return n > 0;
}

/** `deleteMany`: one DEL of every key (per slot on Cluster); resolves to how many existed. A store failure rejects, as for `delete`. */
export async function removeMany(core: RegionCore, keys: readonly Key[]): Promise<number> {
  const ks = keys.map(checkKey);
  core.ctx.assertOpen();
  if (ks.length === 0) return 0;
  const started = core.ctx.events.wants('delete') ? performance.now() : 0;
  const base = await core.keyBase.load('deleteMany');
  const fulls = [...new Set(ks)].map((k) => base + k + core.keyBase.tail);
  for (const full of fulls) core.ctx.near?.drop(full);
  const n = await asOperation(
    'deleteMany',
    'the keys could not be deleted',
    afterLocksDropped(core, fulls, () => core.entries.delete(fulls)),
  );
  if (started !== 0) {
    const durationMs = performance.now() - started;
    for (const key of new Set(ks)) emitDelete(core, key, durationMs);
  }
  return n;
}

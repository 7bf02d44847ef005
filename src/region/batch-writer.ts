import { performance } from 'node:perf_hooks';
import type { TagStamp } from '../codec/index.js';
import { StoreError } from '../errors.js';
import type { Encoded } from '../load/index.js';
import type { WriteOp } from '../store/index.js';
import { checkWriteOptions } from './call-options.js';
import { encodeValue } from './entry-encoding.js';
import { emitError, emitSet } from './event-emission.js';
import { checkKey } from './key-base.js';
import { asOperation } from './operation-errors.js';
import type { BatchWriter, Key, SetOptions } from './region.js';
import type { RegionCore } from './region-core.js';
import { shared } from './value-sharing.js';
import { beginWrite, endWrite } from './write-tickets.js';

type Pending = { type: 'set'; key: string; value: unknown; opts: SetOptions | undefined } | { type: 'delete'; key: string };

/** `setMany`: every entry written by one batch, so all or none. */
export async function setMany(core: RegionCore, entries: Iterable<readonly [Key, unknown]>, opts: SetOptions | undefined): Promise<void> {
  core.ctx.assertOpen();
  await batch(core, 'setMany', (tx) => {
    for (const [key, value] of entries) tx.set(key, value, opts);
  });
}

/**
 * Collects the writes of `fn`, encodes them all, then applies them as one MULTI/EXEC. A throw
 * (of `fn` or of the codec) applies nothing; a store failure is reported as an `error` event of
 * `operation`, the caller's (`'batch'` or `'setMany'`).
 */
export async function batch(core: RegionCore, operation: string, fn: (tx: BatchWriter<unknown>) => void | Promise<void>): Promise<void> {
  core.ctx.assertOpen();
  const pending: Pending[] = [];
  await fn({
    set: (key, value, opts) => {
      if (opts !== undefined) checkWriteOptions(opts, core.options);
      pending.push({ type: 'set', key: checkKey(key), value, opts });
    },
    delete: (key) => {
      pending.push({ type: 'delete', key: checkKey(key) });
    },
  });
  if (pending.length === 0) return;
  const options = core.options;
  const started = core.ctx.events.wants('set') || core.ctx.events.wants('delete') ? performance.now() : 0;
  const ops: WriteOp[] = [];
  const written: { key: string; bytes: number; ttlMs: number }[] = [];
  const local: { full: string; at: number; ticket: number; value: unknown; encoded: Encoded }[] = [];
  try {
    const base = await core.keyBase.load(operation);
    const tail = core.keyBase.tail;
    const stamp = (tags: readonly string[]) => asOperation(operation, 'the tags could not be read', core.ctx.tags.stamp(tags));
    const tagged = [...new Set(pending.flatMap((p) => (p.type === 'set' ? (p.opts?.tags ?? []) : [])))];
    if (tagged.length > 0) await stamp(tagged);
    // One stamp per distinct tag list, not per entry: setMany passes the same options to
    // every entry, and an await per entry made 100k writes wait out 100k microtask turns.
    const stampsOf = new Map<string, readonly TagStamp[]>();
    for (const p of pending) {
      if (p.type === 'delete') {
        ops.push({ type: 'delete', key: base + p.key + tail });
        continue;
      }
      let stamps: readonly TagStamp[] | undefined;
      if (p.opts?.tags !== undefined) {
        const id = JSON.stringify(p.opts.tags);
        stamps = stampsOf.get(id);
        if (stamps === undefined) {
          stamps = await stamp(p.opts.tags);
          stampsOf.set(id, stamps);
        }
      }
      const encoded = encodeValue(shared(core, p.value), options, p.opts, stamps);
      const full = base + p.key + tail;
      local.push({ full, at: ops.length, ticket: -1, value: p.value, encoded });
      ops.push({ type: 'set', key: full, value: encoded.bytes, ttlMs: Number.isFinite(encoded.ttlMs) ? encoded.ttlMs : undefined });
      written.push({ key: p.key, bytes: encoded.bytes.length, ttlMs: encoded.ttlMs });
    }
    // Only the last operation on a key decides its local copy: a key set twice keeps its last
    // value, a key set then deleted keeps none. A map from key to its last operation keeps this
    // linear (a search per entry took 10 s for 32k entries).
    const lastOp = new Map<string, number>();
    for (let i = 0; i < ops.length; i++) lastOp.set(ops[i]!.key, i);
    const kept = local.filter((l) => lastOp.get(l.full) === l.at);
    for (const op of ops) if (op.type === 'delete') core.ctx.near?.drop(op.key);
    for (const l of kept) l.ticket = beginWrite(core, l.full);
    try {
      await core.entries.exec(
        ops,
        kept.some((l) => l.ticket !== -1),
      );
    } catch (err) {
      for (const l of kept) endWrite(core, l.full, l.ticket, undefined);
      throw err;
    }
    for (const l of kept) endWrite(core, l.full, l.ticket, { value: l.value, encoded: l.encoded });
  } catch (err) {
    if (err instanceof StoreError) {
      emitError(core, err, operation);
      return;
    }
    throw err;
  }
  const durationMs = started === 0 ? 0 : performance.now() - started;
  for (const w of written) emitSet(core, w.key, w.bytes, w.ttlMs, started, durationMs);
  if (started === 0) return;
  for (const p of pending) if (p.type === 'delete') core.ctx.events.emit('delete', { region: core.path, key: p.key, durationMs });
}

import { performance } from 'node:perf_hooks';
import type { TagStamp } from '../codec/index.js';
import { StoreError } from '../errors.js';
import type { Encoded } from '../load/index.js';
import type { WriteOp } from '../store/index.js';
import { checkWriteOptions } from './call-options.js';
import { encodeValue } from './entry-encoding.js';
import { emitDelete, emitError, emitSet } from './event-emission.js';
import { checkKey } from './key-base.js';
import { afterLocksDropped } from './lock-drop.js';
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

/** A write of the batch, encoded; a set's `ticket` is its near-cache ticket (see write-tickets.ts), -1 when its value is not kept locally. */
type Item = { type: 'delete'; key: string; full: string } | { type: 'set'; key: string; full: string; value: unknown; encoded: Encoded; ticket: number };

/**
 * Collects the writes of `fn`, encodes them all, then applies them as one atomic batch (see
 * `Store.exec`). A throw (of `fn` or of the codec) applies nothing; a store failure is reported as
 * an `error` event of `operation`, the caller's (`'batch'` or `'setMany'`).
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
  const items: Item[] = [];
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
      const full = base + p.key + tail;
      if (p.type === 'delete') {
        items.push({ type: 'delete', key: p.key, full });
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
      items.push({ type: 'set', key: p.key, full, value: p.value, encoded: encodeValue(shared(core, p.value), options, p.opts, stamps), ticket: -1 });
    }
    const tracked = keepLocally(core, items);
    const ops: WriteOp[] = items.map((it) =>
      it.type === 'delete'
        ? { type: 'delete', key: it.full }
        : {
            type: 'set',
            key: it.full,
            value: it.encoded.bytes,
            ttlMs: Number.isFinite(it.encoded.ttlMs) ? it.encoded.ttlMs : undefined,
            untracked: it.ticket === -1,
          },
    );
    const deleted = items.filter((it) => it.type === 'delete').map((it) => it.full);
    try {
      // Lock keys first, as `delete` does.
      if (deleted.length > 0) await afterLocksDropped(core, deleted, () => core.entries.exec(ops, tracked));
      else await core.entries.exec(ops, tracked);
    } catch (err) {
      for (const it of items) if (it.type === 'set') endWrite(core, it.full, it.ticket, undefined);
      throw err;
    }
    for (const it of items) if (it.type === 'set') endWrite(core, it.full, it.ticket, it);
  } catch (err) {
    if (err instanceof StoreError) {
      emitError(core, err, operation);
      return;
    }
    throw err;
  }
  const durationMs = started === 0 ? 0 : performance.now() - started;
  for (const it of items) if (it.type === 'set') emitSet(core, it.key, it.encoded.bytes.length, it.encoded.ttlMs, started, durationMs);
  if (started === 0) return;
  for (const it of items) if (it.type === 'delete') emitDelete(core, it.key, durationMs);
}

/**
 * Before the batch is sent: which written values the near cache keeps, each given its ticket
 * (`beginWrite`); every other key written loses its local copy. Only the last write of a key
 * counts (a key set twice keeps its last value, one set then deleted none), and of those only the
 * last `capacity` sets: a bulk write larger than the near cache would evict the rest itself, and
 * their keys are not tracked, so Redis neither remembers them for this connection nor announces
 * their writes. Returns whether any value is kept (the batch is then sent tracked).
 */
function keepLocally(core: RegionCore, items: Item[]): boolean {
  const near = core.ctx.near;
  if (near === undefined) return false;
  // From the last write back: a key's first sight is its last write, which alone decides it. Once
  // `capacity` values are kept, an earlier key is only looked up (the set stays within the kept
  // keys and those seen before them), and dropped unless a later write of it decided already.
  const seen = new Set<string>();
  let room = near.capacity;
  let tracked = false;
  for (let i = items.length - 1; i >= 0; i--) {
    const it = items[i]!;
    if (seen.has(it.full)) continue;
    if (room === 0) {
      near.drop(it.full);
      continue;
    }
    seen.add(it.full);
    if (it.type === 'delete') {
      near.drop(it.full);
      continue;
    }
    room--;
    it.ticket = beginWrite(core, it.full);
    if (it.ticket !== -1) tracked = true;
  }
  return tracked;
}

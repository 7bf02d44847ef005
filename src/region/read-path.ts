import type { DecodedEntry } from '../codec/index.js';
import type { NearCache, NearEntry } from '../near/index.js';
import { live } from './entry-decoding.js';
import { emitError, emitHit, emitMiss, readStarted } from './event-emission.js';
import { checkKey } from './key-base.js';
import { fastNearHit, handOut, keptEntry, keptHit, nearFor, nearHit, storeAnswered } from './near-fast-path.js';
import type { Key } from './region.js';
import type { RegionCore } from './region-core.js';
import { shared } from './value-sharing.js';

/** `get`: the near-cache fast path, else the general read (near cache, then the store). */
export function get<T>(core: RegionCore, key: Key): Promise<T | undefined> {
  const fast = fastNearHit(core, key);
  if (fast !== undefined) return Promise.resolve(handOut(core.ctx.near!, fast.value) as T);
  let k: string;
  try {
    k = checkKey(key);
    core.ctx.assertOpen();
  } catch (err) {
    return Promise.reject(err);
  }
  const started = readStarted(core);
  const base = core.keyBase.now();
  if (base === undefined) {
    return core.keyBase.load('get').then(
      () => get<T>(core, k),
      (err: unknown) => missAfterError<T | undefined>(core, err, 'get', k, started, undefined),
    );
  }
  const full = base + k + core.keyBase.tail;
  const near = nearFor(core);
  if (near !== undefined) {
    const local = nearHit(core, near, full);
    if (local !== undefined) {
      emitHit(core, k, started, local, 'near');
      return Promise.resolve(handOut(near, local.value) as T);
    }
  }
  return readEntry(
    core,
    near,
    k,
    full,
    'get',
    false,
    (entry) => answer<T>(core, k, started, entry),
    (err: unknown) => {
      const kept = keptAfterError(core, err, 'get', k, full, started);
      return kept === undefined ? undefined : (handOut(core.ctx.near!, kept.value) as T);
    },
  );
}

/**
 * Reads an entry from the store, keeping it in the near cache when that is race-free, and hands it
 * to `then` (or the failure to `failed`) in the same promise step: a read is a handful of promise
 * hops, each one counts. `strict`: a tag check that fails (the store is unreachable) goes to
 * `failed` instead of answering a miss. `operation`: the caller's, named by a failed tag check.
 */
export function readEntry<R>(
  core: RegionCore,
  near: NearCache | undefined,
  k: string,
  full: string,
  operation: string,
  strict: boolean,
  then: (entry: DecodedEntry | undefined, bytes: Buffer | undefined) => R | Promise<R>,
  failed: (err: unknown) => R | Promise<R>,
): Promise<R> {
  if (near === undefined) {
    return core.entries.get(full, false).then((buf) => {
      const entry = buf === null ? undefined : live(core, k, buf, operation, strict);
      storeAnswered(core, full);
      const found = buf ?? undefined;
      return entry instanceof Promise ? entry.then((e) => then(e, found), failed) : then(entry, found);
    }, failed);
  }
  const ticket = near.begin(full);
  return core.entries.get(full, true).then(
    (buf) => {
      const entry = buf === null ? undefined : live(core, k, buf, operation, strict);
      if (entry instanceof Promise) {
        return entry.then(
          (e) => {
            near.end(full, ticket, e, buf?.length ?? 0);
            return then(e, buf ?? undefined);
          },
          (err: unknown) => {
            near.end(full, ticket, undefined, 0);
            return failed(err);
          },
        );
      }
      near.end(full, ticket, entry, buf?.length ?? 0);
      return then(entry, buf ?? undefined);
    },
    (err: unknown) => {
      near.end(full, ticket, undefined, 0);
      return failed(err);
    },
  );
}

function rethrow(err: unknown): never {
  throw err;
}

/** A read's answer, with its hit or miss event. */
function answer<T>(core: RegionCore, k: string, started: number, entry: DecodedEntry | undefined): T | undefined {
  if (entry === undefined) {
    emitMiss(core, k, started);
    return undefined;
  }
  emitHit(core, k, started, entry, 'store');
  return shared(core, entry.value as T);
}

/** A read the store failed: reported, then answered as a miss with `value`. */
export function missAfterError<T>(core: RegionCore, err: unknown, operation: string, k: string, started: number, value: T): T {
  emitError(core, err, operation, k);
  emitMiss(core, k, started);
  return value;
}

/**
 * A read the store failed: reported, then answered from the entry kept through an outage
 * (`serveWhileDisconnected`) as a stale near hit, or else a miss (undefined).
 */
export function keptAfterError(core: RegionCore, err: unknown, operation: string, k: string, full: string, started: number): NearEntry | undefined {
  emitError(core, err, operation, k);
  const kept = keptHit(core, k, full, started);
  if (kept === undefined) emitMiss(core, k, started);
  return kept;
}

/** `has`: whether a live value is stored; when the store fails (an error event), whether a copy is kept through the outage, else false. */
export async function has(core: RegionCore, key: Key): Promise<boolean> {
  const k = checkKey(key);
  core.ctx.assertOpen();
  let full: string | undefined;
  try {
    full = (await core.keyBase.load('has')) + k + core.keyBase.tail;
    const near = nearFor(core);
    if (near !== undefined && nearHit(core, near, full) !== undefined) return true;
    return await readEntry(core, near, k, full, 'has', false, (entry) => entry !== undefined, rethrow);
  } catch (err) {
    emitError(core, err, 'has', k);
    return full !== undefined && keptEntry(core, full) !== undefined;
  }
}

/** `getMany`: local hits first, the rest in one MGET; undefined for each key absent or unreadable. */
export async function getMany<T>(core: RegionCore, keys: readonly Key[]): Promise<(T | undefined)[]> {
  const ks = keys.map(checkKey);
  core.ctx.assertOpen();
  if (ks.length === 0) return [];
  const started = readStarted(core);
  let base: string;
  try {
    base = await core.keyBase.load('getMany');
  } catch (err) {
    emitError(core, err, 'getMany');
    for (const k of ks) emitMiss(core, k, started);
    return ks.map(() => undefined);
  }
  const tail = core.keyBase.tail;
  const near = nearFor(core);
  const out: (T | undefined)[] = new Array(ks.length);
  const remote: number[] = [];
  for (let i = 0; i < ks.length; i++) {
    const local = near === undefined ? undefined : nearHit(core, near, base + ks[i]! + tail);
    if (local === undefined) remote.push(i);
    else {
      emitHit(core, ks[i]!, started, local, 'near');
      out[i] = handOut(near!, local.value) as T;
    }
  }
  if (remote.length === 0) return out;
  const fulls = remote.map((i) => base + ks[i]! + tail);
  const tickets = near === undefined ? [] : fulls.map((f) => near.begin(f));
  let bufs: (Buffer | null)[];
  try {
    bufs = await core.entries.mget(
      fulls,
      near !== undefined,
      remote.map((i) => ks[i]!),
      'getMany',
    );
  } catch (err) {
    for (let j = 0; j < fulls.length; j++) near?.end(fulls[j]!, tickets[j]!, undefined, 0);
    emitError(core, err, 'getMany');
    remote.forEach((i, j) => {
      const kept = keptHit(core, ks[i]!, fulls[j]!, started);
      if (kept === undefined) emitMiss(core, ks[i]!, started);
      else out[i] = handOut(core.ctx.near!, kept.value) as T;
    });
    return out;
  }
  if (near === undefined) for (const f of fulls) storeAnswered(core, f);
  const entries = await Promise.all(remote.map((i, j) => (bufs[j] ? live(core, ks[i]!, bufs[j], 'getMany') : undefined)));
  remote.forEach((i, j) => {
    near?.end(fulls[j]!, tickets[j]!, entries[j], bufs[j]?.length ?? 0);
    out[i] = answer<T>(core, ks[i]!, started, entries[j]);
  });
  return out;
}

import { FactoryResultError, InvalidOptionError } from '../errors.js';
import type { FactoryContext } from '../load/index.js';
import { checkKey } from './key-base.js';
import { getOrSet } from './read-through.js';
import type { Factory, GetOrSetOptions, Key, ManyFactory, ManyFactoryContext } from './region.js';
import type { RegionCore } from './region-core.js';

/**
 * `getOrSetMany`: each key read through as by `getOrSet` (its own near hit, Redis read, lock,
 * wait, freshness, fail-safe, exactly once across processes), except that the keys this process
 * wins the computation of are handed to the caller's factory together, as a DataLoader would:
 * every key whose computation starts in the same turn of the event loop (the lock replies of one
 * batch arrive together) goes into one call. Keys found in the cache, or computed by another
 * process meanwhile, never reach it. Answers the values in the order of `keys`.
 */
export function getOrSetMany<T, K extends Key>(
  core: RegionCore,
  keys: readonly K[],
  factory: ManyFactory<T, K, unknown>,
  opts: GetOrSetOptions | undefined,
): Promise<T[]> {
  let loads: ManyLoad<T, K>;
  try {
    if (!Array.isArray(keys)) throw new InvalidOptionError('keys', 'getOrSetMany needs an array of keys');
    for (const key of keys) checkKey(key);
    if (typeof factory !== 'function') throw new InvalidOptionError('factory', 'getOrSetMany needs a function');
    loads = new ManyLoad(factory);
  } catch (err) {
    return Promise.reject(err);
  }
  return Promise.all(keys.map((key) => getOrSet<T>(core, key, ((ctx: FactoryContext) => loads.load(key, ctx)) as Factory<T>, opts)));
}

interface Wanted<T, K> {
  key: K;
  /** The key's computation context (its overrides are read when its value is written, after the factory answers). */
  ctx: FactoryContext;
  resolve(value: T): void;
  reject(err: unknown): void;
}

/** The computations one `getOrSetMany` call starts, gathered per turn of the event loop into calls of its factory. */
class ManyLoad<T, K extends Key> {
  private wanted: Wanted<T, K>[] | undefined;

  constructor(private readonly factory: ManyFactory<T, K, unknown>) {}

  load(key: K, ctx: FactoryContext): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.wanted === undefined) {
        this.wanted = [];
        // After this turn's I/O callbacks: every lock reply of the batch read with this one has
        // started its computation by then.
        setImmediate(this.flush);
      }
      this.wanted.push({ key, ctx, resolve, reject });
    });
  }

  private readonly flush = (): void => {
    const wanted = this.wanted!;
    this.wanted = undefined;
    const keys = wanted.map((w) => w.key);
    let answer: ReturnType<ManyFactory<T, K>>;
    try {
      answer = this.factory(keys, new ManyContext(wanted));
    } catch (err) {
      for (const w of wanted) w.reject(err);
      return;
    }
    Promise.resolve(answer).then(
      (values) => deliver(wanted, values),
      (err: unknown) => {
        for (const w of wanted) w.reject(err);
      },
    );
  };
}

/** One factory call's context: the keys' own contexts, and a signal aborted once all of theirs are. */
class ManyContext<K extends Key> implements ManyFactoryContext<K, unknown> {
  private readonly byKey: Map<K, FactoryContext>;
  private all: AbortSignal | undefined;

  constructor(wanted: readonly Wanted<unknown, K>[]) {
    this.byKey = new Map(wanted.map((w) => [w.key, w.ctx]));
  }

  /** Made on first use, as a key's own: most factories never look at it. */
  get signal(): AbortSignal {
    if (this.all === undefined) {
      const contexts = [...this.byKey.values()];
      this.all = contexts.length === 1 ? contexts[0]!.signal : allAborted(contexts.map((c) => c.signal));
    }
    return this.all;
  }

  of(key: K): FactoryContext {
    const ctx = this.byKey.get(key);
    if (ctx === undefined) throw new InvalidOptionError('key', `getOrSetMany: ${JSON.stringify(key)} is not one of the keys handed to this factory call`);
    return ctx;
  }
}

/**
 * A signal aborted once every one of `signals` is, with the last one's reason. (`AbortSignal.any`
 * aborts on the first.) Each listener goes with its signal's computation.
 */
export function allAborted(signals: readonly AbortSignal[]): AbortSignal {
  const all = new AbortController();
  let left = signals.length;
  const one = (s: AbortSignal) => {
    if (--left === 0) all.abort(s.reason);
  };
  for (const s of signals) {
    if (s.aborted) one(s);
    else s.addEventListener('abort', () => one(s), { once: true });
  }
  return all.signal;
}

/** Each wanted key's value from the factory's answer: an array in the order of the keys given, or a Map by key. */
function deliver<T, K extends Key>(wanted: readonly Wanted<T, K>[], values: readonly T[] | ReadonlyMap<K, T>): void {
  if (Array.isArray(values)) {
    if (values.length !== wanted.length) {
      const err = new FactoryResultError(
        `getOrSetMany: the factory answered ${values.length} values for ${wanted.length} keys (an array answers the keys in order, one value each)`,
      );
      for (const w of wanted) w.reject(err);
      return;
    }
    for (let i = 0; i < wanted.length; i++) wanted[i]!.resolve(values[i] as T);
    return;
  }
  if (values instanceof Map) {
    for (const w of wanted) {
      if (values.has(w.key)) w.resolve(values.get(w.key) as T);
      else
        w.reject(
          new FactoryResultError(`getOrSetMany: the factory's Map has no value for key ${JSON.stringify(w.key)} (answer null to cache that nothing exists)`),
        );
    }
    return;
  }
  const err = new FactoryResultError(
    `getOrSetMany: the factory must answer an array (one value per key, in order) or a Map by key, got ${values === null ? 'null' : typeof values}`,
  );
  for (const w of wanted) w.reject(err);
}

/**
 * The context a factory runs with: what it may adapt about the value it is computing (expiry,
 * freshness, tags, whether to cache it at all) and what it may know (the previous value, its key,
 * an abort signal).
 *
 * How a factory reaches it:
 * - `getOrSet(key, (ctx) => …)`: as its argument.
 * - `trove.context()`, from any factory (a cached function's body included): the context of the
 *   computation whose synchronous part is running, so `const ctx = trove.context()` before the
 *   function's first `await` always works, at no cost. After an `await`, only for computations
 *   run with `asyncContext` (a cached function's `context: true`): that takes AsyncLocalStorage,
 *   which on Node 20 doubles the cost of every awaited promise in the process once enabled
 *   (measured: an awaited in-memory lookup went from 0.21 to 0.45 µs), so it is never turned on
 *   unless asked for.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { type Duration, toMs } from '../duration.js';

/** What a factory may read and adapt about the value it computes. */
export interface FactoryContext<T = unknown> {
  /** The key being computed (the user key, without prefix, version or region). */
  readonly key: string;
  /** The dotted path of the region the value is stored in. */
  readonly region: string;
  /**
   * The previous value, when there is one: the stale value being refreshed (also by eager refresh),
   * or the value fail-safe would answer if this computation failed. `undefined` on a cold miss.
   */
  readonly stale: T | undefined;
  /**
   * Aborted when no caller waits for the computation anymore and its result would be of no use
   * soon: on `hardTimeout` (reason: a `TimeoutError`) and on `trove.close()` (reason: a
   * `ClosedError`). Pass it to `fetch` or a database driver to stop their work. A soft timeout
   * does not abort: its result is still stored when it arrives.
   */
  readonly signal: AbortSignal;
  /**
   * Hard expiry of this value, overriding the call's and the region's `ttl`: milliseconds or a
   * string like `'10m'`; `Infinity` for none. E.g. an OAuth token's `expires_in * 1000`.
   * Throws `InvalidOptionError` for an invalid duration. The freshness follows as for a per-call
   * `ttl` (the region's `freshFor`, capped by this ttl) unless `setFreshFor` is called too.
   * @defaultValue the call's or the region's `ttl`
   */
  setTtl(ttl: Duration): void;
  /**
   * How long this value is served without recomputing, overriding the call's and the region's
   * `freshFor`: milliseconds or a string; must not exceed the ttl in effect (else the value is
   * answered but not stored, with an `error` event). Throws `InvalidOptionError` for an invalid
   * duration.
   * @defaultValue the call's or the region's `freshFor`
   */
  setFreshFor(freshFor: Duration): void;
  /**
   * Tags of this value, added to the call's `tags`. Stamped when called: call it before reading
   * the data the value depends on. An invalidation of one of these tags that this process learns
   * of between the start of the computation and the write means the value is answered but not
   * stored. Throws `InvalidOptionError` for an empty or non-string tag.
   * @defaultValue none beyond the call's
   */
  setTags(tags: readonly string[]): void;
  /**
   * Answer this computation's value without storing it (e.g. an error placeholder, a partial
   * result). The callers sharing this computation in this process get the value; processes
   * waiting for it are woken and compute it themselves, one at a time (the lock still applies).
   */
  skip(): void;
}

/** What a computation's context collected, read when its value is written. */
export interface FactoryOverrides {
  ttlMs: number | undefined;
  freshForMs: number | undefined;
  tags: string[] | undefined;
  skipped: boolean;
}

/** One computation's context. */
export class RunContext<T = unknown> implements FactoryContext<T> {
  /** Changes made by the factory; read once the value is known. */
  readonly overrides: FactoryOverrides = { ttlMs: undefined, freshForMs: undefined, tags: undefined, skipped: false };
  private controller: AbortController | undefined = undefined;
  private abortReason: unknown = undefined;

  constructor(
    /** The trove (its loader) the computation belongs to: `trove.context()` answers only its own. */
    readonly owner: object,
    readonly key: string,
    readonly region: string,
    readonly stale: T | undefined,
    /** Checks tags as the region does (throws InvalidOptionError). */
    private readonly checkTags: (tags: readonly string[]) => void,
    /** The cached function computing, when the run is one of its calls. */
    readonly fn?: string,
  ) {}

  /** Created on first use: most factories never look at it. */
  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.abortReason !== undefined) this.controller.abort(this.abortReason);
    }
    return this.controller.signal;
  }

  /** Fires the signal (once). */
  abort(reason: unknown): void {
    if (this.abortReason !== undefined) return;
    this.abortReason = reason;
    this.controller?.abort(reason);
  }

  get aborted(): boolean {
    return this.abortReason !== undefined;
  }

  setTtl(ttl: Duration): void {
    this.overrides.ttlMs = toMs(ttl, 'ttl', { allowInfinite: true });
  }

  setFreshFor(freshFor: Duration): void {
    this.overrides.freshForMs = toMs(freshFor, 'freshFor', { allowZero: true, allowInfinite: true });
  }

  setTags(tags: readonly string[]): void {
    this.checkTags(tags);
    this.overrides.tags = [...(this.overrides.tags ?? []), ...tags];
  }

  skip(): void {
    this.overrides.skipped = true;
  }
}

/** The context whose factory is running synchronously right now. */
let current: RunContext | undefined;
/** For factories that asked for their context after awaits too (see the module's comment). */
let asyncContexts: AsyncLocalStorage<RunContext> | undefined;
/** Marks a factory that reaches its context through AsyncLocalStorage. */
const ASYNC_CONTEXT: unique symbol = Symbol('trove.asyncContext');

type Marked = { [ASYNC_CONTEXT]?: true };

/** Marks `factory` so that `trove.context()` finds its context after its awaits too (AsyncLocalStorage). */
export function withAsyncContext<F extends (...args: never[]) => unknown>(factory: F): F {
  (factory as Marked)[ASYNC_CONTEXT] = true;
  return factory;
}

/**
 * Calls `factory` with its context, current for `trove.context()` during its synchronous part
 * (and after its awaits when marked by `withAsyncContext`). Once AsyncLocalStorage is in use, an
 * unmarked factory runs outside it, so that it never sees the context of a computation that
 * called it. `wrapped`: a run whose value is cached, which goes through the wrappers of the
 * context's owner (`addFactoryWrapper`), if any.
 */
export function callFactory<T>(ctx: RunContext<T>, factory: (ctx: FactoryContext<T>) => T | Promise<T>, wrapped = false): T | Promise<T> {
  const wrapper = wrapped ? wrappers.get(ctx.owner)?.composed : undefined;
  if (wrapper === undefined) return callBare(ctx, factory);
  return wrapper({ region: ctx.region, key: ctx.key, function: ctx.fn }, () => callBare(ctx, factory)) as T | Promise<T>;
}

/** What a factory wrapper learns of the run it wraps. */
export interface FactoryRunInfo {
  /** The dotted path of the region the value is stored in. */
  readonly region: string;
  /** The key being computed (the user key, without prefix, version or region). */
  readonly key: string;
  /** The cached function computing, when the run is one of its calls; undefined for a region's `getOrSet`. */
  readonly function: string | undefined;
}

/**
 * Runs a factory: calls `run` once and returns what it returns (a value or a promise), e.g. inside
 * a tracing context (`context.with(…, run)`), so that whatever the factory starts belongs to it.
 */
export type FactoryWrapper = (info: FactoryRunInfo, run: () => unknown) => unknown;

/** Each owner's wrappers in the order added, and composed into one, the first added outermost. */
const wrappers = new WeakMap<object, { readonly list: FactoryWrapper[]; composed: FactoryWrapper }>();

/** Adds a wrapper of `owner`'s cached factory runs; returns the function that removes it (once). */
export function addFactoryWrapper(owner: object, wrapper: FactoryWrapper): () => void {
  let held = wrappers.get(owner);
  if (held === undefined) {
    held = { list: [], composed: wrapper };
    wrappers.set(owner, held);
  }
  const { list } = held;
  // An entry of its own: the same wrapper added twice is removed one at a time.
  const entry: FactoryWrapper = (info, run) => wrapper(info, run);
  list.push(entry);
  compose(owner);
  return () => {
    const i = list.indexOf(entry);
    if (i === -1) return;
    list.splice(i, 1);
    compose(owner);
  };
}

function compose(owner: object): void {
  const held = wrappers.get(owner)!;
  if (held.list.length === 0) {
    wrappers.delete(owner);
    return;
  }
  held.composed = held.list.reduceRight<FactoryWrapper>(
    (inner, outer) => (info, run) => outer(info, () => inner(info, run)),
    (_info, run) => run(),
  );
}

function callBare<T>(ctx: RunContext<T>, factory: (ctx: FactoryContext<T>) => T | Promise<T>): T | Promise<T> {
  const outer = current;
  current = ctx as RunContext;
  try {
    if ((factory as Marked)[ASYNC_CONTEXT] === true) {
      asyncContexts ??= new AsyncLocalStorage<RunContext>();
      return asyncContexts.run(ctx as RunContext, factory, ctx);
    }
    if (asyncContexts !== undefined) return asyncContexts.exit(factory, ctx);
    return factory(ctx);
  } finally {
    current = outer;
  }
}

/** The context of the computation running for `owner`, if any (see the module's comment). */
export function currentContext(owner: object): FactoryContext | undefined {
  const ctx = current ?? asyncContexts?.getStore();
  return ctx !== undefined && ctx.owner === owner ? ctx : undefined;
}

import { type Duration, toMs } from '../duration.js';
import { InvalidOptionError, KeyDerivationError } from '../errors.js';
import { argsKey } from '../keys/args/index.js';
import { keyToken, loneSurrogateAt } from '../keys/index.js';
import {
  applyReadThrough,
  callFactory,
  DEFAULT_READ_THROUGH,
  READ_THROUGH_KEYS,
  type ReadThroughOptions,
  RunContext,
  withAsyncContext,
} from '../load/index.js';
import { checkTags, type Factory, type GetOrSetOptions, type Region, type RegionOptions, type SetOptions } from '../region/index.js';

/**
 * Options of `trove.cached(fn, options)` and the `@trove.cached(options)` decorator. `A` are the
 * function's parameters, `R` its return type, `This` the type of `this` in a decorated method (its
 * class, or the class itself for a static method), all inferred from the function or method.
 */
export interface CachedOptions<A extends unknown[], R, This = unknown> extends ReadThroughOptions {
  /**
   * Name of the function in its keys. Must be stable across deploys and processes.
   * @defaultValue `fn.name` (required for anonymous functions); for decorated methods `Class.method`,
   * where `Class` is the class that defines the method, never a subclass calling it (required for
   * private methods)
   */
  name?: string;
  /**
   * Region holding the function's entries (dotted names nest). Region options apply.
   * @defaultValue `'fn'`
   */
  region?: string;
  /** Hard expiry of each result: milliseconds or a string like `'4h'`. @defaultValue the region's `ttl` */
  ttl?: Duration;
  /** How long a result is served without recomputing. @defaultValue the region's `freshFor` */
  freshFor?: Duration;
  /** Push the hard expiry back by `ttl` on every hit (sliding expiry). @defaultValue `false` */
  refreshTtlOnHit?: boolean;
  /** Indexes of arguments left out of the key (a database handle, a logger). @defaultValue `[]` */
  skipArgs?: readonly number[];
  /**
   * Custom key: return a string that identifies the call. Replaces the canonical argument encoding
   * (and, for methods, is called with `this`, so it is where an instance enters the key).
   * @defaultValue the canonical encoding of the arguments (less `skipArgs`), hashed
   */
  key?: (this: This, ...args: A) => string;
  /**
   * For decorated methods: the part of `this` that belongs in the key (e.g. `(self) => self.id`,
   * `self` typed as the method's class). Without it (and without `key`), `this` is not part of the
   * key: every instance shares entries.
   * @defaultValue none: `this` is not part of the key
   */
  thisKey?: (self: This) => unknown;
  /** The function's own version, part of its keys: bump it when its result changes shape. @defaultValue `'0'` */
  version?: string;
  /** Return false to answer a result without caching it (e.g. empty results). @defaultValue cache everything */
  shouldCache?: (value: Awaited<R>) => boolean;
  /** Keep short argument encodings readable in Redis keys instead of hashing them (a debugging aid). @defaultValue `false` */
  readableKeys?: boolean;
  /**
   * When no key can be derived from the arguments (a function, a symbol, a cycle, a class instance
   * without `toCacheKey`/`toJSON`): `'run'` calls the function uncached and emits an `error`
   * event; `'throw'` rejects with `KeyDerivationError`.
   * @defaultValue `'run'`
   */
  onKeyError?: 'run' | 'throw';
  /** Region options used when this function's region is first configured (codec, compression, …). @defaultValue none */
  regionOptions?: RegionOptions;
  /**
   * Tags of each result, for `trove.invalidateTags`: a list, or a function of the call's
   * arguments and its result (called once the result is known; see `FactoryContext.setTags` for
   * when tags chosen late are stamped).
   * @defaultValue none
   */
  tags?: readonly string[] | ((args: A, result: Awaited<R>) => readonly string[]);
  /**
   * Make `trove.context()` reach this call's context after the function's awaits too (it always
   * does before the first one). Takes AsyncLocalStorage, which once enabled costs every awaited
   * promise of the process a little (see the README's "Factory context"), hence off by default.
   * @defaultValue `false`
   */
  context?: boolean;
}

/** An async method as decorated by `@trove.cached()`. */
export type CachedMethod<This, A extends unknown[], R> = (this: This, ...args: A) => Promise<R>;

/**
 * Options of the `@trove.cached(options)` method decorator: `key`, `thisKey`, `shouldCache` and
 * `tags` are typed from the decorated method (`A`, `R`) and its class (`This`), inferred where the
 * decorator is applied.
 */
export type CachedMethodOptions<This = unknown, A extends unknown[] = unknown[], R = unknown> = CachedOptions<A, Promise<R>, This>;

/**
 * What `@trove.cached(options)` returns: a method decorator accepted both as a TS standard
 * decorator, `(method, context)`, and as a legacy one (`experimentalDecorators`, as in NestJS or
 * TypeORM projects), `(prototype or class, name, descriptor)`. Both cache the method under the
 * same keys.
 */
export type CachedMethodDecorator<This = unknown, A extends unknown[] = unknown[], R = unknown> = (
  target: This | CachedMethod<This, A, R>,
  context: ClassMethodDecoratorContext<This, CachedMethod<This, A, R>> | string | symbol,
  descriptor?: TypedPropertyDescriptor<CachedMethod<This, A, R>>,
) => void;

/** A cached function: the original signature (answering a promise), plus cache controls. */
export type CachedFunction<A extends unknown[], R, This = unknown> = ((this: This, ...args: A) => Promise<Awaited<R>>) & {
  /** Drops the cached result of this call. */
  invalidate(this: This, ...args: A): Promise<void>;
  /**
   * Makes the cached result of this call stale (see `Region.markStale`): the next call answers it
   * while one process recomputes it, and fail-safe answers it if that fails. Resolves to whether
   * a result was cached.
   */
  markStale(this: This, ...args: A): Promise<boolean>;
  /** Recomputes now, stores and returns the result. */
  refresh(this: This, ...args: A): Promise<Awaited<R>>;
  /** The cached result, or undefined; never computes. */
  peek(this: This, ...args: A): Promise<Awaited<R> | undefined>;
  /** Calls the function directly, without reading or writing the cache. */
  uncached(this: This, ...args: A): Promise<Awaited<R>>;
  /** The region holding the function's entries. */
  readonly region: Region;
  /** The function's name in its keys. */
  readonly cacheName: string;
};

/** What `cached` needs from the trove. */
export interface CachedHost {
  region(name: string, opts?: RegionOptions): Region;
  /** The same region, through which the calls of the function `fn` are counted and reported under its name. */
  functionRegion(path: string, fn: string): Region;
  bypassed(): boolean;
  reportError(error: KeyDerivationError, operation: string, region: string): void;
  /** Whose computations `trove.context()` answers (contexts made here belong to it). */
  readonly contextOwner: object;
}

const KNOWN = new Set<string>([
  'name',
  'region',
  'ttl',
  'freshFor',
  'refreshTtlOnHit',
  'skipArgs',
  'key',
  'thisKey',
  'version',
  'shouldCache',
  'readableKeys',
  'onKeyError',
  'regionOptions',
  'tags',
  'context',
  ...READ_THROUGH_KEYS,
]);

/** What `makeCached` needs to know of a decorated method: the matching fields of its decorator context. */
export interface DecoratedMethod {
  readonly name: string | symbol;
  readonly static: boolean;
  readonly private: boolean;
}

/**
 * Builds a cached wrapper. For a decorated `method` without a `name` option, the name is
 * `Class.method` of the class defining it, found on the first call (see {@link definingClass}).
 */
export function makeCached<A extends unknown[], R, This>(
  host: CachedHost,
  fn: (this: This, ...args: A) => R,
  opts: CachedOptions<A, R, This>,
  method?: DecoratedMethod,
): CachedFunction<A, R, This> {
  validate(opts, fn, method);
  const region = host.region(opts.region ?? 'fn', opts.regionOptions);
  const fnVersion = keyToken(opts.version ?? '0', 'version');
  const skip = new Set(opts.skipArgs ?? []);
  const keyOpts = { readable: opts.readableKeys === true };
  const onKeyError = opts.onKeyError ?? 'run';
  const readOpts: GetOrSetOptions = {};
  const staticTags = Array.isArray(opts.tags) ? (opts.tags as readonly string[]) : undefined;
  const tagsOf = typeof opts.tags === 'function' ? opts.tags : undefined;
  if (staticTags !== undefined) readOpts.tags = staticTags;
  if (opts.ttl !== undefined) readOpts.ttl = opts.ttl;
  if (opts.freshFor !== undefined) readOpts.freshFor = opts.freshFor;
  if (opts.refreshTtlOnHit) readOpts.refreshTtlOnHit = true;
  if (opts.shouldCache) readOpts.shouldCache = opts.shouldCache as (value: unknown) => boolean;
  for (const name of READ_THROUGH_KEYS) {
    if (opts[name] !== undefined) (readOpts as Record<string, unknown>)[name] = opts[name];
  }
  // getOrSet's near-cache fast path is for calls without options.
  const callOpts = Object.keys(readOpts).length === 0 ? undefined : readOpts;
  // refresh writes with set, which takes the write options only.
  const writeOpts: SetOptions = {};
  if (opts.ttl !== undefined) writeOpts.ttl = opts.ttl;
  if (opts.freshFor !== undefined) writeOpts.freshFor = opts.freshFor;
  if (staticTags !== undefined) writeOpts.tags = staticTags;
  let name = opts.name ?? (method ? undefined : fn.name);
  /**
   * Keys of calls with one primitive argument, by argument: deriving a key (canonical encoding,
   * SHA-256) costs several times the near-cache hit it leads to.
   */
  let recentKeys = new Map<unknown, string>();
  /** The region as this function's calls use it (known once the name is: on the first call for a method). */
  let own: Region | undefined;
  const ownRegion = (): Region => {
    if (own === undefined) own = host.functionRegion(region.path, name!);
    return own;
  };

  const keyFor = (self: This, args: A): string => {
    if (name === undefined) name = keyToken(methodName(self), 'name');
    const head = `${name}:${fnVersion}:`;
    if (opts.key) {
      const k = opts.key.apply(self, args);
      if (typeof k !== 'string') throw new KeyDerivationError(`the "key" option returned ${typeof k}, expected a string`);
      // Redis would receive U+FFFD in its place, merging this call's entry with others.
      const at = loneSurrogateAt(k);
      if (at !== -1) throw new KeyDerivationError(`the "key" option returned a string with a lone surrogate at index ${at}`);
      return head + k;
    }
    const parts: unknown[] = skip.size === 0 ? args : args.filter((_, i) => !skip.has(i));
    if (opts.thisKey) parts.push(opts.thisKey(self));
    if (parts.length !== 1 || !rememberable(parts[0])) return head + argsKey(parts, keyOpts);
    let key = recentKeys.get(parts[0]);
    if (key === undefined) {
      key = head + argsKey(parts, keyOpts);
      if (recentKeys.size >= RECENT_KEYS) recentKeys = new Map();
      recentKeys.set(parts[0], key);
    }
    return key;
  };

  /**
   * `Class.method` for the class whose prototype (or, for a static method, which itself) holds this
   * wrapper: the same in every process whichever subclass calls first, and still the base class
   * when an override calls it through `super`. One class defines a wrapper, so the first answer
   * stands for every later call.
   */
  const methodName = (self: This): string => {
    const property = method!.name;
    const owner = definingClass(self, property, method!.static, wrapper);
    if (owner === undefined) {
      throw new KeyDerivationError(
        `Cannot derive a cache key: no class on the prototype chain of this defines the method ${String(property)}; call it on an instance (or the class), or give the decorator a name`,
      );
    }
    return `${owner}.${String(property)}`;
  };

  /** The key, or undefined when it cannot be derived and the call should run uncached. */
  const tryKey = (self: This, args: A): string | undefined => {
    try {
      return keyFor(self, args);
    } catch (err) {
      if (!(err instanceof KeyDerivationError) || onKeyError === 'throw') throw err;
      host.reportError(err, 'key', region.path);
      return undefined;
    }
  };

  const call = (self: This, args: A): Promise<Awaited<R>> => Promise.resolve(fn.apply(self, args)) as Promise<Awaited<R>>;

  /** The computation of one call: the function, then its result's tags (when they depend on it). */
  const factoryOf = (self: This, args: A): Factory<Awaited<R>> => {
    const compute: Factory<Awaited<R>> =
      tagsOf === undefined
        ? () => fn.apply(self, args) as Awaited<R> | Promise<Awaited<R>>
        : (ctx) =>
            call(self, args).then((value) => {
              ctx.setTags(tagsOf(args, value));
              return value;
            });
    return opts.context === true ? withAsyncContext(compute) : compute;
  };

  const wrapper = function (this: This, ...args: A): Promise<Awaited<R>> {
    if (host.bypassed()) return call(this, args);
    let key: string | undefined;
    try {
      key = tryKey(this, args);
    } catch (err) {
      return Promise.reject(err);
    }
    if (key === undefined) return call(this, args);
    return ownRegion().getOrSet(key, factoryOf(this, args), callOpts);
  } as CachedFunction<A, R, This>;

  wrapper.invalidate = async function (this: This, ...args: A): Promise<void> {
    const key = keyFor(this, args);
    await ownRegion().delete(key);
  };
  wrapper.markStale = async function (this: This, ...args: A): Promise<boolean> {
    const key = keyFor(this, args);
    return ownRegion().markStale(key);
  };
  wrapper.refresh = async function (this: This, ...args: A): Promise<Awaited<R>> {
    const key = tryKey(this, args);
    if (key === undefined) return call(this, args);
    // Run with a context, as a miss would be, and stored with what the function set in it.
    const ctx = new RunContext<Awaited<R>>(host.contextOwner, key, region.path, undefined, checkTags, name);
    const value = await callFactory(ctx, factoryOf(this, args), true);
    const o = ctx.overrides;
    if (o.skipped || (opts.shouldCache && !opts.shouldCache(value))) return value;
    const write: SetOptions = { ...writeOpts };
    if (o.ttlMs !== undefined) {
      write.ttl = o.ttlMs;
      if (o.freshForMs === undefined) delete write.freshFor;
    }
    if (o.freshForMs !== undefined) write.freshFor = o.freshForMs;
    if (o.tags !== undefined) write.tags = [...(write.tags ?? []), ...o.tags];
    await ownRegion().set(key, value, Object.keys(write).length === 0 ? undefined : write);
    return value;
  };
  wrapper.peek = async function (this: This, ...args: A): Promise<Awaited<R> | undefined> {
    const key = tryKey(this, args);
    return key === undefined ? undefined : (ownRegion() as Region<Awaited<R>>).get(key);
  };
  wrapper.uncached = function (this: This, ...args: A): Promise<Awaited<R>> {
    return call(this, args);
  };
  Object.defineProperty(wrapper, 'region', { value: region, enumerable: true });
  Object.defineProperty(wrapper, 'cacheName', { get: () => name, enumerable: true });
  Object.defineProperty(wrapper, 'name', { value: fn.name, configurable: true });
  return wrapper;
}

/**
 * Name of the class that defines `method` as its own property `property`: the first object on the
 * prototype chain of `self` holding it is a class's prototype (instance methods) or a class
 * (static methods). Undefined when there is none, e.g. for a detached call.
 */
function definingClass(self: unknown, property: string | symbol, isStatic: boolean, method: unknown): string | undefined {
  if (self === null || (typeof self !== 'object' && typeof self !== 'function')) return undefined;
  for (let o: object | null = self; o !== null; o = Object.getPrototypeOf(o)) {
    if (Object.getOwnPropertyDescriptor(o, property)?.value !== method) continue;
    if (isStatic) {
      if (typeof o === 'function') return o.name;
      continue;
    }
    // An instance may hold the method as its own property too; only a prototype names its class.
    const ctor: unknown = Object.getOwnPropertyDescriptor(o, 'constructor')?.value;
    if (typeof ctor === 'function' && ctor.prototype === o) return ctor.name;
  }
  return undefined;
}

/** Most keys a cached function remembers (see `recentKeys`); past it the memo starts over. */
const RECENT_KEYS = 1_000;

/**
 * An argument whose key can be remembered by the argument itself: a primitive that a Map tells
 * apart exactly as the key encoding does (both take -0 for 0 and every NaN for one), a string
 * only when short.
 */
function rememberable(arg: unknown): boolean {
  const type = typeof arg;
  return type === 'number' || type === 'boolean' || (type === 'string' && (arg as string).length <= 128);
}

function validate(opts: object, fn: unknown, method: DecoratedMethod | undefined): void {
  const isMethod = method !== undefined;
  if (typeof fn !== 'function') throw new InvalidOptionError('fn', 'cached() needs a function');
  if (typeof opts !== 'object' || opts === null) throw new InvalidOptionError('options', 'expected an options object');
  for (const k of Object.keys(opts)) if (!KNOWN.has(k)) throw new InvalidOptionError(k, 'unknown option of cached()');
  const o = opts as CachedOptions<unknown[], unknown>;
  if (o.name !== undefined) keyToken(o.name, 'name');
  else if (method?.private) {
    throw new InvalidOptionError('name', `the private method ${String(method.name)} needs a name: no prototype holds it, so its class cannot be found`);
  } else if (!isMethod && (fn as { name: string }).name === '') {
    throw new InvalidOptionError('name', 'an anonymous function needs a name (its key prefix)');
  } else if (!isMethod) keyToken((fn as { name: string }).name, 'name');
  if (o.ttl !== undefined) toMs(o.ttl, 'ttl', { allowInfinite: true });
  if (o.freshFor !== undefined) toMs(o.freshFor, 'freshFor', { allowZero: true, allowInfinite: true });
  if (o.skipArgs !== undefined && (!Array.isArray(o.skipArgs) || o.skipArgs.some((i) => !Number.isInteger(i) || i < 0))) {
    throw new InvalidOptionError('skipArgs', 'expected an array of argument indexes');
  }
  for (const f of ['key', 'thisKey', 'shouldCache'] as const) {
    if (o[f] !== undefined && typeof o[f] !== 'function') throw new InvalidOptionError(f, 'expected a function');
  }
  if (o.tags !== undefined && typeof o.tags !== 'function') checkTags(o.tags);
  if (o.context !== undefined && typeof o.context !== 'boolean') throw new InvalidOptionError('context', 'expected a boolean');
  applyReadThrough(DEFAULT_READ_THROUGH, o, '');
  if (o.onKeyError !== undefined && o.onKeyError !== 'run' && o.onKeyError !== 'throw') {
    throw new InvalidOptionError('onKeyError', "expected 'run' or 'throw'");
  }
}

/**
 * The method decorator `@trove.cached(options)` returns. Which kind of decorator call it is comes
 * from the arguments: a standard decorator gets `(method, context)` with `context.kind`, a legacy
 * one (`experimentalDecorators`) `(prototype or class, name, descriptor)`. Both cache the method
 * through `makeCached` with the same method description, so their keys are the same.
 */
export function makeDecorator(host: CachedHost, options: CachedOptions<unknown[], unknown, unknown>): CachedMethodDecorator {
  type Method = (this: unknown, ...args: unknown[]) => Promise<unknown>;
  return (target: unknown, context: unknown, descriptor?: TypedPropertyDescriptor<Method>) => {
    if (typeof context === 'object' && context !== null && 'kind' in context) {
      const c = context as ClassMethodDecoratorContext;
      if (c.kind !== 'method') throw new InvalidOptionError('cached', `@trove.cached() decorates methods only, not a ${String(c.kind)}`);
      // The default name comes from the class defining the method, found from `this` on the first call.
      const method = { name: c.name, static: c.static, private: c.private };
      // A standard decorator returns the replacement method (typed void: see CachedMethodDecorator).
      return makeCached(host, target as Method, options, method);
    }
    if ((typeof context === 'string' || typeof context === 'symbol') && typeof descriptor?.value === 'function') {
      // Legacy: a static method is decorated on its class, an instance method on the prototype.
      const method = { name: context, static: typeof target === 'function', private: false };
      descriptor.value = makeCached(host, descriptor.value, options, method) as Method;
      return descriptor;
    }
    throw new InvalidOptionError(
      'cached',
      '@trove.cached() decorates methods only: expected a standard method decorator call (method, context) or a legacy one (target, name, descriptor)',
    );
  };
}

/**
 * The options every web integration takes, generic over the framework's request type, and their
 * checks. Each entry point publishes them with its own request type filled in.
 */
import { type Duration, InvalidOptionError, type Trove } from 'trove-cache';
import { DEFAULT_CACHED_HEADERS } from './capture-rules.js';

/** Options of the skip header, shared by `troveMiddleware` and `cacheRoute`. */
export interface SkipOptions<Req> {
  /**
   * A request header (e.g. `'x-skip-trove-cache'`) that makes the request skip the cache: every
   * cached call made while handling it runs uncached (`trove.bypass`) and its response is not
   * stored. Honoured only when `allowSkip` returns true for the request, so that nobody else can
   * force a recomputation on every request. Any value counts, except an empty one.
   * @defaultValue none: no header skips the cache
   */
  skipHeader?: string;
  /**
   * Whether this request may use `skipHeader`: check a shared secret, a trusted network, an
   * authenticated operator. Required with `skipHeader`.
   * @defaultValue none
   */
  allowSkip?: (req: Req) => boolean;
}

/** Where the per-request line goes: any logger with pino's call shape, such as pino or `console`. */
export interface RequestLogger {
  /** Called once per request with the request's report and a one-line summary. */
  debug(obj: object, msg?: string): void;
}

/** Options of `troveMiddleware` (Express, Hono) and of the Fastify plugin. */
export interface AnalysisOptions<Req> extends SkipOptions<Req> {
  /**
   * Add a `Server-Timing` header to every response: `trove;desc="3 hits, 1 miss";dur=12.4`, the
   * request's cache reads counted and their time summed in milliseconds. Browsers' developer tools
   * show it; it also tells anyone who can see the response what the cache did, so enable it only
   * where that is acceptable.
   * @defaultValue `false`
   */
  serverTiming?: boolean;
  /**
   * Writes one debug line per request (`logger.debug(object, message)`) with the method, the
   * path, the status and the request's cache report.
   * @defaultValue none
   */
  logger?: RequestLogger;
}

/** Options of `cacheRoute`. */
export interface RouteCacheOptions<Req> extends SkipOptions<Req> {
  /**
   * The region the responses are stored in (dotted names nest). `trove.region(name).invalidate()`
   * drops every cached response of it.
   * @defaultValue `'http'`
   */
  region?: string;
  /**
   * Hard expiry of a cached response, in milliseconds or a string like `'10m'`.
   * @defaultValue the region's `ttl`
   */
  ttl?: Duration;
  /**
   * How long a cached response is served without recomputing it, in milliseconds or a string.
   * Past it (and before `ttl`) one request, in one process, runs the handler while the others are
   * answered the stale response; if the handler fails (status 500 or more), the stale response is
   * answered instead (fail-safe).
   * @defaultValue the region's `freshFor` (none: fresh until `ttl`)
   */
  freshFor?: Duration;
  /**
   * Request headers the response depends on, each a part of the key after normalisation (the
   * primary language of `accept-language`, the upper-case code of a country header, a trimmed
   * lower-case value otherwise); the response also gets a `Vary` header naming them. Or a
   * function returning the values to add to the key (used as given: keep their number small).
   * @defaultValue none
   */
  vary?: readonly string[] | ((req: Req) => string | readonly string[]);
  /**
   * The key of a request, replacing its path and query string (vary values are still added).
   * @defaultValue the path, then the query parameters sorted by name (see `query`)
   */
  key?: (req: Req) => string;
  /**
   * Which query parameters are part of the key: `true` all, `false` none, or a list of names
   * (others, such as `utm_source`, are ignored). Not used with `key`.
   * @defaultValue `true`
   */
  query?: boolean | readonly string[];
  /**
   * Tags of each stored response, for `trove.invalidateTags`, e.g. `(req) => ['user:' + req.params.id]`.
   * Every response is also tagged with its route and its path, for `invalidateRoute` and `invalidatePath`.
   * @defaultValue none
   */
  tags?: (req: Req) => readonly string[];
  /**
   * Response statuses that are stored. Others are answered as they are, not stored, and not shared
   * with requests waiting for the same key (they run the handler themselves).
   * @defaultValue `[200]`
   */
  statuses?: readonly number[];
  /**
   * Response headers stored with the body (lower case); others are not replayed on a hit. A
   * response that sets a cookie, or says `Cache-Control: no-store` or `private`, is never stored.
   * @defaultValue {@link DEFAULT_CACHED_HEADERS}
   */
  headers?: readonly string[];
  /**
   * Largest body stored, in bytes; a larger response is answered and not stored.
   * @defaultValue `1_048_576` (1 MiB)
   */
  maxBodyBytes?: number;
}

/** `cacheRoute` options after checking, defaults applied. */
export interface ResolvedRouteOptions<Req> {
  region: string;
  ttl: Duration | undefined;
  freshFor: Duration | undefined;
  varyHeaders: readonly string[];
  varyFn: ((req: Req) => string | readonly string[]) | undefined;
  key: ((req: Req) => string) | undefined;
  query: true | false | ReadonlySet<string>;
  tags: ((req: Req) => readonly string[]) | undefined;
  statuses: ReadonlySet<number>;
  headers: readonly string[];
  maxBodyBytes: number;
  skip: ResolvedSkip<Req> | undefined;
}

export interface ResolvedSkip<Req> {
  header: string;
  allow: (req: Req) => boolean;
}

const ROUTE_KEYS = new Set(['region', 'ttl', 'freshFor', 'vary', 'key', 'query', 'tags', 'statuses', 'headers', 'maxBodyBytes', 'skipHeader', 'allowSkip']);
const ANALYSIS_KEYS = new Set(['serverTiming', 'logger', 'skipHeader', 'allowSkip']);

export function checkTrove(trove: Trove): void {
  if (typeof trove !== 'object' || trove === null || typeof trove.region !== 'function' || typeof trove.bypass !== 'function') {
    throw new InvalidOptionError('trove', 'expected a trove made by createTrove()');
  }
}

function checkObject(opts: unknown, known: ReadonlySet<string>): void {
  if (typeof opts !== 'object' || opts === null || Array.isArray(opts)) throw new InvalidOptionError('options', 'expected an options object');
  for (const k of Object.keys(opts)) if (!known.has(k)) throw new InvalidOptionError(k, 'unknown option');
}

function checkFunction(value: unknown, name: string): void {
  if (value !== undefined && typeof value !== 'function') throw new InvalidOptionError(name, 'expected a function');
}

export function resolveSkip<Req>(opts: SkipOptions<Req>): ResolvedSkip<Req> | undefined {
  const { skipHeader, allowSkip } = opts;
  checkFunction(allowSkip, 'allowSkip');
  if (skipHeader === undefined) {
    if (allowSkip !== undefined) throw new InvalidOptionError('allowSkip', 'given without skipHeader');
    return undefined;
  }
  if (typeof skipHeader !== 'string' || !/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(skipHeader)) {
    throw new InvalidOptionError('skipHeader', 'expected a header name');
  }
  // Without a guard anyone could make every request recompute: refused rather than honoured for all.
  if (allowSkip === undefined) throw new InvalidOptionError('allowSkip', 'skipHeader needs allowSkip(req) to decide who may skip the cache');
  return { header: skipHeader.toLowerCase(), allow: allowSkip };
}

export function checkAnalysisOptions<Req>(opts: AnalysisOptions<Req>): {
  serverTiming: boolean;
  logger: RequestLogger | undefined;
  skip: ResolvedSkip<Req> | undefined;
} {
  checkObject(opts, ANALYSIS_KEYS);
  if (opts.serverTiming !== undefined && typeof opts.serverTiming !== 'boolean') throw new InvalidOptionError('serverTiming', 'expected a boolean');
  if (opts.logger !== undefined && (typeof opts.logger !== 'object' || opts.logger === null))
    throw new InvalidOptionError('logger', 'expected a logger object');
  return { serverTiming: opts.serverTiming ?? false, logger: opts.logger, skip: resolveSkip(opts) };
}

export function checkRouteOptions<Req>(opts: RouteCacheOptions<Req>): ResolvedRouteOptions<Req> {
  checkObject(opts, ROUTE_KEYS);
  const region = opts.region ?? 'http';
  if (typeof region !== 'string' || region === '') throw new InvalidOptionError('region', 'expected a region name');
  const vary = opts.vary;
  let varyHeaders: readonly string[] = [];
  let varyFn: ((req: Req) => string | readonly string[]) | undefined;
  if (typeof vary === 'function') varyFn = vary;
  else if (vary !== undefined) {
    if (!Array.isArray(vary) || vary.some((v) => typeof v !== 'string' || !/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(v))) {
      throw new InvalidOptionError('vary', 'expected header names or a function of the request');
    }
    varyHeaders = vary.map((v: string) => v.toLowerCase());
  }
  checkFunction(opts.key, 'key');
  checkFunction(opts.tags, 'tags');
  const q = opts.query ?? true;
  let query: ResolvedRouteOptions<Req>['query'];
  if (typeof q === 'boolean') query = q;
  else if (Array.isArray(q) && q.every((n) => typeof n === 'string')) query = new Set(q);
  else throw new InvalidOptionError('query', 'expected a boolean or a list of parameter names');
  const statuses = opts.statuses ?? [200];
  if (!Array.isArray(statuses) || statuses.length === 0 || statuses.some((s) => !Number.isInteger(s) || s < 200 || s > 599)) {
    throw new InvalidOptionError('statuses', 'expected a non-empty list of HTTP statuses (200 to 599)');
  }
  const headers = opts.headers ?? DEFAULT_CACHED_HEADERS;
  if (!Array.isArray(headers) || headers.some((h) => typeof h !== 'string' || h === ''))
    throw new InvalidOptionError('headers', 'expected a list of header names');
  const maxBodyBytes = opts.maxBodyBytes ?? 1_048_576;
  if (!Number.isInteger(maxBodyBytes) || maxBodyBytes < 0) throw new InvalidOptionError('maxBodyBytes', 'expected a whole number of bytes');
  return {
    region,
    ttl: opts.ttl,
    freshFor: opts.freshFor,
    varyHeaders,
    varyFn,
    key: opts.key,
    query,
    tags: opts.tags,
    statuses: new Set(statuses),
    headers: headers.map((h: string) => h.toLowerCase()),
    maxBodyBytes,
    skip: resolveSkip(opts),
  };
}

/**
 * `trove-cache/hono`: per-request cache analysis and route caching for Hono 4.
 *
 * - `troveMiddleware(trove, options)`: every cache read made while handling a request is recorded
 *   in `c.get('trove')`, optionally sent as a `Server-Timing` header and logged; a guarded skip
 *   header runs the request uncached.
 * - `cacheRoute(trove, options)`: caches GET responses (status, allowed headers, body) through
 *   `getOrSet`: `app.get('/users/:id', cacheRoute(trove, { ttl: '10m' }), handler)`.
 * - `invalidateRoute`, `invalidatePath`: clear cached responses, in every process.
 *
 * hono is an optional peer dependency: only this entry point imports it.
 */
import type { Context, MiddlewareHandler } from 'hono';
import type { StatusCode } from 'hono/utils/http-status';
import { routePath } from 'hono/route';
import type { Trove } from 'trove-cache';
import type { HeaderBag } from '../web/capture-rules.js';
import { bodyOf, type CachedResponse } from '../web/cached-response.js';
import { type AnalysisOptions, checkAnalysisOptions, checkRouteOptions, checkTrove, type RouteCacheOptions } from '../web/options.js';
import { observe, type RequestCacheReport, RequestRecord, runRecorded } from '../web/request-analysis.js';
import { logRequest } from '../web/request-log.js';
import type { RequestView } from '../web/request-view.js';
import { type HeldResponse, RouteCache } from '../web/route-cache.js';
import { serverTiming } from '../web/server-timing.js';
import { shouldSkip } from '../web/skip.js';

export { DEFAULT_CACHED_HEADERS } from '../web/capture-rules.js';
export { invalidatePath, invalidateRoute } from '../web/invalidate.js';
export type { RouteParamValue } from '../web/paths.js';
export type { CacheOperation, RequestCacheReport } from '../web/request-analysis.js';
export type { AnalysisOptions, RequestLogger, RouteCacheOptions, SkipOptions } from '../web/options.js';

/** The context variables `troveMiddleware` sets: `c.get('trove')`. */
export interface TroveVariables {
  /** What the cache did for this request, filled while it is handled. */
  trove: RequestCacheReport;
}

/** The environment of apps using {@link troveMiddleware}: `new Hono<TroveEnv>()`. */
export interface TroveEnv {
  Variables: TroveVariables;
}

/** Options of {@link troveMiddleware}. */
export interface TroveMiddlewareOptions extends AnalysisOptions<Context> {}

/** Options of {@link cacheRoute}. */
export interface CacheRouteOptions extends RouteCacheOptions<Context> {}

function viewOf(c: Context): RequestView {
  const route = routePath(c);
  return {
    method: c.req.method,
    url: c.req.url,
    // Middleware mounted with app.use() sees its own pattern ('*', '/*'): no route then.
    route: route === '*' || route === '/*' ? undefined : route,
    header: (name) => c.req.header(name),
  };
}

/** Adds a header to the finished response, copying it first when its headers are immutable (a fetched Response). */
function appendHeader(c: Context, name: string, value: string): void {
  try {
    c.res.headers.append(name, value);
  } catch {
    const copy = new Response(c.res.body, c.res);
    copy.headers.append(name, value);
    c.res = undefined;
    c.res = copy;
  }
}

/**
 * Hono middleware that attributes every cache read made while handling a request to it
 * (`c.get('trove')`), and adds the `Server-Timing` header, the debug log line and the skip header
 * as configured: `app.use(troveMiddleware(trove, { serverTiming: true }))`.
 * Throws `InvalidOptionError` for an invalid option.
 */
export function troveMiddleware(trove: Trove, options: TroveMiddlewareOptions = {}): MiddlewareHandler<TroveEnv> {
  checkTrove(trove);
  const opts = checkAnalysisOptions(options);
  observe(trove);
  return async (c, next) => {
    const record = new RequestRecord(trove);
    c.set('trove', record);
    const skip = opts.skip !== undefined && shouldSkip(viewOf(c), c, opts.skip);
    record.skipped = skip;
    await runRecorded(record, () => (skip ? trove.bypass(next) : next()));
    record.closed = true;
    if (opts.serverTiming) appendHeader(c, 'Server-Timing', serverTiming(record));
    logRequest(opts.logger, c.req.method, c.req.path, c.res.status, record);
  };
}

/** Statuses whose responses have no body (the Response constructor refuses one). */
const NULL_BODY = new Set([101, 204, 205, 304]);

function headersOf(headers: Headers): HeaderBag {
  const bag: Record<string, string | string[]> = {};
  for (const [name, value] of headers) if (name !== 'set-cookie') bag[name] = value;
  const cookies = headers.getSetCookie();
  if (cookies.length > 0) bag['set-cookie'] = cookies;
  return bag;
}

function answer(c: Context, entry: CachedResponse, head: boolean): Response {
  const stored = bodyOf(entry);
  // Hono's body type wants an ArrayBuffer-backed array, which a decoded Buffer may not be.
  const body = typeof stored === 'string' ? stored : new Uint8Array(stored);
  const headers: Record<string, string | string[]> = { ...(entry.h as Record<string, string | string[]>) };
  if (head) headers['content-length'] = String(Buffer.byteLength(body));
  return c.newResponse(head || NULL_BODY.has(entry.s) ? null : body, entry.s as StatusCode, headers);
}

/**
 * Hono middleware that caches the responses of the route it is given on:
 * `app.get('/users/:id', cacheRoute(trove, { ttl: '10m', freshFor: '1m' }), handler)`.
 * Stored: GET responses with a status in `statuses` (200), without `Set-Cookie`, not marked
 * `Cache-Control: no-store` or `private`; HEAD is answered from them; other methods pass through.
 * Throws `InvalidOptionError` for an invalid option.
 */
export function cacheRoute(trove: Trove, options: CacheRouteOptions = {}): MiddlewareHandler {
  checkTrove(trove);
  const cache = new RouteCache<Context>(trove, checkRouteOptions(options));
  const vary = cache.varyHeader;
  return async (c, next) => {
    const run = async (): Promise<HeldResponse> => {
      if (vary !== undefined) c.header('Vary', vary, { append: true });
      await next();
      const res = c.res;
      // The body is read whole to be stored; the response goes out from those bytes.
      const bytes = new Uint8Array(await res.arrayBuffer());
      const copy = new Response(NULL_BODY.has(res.status) ? null : bytes, res);
      c.res = undefined;
      c.res = copy;
      return { status: copy.status, headers: headersOf(copy.headers), body: bytes };
    };
    const outcome = await cache.decide(viewOf(c), c, run);
    switch (outcome.kind) {
      case 'hit':
        return answer(c, outcome.entry, c.req.method === 'HEAD');
      case 'own':
        return;
      case 'replace':
        c.res = undefined;
        c.res = answer(c, outcome.entry, false);
        return;
      case 'pass':
        if (vary !== undefined) c.header('Vary', vary, { append: true });
        await next();
        return;
      case 'bypass':
        if (vary !== undefined) c.header('Vary', vary, { append: true });
        await trove.bypass(next);
    }
  };
}

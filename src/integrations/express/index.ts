/**
 * `trove-cache/express`: per-request cache analysis and route caching for Express 5.
 *
 * - `troveMiddleware(trove, options)`: every cache read made while handling a request is recorded
 *   in `req.trove`, optionally sent as a `Server-Timing` header and logged; a guarded skip header
 *   runs the request uncached.
 * - `cacheRoute(trove, options)`: caches GET responses (status, allowed headers, body) through
 *   `getOrSet`, so concurrent identical requests in every process run the handler once, stale
 *   responses are refreshed by one request, and a failing handler is answered by the stale
 *   response. HEAD is answered from the GET's entry.
 * - `invalidateRoute`, `invalidatePath`: clear cached responses, in every process.
 *
 * express is an optional peer dependency: only this entry point uses it (for types).
 */
import type { ServerResponse } from 'node:http';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Trove } from 'trove-cache';
import { bodyOf, type CachedResponse } from '../web/cached-response.js';
import { type AnalysisOptions, checkAnalysisOptions, checkRouteOptions, checkTrove, type RouteCacheOptions } from '../web/options.js';
import { observe, type RequestCacheReport, RequestRecord, runRecorded } from '../web/request-analysis.js';
import { logRequest } from '../web/request-log.js';
import { headerValue, type RequestView } from '../web/request-view.js';
import { RouteCache } from '../web/route-cache.js';
import { serverTiming } from '../web/server-timing.js';
import { shouldSkip } from '../web/skip.js';
import { hold } from './hold.js';

export { DEFAULT_CACHED_HEADERS } from '../web/capture-rules.js';
export { invalidatePath, invalidateRoute } from '../web/invalidate.js';
export type { RouteParamValue } from '../web/paths.js';
export type { CacheOperation, RequestCacheReport } from '../web/request-analysis.js';
export type { AnalysisOptions, RequestLogger, RouteCacheOptions, SkipOptions } from '../web/options.js';

declare global {
  namespace Express {
    interface Request {
      /** What the cache did for this request, filled while it is handled (set by `troveMiddleware`). */
      trove?: RequestCacheReport;
    }
  }
}

/** Options of {@link troveMiddleware}. */
export interface TroveMiddlewareOptions extends AnalysisOptions<Request> {}

/** Options of {@link cacheRoute}. */
export interface CacheRouteOptions extends RouteCacheOptions<Request> {}

function viewOf(req: Request): RequestView {
  const routePath: unknown = req.route?.path;
  return {
    method: req.method,
    url: req.originalUrl,
    // A route is known when cacheRoute is given on it (app.get(path, cacheRoute(…), handler)).
    route: typeof routePath === 'string' ? req.baseUrl + routePath : undefined,
    header: (name) => headerValue(req.headers[name]),
  };
}

/** Adds the Server-Timing entry just before the headers go out (after every handler had its say). */
function beforeHeaders(res: ServerResponse, add: () => void): void {
  const writeHead = res.writeHead;
  let done = false;
  res.writeHead = function (this: ServerResponse, ...args: Parameters<ServerResponse['writeHead']>) {
    if (!done) {
      done = true;
      add();
    }
    return writeHead.apply(this, args);
  } as ServerResponse['writeHead'];
}

/**
 * Express middleware that attributes every cache read made while handling a request to it
 * (`req.trove`), and adds the `Server-Timing` header, the debug log line and the skip header as
 * configured. Install it before the routes: `app.use(troveMiddleware(trove, { serverTiming: true }))`.
 * Throws `InvalidOptionError` for an invalid option.
 */
export function troveMiddleware(trove: Trove, options: TroveMiddlewareOptions = {}): RequestHandler {
  checkTrove(trove);
  const opts = checkAnalysisOptions(options);
  observe(trove);
  return (req: Request, res: Response, next: NextFunction) => {
    const record = new RequestRecord(trove);
    req.trove = record;
    const skip = opts.skip !== undefined && shouldSkip(viewOf(req), req, opts.skip);
    record.skipped = skip;
    if (opts.serverTiming) {
      beforeHeaders(res, () => {
        const prev = res.getHeader('server-timing');
        const entry = serverTiming(record);
        res.setHeader('Server-Timing', prev === undefined ? entry : `${String(prev)}, ${entry}`);
      });
    }
    res.once('close', () => {
      record.closed = true;
      logRequest(opts.logger, req.method, req.originalUrl, res.statusCode, record);
    });
    runRecorded(record, () => (skip ? trove.bypass(() => next()) : next()));
  };
}

function send(res: Response, entry: CachedResponse, head: boolean): void {
  res.statusCode = entry.s;
  for (const [name, value] of Object.entries(entry.h)) res.setHeader(name, value as string | string[]);
  const body = bodyOf(entry);
  res.setHeader('Content-Length', Buffer.byteLength(body));
  if (head) res.end();
  else res.end(body);
}

/**
 * Express middleware that caches the responses of the route it is given on:
 * `app.get('/users/:id', cacheRoute(trove, { ttl: '10m', freshFor: '1m' }), handler)`.
 * Stored: GET responses with a status in `statuses` (200), without `Set-Cookie`, not marked
 * `Cache-Control: no-store` or `private`; HEAD is answered from them; other methods pass through.
 * Throws `InvalidOptionError` for an invalid option.
 */
export function cacheRoute(trove: Trove, options: CacheRouteOptions = {}): RequestHandler {
  checkTrove(trove);
  const cache = new RouteCache<Request>(trove, checkRouteOptions(options));
  const vary = cache.varyHeader;
  return (req: Request, res: Response, next: NextFunction) => {
    let held: ReturnType<typeof hold> | undefined;
    const run = () => {
      if (vary !== undefined) res.vary(vary);
      held = hold(res);
      next();
      return held.done;
    };
    cache.decide(viewOf(req), req, run).then((outcome) => {
      switch (outcome.kind) {
        case 'hit':
          send(res, outcome.entry, req.method === 'HEAD');
          return;
        case 'own':
          held!.release();
          return;
        case 'replace':
          held!.discard();
          send(res, outcome.entry, false);
          return;
        case 'pass':
          if (vary !== undefined) res.vary(vary);
          next();
          return;
        case 'bypass':
          if (vary !== undefined) res.vary(vary);
          trove.bypass(() => next());
      }
    }, next);
  };
}

/**
 * `trove-cache/fastify`: per-request cache analysis and route caching for Fastify 5.
 *
 * - `trovePlugin` (fastify-plugin, so it applies to the whole instance): decorates `fastify.trove`
 *   and `request.trove` (what the cache did for the request), and adds the `Server-Timing`
 *   header, the debug log line and the guarded skip header as configured.
 * - `cacheRoute(trove, options)`: route hooks (`preHandler` and `onSend`) that cache GET responses
 *   through `getOrSet`: `fastify.get('/users/:id', cacheRoute(trove, { ttl: '10m' }), handler)`.
 * - `invalidateRoute`, `invalidatePath`: clear cached responses, in every process.
 *
 * fastify and fastify-plugin are optional peer dependencies: only this entry point imports them.
 */
import { AsyncResource } from 'node:async_hooks';
import type { FastifyPluginCallback, FastifyReply, FastifyRequest, onSendHookHandler, preHandlerHookHandler } from 'fastify';
import fp from 'fastify-plugin';
import type { Trove } from 'trove-cache';
import { bodyOf, type CachedResponse } from '../web/cached-response.js';
import { type AnalysisOptions, checkAnalysisOptions, checkRouteOptions, checkTrove, type RouteCacheOptions } from '../web/options.js';
import { observe, type RequestCacheReport, RequestRecord, runRecorded } from '../web/request-analysis.js';
import { logRequest } from '../web/request-log.js';
import { headerValue, type RequestView } from '../web/request-view.js';
import { type HeldResponse, type Outcome, RouteCache } from '../web/route-cache.js';
import { serverTiming } from '../web/server-timing.js';
import { shouldSkip } from '../web/skip.js';

export { DEFAULT_CACHED_HEADERS } from '../web/capture-rules.js';
export { invalidatePath, invalidateRoute } from '../web/invalidate.js';
export type { RouteParamValue } from '../web/paths.js';
export type { CacheOperation, RequestCacheReport } from '../web/request-analysis.js';
export type { AnalysisOptions, RequestLogger, RouteCacheOptions, SkipOptions } from '../web/options.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The trove given to `trovePlugin`. */
    trove: Trove;
  }
  interface FastifyRequest {
    /** What the cache did for this request, filled while it is handled; null without `trovePlugin`. */
    trove: RequestCacheReport | null;
  }
}

/** Options of {@link trovePlugin}. */
export interface TrovePluginOptions extends AnalysisOptions<FastifyRequest> {
  /** The trove: decorated as `fastify.trove`, its reads attributed to requests. Not closed with the server. */
  trove: Trove;
}

/** Options of {@link cacheRoute}. */
export interface CacheRouteOptions extends RouteCacheOptions<FastifyRequest> {}

/** The route hooks {@link cacheRoute} returns, to spread into a route's options. */
export interface CacheRouteHooks {
  /** Answers from the cache, or lets the handler run with its response held. */
  preHandler: preHandlerHookHandler;
  /** Hands the handler's response to the cache, and answers a stale one instead when the handler failed. */
  onSend: onSendHookHandler;
}

function viewOf(req: FastifyRequest): RequestView {
  return {
    method: req.method,
    url: req.url,
    route: req.routeOptions.url,
    header: (name) => headerValue(req.headers[name]),
  };
}

/**
 * The request's async context as entered in onRequest (request record, bypass): body parsing
 * resumes in the socket's context, so later hooks and the handler re-enter this one.
 */
const contexts = new WeakMap<FastifyRequest, AsyncResource>();

const plugin: FastifyPluginCallback<TrovePluginOptions> = (fastify, options, done) => {
  // Fastify's own register options are not the plugin's.
  const { trove, prefix: _prefix, logLevel: _logLevel, logSerializers: _logSerializers, ...rest } = options as TrovePluginOptions & Record<string, unknown>;
  checkTrove(trove);
  const opts = checkAnalysisOptions(rest);
  observe(trove);
  fastify.decorate('trove', trove);
  fastify.decorateRequest('trove', null);
  fastify.addHook('onRequest', (req, _reply, next) => {
    const record = new RequestRecord(trove);
    req.trove = record;
    const skip = opts.skip !== undefined && shouldSkip(viewOf(req), req, opts.skip);
    record.skipped = skip;
    const enter = () => {
      contexts.set(req, new AsyncResource('trove-cache:request'));
      next();
    };
    runRecorded(record, () => (skip ? trove.bypass(enter) : enter()));
  });
  fastify.addHook('preValidation', (req, _reply, next) => {
    const context = contexts.get(req);
    if (context === undefined) next();
    else context.runInAsyncScope(next);
  });
  if (opts.serverTiming) {
    fastify.addHook('onSend', (req, reply, payload, next) => {
      if (req.trove instanceof RequestRecord) {
        const prev = reply.getHeader('server-timing');
        const entry = serverTiming(req.trove);
        reply.header('server-timing', prev === undefined ? entry : `${String(prev)}, ${entry}`);
      }
      next(null, payload);
    });
  }
  fastify.addHook('onResponse', (req, reply, next) => {
    if (req.trove instanceof RequestRecord) {
      req.trove.closed = true;
      logRequest(opts.logger, req.method, req.url, reply.statusCode, req.trove);
    }
    next();
  });
  done();
};

/**
 * The Fastify plugin: `await fastify.register(trovePlugin, { trove, serverTiming: true })`.
 * Throws `InvalidOptionError` (at registration) for an invalid option.
 */
export const trovePlugin = fp(plugin, { fastify: '5.x', name: 'trove-cache' });
export default trovePlugin;

/** A request whose handler runs with its response held by cacheRoute. */
interface Holding {
  resolve(held: HeldResponse): void;
  outcome: Promise<Outcome>;
  /** Header names set before the handler ran: those set by it go when a stale response replaces its own. */
  before: ReadonlySet<string>;
}

function addVary(reply: FastifyReply, vary: string): void {
  const prev = reply.getHeader('vary');
  reply.header('vary', prev === undefined ? vary : `${String(prev)}, ${vary}`);
}

function answer(reply: FastifyReply, entry: CachedResponse): void {
  reply.code(entry.s);
  for (const [name, value] of Object.entries(entry.h)) reply.header(name, value);
  // Fastify answers HEAD from the same payload without sending it, with its Content-Length.
  reply.send(bodyOf(entry));
}

/**
 * Route hooks that cache the route's GET responses:
 * `fastify.get('/users/:id', cacheRoute(trove, { ttl: '10m', freshFor: '1m' }), handler)`, or
 * spread beside other route options. Stored: GET responses with a status in `statuses` (200),
 * without `Set-Cookie`, not marked `Cache-Control: no-store` or `private`, with a string or
 * Buffer payload (a stream is answered, not stored); HEAD is answered from them. To combine with
 * hooks of your own, pass arrays: `preHandler: [auth, hooks.preHandler]`.
 * Throws `InvalidOptionError` for an invalid option.
 */
export function cacheRoute(trove: Trove, options: CacheRouteOptions = {}): CacheRouteHooks {
  checkTrove(trove);
  const cache = new RouteCache<FastifyRequest>(trove, checkRouteOptions(options));
  const vary = cache.varyHeader;
  const holding = new WeakMap<FastifyRequest, Holding>();
  const preHandler: preHandlerHookHandler = (req, reply, done) => {
    let settle: (outcome: Outcome) => void = () => {};
    const run = () =>
      new Promise<HeldResponse>((resolve) => {
        if (vary !== undefined) addVary(reply, vary);
        holding.set(req, { resolve, outcome: new Promise<Outcome>((r) => (settle = r)), before: new Set(Object.keys(reply.getHeaders())) });
        done();
      });
    cache.decide(viewOf(req), req, run).then(
      (outcome) => {
        switch (outcome.kind) {
          case 'hit':
            answer(reply, outcome.entry);
            return;
          case 'own':
          case 'replace':
            settle(outcome);
            return;
          case 'pass':
            if (vary !== undefined) addVary(reply, vary);
            done();
            return;
          case 'bypass':
            if (vary !== undefined) addVary(reply, vary);
            trove.bypass(() => done());
        }
      },
      (err: unknown) => done(err instanceof Error ? err : new Error(String(err))),
    );
  };
  const onSend: onSendHookHandler = (req, reply, payload, done) => {
    const held = holding.get(req);
    if (held === undefined) {
      done(null, payload);
      return;
    }
    holding.delete(req);
    const body = typeof payload === 'string' || Buffer.isBuffer(payload) ? payload : payload === null || payload === undefined ? '' : undefined;
    held.resolve({ status: reply.statusCode, headers: reply.getHeaders(), body });
    held.outcome.then((outcome) => {
      if (outcome.kind !== 'replace') {
        done(null, payload);
        return;
      }
      for (const name of Object.keys(reply.getHeaders())) if (!held.before.has(name)) reply.removeHeader(name);
      reply.code(outcome.entry.s);
      for (const [name, value] of Object.entries(outcome.entry.h)) reply.header(name, value);
      done(null, bodyOf(outcome.entry));
    });
  };
  return { preHandler, onSend };
}

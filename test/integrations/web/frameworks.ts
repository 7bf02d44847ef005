/**
 * The same test app on Express, Fastify and Hono: routes described once (path, cacheRoute
 * options, a handler returning status, headers and body), served over real HTTP on an ephemeral
 * port by each framework's own integration.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import express, { type Request } from 'express';
import Fastify, { type FastifyRequest } from 'fastify';
import { type Context, Hono } from 'hono';
import type { Trove } from '../../../src/index.js';
import * as ex from '../../../src/integrations/express/index.js';
import * as fy from '../../../src/integrations/fastify/index.js';
import * as ho from '../../../src/integrations/hono/index.js';
import type { AnalysisOptions, RouteCacheOptions } from '../../../src/integrations/web/options.js';

export interface Reply {
  status?: number;
  headers?: Record<string, string | string[]>;
  body: string | Uint8Array;
}

export interface HandlerContext {
  params: Record<string, string>;
  /** The request's cache report, from the framework's own place for it. */
  report(): ex.RequestCacheReport | null | undefined;
}

type Headers = (name: string) => string | undefined;

/** cacheRoute options with the request-typed ones written against headers and params only. */
export interface NeutralRouteOptions extends Omit<RouteCacheOptions<unknown>, 'allowSkip' | 'tags' | 'vary' | 'key'> {
  vary?: readonly string[];
  allowSkip?: (header: Headers) => boolean;
  tags?: (params: Record<string, string>) => readonly string[];
}

export interface NeutralAnalysisOptions extends Omit<AnalysisOptions<unknown>, 'allowSkip'> {
  allowSkip?: (header: Headers) => boolean;
}

export interface RouteSpec {
  method?: 'GET' | 'POST';
  path: string;
  cache?: NeutralRouteOptions;
  handler(ctx: HandlerContext): Promise<Reply> | Reply;
}

export interface AppSpec {
  analysis?: NeutralAnalysisOptions;
  routes: RouteSpec[];
}

export interface RunningApp {
  url: string;
  close(): Promise<void>;
}

export interface Framework {
  name: 'express' | 'fastify' | 'hono';
  start(trove: Trove, spec: AppSpec): Promise<RunningApp>;
}

function convert<Req>(
  opts: NeutralRouteOptions | NeutralAnalysisOptions,
  headers: (req: Req) => Headers,
  params: (req: Req) => Record<string, string>,
): RouteCacheOptions<Req> & AnalysisOptions<Req> {
  const { allowSkip, tags: _tags, ...rest } = opts as NeutralRouteOptions;
  const out = { ...rest } as RouteCacheOptions<Req> & AnalysisOptions<Req>;
  if (allowSkip !== undefined) out.allowSkip = (req) => allowSkip(headers(req));
  const tags = (opts as NeutralRouteOptions).tags;
  if (tags !== undefined) out.tags = (req) => tags(params(req));
  return out;
}

const one = (v: string | string[] | undefined) => (Array.isArray(v) ? v.join(', ') : v);

export const expressFramework: Framework = {
  name: 'express',
  async start(trove, spec) {
    const app = express();
    const h =
      (req: Request): Headers =>
      (n) =>
        one(req.headers[n]);
    const p = (req: Request) => req.params as Record<string, string>;
    if (spec.analysis) app.use(ex.troveMiddleware(trove, convert<Request>(spec.analysis, h, p) as ex.TroveMiddlewareOptions));
    for (const route of spec.routes) {
      const handlers: express.RequestHandler[] = route.cache ? [ex.cacheRoute(trove, convert<Request>(route.cache, h, p))] : [];
      handlers.push(async (req, res) => {
        const reply = await route.handler({ params: p(req), report: () => req.trove });
        res.status(reply.status ?? 200);
        for (const [k, v] of Object.entries(reply.headers ?? {})) res.setHeader(k, v);
        res.send(typeof reply.body === 'string' ? reply.body : Buffer.from(reply.body));
      });
      if (route.method === 'POST') app.post(route.path, ...handlers);
      else app.get(route.path, ...handlers);
    }
    const server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      close: () => new Promise<void>((resolve) => server.close(() => resolve())),
    };
  },
};

export const fastifyFramework: Framework = {
  name: 'fastify',
  async start(trove, spec) {
    const app = Fastify();
    const h =
      (req: FastifyRequest): Headers =>
      (n) =>
        one(req.headers[n]);
    const p = (req: FastifyRequest) => req.params as Record<string, string>;
    if (spec.analysis) await app.register(fy.trovePlugin, { ...(convert<FastifyRequest>(spec.analysis, h, p) as Omit<fy.TrovePluginOptions, 'trove'>), trove });
    for (const route of spec.routes) {
      app.route({
        method: route.method ?? 'GET',
        url: route.path,
        ...(route.cache ? fy.cacheRoute(trove, convert<FastifyRequest>(route.cache, h, p)) : {}),
        handler: async (req, reply) => {
          const r = await route.handler({ params: p(req), report: () => req.trove });
          reply.code(r.status ?? 200);
          for (const [k, v] of Object.entries(r.headers ?? {})) reply.header(k, v);
          return typeof r.body === 'string' ? r.body : Buffer.from(r.body);
        },
      });
    }
    await app.listen({ port: 0, host: '127.0.0.1' });
    return { url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, close: () => app.close() };
  },
};

export const honoFramework: Framework = {
  name: 'hono',
  async start(trove, spec) {
    const app = new Hono<ho.TroveEnv>();
    const h =
      (c: Context): Headers =>
      (n) =>
        c.req.header(n);
    const p = (c: Context) => c.req.param() as Record<string, string>;
    if (spec.analysis) app.use(ho.troveMiddleware(trove, convert<Context>(spec.analysis, h, p) as ho.TroveMiddlewareOptions));
    for (const route of spec.routes) {
      const handlers = route.cache ? [ho.cacheRoute(trove, convert<Context>(route.cache, h, p))] : [];
      app.on([route.method ?? 'GET'], [route.path], ...handlers, async (c: Context) => {
        const r = await route.handler({ params: p(c), report: () => c.get('trove') });
        const body = typeof r.body === 'string' ? r.body : new Uint8Array(r.body);
        const res = c.body(body as string, (r.status ?? 200) as 200);
        for (const [k, v] of Object.entries(r.headers ?? {})) {
          res.headers.delete(k);
          for (const one of Array.isArray(v) ? v : [v]) res.headers.append(k, one);
        }
        return res;
      });
    }
    const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
    await once(server, 'listening');
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      close: () => new Promise<void>((resolve) => server.close(() => resolve())),
    };
  },
};

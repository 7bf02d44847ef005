/**
 * web: what route caching costs per request. For each framework, a route answered by cacheRoute
 * from the cache (near-cache hits after the first request) against a route returning the same
 * body from a constant, both measured with autocannon over HTTP. The ratio is the share of the
 * framework's own throughput a cached route keeps (target ≥ 0.8×).
 *
 * The servers run in this process, and so does autocannon: both rows of a framework share the
 * machine the same way, so the ratio is fair even where the absolute figures are not.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import autocannon from 'autocannon';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Trove } from '../../src/index.js';
import type { BenchContext, Workload } from '../context.js';
import { PREFIX } from '../peers/types.js';
import type { Row, WorkloadResult } from '../report.js';
import { summarize } from '../stats.js';

/** The web target: a cached route keeps at least this share of the constant route's requests/s. */
export const WEB_TARGET = 0.8;
const CONNECTIONS = 32;

/** A JSON body of about 1 KB, like a small API answer. */
const BODY = JSON.stringify({
  id: 42,
  name: 'The Left Hand of Darkness',
  authors: [{ id: 7, name: 'Ursula K. Le Guin' }],
  tags: Array.from({ length: 20 }, (_, i) => `tag-${i}`),
  summary: 'x'.repeat(600),
});

interface App {
  url: string;
  close(): Promise<void>;
}

/** The built package's modules this workload uses. */
interface Built {
  core: typeof import('../../src/index.js');
  ex: typeof import('../../src/integrations/express/index.js');
  fy: typeof import('../../src/integrations/fastify/index.js');
  ho: typeof import('../../src/integrations/hono/index.js');
}

/**
 * Builds the package and loads it from dist/, as an application would. Loaded from its sources
 * through tsx, every function the cache creates per request would also get its name set
 * (esbuild's keepNames), a cost of about 1.5 µs per request here that the published code does not
 * have; the peers and frameworks already run as published.
 */
async function builtPackage(): Promise<Built> {
  const root = fileURLToPath(new URL('../../', import.meta.url));
  execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'ignore' });
  // A path in a variable: type-checking must not need dist/ (the types come from the sources).
  const load = (path: string): Promise<unknown> => import(pathToFileURL(join(root, 'dist', path)).href);
  return {
    core: (await load('index.js')) as Built['core'],
    ex: (await load('integrations/express/index.js')) as Built['ex'],
    fy: (await load('integrations/fastify/index.js')) as Built['fy'],
    ho: (await load('integrations/hono/index.js')) as Built['ho'],
  };
}

type Start = (trove: Trove, built: Built) => Promise<App>;

const FRAMEWORKS: Record<'express' | 'fastify' | 'hono', Start> = {
  async express(trove, { ex }) {
    const app = express();
    app.get('/cached', ex.cacheRoute(trove, { ttl: '1h' }), (_req, res) => {
      res.type('application/json').send(BODY);
    });
    app.get('/constant', (_req, res) => {
      res.type('application/json').send(BODY);
    });
    const server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => new Promise((r) => server.close(() => r())) };
  },
  async fastify(trove, { fy }) {
    const app = Fastify();
    app.get('/cached', fy.cacheRoute(trove, { ttl: '1h' }), async (_req, reply) => reply.type('application/json').send(BODY));
    app.get('/constant', async (_req, reply) => reply.type('application/json').send(BODY));
    await app.listen({ port: 0, host: '127.0.0.1' });
    return { url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, close: () => app.close() };
  },
  async hono(trove, { ho }) {
    const app = new Hono();
    app.get('/cached', ho.cacheRoute(trove, { ttl: '1h' }), (c) => c.body(BODY, 200, { 'content-type': 'application/json' }));
    app.get('/constant', (c) => c.body(BODY, 200, { 'content-type': 'application/json' }));
    const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
    await once(server, 'listening');
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => new Promise((r) => server.close(() => r())) };
  },
};

async function requestsPerSecond(url: string, seconds: number): Promise<number> {
  const result = await autocannon({ url, connections: CONNECTIONS, duration: seconds });
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`${url}: ${result.non2xx} non-2xx answers, ${result.errors} errors`);
  return result.requests.average;
}

export const web: Workload = {
  name: 'web',
  async run(ctx: BenchContext): Promise<WorkloadResult> {
    const seconds = ctx.quick ? 2 : 5;
    const rows: Row[] = [];
    ctx.progress('web: building the package');
    const built = await builtPackage();
    for (const [name, start] of Object.entries(FRAMEWORKS)) {
      ctx.progress(`web: ${name}`);
      const trove = built.core.createTrove({ redis: ctx.url, prefix: `${PREFIX.trove}-web`, commandTimeout: 2000 });
      let app: App | undefined;
      try {
        await trove.ready();
        app = await start(trove, built);
        const cachedUrl = `${app.url}/cached`;
        const first = await fetch(cachedUrl);
        if ((await first.text()) !== BODY) throw new Error('the cached route answered another body');
        // Warm-up: the JIT, the connections, the near cache.
        await requestsPerSecond(cachedUrl, 1);
        await requestsPerSecond(`${app.url}/constant`, 1);
        const cached: number[] = [];
        const constant: number[] = [];
        for (let round = 0; round < ctx.rounds; round++) {
          // Alternated, so a drift of the machine's speed touches both.
          cached.push(await ctx.turn(() => requestsPerSecond(cachedUrl, seconds)));
          constant.push(await ctx.turn(() => requestsPerSecond(`${app!.url}/constant`, seconds)));
        }
        const near = trove.stats().near;
        rows.push({
          lib: name,
          status: 'ok',
          figures: { cached: summarize(cached), constant: summarize(constant) },
          config: `cacheRoute(trove, { ttl: '1h' }) on GET /cached vs GET /constant sending the same ${BODY.length} B JSON body${near ? ` · near hits ${near.hits}` : ''}`,
        });
      } catch (err) {
        rows.push({ lib: name, status: 'failed', message: err instanceof Error ? err.message : String(err), figures: {} });
      } finally {
        await app?.close();
        await trove.close();
      }
    }
    return {
      name: 'web',
      title: 'cached route vs constant route, requests/s over HTTP',
      summary: `autocannon, ${CONNECTIONS} connections, ${seconds} s per round and route, server and load generator in one process; Trove as built (dist/, NODE_ENV=production); target cached / constant ≥ ${WEB_TARGET}×.`,
      params: { connections: CONNECTIONS, seconds, bodyBytes: BODY.length },
      firstColumn: 'framework',
      metrics: [
        { key: 'cached', label: 'cached route', unit: 'ops/s', better: 'higher' },
        { key: 'constant', label: 'constant route', unit: 'ops/s', better: 'higher', rowRatio: { of: 'cached', over: 'constant', label: 'cached / constant' } },
      ],
      rows,
      notes: [],
    };
  },
};

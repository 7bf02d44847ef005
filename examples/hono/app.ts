// Hono 4 on Node (@hono/node-server) with trove-cache: per-request analysis and a cached route.
// Run: npx tsx examples/hono/app.ts   (REDIS_URL=redis://127.0.0.1:6379 to use Redis; PORT to choose the port)
// Try: curl -i localhost:3000/products/1 -H 'accept-language: fr'   (twice: the second is a hit)
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { createTrove } from '../../src/index.js';
import { cacheRoute, invalidateRoute, type TroveEnv, troveMiddleware } from '../../src/integrations/hono/index.js';

// Without REDIS_URL the embedded in-memory store is used: the same API, in this process only.
const trove = createTrove(process.env.REDIS_URL ? { redis: process.env.REDIS_URL, prefix: 'example' } : {});
const operatorToken = process.env.OPERATOR_TOKEN ?? 'change-me';

const app = new Hono<TroveEnv>();
app.use(
  troveMiddleware(trove, {
    serverTiming: true,
    // Only operators holding the token may force a request to skip the cache.
    skipHeader: 'x-skip-trove-cache',
    allowSkip: (c) => c.req.header('x-operator-token') === operatorToken,
  }),
);

app.get('/products/:id', cacheRoute(trove, { ttl: '10m', freshFor: '30s', vary: ['accept-language'] }), async (c) => {
  await new Promise((r) => setTimeout(r, 50)); // a slow database
  const greeting = c.req.header('accept-language')?.startsWith('fr') ? 'Bonjour' : 'Hello';
  return c.json({ id: c.req.param('id'), greeting, at: new Date().toISOString() });
});

app.post('/products/:id/invalidate', async (c) => {
  await invalidateRoute(trove, '/products/:id', { id: c.req.param('id') });
  return c.body(null, 204);
});

// Take traffic once Redis answers: a call made before the first connection waits at most its
// deadline (300 ms by default) and then runs uncached. Rejects when Redis cannot be used in 5 s.
await trove.ready({ required: true });
const server = serve({ fetch: app.fetch, port: Number(process.env.PORT ?? 3000), hostname: '127.0.0.1' }, (info) => {
  console.log(`listening on http://127.0.0.1:${info.port}`);
});
process.on('SIGTERM', () => server.close(() => void trove.close()));

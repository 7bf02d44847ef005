// Express 5 with trove-cache: per-request analysis and a cached route.
// Run: npx tsx examples/express/app.ts   (REDIS_URL=redis://127.0.0.1:6379 to use Redis; PORT to choose the port)
// Try: curl -i localhost:3000/products/1 -H 'accept-language: fr-CH'   (twice: the second is a hit)
import express from 'express';
import { createTrove } from '../../src/index.js';
import { cacheRoute, invalidateRoute, troveMiddleware } from '../../src/integrations/express/index.js';

// Without REDIS_URL the embedded in-memory store is used: the same API, in this process only.
const trove = createTrove(process.env.REDIS_URL ? { redis: process.env.REDIS_URL, prefix: 'example' } : {});
const operatorToken = process.env.OPERATOR_TOKEN ?? 'change-me';

const app = express();
app.use(
  troveMiddleware(trove, {
    serverTiming: true,
    // Only operators holding the token may force a request to skip the cache.
    skipHeader: 'x-skip-trove-cache',
    allowSkip: (req) => req.get('x-operator-token') === operatorToken,
  }),
);

app.get('/products/:id', cacheRoute(trove, { ttl: '10m', freshFor: '30s', vary: ['accept-language'] }), async (req, res) => {
  await new Promise((r) => setTimeout(r, 50)); // a slow database
  const greeting = req.acceptsLanguages('fr', 'en') === 'fr' ? 'Bonjour' : 'Hello';
  res.json({ id: req.params.id, greeting, at: new Date().toISOString() });
});

app.post('/products/:id/invalidate', async (req, res) => {
  await invalidateRoute(trove, '/products/:id', { id: req.params.id });
  res.status(204).end();
});

// Take traffic once Redis answers: a call made before the first connection waits at most its
// deadline (300 ms by default) and then runs uncached. Rejects when Redis cannot be used in 5 s.
await trove.ready({ required: true });
const server = app.listen(Number(process.env.PORT ?? 3000), '127.0.0.1', () => {
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  console.log(`listening on http://127.0.0.1:${port}`);
});
process.on('SIGTERM', () => server.close(() => void trove.close()));

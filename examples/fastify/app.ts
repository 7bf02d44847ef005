// Fastify 5 with trove-cache: the plugin (request.trove, Server-Timing) and a cached route.
// Run: npx tsx examples/fastify/app.ts   (REDIS_URL=redis://127.0.0.1:6379 to use Redis; PORT to choose the port)
// Try: curl -i localhost:3000/products/1 -H 'cf-ipcountry: ch'   (twice: the second is a hit)
import Fastify from 'fastify';
import { createTrove } from '../../src/index.js';
import { cacheRoute, invalidateRoute, trovePlugin } from '../../src/integrations/fastify/index.js';

// Without REDIS_URL the embedded in-memory store is used: the same API, in this process only.
const trove = createTrove(process.env.REDIS_URL ? { redis: process.env.REDIS_URL, prefix: 'example' } : {});
const operatorToken = process.env.OPERATOR_TOKEN ?? 'change-me';

const app = Fastify();
await app.register(trovePlugin, {
  trove,
  serverTiming: true,
  // Only operators holding the token may force a request to skip the cache.
  skipHeader: 'x-skip-trove-cache',
  allowSkip: (req) => req.headers['x-operator-token'] === operatorToken,
});

app.get<{ Params: { id: string } }>('/products/:id', cacheRoute(trove, { ttl: '10m', freshFor: '30s', vary: ['cf-ipcountry'] }), async (req) => {
  await new Promise((r) => setTimeout(r, 50)); // a slow database
  return { id: req.params.id, country: req.headers['cf-ipcountry'] ?? null, at: new Date().toISOString() };
});

app.post<{ Params: { id: string } }>('/products/:id/invalidate', async (req, reply) => {
  await invalidateRoute(app.trove, '/products/:id', { id: req.params.id });
  return reply.code(204).send();
});

app.addHook('onClose', () => trove.close());
// Take traffic once Redis answers: a call made before the first connection waits at most its
// deadline (300 ms by default) and then runs uncached. Rejects when Redis cannot be used in 5 s.
await trove.ready({ required: true });
const address = await app.listen({ port: Number(process.env.PORT ?? 3000), host: '127.0.0.1' });
console.log(`listening on ${address}`);
process.on('SIGTERM', () => void app.close());

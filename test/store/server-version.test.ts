/**
 * Which redis-server the suite runs against: the one on the PATH. `npm run test:redis8` puts a
 * Redis 8 build first on it and names the version it expects, so that a run meant for Redis 8
 * cannot pass on another server unnoticed.
 */
import { afterAll, expect, it } from 'vitest';
import { RedisServer } from '../helpers/redis-server.js';

let server: RedisServer | undefined;
afterAll(async () => {
  await server?.stop();
});

it('the servers the suite starts are the version the run asked for (EXPECT_REDIS_VERSION), else Redis 6 or later', async () => {
  server = await RedisServer.start();
  const version = (await server.info('server')).redis_version!;
  const expected = process.env.EXPECT_REDIS_VERSION;
  if (expected) expect(version).toBe(expected);
  else expect(Number(version.split('.')[0])).toBeGreaterThanOrEqual(6);
});

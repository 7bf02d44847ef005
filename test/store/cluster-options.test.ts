/**
 * Redis Cluster configurations: `{ cluster: [urls], ...ClusterOptions }` and an ioredis `Cluster`
 * instance are accepted; a malformed cluster shape is refused with InvalidOptionError before
 * anything connects (ioredis would take `{ cluster: … }` for standalone options and connect to
 * 127.0.0.1:6379 silently).
 */
import { Cluster } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { createTrove, InvalidOptionError } from '../../src/index.js';
import { ClusterStore } from '../../src/store/index.js';

function storeOf(trove: unknown): unknown {
  return (trove as { store: unknown }).store;
}

describe('Redis Cluster configurations', () => {
  it('{ cluster: [urls] } creates a cluster store', async () => {
    // Nothing listens there: the store is created, and closing it ends its connection attempts.
    const trove = createTrove({ redis: { cluster: ['redis://127.0.0.1:1'], lazyConnect: true } });
    try {
      expect(storeOf(trove)).toBeInstanceOf(ClusterStore);
      // A near cache, not live while nothing is connected.
      expect(trove.stats().near?.live).toBe(false);
    } finally {
      await trove.close();
    }
  });

  it.each([
    ['an empty list', { cluster: [] }, /non-empty array/],
    ['a string instead of a list', { cluster: 'redis://127.0.0.1:7000' }, /non-empty array/],
    ['an entry that is not a URL', { cluster: ['127.0.0.1:7000 x'] }, /not a valid URL|unsupported protocol/],
    ['an entry of another protocol', { cluster: ['http://127.0.0.1:7000'] }, /unsupported protocol 'http:'/],
    ['an entry without a host', { cluster: ['redis://:7000'] }, /not a valid URL|missing host/],
    ['an entry with an invalid port', { cluster: ['redis://127.0.0.1:70000'] }, /not a valid URL|invalid port/],
    ['an entry that is not a string', { cluster: [7000] }, /expected redis:\/\/ URLs, got number/],
    ['both cluster and sentinels', { cluster: ['redis://127.0.0.1:7000'], sentinels: [{ host: '127.0.0.1', port: 26379 }] }, /not both/],
  ])('%s throws InvalidOptionError without connecting', (_what, redis, message) => {
    const attempt = () => createTrove({ redis: redis as never });
    expect(attempt).toThrow(InvalidOptionError);
    expect(attempt).toThrow(message);
  });

  it('an ioredis Cluster instance is used, and left open by close()', async () => {
    const cluster = new Cluster([{ host: '127.0.0.1', port: 1 }], { lazyConnect: true });
    // Nothing listens there: the trove starts connecting it, and its owner hears the failures.
    cluster.on('error', () => {});
    try {
      const trove = createTrove({ redis: cluster });
      expect(storeOf(trove)).toBeInstanceOf(ClusterStore);
      expect(trove.stats().near?.live).toBe(false);
      await trove.close();
      expect(cluster.status).not.toBe('end');
    } finally {
      cluster.disconnect();
    }
  });
});

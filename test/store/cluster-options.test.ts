/**
 * Until Trove runs on Redis Cluster, a Cluster configuration is refused with a clear error and
 * nothing is opened: ioredis would take `{ cluster: [...] }` for standalone options and connect
 * to 127.0.0.1:6379, and a `Cluster` instance would be driven as one server.
 */
import { Cluster } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { createTrove, InvalidOptionError } from '../../src/index.js';

describe('Redis Cluster configurations', () => {
  it('{ cluster: [urls] } throws InvalidOptionError naming redis', () => {
    const attempt = () => createTrove({ redis: { cluster: ['redis://127.0.0.1:7000'] } as never });
    expect(attempt).toThrow(InvalidOptionError);
    expect(attempt).toThrow(/Cluster is not supported/);
  });

  it('an ioredis Cluster instance throws InvalidOptionError and is left untouched', async () => {
    const cluster = new Cluster([{ host: '127.0.0.1', port: 7000 }], { lazyConnect: true });
    try {
      expect(() => createTrove({ redis: cluster as never })).toThrow(InvalidOptionError);
      expect(cluster.status).toBe('wait');
    } finally {
      cluster.disconnect();
    }
  });
});

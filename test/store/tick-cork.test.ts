/**
 * Commands issued in one tick leave in one socket write, in call order, and reads of one tick
 * still cost one MGET.
 */
import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import type { Trove } from '../../src/index.js';
import type { RedisStore } from '../../src/store/index.js';
import { useRedisServer, useTroves } from '../helpers/troves.js';

const redis = useRedisServer();
const troves = useTroves(() => ({ redis: redis.server.url, nearCache: false }));

/** Counts the writes the trove's main connection makes to its socket. */
function countWrites(t: Trove): { readonly writes: number } {
  const socket = (t as unknown as { store: RedisStore }).store.client.stream as Socket & {
    _write: (...a: unknown[]) => unknown;
    _writev: (...a: unknown[]) => unknown;
  };
  let writes = 0;
  const write = socket._write.bind(socket);
  const writev = socket._writev.bind(socket);
  socket._write = (...a) => {
    writes++;
    return write(...a);
  };
  socket._writev = (...a) => {
    writes++;
    return writev(...a);
  };
  return {
    get writes() {
      return writes;
    },
  };
}

describe('one write per tick', () => {
  it('writes and reads issued in one tick go out in call order, the writes in one socket write', async () => {
    const t = troves.open();
    const r = t.region('c');
    await t.ready();
    await r.set('warm', 1);
    const counter = countWrites(t);
    await redis.server.resetStats();
    // Background reads (the tables' sync after tracking went live) may have written meanwhile.
    const before = counter.writes;
    const ops = [r.set('k', 1), r.set('k', 2), r.set('other', 'x'), r.delete('gone')];
    expect(counter.writes - before).toBe(0); // held until the end of the tick
    await Promise.all(ops);
    expect(counter.writes - before).toBe(1);
    const calls = await redis.server.commandCalls();
    expect(calls.set).toBe(3);
    expect(calls.unlink).toBe(1);
    // A read issued right after writes (same tick, not awaited) sees them: the order is kept.
    void r.set('k', 3);
    void r.delete('other');
    expect(await Promise.all([r.get('k'), r.get('other')])).toEqual([3, undefined]);
  });

  it('reads of one tick still cost one MGET', async () => {
    const t = troves.open();
    const r = t.region('m');
    await r.setMany(Array.from({ length: 20 }, (_, i) => [`k${i}`, i] as const));
    await redis.server.resetStats();
    expect(await Promise.all(Array.from({ length: 20 }, (_, i) => r.get(`k${i}`)))).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect((await redis.server.commandCalls()).mget).toBe(1);
  });
});

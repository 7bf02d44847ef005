/**
 * Commands issued in one tick leave in one socket write, in call order, and reads of one tick
 * still cost one MGET.
 */
import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import type { Trove } from '../../src/index.js';
import type { RedisStore } from '../../src/store/index.js';
import { DELETE_ENTRIES } from '../../src/store/scripts.js';
import { useRedisServer, useTroves } from '../helpers/troves.js';

const redis = useRedisServer();
const troves = useTroves(() => ({ redis: redis.server.url, nearCache: false }));

/** Records the writes the trove's main connection makes to its socket: the names of the commands each one carries. */
function recordWrites(t: Trove): { readonly writes: string[][] } {
  const socket = (t as unknown as { store: RedisStore }).store.client.stream as Socket & {
    _write: (chunk: unknown, ...a: unknown[]) => unknown;
    _writev: (chunks: { chunk: unknown }[], ...a: unknown[]) => unknown;
  };
  const writes: string[][] = [];
  // A command's name, or 'delete-entries' for the delete script (sent in full or by SHA): other
  // scripts run in the background.
  const names = (chunks: unknown[]) =>
    [
      ...chunks
        .map(String)
        .join('')
        .matchAll(/\*\d+\r\n\$\d+\r\n([a-z]+)\r\n(?:\$\d+\r\n([^\r]*)\r\n)?/g),
    ].map((m) => ((m[1] === 'eval' && m[2] === DELETE_ENTRIES.source) || (m[1] === 'evalsha' && m[2] === DELETE_ENTRIES.sha) ? 'delete-entries' : m[1]!));
  const write = socket._write.bind(socket);
  const writev = socket._writev.bind(socket);
  socket._write = (chunk, ...a) => {
    writes.push(names([chunk]));
    return write(chunk, ...a);
  };
  socket._writev = (chunks, ...a) => {
    writes.push(names(chunks.map((c) => c.chunk)));
    return writev(chunks, ...a);
  };
  return { writes };
}

describe('one write per tick', () => {
  it('writes and reads issued in one tick go out in call order, the writes in one socket write', async () => {
    const t = troves.open();
    const r = t.region('c');
    await t.ready();
    await r.set('warm', 1);
    const recorded = recordWrites(t);
    await redis.server.resetStats();
    // Background work (the tables' sync after tracking went live) may write too, in writes of its
    // own or in this one: only this tick's commands are looked at.
    const ours = () =>
      recorded.writes.map((w) => w.filter((name) => name === 'set' || name === 'unlink' || name === 'delete-entries')).filter((w) => w.length > 0);
    const ops = [r.set('k', 1), r.set('k', 2), r.set('other', 'x'), r.delete('gone')];
    expect(ours()).toEqual([]); // held until the end of the tick
    await Promise.all(ops);
    // All in one write, in call order (the delete's lock key first, then the entry, by a script
    // that tells a value from a claim's marker).
    expect(ours()).toEqual([['set', 'set', 'set', 'unlink', 'delete-entries']]);
    const calls = await redis.server.commandCalls();
    expect(calls.set).toBe(3);
    expect(calls.unlink).toBe(2);
    expect(calls.getrange).toBe(1);
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

/**
 * TickBatcher: the operations of one tick leave as one call, each caller gets the answer at its
 * own index, a failed call fails every operation of its batch, a full batch leaves at once, and a
 * large batch answered while nothing else is in flight is handed out in halves.
 */
import { describe, expect, it } from 'vitest';
import { TickBatcher } from '../../src/store/tick-batcher.js';

function doubling(maxBatch?: number) {
  const batches: number[][] = [];
  const batcher = new TickBatcher<number, number>(async (items) => {
    batches.push(items);
    return items.map((n) => n * 2);
  }, maxBatch);
  return { batcher, batches };
}

describe('TickBatcher', () => {
  it('operations issued together go out as one call, answered in order', async () => {
    const { batcher, batches } = doubling();
    expect(await Promise.all([1, 2, 3, 4].map((n) => batcher.add(n)))).toEqual([2, 4, 6, 8]);
    expect(batches).toEqual([[1, 2, 3, 4]]);
  });

  it('a lone operation leaves on the current tick, each sequential one in its own call', async () => {
    const { batcher, batches } = doubling();
    for (let i = 0; i < 3; i++) expect(await batcher.add(i)).toBe(i * 2);
    expect(batches).toEqual([[0], [1], [2]]);
  });

  it('a batch reaching maxBatch leaves at once; the rest follow on the tick', async () => {
    const { batcher, batches } = doubling(4);
    const out = await Promise.all(Array.from({ length: 10 }, (_, i) => batcher.add(i)));
    expect(out).toEqual(Array.from({ length: 10 }, (_, i) => i * 2));
    expect(batches).toEqual([
      [0, 1, 2, 3],
      [4, 5, 6, 7],
      [8, 9],
    ]);
  });

  it("a large batch answered with nothing else in flight is handed out in halves: the first half's next operations leave before the second half goes on", async () => {
    const { batcher, batches } = doubling();
    const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);
    // Each caller adds its next operation as soon as it has its answer (as a miss's lock step is followed by its store).
    const out = await Promise.all(range(0, 40).map((i) => batcher.add(i).then((v) => batcher.add(100 + v / 2))));
    expect(out).toEqual(range(100, 140).map((n) => n * 2));
    expect(batches).toEqual([range(0, 40), range(100, 120), range(120, 140)]);
  });

  it('a small batch is handed out whole', async () => {
    const { batcher, batches } = doubling();
    await Promise.all(Array.from({ length: 31 }, (_, i) => batcher.add(i).then(() => batcher.add(100 + i))));
    expect(batches.map((b) => b.length)).toEqual([31, 31]);
  });

  it('a failed call rejects every operation of its batch, and only those', async () => {
    let calls = 0;
    const batcher = new TickBatcher<string, string>(async (items) => {
      calls++;
      if (calls === 1) throw new Error('down');
      return items.map((s) => s.toUpperCase());
    });
    const first = await Promise.allSettled(['a', 'b'].map((s) => batcher.add(s)));
    expect(first.map((r) => (r.status === 'rejected' ? (r.reason as Error).message : r.value))).toEqual(['down', 'down']);
    expect(await Promise.all(['c', 'd'].map((s) => batcher.add(s)))).toEqual(['C', 'D']);
  });

  it('a send that throws synchronously rejects the batch instead of escaping', async () => {
    const batcher = new TickBatcher<number, number>(() => {
      throw new Error('sync');
    });
    await expect(Promise.all([batcher.add(1), batcher.add(2)])).rejects.toThrow('sync');
  });
});

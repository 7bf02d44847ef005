/**
 * Read batching: concurrent reads of one callback share a round trip, and so do reads arriving
 * in separate callbacks of the same event-loop turn (as requests do in a server).
 */
import { describe, expect, it } from 'vitest';
import { GetBatcher, promised, SPLIT_AT } from '../../src/store/get-batcher.js';

function counting(): { batcher: GetBatcher; batches: string[][] } {
  const batches: string[][] = [];
  const batcher = new GetBatcher(
    promised(async (keys) => {
      batches.push(keys);
      return keys.map((k) => Buffer.from(`v:${k}`));
    }),
  );
  return { batcher, batches };
}

/** A batcher whose batches are answered only when the test calls their `replies`. */
function answeredLater(deferWhileBusy = false): { batcher: GetBatcher; batches: string[][]; replies: (() => void)[] } {
  const batches: string[][] = [];
  const replies: (() => void)[] = [];
  const batcher = new GetBatcher(
    promised(
      (keys) =>
        new Promise((resolve) => {
          batches.push(keys);
          replies.push(() => resolve(keys.map((k) => Buffer.from(`v:${k}`))));
        }),
    ),
    deferWhileBusy,
  );
  return { batcher, batches, replies };
}

describe('GetBatcher', () => {
  it('reads issued together go out as one batch, duplicates shared', async () => {
    const { batcher, batches } = counting();
    const got = await Promise.all(['a', 'b', 'a', 'c'].map((k) => batcher.get(k)));
    expect(got.map(String)).toEqual(['v:a', 'v:b', 'v:a', 'v:c']);
    expect(batches).toEqual([['a', 'b', 'c']]);
  });

  it('a lone sequential read is sent without waiting for the end of the turn', async () => {
    const { batcher, batches } = counting();
    for (let i = 0; i < 5; i++) expect(String(await batcher.get(`k${i}`))).toBe(`v:k${i}`);
    expect(batches).toHaveLength(5);
  });

  it('a lone read leaves nothing scheduled after its send: the event loop can wait for the reply at once', async () => {
    const replies: (() => void)[] = [];
    const batcher = new GetBatcher(promised((keys) => new Promise((resolve) => replies.push(() => resolve(keys.map(() => null))))));
    const immediates = () => process.getActiveResourcesInfo().filter((r) => r === 'Immediate').length;
    const before = immediates();
    const read = batcher.get('a');
    await new Promise<void>((r) => process.nextTick(r));
    expect(replies).toHaveLength(1);
    expect(immediates()).toBe(before);
    replies[0]!();
    expect(await read).toBeNull();
  });

  it('reads from 100 separate callbacks of one turn cost at most two batches', async () => {
    // Answered in a later turn, as a network reply is.
    const batches: string[][] = [];
    const batcher = new GetBatcher(
      promised(
        (keys) =>
          new Promise((resolve) => {
            batches.push(keys);
            setImmediate(() => resolve(keys.map((k) => Buffer.from(`v:${k}`))));
          }),
      ),
    );
    const results: Promise<Buffer | null>[] = [];
    await new Promise<void>((done) => {
      // setImmediate callbacks queued together run in the same check phase, each one its own
      // callback, like I/O callbacks of one poll phase.
      for (let i = 0; i < 100; i++) {
        setImmediate(() => {
          results.push(batcher.get(`r${i}`));
          if (i === 99) done();
        });
      }
    });
    const values = await Promise.all(results);
    expect(values.map(String)).toEqual(Array.from({ length: 100 }, (_, i) => `v:r${i}`));
    expect(batches.length).toBeLessThanOrEqual(2);
    expect(batches.flat()).toHaveLength(100);
  });

  it("a large batch is handed out in two halves; the first half's next reads are sent before the second half continues", async () => {
    const { first, next, batches, handedOutAtSend } = await readTwice(64);
    expect(first.map(String)).toEqual(Array.from({ length: 64 }, (_, i) => `v:a${i}`));
    expect(next.map(String)).toEqual(Array.from({ length: 64 }, (_, i) => `v:b${i}`));
    expect(batches).toEqual([
      Array.from({ length: 64 }, (_, i) => `a${i}`),
      Array.from({ length: 32 }, (_, i) => `b${i}`),
      Array.from({ length: 32 }, (_, i) => `b${32 + i}`),
    ]);
    // the reads of the first half went out while the second half still waited for its values
    expect(handedOutAtSend).toEqual([0, SPLIT_AT, 64]);
  });

  it('a batch below the split size is handed out whole', async () => {
    const n = SPLIT_AT - 1;
    const { batches, handedOutAtSend } = await readTwice(n);
    expect(batches.map((b) => b.length)).toEqual([n, n]);
    expect(handedOutAtSend).toEqual([0, n]);
  });

  it('deferWhileBusy: a read while a batch is in flight waits for the end of the turn; a read while none is leaves at once', async () => {
    const { batcher, batches, replies } = answeredLater(true);
    const first = batcher.get('a');
    await new Promise<void>((r) => process.nextTick(r));
    expect(batches).toEqual([['a']]);
    // In a later turn, while 'a' is in flight: a read is not sent on its tick, but with the reads
    // of the whole turn.
    await new Promise<void>((r) => setImmediate(r));
    const second = batcher.get('b');
    await new Promise<void>((r) => process.nextTick(r));
    expect(batches).toEqual([['a']]);
    const third = batcher.get('c');
    await new Promise<void>((r) => setImmediate(r));
    expect(batches).toEqual([['a'], ['b', 'c']]);
    for (const reply of replies.splice(0)) reply();
    expect([await first, await second, await third].map(String)).toEqual(['v:a', 'v:b', 'v:c']);
    // Nothing in flight, in a later turn: sent on the current tick again.
    await new Promise<void>((r) => setImmediate(r));
    const lone = batcher.get('d');
    await new Promise<void>((r) => process.nextTick(r));
    expect(batches).toEqual([['a'], ['b', 'c'], ['d']]);
    replies.splice(0)[0]!();
    expect(String(await lone)).toBe('v:d');
  });

  it("a large batch answered while another is in flight is handed out whole: its callers' next reads go out together", async () => {
    const { batcher, batches, replies } = answeredLater();
    const next: Promise<Buffer | null>[] = [];
    const first = Array.from({ length: 2 * SPLIT_AT }, (_, i) =>
      batcher.get(`a${i}`).then((v) => {
        next.push(batcher.get(`c${i}`));
        return v;
      }),
    );
    // A read of a later turn, sent (at the end of its turn) and in flight while the first batch is answered.
    await new Promise<void>((r) => setImmediate(r));
    const other = batcher.get('b');
    await new Promise<void>((r) => setImmediate(r));
    expect(batches.map((b) => b.length)).toEqual([2 * SPLIT_AT, 1]);
    replies[0]!();
    expect((await Promise.all(first)).map(String)).toEqual(Array.from({ length: 2 * SPLIT_AT }, (_, i) => `v:a${i}`));
    await new Promise<void>((r) => setImmediate(r));
    expect(batches.slice(2)).toEqual([Array.from({ length: 2 * SPLIT_AT }, (_, i) => `c${i}`)]);
    for (const reply of replies.slice(1)) reply();
    expect(String(await other)).toBe('v:b');
    expect((await Promise.all(next)).map(String)).toEqual(Array.from({ length: 2 * SPLIT_AT }, (_, i) => `v:c${i}`));
  });

  it('repeated keys, the first one included, are read once and answer each caller', async () => {
    const { batcher, batches } = counting();
    const keys = ['a', 'a', 'b', 'a', 'c', 'b', 'c'];
    const got = await Promise.all(keys.map((k) => batcher.get(k)));
    expect(got.map(String)).toEqual(keys.map((k) => `v:${k}`));
    expect(batches).toEqual([['a', 'b', 'c']]);
  });

  it('repeated keys of a batch handed out in halves are answered with their own half', async () => {
    const { batcher, batches } = counting();
    const keys = Array.from({ length: 2 * SPLIT_AT }, (_, i) => `k${i}`);
    const repeats = [keys[0]!, keys[SPLIT_AT + 3]!, keys[2 * SPLIT_AT - 1]!];
    const got = await Promise.all([...keys, ...repeats].map((k) => batcher.get(k)));
    expect(got.map(String)).toEqual([...keys, ...repeats].map((k) => `v:${k}`));
    expect(batches).toEqual([keys]);
  });

  it('thousands of keys with repeats in one batch, then small batches: each key read once per batch, every caller answered', async () => {
    const { batcher, batches } = counting();
    const distinct = Array.from({ length: 5000 }, (_, i) => `user:${i}`);
    const asked = [...distinct, ...distinct.filter((_, i) => i % 7 === 0), 'user:0'];
    const got = await Promise.all(asked.map((k) => batcher.get(k)));
    expect(got.map(String)).toEqual(asked.map((k) => `v:${k}`));
    expect(batches).toEqual([distinct]);
    for (let round = 0; round < 3; round++) {
      const small = ['a', 'b', 'a', `c${round}`];
      expect((await Promise.all(small.map((k) => batcher.get(k)))).map(String)).toEqual(small.map((k) => `v:${k}`));
      expect(batches.at(-1)).toEqual(['a', 'b', `c${round}`]);
    }
  });

  it('a failed batch rejects every waiter of it', async () => {
    const batcher = new GetBatcher(
      promised(async () => {
        throw new Error('down');
      }),
    );
    const all = await Promise.allSettled([batcher.get('a'), batcher.get('b'), batcher.get('a'), batcher.get('b')]);
    expect(all.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected', 'rejected']);
  });
});

/**
 * Reads keys a0…a(n-1) together; each caller, once handed its value, reads b<i>. Records every
 * batch sent and how many callers had been handed their value when it was sent.
 */
async function readTwice(n: number): Promise<{ first: (Buffer | null)[]; next: (Buffer | null)[]; batches: string[][]; handedOutAtSend: number[] }> {
  const batches: string[][] = [];
  const handedOutAtSend: number[] = [];
  let handedOut = 0;
  const batcher = new GetBatcher(
    promised(async (keys) => {
      batches.push(keys);
      handedOutAtSend.push(handedOut);
      return keys.map((k) => Buffer.from(`v:${k}`));
    }),
  );
  const second: Promise<Buffer | null>[] = [];
  const first = await Promise.all(
    Array.from({ length: n }, (_, i) =>
      batcher.get(`a${i}`).then((v) => {
        handedOut++;
        second.push(batcher.get(`b${i}`));
        return v;
      }),
    ),
  );
  return { first, next: await Promise.all(second), batches, handedOutAtSend };
}

/**
 * One timer bounds every pending operation of a kind: each still gets its whole deadline, counted
 * from its own start, and the timer never holds the process open while nothing is pending.
 */
import { describe, expect, it } from 'vitest';
import { StoreError, StoreTimeoutError } from '../../src/errors.js';
import { SharedDeadline } from '../../src/store/deadline.js';
import { deferred } from '../load/support.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const activeTimers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

describe('SharedDeadline', () => {
  it('operations answered in time get their answers, in any order', async () => {
    const deadline = new SharedDeadline('get', 1_000);
    const works = Array.from({ length: 50 }, () => deferred<number>());
    const bounded = works.map((w) => deadline.bound(w.promise));
    for (let i = works.length - 1; i >= 0; i--) works[i]!.resolve(i);
    expect(await Promise.all(bounded)).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });

  it('one timer for any number of pending operations, none once they have settled', async () => {
    const before = activeTimers();
    const deadline = new SharedDeadline('get', 1_000);
    const works = Array.from({ length: 20 }, () => deferred<number>());
    const bounded = works.map((w) => deadline.bound(w.promise));
    expect(activeTimers()).toBe(before + 1);
    for (const w of works) w.resolve(1);
    await Promise.all(bounded);
    expect(activeTimers()).toBe(before);
    // Pending again: the same timer holds the process again.
    const next = deferred<number>();
    const later = deadline.bound(next.promise);
    expect(activeTimers()).toBe(before + 1);
    next.resolve(2);
    expect(await later).toBe(2);
    expect(activeTimers()).toBe(before);
  });

  it('an operation past its deadline rejects with a StoreTimeoutError naming the operation; its late answer is ignored', async () => {
    const deadline = new SharedDeadline('get', 30);
    const work = deferred<string>();
    const started = Date.now();
    const err = await deadline.bound(work.promise).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreTimeoutError);
    expect((err as StoreTimeoutError).timeoutMs).toBe(30);
    expect((err as Error).message).toMatch(/"get" exceeded its 30 ms deadline/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(29);
    work.resolve('late');
    work.reject(new Error('later still'));
    await sleep(5);
  });

  it('each operation gets its whole deadline from its own start', async () => {
    const deadline = new SharedDeadline('get', 300);
    const outcome: [string, number][] = [];
    const started = Date.now();
    const first = deadline.bound(deferred<number>().promise).catch(() => outcome.push(['first', Date.now() - started]));
    await sleep(150);
    const second = deadline.bound(deferred<number>().promise).catch(() => outcome.push(['second', Date.now() - started]));
    await Promise.all([first, second]);
    expect(outcome.map(([name]) => name)).toEqual(['first', 'second']);
    // The second expired 300 ms after its own start, not with the first.
    expect(outcome[0]![1]).toBeGreaterThanOrEqual(295);
    expect(outcome[1]![1]).toBeGreaterThanOrEqual(445);
  });

  it('an expired operation does not cut short one answered in time, nor one still running', async () => {
    const deadline = new SharedDeadline('get', 40);
    const stuck = deadline.bound(deferred<number>().promise);
    const quick = deferred<number>();
    const answered = deadline.bound(quick.promise);
    quick.resolve(7);
    expect(await answered).toBe(7);
    await expect(stuck).rejects.toBeInstanceOf(StoreTimeoutError);
    const fresh = deferred<number>();
    const running = deadline.bound(fresh.promise);
    await sleep(20);
    fresh.resolve(8);
    expect(await running).toBe(8);
  });

  it('a failure of the operation is a StoreError naming it, with the failure as its cause', async () => {
    const deadline = new SharedDeadline('get', 1_000);
    const cause = new Error('connection reset');
    const err = await deadline.bound(Promise.reject(cause)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect((err as Error).message).toMatch(/"get" failed: connection reset/);
    expect((err as Error).cause).toBe(cause);
    const own = new StoreError('already ours');
    expect(await deadline.bound(Promise.reject(own)).catch((e: unknown) => e)).toBe(own);
  });
});

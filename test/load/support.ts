/**
 * Small helpers for read-through tests: deferred promises, counting factories, timed calls, polling with a deadline,
 * and a view of a trove's pending loader work and notification waits.
 */
import { expect } from 'vitest';
import type { Trove } from '../../src/index.js';
import { until } from '../helpers/troves.js';

export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(err: unknown): void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** A factory that counts its runs and answers what `answer` gives. */
export function counting<T>(answer: () => T): { runs: number; factory: () => T } {
  const counted = {
    runs: 0,
    factory: (): T => {
      counted.runs++;
      return answer();
    },
  };
  return counted;
}

export type Timed<T> = { ok: true; value: T; ms: number; at: number } | { ok: false; error: unknown; ms: number; at: number };

/** Runs `fn` and reports its outcome, how long it took, and when (performance.now()) it settled. */
export async function timed<T>(fn: () => Promise<T>): Promise<Timed<T>> {
  const started = performance.now();
  try {
    const value = await fn();
    const at = performance.now();
    return { ok: true, value, ms: at - started, at };
  } catch (error) {
    const at = performance.now();
    return { ok: false, error, ms: at - started, at };
  }
}

/** Polls `cond` until it holds; throws naming `what` after `timeoutMs`. */
export async function waitFor(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  await until(cond, timeoutMs, what);
}

interface Internals {
  ctx: { loader: { pending: { cold: number; refreshing: number } } };
  notifier: { pending: number };
}

/** In-flight loader work and registered notification waits of a trove. */
export function pendingOf(trove: Trove): { cold: number; refreshing: number; waits: number } {
  const t = trove as unknown as Internals;
  const { cold, refreshing } = t.ctx.loader.pending;
  return { cold, refreshing, waits: t.notifier.pending };
}

/** Waits (bounded) for background work to settle, then asserts nothing is left pending. */
export async function expectIdle(...troves: Trove[]): Promise<void> {
  const idle = () => troves.every((t) => Object.values(pendingOf(t)).every((n) => n === 0));
  await waitFor(idle, 'loader work to settle').catch(() => {});
  for (const t of troves) expect(pendingOf(t)).toEqual({ cold: 0, refreshing: 0, waits: 0 });
}

/**
 * A caller's `signal` on `getOrSet`: the call stops waiting when it aborts, while what it started
 * or joined goes on for the others. One listener per signal, however many calls it is passed to
 * (one AbortController per request, say, shared by the request's reads): a listener per call
 * would pile up on a long-lived signal, and Node warns past ten.
 */
const waiting = new WeakMap<AbortSignal, Set<(reason: unknown) => void>>();

/** `answer`, or the signal's reason as soon as it aborts (`answer` is then left to settle unobserved, and must not throw unhandled). */
export function untilAborted<T>(signal: AbortSignal, answer: Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let callers = waiting.get(signal);
    if (callers === undefined) {
      const set = new Set<(reason: unknown) => void>();
      callers = set;
      waiting.set(signal, set);
      signal.addEventListener(
        'abort',
        () => {
          waiting.delete(signal);
          for (const stop of set) stop(signal.reason);
        },
        { once: true },
      );
    }
    const own = callers;
    own.add(reject);
    answer.then(
      (value) => {
        own.delete(reject);
        resolve(value);
      },
      (err: unknown) => {
        own.delete(reject);
        reject(err);
      },
    );
  });
}

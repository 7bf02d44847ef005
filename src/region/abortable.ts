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
    const callers = waiting.get(signal) ?? listen(signal);
    callers.add(reject);
    answer.then(
      (value) => {
        callers.delete(reject);
        resolve(value);
      },
      (err: unknown) => {
        callers.delete(reject);
        reject(err);
      },
    );
  });
}

/** The callers waiting under `signal`, told its reason once it aborts: registered with its one listener. */
function listen(signal: AbortSignal): Set<(reason: unknown) => void> {
  const callers = new Set<(reason: unknown) => void>();
  waiting.set(signal, callers);
  signal.addEventListener(
    'abort',
    () => {
      waiting.delete(signal);
      for (const stop of callers) stop(signal.reason);
    },
    { once: true },
  );
  return callers;
}

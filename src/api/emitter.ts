import type { TroveEventMap, TroveEventName } from '../region/index.js';

type Listener<E extends TroveEventName> = (event: TroveEventMap[E]) => void;
/** What `once` registers: a wrapper that remembers the listener it wraps, so `off` can find it. */
type OnceListener<E extends TroveEventName> = Listener<E> & { readonly original: Listener<E> };

/**
 * A small typed emitter. Unlike node:events it never throws when an `error` event has no
 * listener (a cache must not crash its host for a handled failure), and a listener that throws
 * cannot break the cache call that emitted: the exception becomes a process warning.
 */
export class TypedEmitter {
  private readonly listeners: { [E in TroveEventName]?: Set<Listener<E>> } = {};

  on<E extends TroveEventName>(name: E, listener: Listener<E>): this {
    let set = this.listeners[name] as Set<Listener<E>> | undefined;
    if (!set) {
      set = new Set();
      (this.listeners as Record<string, Set<Listener<E>>>)[name] = set;
    }
    set.add(listener);
    return this;
  }

  once<E extends TroveEventName>(name: E, listener: Listener<E>): this {
    const wrapped: OnceListener<E> = Object.assign(
      (event: TroveEventMap[E]) => {
        this.off(name, wrapped);
        listener(event);
      },
      { original: listener },
    );
    return this.on(name, wrapped);
  }

  /** Removes a listener added with `on`, or with `once` (by the function given to `once`). */
  off<E extends TroveEventName>(name: E, listener: Listener<E>): this {
    const set = this.listeners[name] as Set<Listener<E>> | undefined;
    if (set === undefined || set.delete(listener)) return this;
    // A once-listener is registered as its wrapper: find it by the function it wraps.
    for (const l of set) {
      if ((l as OnceListener<E>).original === listener) {
        set.delete(l);
        break;
      }
    }
    return this;
  }

  listenerCount(name: TroveEventName): number {
    return this.listeners[name]?.size ?? 0;
  }

  /** Whether anyone listens, so callers can skip building the event. */
  wants(name: TroveEventName): boolean {
    const set = this.listeners[name];
    return set !== undefined && set.size > 0;
  }

  emit<E extends TroveEventName>(name: E, event: TroveEventMap[E]): void {
    const set = this.listeners[name] as Set<Listener<E>> | undefined;
    if (!set) return;
    for (const listener of set) {
      try {
        listener(event);
      } catch (err) {
        process.emitWarning(`A trove '${name}' listener threw: ${err instanceof Error ? err.message : String(err)}`, 'TroveListenerWarning');
      }
    }
  }

  removeAll(): void {
    for (const k of Object.keys(this.listeners)) delete (this.listeners as Record<string, unknown>)[k];
  }
}

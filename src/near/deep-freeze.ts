/**
 * Freezes a value and everything reachable from it, so that code mutating a value it read from the
 * cache fails where it mutates (a TypeError in strict-mode code, which ES modules and TS output
 * always are) instead of silently changing what every other reader of the shared copy sees.
 *
 * An object found frozen already is taken as frozen throughout and not walked again: values are
 * frozen whole, by this function, so a second freeze of a shared value costs one check. Not
 * freezable, and left as they are: ArrayBuffers and their views (a Buffer, a typed array: V8
 * refuses to freeze those with elements) and the contents of Maps and Sets, whose `set`/`add`
 * freezing cannot stop (their keys and values are frozen, the collection itself is not).
 */
export function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return value;
  const pending: object[] = [value];
  while (pending.length > 0) {
    const o = pending.pop()!;
    if (ArrayBuffer.isView(o) || o instanceof ArrayBuffer || Object.isFrozen(o)) continue;
    Object.freeze(o);
    const visit = (child: unknown) => {
      if (typeof child === 'object' && child !== null && !Object.isFrozen(child)) pending.push(child);
    };
    if (o instanceof Map) {
      for (const [k, v] of o) {
        visit(k);
        visit(v);
      }
    } else if (o instanceof Set) {
      for (const v of o) visit(v);
    }
    for (const key of Reflect.ownKeys(o)) {
      const d = Object.getOwnPropertyDescriptor(o, key);
      if (d !== undefined && 'value' in d) visit(d.value);
    }
  }
  return value;
}

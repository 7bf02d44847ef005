import { types } from 'node:util';

/**
 * Deep equality that sees what `toEqual` does not: -0 vs 0 and NaN (Object.is), `undefined` properties vs missing
 * ones, array holes, Map vs object, Buffer vs Uint8Array, BigInt vs number, Date values (Invalid Date included),
 * key order, and Map/Set insertion order. Plain and null-prototype objects count as the same kind, since every codec
 * decodes both as plain objects. Values must be acyclic.
 * @returns undefined when equal, otherwise a description of the first difference.
 */
export function diffExact(actual: unknown, expected: unknown, path = '$'): string | undefined {
  if (typeof actual !== typeof expected) return `${path}: ${describe(actual)} vs expected ${describe(expected)}`;
  if (typeof actual !== 'object' || actual === null || expected === null) {
    return Object.is(actual, expected) ? undefined : `${path}: ${describe(actual)} vs expected ${describe(expected)}`;
  }
  const a = actual as object;
  const e = expected as object;
  const kindA = kindOf(a);
  const kindE = kindOf(e);
  if (kindA !== kindE) return `${path}: ${kindA} vs expected ${kindE}`;
  switch (kindA) {
    case 'Date':
      return Object.is((a as Date).getTime(), (e as Date).getTime()) ? undefined : `${path}: date ${(a as Date).getTime()} vs ${(e as Date).getTime()}`;
    case 'Buffer':
    case 'Uint8Array':
      return Buffer.compare(Buffer.from(a as Uint8Array), Buffer.from(e as Uint8Array)) === 0 ? undefined : `${path}: bytes differ`;
    case 'Array': {
      const arrA = a as unknown[];
      const arrE = e as unknown[];
      if (arrA.length !== arrE.length) return `${path}: length ${arrA.length} vs ${arrE.length}`;
      for (let i = 0; i < arrE.length; i++) {
        if (i in arrA !== i in arrE) return `${path}[${i}]: hole mismatch`;
        const d = diffExact(arrA[i], arrE[i], `${path}[${i}]`);
        if (d) return d;
      }
      return undefined;
    }
    case 'Map':
    case 'Set': {
      const listA = [...(a as Map<unknown, unknown> | Set<unknown>).entries()];
      const listE = [...(e as Map<unknown, unknown> | Set<unknown>).entries()];
      if (listA.length !== listE.length) return `${path}: size ${listA.length} vs ${listE.length}`;
      for (let i = 0; i < listE.length; i++) {
        const d = diffExact(listA[i]![0], listE[i]![0], `${path}{key ${i}}`) ?? diffExact(listA[i]![1], listE[i]![1], `${path}{value ${i}}`);
        if (d) return d;
      }
      return undefined;
    }
    case 'Object': {
      const keysA = Object.keys(a);
      const keysE = Object.keys(e);
      if (keysA.join('\u0001') !== keysE.join('\u0001') || keysA.length !== keysE.length) {
        return `${path}: keys ${JSON.stringify(keysA)} vs ${JSON.stringify(keysE)}`;
      }
      for (const key of keysE) {
        const d = diffExact((a as Record<string, unknown>)[key], (e as Record<string, unknown>)[key], `${path}.${key}`);
        if (d) return d;
      }
      return undefined;
    }
    default:
      return `${path}: cannot compare ${kindA}`;
  }
}

function kindOf(o: object): string {
  const proto: unknown = Object.getPrototypeOf(o);
  if (proto === null || proto === Object.prototype) return 'Object';
  if (Array.isArray(o)) return 'Array';
  if (Buffer.isBuffer(o)) return 'Buffer';
  if (types.isUint8Array(o)) return proto === Uint8Array.prototype ? 'Uint8Array' : 'other typed array';
  if (types.isDate(o)) return 'Date';
  if (types.isMap(o)) return 'Map';
  if (types.isSet(o)) return 'Set';
  return `instance of ${(o as { constructor?: { name?: string } }).constructor?.name ?? 'unknown'}`;
}

function describe(v: unknown): string {
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'number') return Object.is(v, -0) ? '-0' : String(v);
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  return v === null ? 'null' : typeof v;
}

import type { CountedFields, CountedHash, CountedWrite } from './store.js';

/** The reply of `COUNTED_READ_INIT` (the change count, then the fields asked for) as `CountedFields`. */
export function countedFields([count, ...values]: readonly (string | null)[]): CountedFields {
  return { count: countOf(count), values };
}

/** The reply of `COUNTED_READ_ALL` (the change count, then fields and values) as `CountedHash`. */
export function countedHash([count, ...flat]: readonly (string | null)[]): CountedHash {
  const fields: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i]!] = flat[i + 1]!;
  return { count: countOf(count), fields };
}

/** The reply of `HSET_COUNT_AND_PUBLISH` (the new count, and the epoch or null) as `CountedWrite`. */
export function countedWrite(reply: unknown): CountedWrite {
  const [count, epoch] = reply as [number | string, string | null];
  return { count: countOf(String(count)), epoch: epoch ?? undefined };
}

function countOf(count: string | null | undefined): number {
  const n = count == null ? 0 : Number(count);
  return Number.isSafeInteger(n) && n >= 0 ? n : 0;
}

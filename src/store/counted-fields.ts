import type { CountedFields } from './store.js';

/** The reply of `COUNTED_READ_INIT` (the change count, then the fields asked for) as `CountedFields`. */
export function countedFields([count, ...values]: readonly (string | null)[]): CountedFields {
  const n = count == null ? 0 : Number(count);
  return { count: Number.isSafeInteger(n) && n >= 0 ? n : 0, values };
}

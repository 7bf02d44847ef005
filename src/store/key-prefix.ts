/**
 * Key prefixes on the Redis side: SCAN MATCH takes a glob, and ioredis's `keyPrefix` is added to
 * the keys of commands but not to SCAN patterns, SCAN replies or invalidation messages.
 */

/** A SCAN MATCH pattern for exactly the keys starting with `prefix`: every glob metacharacter in it is escaped. */
export function prefixPattern(prefix: string): string {
  // Outside brackets Redis treats `\x` as a literal x; escaping `[` means no bracket ever opens,
  // so `]`, `^` and `-` stay literal as well.
  return `${prefix.replace(/[*?[\]\\]/g, (m) => `\\${m}`)}*`;
}

/** The keys as callers name them, without the client's `keyPrefix`; keys outside that prefix are dropped (not ours). */
export function withoutKeyPrefix(keys: string[], keyPrefix: string): string[] {
  if (keyPrefix === '') return keys;
  const out: string[] = [];
  for (const k of keys) if (k.startsWith(keyPrefix)) out.push(k.slice(keyPrefix.length));
  return out;
}

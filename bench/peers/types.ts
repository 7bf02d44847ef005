/** The common shape every benchmarked library is driven through. */

export const LIB_NAMES = ['trove', 'ioredis', 'bentocache', 'cache-manager', 'cacheable', 'async-cache-dedupe'] as const;
export type LibName = (typeof LIB_NAMES)[number];

/**
 * Which tiers a library is configured with:
 * - `l2`: Redis only, every in-memory tier off (every read is a Redis round trip);
 * - `l1`: the library's in-memory tier in front of Redis (or its in-memory storage when it has no two-tier mode).
 */
export type Tier = 'l2' | 'l1';

/** What decides a library's configuration: the tier, the in-memory capacity and, for an extra row, a variant. */
export interface ConfigOptions {
  tier: Tier;
  /** Capacity of the in-memory tier, in entries (tier `l1`). */
  l1Entries: number;
  /** Time to live of every entry, in milliseconds. */
  ttlMs: number;
  /** A named non-default configuration (see `Variant`); undefined: the library's configuration for the tier. */
  variant?: string;
  /** Also connect the library's cross-process invalidation channel, when it has one (tier `l1`). */
  bus?: boolean;
  /**
   * Every write must be in Redis when the library's call resolves: the workload reads Redis right
   * after its writes (so no fire-and-forget write, e.g. cache-manager's `nonBlocking`).
   */
  awaitWrites?: boolean;
}

/**
 * A second configuration of a library, measured as a row of its own next to its usual one (e.g.
 * Trove with `clone: true`, bentocache with its serializing L1), so rows that do the same work
 * per hit can be compared.
 */
export interface Variant {
  lib: LibName;
  /** Passed to the peer as `variant`. */
  name: string;
  /** Its row's label. */
  row: string;
  /** The Trove row its "Trove / peer" ratio divides (its own label for a Trove variant). */
  versus: string;
}

export interface AdapterOptions extends ConfigOptions {
  /** `redis://127.0.0.1:<port>` of the private server. */
  url: string;
  host: string;
  port: number;
  /** Computes the value of a key on a miss: the factory given to getOrSet / wrap / the memoized function. */
  load: (key: string) => unknown;
}

export interface CacheAdapter {
  /** Read-through: the cached value, or `load(key)` computed once, stored and returned. May return a plain value. */
  fetch(key: string): unknown;
  /** The library's normal single-entry write path. */
  set(key: string, value: unknown): Promise<void>;
  /** Releases every connection, so the process can exit. */
  close(): Promise<void>;
}

export interface Peer {
  name: LibName;
  /** How the library is configured by `create` with the same options, shown under the tables. */
  describe(opts: ConfigOptions): string;
  /** Creates a connected adapter; throws `Unsupported` with the reason when the library cannot run this tier. */
  create(opts: AdapterOptions): Promise<CacheAdapter>;
}

/** A workload or tier a library cannot (or does not yet) run; the message is printed in the table. */
export class Unsupported extends Error {
  override name = 'Unsupported';
}

/** The key prefix of a configuration: the library's own, plus `_<variant>` for a variant (configurations never share entries). */
export function prefixOf(lib: LibName, variant: string | undefined): string {
  return variant === undefined ? PREFIX[lib] : `${PREFIX[lib]}_${variant}`;
}

/** Key prefixes (namespaces) per library, so libraries never read each other's entries. */
export const PREFIX: Record<LibName, string> = {
  trove: 'trove',
  ioredis: 'raw',
  bentocache: 'bento',
  'cache-manager': 'cm',
  cacheable: 'cb',
  'async-cache-dedupe': 'acd',
};

/** An options object as it reads in code: `{ maxItems: 20000, serialize: false }`. */
export function showOptions(options: object): string {
  const fields = Object.entries(options).map(([k, v]) => `${k}: ${typeof v === 'string' ? `'${v}'` : String(v)}`);
  return fields.length ? `{ ${fields.join(', ')} }` : '{}';
}

import { InvalidOptionError } from '../errors.js';
import { checkWellFormed } from './well-formed.js';

const SEGMENT = /^[A-Za-z0-9_-]+$/;
const TOKEN = /^[^\s*?[\]\\:{}]+$/;

/**
 * Splits and validates a region name. Dotted names address nested regions:
 * `'users.profiles'` is the region `profiles` inside `users`.
 */
export function regionSegments(name: string, option = 'region'): string[] {
  if (typeof name !== 'string' || name === '') throw new InvalidOptionError(option, 'a region name must be a non-empty string');
  const parts = name.split('.');
  for (const p of parts) {
    if (!SEGMENT.test(p)) {
      throw new InvalidOptionError(option, `invalid region name '${name}': each dot-separated part must match [A-Za-z0-9_-]+`);
    }
    if (p.startsWith('__')) throw new InvalidOptionError(option, `invalid region name '${name}': names starting with '__' are reserved`);
  }
  return parts;
}

/**
 * Validates a key token (the trove prefix or version, a cached function's name or version):
 * non-empty, no whitespace, no ':', no glob characters, no braces, and well-formed UTF-16.
 * Braces are refused because Redis Cluster hashes a key by the text between its first `{` and
 * the next `}`: one in the prefix or version would decide the slot of every key instead of the
 * hash tag Trove places around each entry's own part (see `KeyLayout`).
 */
export function keyToken(value: string, option: string): string {
  if (typeof value !== 'string' || !TOKEN.test(value)) {
    throw new InvalidOptionError(option, `must be a non-empty string without whitespace, ':' or any of *?[]\\{} (got ${JSON.stringify(value)})`);
  }
  return checkWellFormed(value, option, 'the token');
}

/**
 * Where entries live in Redis: `<prefix>:<version>:<region path>:<key>`, e.g. `app:v1:users.profiles:42`.
 * Region paths never contain ':', so the first ':' after the path starts the user's key, and a
 * region's own entries (`app:v1:users:*`) never match those of a region below it (`app:v1:users.profiles:*`).
 *
 * On Redis Cluster (`hashTags`), the entry's own part is a hash tag: `<prefix>:<version>:<region
 * path>{:<key>}`, e.g. `app:v1:users.profiles{:42}`, and its lock `app:v1:__lock:users.profiles{:42}`.
 * Redis hashes the text between the first `{` and the next `}`; nothing before the inserted `{`
 * can hold a brace (tokens refuse them, region paths and generation tokens have none), so an entry
 * and its lock always share a slot (the Lua scripts touch both), whatever braces the key holds,
 * while entries spread over every slot. The `:` sits inside the braces so that the tag is never
 * empty: the empty key's `{}` would hash the whole key, and its lock would land elsewhere. A `{`
 * after the region path never occurs in standalone keys, and the standalone layout is unchanged.
 */
export class KeyLayout {
  /** What follows the user's key in an entry key: `'}'` closing the hash tag on Cluster, else nothing. */
  readonly tail: string;

  constructor(
    readonly prefix: string,
    readonly version: string,
    /** Whether entry keys carry a hash tag (Redis Cluster). @defaultValue `false` */
    readonly hashTags = false,
  ) {
    this.tail = hashTags ? '}' : '';
  }

  /** The common start of every key of a region: an entry's key is this, the user's key, then `tail`. */
  regionBase(path: string): string {
    return this.hashTags ? `${this.prefix}:${this.version}:${path}{:` : `${this.prefix}:${this.version}:${path}:`;
  }

  /** The user's key of an entry key that starts with `base` (a `regionBase`). */
  userKey(entryKey: string, base: string): string {
    return entryKey.slice(base.length, entryKey.length - this.tail.length);
  }

  /**
   * The parts of an entry key of this trove: the region path as stored (`keyPath`, with its
   * generation tokens, e.g. `users@Tq0v_m1c.profiles`), the region's name (`path`, tokens removed)
   * and the user's key. Undefined for any other key: control keys (names starting with `__`),
   * keys of other prefixes or versions.
   */
  parseEntryKey(key: string): { keyPath: string; path: string; userKey: string } | undefined {
    if (!key.startsWith(this.keyspace)) return undefined;
    const rest = key.slice(this.keyspace.length);
    const end = this.hashTags ? rest.indexOf('{:') : rest.indexOf(':');
    if (end <= 0 || (this.hashTags && !rest.endsWith('}'))) return undefined;
    const keyPath = rest.slice(0, end);
    if (keyPath.startsWith('__')) return undefined;
    const path = keyPath
      .split('.')
      .map((seg) => {
        const at = seg.indexOf('@');
        return at < 0 ? seg : seg.slice(0, at);
      })
      .join('.');
    return { keyPath, path, userKey: rest.slice(end + (this.hashTags ? 2 : 1), rest.length - this.tail.length) };
  }

  /** The lock guarding the computation of an entry: `<prefix>:<version>:__lock:<rest of the entry key>`. */
  lockKey(entryKey: string): string {
    return `${this.prefix}:${this.version}:__lock:${entryKey.slice(this.prefix.length + this.version.length + 2)}`;
  }

  /** The pub/sub channel on which the trove's processes tell each other about stored values. */
  get channel(): string {
    return `${this.prefix}:${this.version}:__notify`;
  }

  /** The pub/sub channel carrying region and tag invalidations. */
  get busChannel(): string {
    return `${this.prefix}:${this.version}:__bus`;
  }

  /** The hash of region generation tokens. */
  get generationsKey(): string {
    return `${this.prefix}:${this.version}:__gens`;
  }

  /** The hash of tag tokens. */
  /** Statistics windows: `<prefix>:<version>:__stats:<epoch minute>` (see the stats layer). */
  get statsKeyPrefix(): string {
    return `${this.prefix}:${this.version}:__stats:`;
  }

  get tagsKey(): string {
    return `${this.prefix}:${this.version}:__tags`;
  }

  /** The start of every key of this trove (prefix and version). */
  get keyspace(): string {
    return `${this.prefix}:${this.version}:`;
  }
}

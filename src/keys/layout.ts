import { InvalidOptionError } from '../errors.js';
import { checkWellFormed } from './well-formed.js';

const SEGMENT = /^[A-Za-z0-9_-]+$/;
const TOKEN = /^[^\s*?[\]\\:]+$/;

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
 * non-empty, no whitespace, no ':', no glob characters, and well-formed UTF-16.
 */
export function keyToken(value: string, option: string): string {
  if (typeof value !== 'string' || !TOKEN.test(value)) {
    throw new InvalidOptionError(option, `must be a non-empty string without whitespace, ':' or any of *?[]\\ (got ${JSON.stringify(value)})`);
  }
  return checkWellFormed(value, option, 'the token');
}

/**
 * Where entries live in Redis: `<prefix>:<version>:<region path>:<key>`, e.g. `app:v1:users.profiles:42`.
 * Region paths never contain ':', so the first ':' after the path starts the user's key, and a
 * region's own entries (`app:v1:users:*`) never match those of a region below it (`app:v1:users.profiles:*`).
 */
export class KeyLayout {
  constructor(
    readonly prefix: string,
    readonly version: string,
  ) {}

  /** The common start of every key of a region. */
  regionBase(path: string): string {
    return `${this.prefix}:${this.version}:${path}:`;
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
  get tagsKey(): string {
    return `${this.prefix}:${this.version}:__tags`;
  }

  /** The start of every key of this trove (prefix and version). */
  get keyspace(): string {
    return `${this.prefix}:${this.version}:`;
  }
}

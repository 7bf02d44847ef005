import { encodeArgs } from './canonical.js';
import { hashText } from './hash.js';

/** Options of {@link argsKey}. */
export interface ArgsKeyOptions {
  /**
   * Debugging aid: return the canonical encoding itself when it is short and safe in a Redis key,
   * instead of its hash. Default `false` (always the 22-character hash).
   */
  readable?: boolean;
  /** Longest encoding, in characters, returned as-is when `readable` is set. Default {@link DEFAULT_MAX_READABLE_LENGTH}. */
  maxReadableLength?: number;
}

/** Default of {@link ArgsKeyOptions.maxReadableLength}: 120 characters. */
export const DEFAULT_MAX_READABLE_LENGTH = 120;

/** Prefix of a hashed key in readable mode. Encodings always start with `(`, so the two forms never meet. */
export const HASHED_READABLE_PREFIX = 'h:';

// Printable ASCII except space, the SCAN MATCH metacharacters * ? [ ] \ and the Cluster hash-tag braces { }.
// ASCII only: whether a non-ASCII character counts as printable depends on the Unicode tables of the Node version.
const READABLE = /^[\x21-\x29\x2B-\x3E\x40-\x5A\x5E-\x7A\x7C\x7E]*$/;

const EMPTY_KEY = hashText(encodeArgs([]));

/**
 * Short key part for an argument tuple.
 *
 * Default: {@link hashText} of {@link encodeArgs} — 22 base64url characters (128 bits); `f()` always
 * gives the same constant. With `readable: true`: the encoding itself (it starts with `(`) when it is at
 * most `maxReadableLength` characters and uses only printable ASCII other than `* ? [ ] \ { }`,
 * otherwise `h:` followed by the hash. The three shapes never collide: a plain hash contains neither
 * `(` nor `:`, a readable encoding starts with `(`, a readable-mode hash starts with `h:`.
 *
 * @throws KeyDerivationError as {@link encodeArgs} does.
 */
export function argsKey(args: readonly unknown[], opts?: ArgsKeyOptions): string {
  if (opts?.readable !== true) return args.length === 0 ? EMPTY_KEY : hashText(encodeArgs(args));
  const text = encodeArgs(args);
  const max = opts.maxReadableLength ?? DEFAULT_MAX_READABLE_LENGTH;
  if (text.length <= max && READABLE.test(text)) return text;
  return HASHED_READABLE_PREFIX + hashText(text);
}

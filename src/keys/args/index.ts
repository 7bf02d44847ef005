/** Canonical, type-aware encoding of function arguments into short cache keys. */
export { encodeArgs, MAX_DEPTH } from './canonical.js';
export { HASH_LENGTH, hashText } from './hash.js';
export { type ArgsKeyOptions, argsKey, DEFAULT_MAX_READABLE_LENGTH, HASHED_READABLE_PREFIX } from './key.js';

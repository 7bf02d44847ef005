export { createTrove, type TroveOptions, type TroveStats, type CachedMethodOptions, type CachedMethodDecorator } from './trove.js';
export type { CachedFunction, CachedOptions } from './cached.js';
export type { Trove } from './public.js';
export { TypedEmitter } from './emitter.js';

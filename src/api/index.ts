export { createTrove, Trove, type TroveOptions } from './trove.js';
export { TypedEmitter } from './emitter.js';

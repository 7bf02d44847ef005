export {
  createTrove,
  type TroveOptions,
  type TroveStats,
  type StatsOptions,
  type FleetStatsOptions,
  type ReadyOptions,
  type CachedMethodOptions,
  type CachedMethodDecorator,
} from './trove.js';
export type { CachedFunction, CachedOptions } from './cached.js';
export type { Trove } from './public.js';
export { TypedEmitter } from './emitter.js';
export type { TroveHealth } from './health.js';
export type { TroveLogger } from './logger.js';

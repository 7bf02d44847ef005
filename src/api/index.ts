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
export type { CachedFunction, CachedOptions, CachedMethod } from './cached.js';
export type { CachedCommandOptions } from './cached-command.js';
export { createTroveFromEnv, troveOptionsFromEnv, TROVE_ENV_VARIABLES, type TroveEnv } from './env-options.js';
export type { Trove } from './public.js';
export { TypedEmitter } from './emitter.js';
export type { TroveHealth } from './health.js';
export type { TroveLogger } from './logger.js';

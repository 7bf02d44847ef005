// Trove and Region are types only: instances come from createTrove() and trove.region(), so
// their implementation classes (and the internals their constructors take) stay unpublished.
export {
  createTrove,
  createTroveFromEnv,
  troveOptionsFromEnv,
  TROVE_ENV_VARIABLES,
  type TroveEnv,
  type Trove,
  type TroveOptions,
  type TroveStats,
  type CachedCommandOptions,
  type StatsOptions,
  type FleetStatsOptions,
  type ReadyOptions,
  type TroveHealth,
  type TroveLogger,
  type CachedFunction,
  type CachedOptions,
  type CachedMethodOptions,
  type CachedMethodDecorator,
  type CachedMethod,
} from './api/index.js';
export type {
  Region,
  Key,
  Factory,
  ManyFactory,
  ManyFactoryContext,
  EntryTtl,
  GetOrSetOptions,
  RegionOptions,
  ResolvedRegionOptions,
  WriteOptions,
  CompressionOption,
  StorageOption,
  HashFieldExpiryOption,
  TroveEventMap,
  TroveEventName,
  HitEvent,
  MissEvent,
  SetEvent,
  DeleteEvent,
  MarkStaleEvent,
  ErrorEvent,
  ComputeEvent,
  StaleEvent,
  InvalidateEvent,
  DisconnectedEvent,
  ReconnectedEvent,
  SetOptions,
  BatchWriter,
  EventSource,
  SweepResult,
} from './region/index.js';
export type { ReadThroughOptions, ResolvedReadThrough, OnCold, FactoryContext, FactoryRunInfo, FactoryWrapper } from './load/index.js';
export type { NearCacheOptions, NearStats, CommandReplyStats } from './near/index.js';
export type { ComputeSummary, FleetStats, FleetWindow, HistogramSummary, SizeSummary, StaleCounts, StatsRow } from './stats/index.js';
export type { BuiltinCodecName, Codec, CodecOption, CustomCodec, JsonCodecOptions } from './codec/index.js';
export { createJsonCodec } from './codec/index.js';
export type { RedisClusterOption, RedisOption, MemoryStoreOptions, NodeRedisClient } from './store/index.js';
export type { Duration } from './duration.js';
export {
  TroveError,
  InvalidOptionError,
  SerializationError,
  DecodeError,
  ValueTooLargeError,
  KeyDerivationError,
  StoreError,
  StoreTimeoutError,
  ClosedError,
  ColdCacheError,
  TimeoutError,
  FactoryError,
  FactoryResultError,
} from './errors.js';

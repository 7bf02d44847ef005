export {
  createTrove,
  Trove,
  type TroveOptions,
  type TroveStats,
  type CachedFunction,
  type CachedOptions,
  type CachedMethodOptions,
  type CachedMethodDecorator,
} from './api/index.js';
export {
  Region,
  type Key,
  type Factory,
  type GetOrSetOptions,
  type RegionOptions,
  type ResolvedRegionOptions,
  type WriteOptions,
  type CompressionOption,
  type TroveEventMap,
  type TroveEventName,
  type HitEvent,
  type MissEvent,
  type SetEvent,
  type DeleteEvent,
  type ErrorEvent,
  type ComputeEvent,
  type StaleEvent,
  type InvalidateEvent,
  type SetOptions,
  type BatchWriter,
  type EventSource,
  type SweepResult,
} from './region/index.js';
export type { ReadThroughOptions, OnCold } from './load/index.js';
export type { NearCacheOptions, NearStats } from './near/index.js';
export type { Codec, CodecOption, JsonCodecOptions } from './codec/index.js';
export { createJsonCodec } from './codec/index.js';
export type { RedisOption, MemoryStoreOptions } from './store/index.js';
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
} from './errors.js';

export type { Region, Key, Factory, ManyFactory, ManyFactoryContext, EntryTtl, GetOrSetOptions, SetOptions, BatchWriter, EventSource } from './region.js';
export type { RegionContext } from './region-context.js';
export { RegionHandle } from './region-handle.js';
export { Generations } from './generations.js';
export { TagTokens, checkTags } from './tag-tokens.js';
export { InvalidationBus, type Invalidation } from './invalidation-bus.js';
export { Sweeper, type SweepResult } from './sweeper.js';
export {
  checkRegionOptions,
  resolveRegionOptions,
  type RegionOptions,
  type ResolvedRegionOptions,
  type WriteOptions,
  type CompressionOption,
  type StorageOption,
  type HashFieldExpiryOption,
} from './options.js';
export type * from './events.js';

export { Region, type RegionContext, type Key, type Factory, type GetOrSetOptions } from './region.js';
export {
  checkRegionOptions,
  resolveRegionOptions,
  type RegionOptions,
  type ResolvedRegionOptions,
  type WriteOptions,
  type CompressionOption,
} from './options.js';
export type * from './events.js';

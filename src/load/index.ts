export { Loader, type EntryAccess, type Encoded, type LoaderContext, type StaleReason } from './loader.js';
export { Notifier, type Wait, type WakeReason } from './notifier.js';
export { Lease } from './lease.js';
export {
  applyReadThrough,
  DEFAULT_READ_THROUGH,
  READ_THROUGH_KEYS,
  type OnCold,
  type ReadThroughOptions,
  type ResolvedReadThrough,
} from './options.js';

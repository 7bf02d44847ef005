export { Loader, type EntryAccess, type EntryLocks, type Encoded, type LoaderContext, type StaleReason } from './loader.js';
export { Notifier, type Wait, type WakeReason } from './notifier.js';
export { Lease } from './lease.js';
export {
  addFactoryWrapper,
  callFactory,
  currentContext,
  RunContext,
  withAsyncContext,
  type FactoryContext,
  type FactoryOverrides,
  type FactoryRunInfo,
  type FactoryWrapper,
} from './factory-context.js';
export {
  applyReadThrough,
  DEFAULT_READ_THROUGH,
  READ_THROUGH_KEYS,
  type OnCold,
  type ReadThroughOptions,
  type ResolvedReadThrough,
} from './options.js';

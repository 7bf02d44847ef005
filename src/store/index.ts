export type {
  ChannelListener,
  CommandCall,
  CommandStore,
  CounterStore,
  CountedFields,
  CountedHash,
  CountedWrite,
  FieldRef,
  FieldStore,
  FieldValue,
  FieldWriteOp,
  HashInit,
  KeyValueStore,
  ClaimOption,
  HeldLock,
  LockAttempt,
  ReadOrLock,
  LockStore,
  MessageBus,
  Store,
  StoreAndRelease,
  StoreFieldAndRelease,
  StoreListener,
  TableStore,
  TrackingListener,
  TrackingStore,
  WriteOp,
} from './store.js';
export { isClaimMarker } from './claims.js';
export { MemoryStore, type MemoryStoreOptions } from './memory-store.js';
export { RedisStore } from './redis-store.js';
export { ClusterStore } from './cluster-store.js';
export { checkStoreOptions, createStore, type RedisClusterOption, type RedisOption } from './create-store.js';
export type { NodeRedisClient } from './node-redis/client-shape.js';

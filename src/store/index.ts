export type { ChannelListener, HashInit, LockAttempt, Store, StoreAndRelease, StoreListener, TrackingListener, WriteOp } from './store.js';
export { MemoryStore, type MemoryStoreOptions } from './memory-store.js';
export { RedisStore } from './redis-store.js';
export { checkStoreOptions, createStore, type RedisOption } from './create-store.js';
export { escapeGlob } from './glob.js';

import { asyncCacheDedupe } from './async-cache-dedupe.js';
import { bentocache } from './bentocache.js';
import { cacheManager } from './cache-manager.js';
import { cacheable } from './cacheable.js';
import { ioredis } from './ioredis.js';
import { trove } from './trove.js';
import type { LibName, Peer } from './types.js';

export const PEERS: Record<LibName, Peer> = {
  trove,
  ioredis,
  bentocache,
  'cache-manager': cacheManager,
  cacheable,
  'async-cache-dedupe': asyncCacheDedupe,
};

export * from './types.js';

export { NearCache, type NearCacheOptions, type NearEntry, type NearStats } from './near-cache.js';
export { checkNearCacheOptions } from './options.js';

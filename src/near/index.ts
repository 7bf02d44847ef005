export { NearCache, type NearCacheOptions, type NearEntry, type NearStats } from './near-cache.js';

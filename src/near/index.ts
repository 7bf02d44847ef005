export { NearCache, type NearCacheOptions, type NearEntry, NearIndex, type NearStats } from './near-cache.js';
export { checkNearCacheOptions } from './options.js';
export { deepFreeze } from './deep-freeze.js';
export { CommandReplies, callId, type CommandReplyStats } from './command-replies.js';

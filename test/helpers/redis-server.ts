/** Shared with bench/ and demo/: the one copy lives in tools/. */
export * from '../../tools/redis-server.js';

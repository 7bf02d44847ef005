/** A redis-server for the tests of the invalidation tables: a store on it, and a raw client to change the tables behind the store's back. */
import { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { createStore } from '../../src/store/create-store.js';
import type { Store } from '../../src/store/index.js';
import { RedisServer } from './redis-server.js';

export interface TableServer {
  readonly store: Store;
  readonly raw: Redis;
}

/** Started before the file's tests and stopped after them; read its fields inside tests only. */
export function useTableServer(): TableServer {
  let server: RedisServer | undefined;
  let store: Store | undefined;
  let raw: Redis | undefined;
  beforeAll(async () => {
    server = await RedisServer.start();
    store = createStore({ redis: server.url, memory: undefined, commandTimeoutMs: 2_000, listener: {} });
    raw = new Redis(server.url);
  });
  afterAll(async () => {
    raw?.disconnect();
    await store?.close();
    await server?.stop();
  });
  return {
    get store() {
      if (store === undefined) throw new Error('the table server is only there inside tests');
      return store;
    },
    get raw() {
      if (raw === undefined) throw new Error('the table server is only there inside tests');
      return raw;
    },
  };
}

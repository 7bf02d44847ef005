/**
 * The node-redis driver sends its commands through one view of the client per reply type mapping
 * (`withTypeMapping`, made once; each command naming the mapping too), or through the client itself
 * when it has no `withTypeMapping`: either way, what the client decodes by its own `typeMapping`
 * never changes what Trove reads, and nothing is lost.
 */
import { tracingChannel } from 'node:diagnostics_channel';
import { createClient as createClient5 } from '@redis/client';
import { createClient, RESP_TYPES } from 'redis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTrove, type RedisOption, type Trove } from '../../../src/index.js';
import type { NodeRedisArgument, NodeRedisConnection, NodeRedisTypeMapping } from '../../../src/store/node-redis/client-shape.js';
import { TypedSenders } from '../../../src/store/node-redis/typed-senders.js';
import { RedisServer } from '../../helpers/redis-server.js';
import { until } from '../../helpers/troves.js';

let server: RedisServer;
beforeAll(async () => {
  server = await RedisServer.start();
});
afterAll(async () => {
  await server.stop();
});

interface Closable {
  destroy(): void;
}
const owned: Closable[] = [];
const troves: Trove[] = [];
afterEach(async () => {
  for (const t of troves.splice(0)) await t.close();
  for (const c of owned.splice(0)) c.destroy();
  await server.command('FLUSHALL');
});

/** Bulk strings as Buffers, maps as Maps: a client whose own decoding differs from Trove's in every reply type Trove reads. */
const USER_MAPPING = { [RESP_TYPES.BLOB_STRING]: Buffer, [RESP_TYPES.MAP]: Map } as const;

async function connected(major: 5 | 6, RESP: 2 | 3): Promise<NodeRedisConnection & Closable> {
  const options = { url: server.url, RESP, commandOptions: { typeMapping: USER_MAPPING } };
  const c = (major === 5 ? createClient5(options) : createClient(options)) as unknown as NodeRedisConnection & Closable & { connect(): Promise<unknown> };
  c.on('error', () => {});
  await c.connect();
  owned.push(c);
  return c;
}

/** Counts the commands handed to a client with per-command options, and those sent through the clients bound from it by `withTypeMapping`. */
function countSends(client: NodeRedisConnection): { withOptions: number; bound: number } {
  const counts = { withOptions: 0, bound: 0 };
  const send = client.sendCommand.bind(client);
  client.sendCommand = (args: NodeRedisArgument[], options?: { typeMapping?: NodeRedisTypeMapping }) => {
    if (options !== undefined) counts.withOptions++;
    return send(args, options);
  };
  const withTypeMapping = client.withTypeMapping?.bind(client);
  if (withTypeMapping !== undefined)
    client.withTypeMapping = (mapping) => {
      const bound = withTypeMapping(mapping);
      const boundSend = bound.sendCommand.bind(bound);
      return {
        sendCommand: (args: NodeRedisArgument[], options?: { typeMapping?: NodeRedisTypeMapping }) => {
          counts.bound++;
          return boundSend(args, options);
        },
      };
    };
  return counts;
}

describe('TypedSenders', () => {
  it.each([
    [6, 3],
    [5, 2],
  ] as const)('binds one view per mapping, once, and decodes by that mapping whatever a node-redis %i client (RESP%i) decodes by', async (major, resp) => {
    const client = await connected(major, resp);
    await server.command('SET', 'k', 'v');
    let bound = 0;
    const withTypeMapping = client.withTypeMapping!.bind(client);
    client.withTypeMapping = (mapping) => {
      bound++;
      return withTypeMapping(mapping);
    };
    const senders = new TypedSenders(client);
    const strings = { [RESP_TYPES.BLOB_STRING]: String, [RESP_TYPES.MAP]: Array };
    const buffers = { [RESP_TYPES.BLOB_STRING]: Buffer };
    expect(await senders.send(['GET', 'k'], strings)).toBe('v');
    expect(await senders.send(['GET', 'k'], buffers)).toEqual(Buffer.from('v'));
    expect(await senders.send(['GET', 'k'], strings)).toBe('v');
    expect(await senders.send(['HELLO'], strings)).toEqual(expect.arrayContaining(['server', 'redis', 'proto', resp]));
    expect(bound).toBe(2);
    // The client itself still decodes by its own mapping.
    expect(await client.sendCommand(['GET', 'k'])).toEqual(Buffer.from('v'));
  });

  it('a client without withTypeMapping gets the mapping with each command', async () => {
    const client = await connected(6, 2);
    await server.command('SET', 'k', 'v');
    Object.defineProperty(client, 'withTypeMapping', { value: undefined });
    const counts = countSends(client);
    const senders = new TypedSenders(client);
    expect(await senders.send(['GET', 'k'], { [RESP_TYPES.BLOB_STRING]: String })).toBe('v');
    expect(counts).toEqual({ withOptions: 1, bound: 0 });
  });

  it("node-redis 6's command tracing and a patch of the client class see the trove's commands; a wrapper on the client object itself does not", async () => {
    const client = await connected(6, 3);
    const seen = { traced: [] as string[], patched: 0, wrapped: 0 };
    const channel = tracingChannel<{ command: string }>('node-redis:command');
    const onStart = (ctx: { command: string }) => seen.traced.push(ctx.command);
    channel.start.subscribe(onStart as (message: unknown) => void);
    // node-redis's client class: the prototype that owns sendCommand, patched as an instrumentation library patches it.
    let cls = Object.getPrototypeOf(client) as Record<string, unknown> | null;
    while (cls !== null && !Object.hasOwn(cls, 'sendCommand')) cls = Object.getPrototypeOf(cls) as Record<string, unknown> | null;
    if (cls === null) throw new Error('no sendCommand on the prototype chain');
    const original = cls.sendCommand as (...args: unknown[]) => unknown;
    cls.sendCommand = function (this: unknown, ...args: unknown[]) {
      seen.patched++;
      return original.apply(this, args);
    };
    const own = client.sendCommand;
    client.sendCommand = function (this: NodeRedisConnection, ...args: Parameters<NodeRedisConnection['sendCommand']>) {
      seen.wrapped++;
      return own.apply(this, args);
    };
    try {
      const trove = createTrove({ redis: client as unknown as RedisOption, prefix: 'traced', nearCache: false });
      troves.push(trove);
      const users = trove.region('users', { ttl: '1m' });
      await users.set('a', 1);
      expect(await users.get('a')).toBe(1);
      expect(seen.traced).toEqual(expect.arrayContaining(['SET', 'MGET']));
      expect(seen.patched).toBeGreaterThanOrEqual(2);
      expect(seen.wrapped).toBe(0);
    } finally {
      cls.sendCommand = original;
      channel.start.unsubscribe(onStart as (message: unknown) => void);
    }
  });

  it.each([
    [6, 3],
    [5, 2],
  ] as const)(
    'the views outlive a reconnect of a node-redis %i client (RESP%i) with its own typeMapping: values written before and after read back byte for byte',
    async (major, resp) => {
      const client = await connected(major, resp);
      const trove = createTrove({ redis: client as unknown as RedisOption, prefix: 'killed', nearCache: false, commandTimeout: 2_000 });
      troves.push(trove);
      const users = trove.region('users', { ttl: '1m' });
      const before = { id: 'a', bytes: 'é\u0000\uffff' };
      await users.set('a', before);
      expect(await users.get('a')).toEqual(before);
      // Trove sends on the client's own connection: kill it, and wait until the client is connected again.
      const own = String(await client.sendCommand(['CLIENT', 'ID']));
      await server.command('CLIENT', 'KILL', 'ID', own);
      await until(async () => String(await client.sendCommand(['CLIENT', 'ID']).catch(() => own)) !== own);
      expect(await users.get('a')).toEqual(before);
      const after = { id: 'b', bytes: '\u00ff\u0001' };
      await users.set('b', after);
      expect(await users.get('b')).toEqual(after);
      expect(await users.getOrSet('c', () => after)).toEqual(after);
    },
  );

  it.each([
    [6, 3, true],
    [6, 2, true],
    [5, 3, true],
    [5, 2, true],
    [6, 3, false],
  ] as const)(
    'a trove on a node-redis %i client (RESP%i) with its own typeMapping, withTypeMapping %s: values, hashes and locks as on any client',
    async (major, resp, hasWithTypeMapping) => {
      const client = await connected(major, resp);
      if (!hasWithTypeMapping) Object.defineProperty(client, 'withTypeMapping', { value: undefined });
      const counts = countSends(client);
      const trove = createTrove({ redis: client as unknown as RedisOption, prefix: 'typed', nearCache: false });
      troves.push(trove);
      const users = trove.region('users', { ttl: '1m' });
      const bucketed = trove.region('bucketed', { ttl: '1m', storage: 'hash' });
      let computed = 0;
      const load = (id: string) => () => {
        computed++;
        return { id, bytes: 'é\u0000\uffff' };
      };
      expect(await Promise.all([users.getOrSet('a', load('a')), users.getOrSet('a', load('a'))])).toEqual([
        { id: 'a', bytes: 'é\u0000\uffff' },
        { id: 'a', bytes: 'é\u0000\uffff' },
      ]);
      expect(computed).toBe(1);
      await users.set('b', { id: 'b', bytes: '' });
      expect(await users.get('b')).toEqual({ id: 'b', bytes: '' });
      expect(await bucketed.getOrSet('c', load('c'))).toEqual({ id: 'c', bytes: 'é\u0000\uffff' });
      expect(await bucketed.get('c')).toEqual({ id: 'c', bytes: 'é\u0000\uffff' });
      expect(computed).toBe(2);
      expect(await users.delete('a')).toBe(true);
      expect(await users.get('a')).toBeUndefined();
      // Through bound clients only; a client without withTypeMapping gets every command with its mapping.
      if (hasWithTypeMapping) {
        expect(counts.withOptions).toBe(0);
        expect(counts.bound).toBeGreaterThan(0);
      } else expect(counts.withOptions).toBeGreaterThan(0);
    },
  );
});

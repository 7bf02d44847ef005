/**
 * The keys of commands whose keys move with their arguments, found from COMMAND INFO's key specs
 * without asking Redis (`keysFromSpecs`): wherever they are found, they are exactly what COMMAND
 * GETKEYS answers on a real server, for generated argument lists (counts that fit, that do not,
 * that are not numbers; keywords present, absent, in other cases).
 */
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CommandKeys, keysFromSpecs, parseKeySpec } from '../../src/store/command-keys.js';
import { useRedisServer } from '../helpers/troves.js';

const redis = useRedisServer();
let client: Redis;
beforeAll(() => {
  client = new Redis(redis.server.url);
});
afterAll(() => client.disconnect());

/** Every read-only command with movable keys, and XREAD (blocking, refused by cachedCommand) for a keyword spec. */
const COMMANDS = ['ZUNION', 'ZINTER', 'ZINTERCARD', 'ZDIFF', 'SINTERCARD', 'EVAL_RO', 'EVALSHA_RO', 'FCALL_RO', 'XREAD'];

async function specsOf(name: string) {
  const [info] = (await client.call('COMMAND', 'INFO', name)) as unknown[][];
  return (info![8] as unknown[]).map(parseKeySpec);
}

/** COMMAND GETKEYS's answer, or undefined when it answers an error. */
async function getKeys(name: string, args: string[]): Promise<string[] | undefined> {
  try {
    return ((await client.call('COMMAND', 'GETKEYS', name, ...args)) as unknown[]).map(String);
  } catch {
    return undefined;
  }
}

const token = fc.oneof(
  fc.constantFrom('k1', 'k2', 'k3', 'STREAMS', 'streams', 'StReAmS', 'WEIGHTS', 'LIMIT', 'COUNT', '0', '1', '2', '3', '-1', '01', '+1', ' 1', '9999', 'x', ''),
  fc.string({ maxLength: 4 }),
);
/** An argument list that often fits a spec: a count, then about that many keys, then other arguments. */
const argList = fc.oneof(
  fc.array(token, { maxLength: 8 }),
  fc
    .tuple(fc.array(token, { maxLength: 1 }), fc.integer({ min: -1, max: 5 }), fc.array(token, { maxLength: 6 }))
    .map(([lead, n, rest]) => [...lead, String(n), ...rest]),
  fc.tuple(fc.integer({ min: -1, max: 5 }), fc.array(token, { maxLength: 6 })).map(([n, rest]) => [String(n), ...rest]),
);

describe('keysFromSpecs', () => {
  it('reads the key specs of every read-only command with movable keys', async () => {
    for (const name of COMMANDS) {
      const specs = await specsOf(name);
      expect(specs.length, name).toBeGreaterThan(0);
      expect(
        specs.every((s) => s !== undefined),
        name,
      ).toBe(true);
    }
    // SORT_RO's BY/GET patterns name keys found in the data: a spec that cannot be read.
    expect((await specsOf('SORT_RO')).some((s) => s === undefined)).toBe(true);
  });

  it.each(COMMANDS)('%s: the keys it finds are exactly what COMMAND GETKEYS answers', async (name) => {
    const specs = (await specsOf(name)).filter((s) => s !== undefined);
    let found = 0;
    await fc.assert(
      fc.asyncProperty(argList, async (args) => {
        const at = keysFromSpecs(specs, args);
        if (at === undefined) return;
        found++;
        expect(await getKeys(name, args)).toEqual(at.map((i) => args[i]));
      }),
      { numRuns: 1000 },
    );
    // Not a vacuous pass: many generated lists fit.
    expect(found).toBeGreaterThan(40);
  });

  it('fixed cases: positions, a count that does not fit, a keyword in any case, a keyword absent', async () => {
    const zunion = (await specsOf('ZUNION')).filter((s) => s !== undefined);
    expect(keysFromSpecs(zunion, ['2', 'a', 'b', 'WEIGHTS', '1', '2'])).toEqual([1, 2]);
    expect(keysFromSpecs(zunion, ['3', 'a', 'b'])).toBeUndefined();
    expect(keysFromSpecs(zunion, ['0'])).toBeUndefined();
    expect(keysFromSpecs(zunion, ['two', 'a', 'b'])).toBeUndefined();
    expect(keysFromSpecs(zunion, [2, 'a', Buffer.from('b')])).toEqual([1, 2]);
    const evalRo = (await specsOf('EVAL_RO')).filter((s) => s !== undefined);
    expect(keysFromSpecs(evalRo, ['return 1', '2', 'a', 'b', 'arg'])).toEqual([2, 3]);
    const xread = (await specsOf('XREAD')).filter((s) => s !== undefined);
    expect(keysFromSpecs(xread, ['COUNT', '2', 'streams', 's1', 's2', '0', '0'])).toEqual([3, 4]);
    expect(keysFromSpecs(xread, ['COUNT', '2'])).toBeUndefined();
  });
});

describe('CommandKeys', () => {
  it('asks COMMAND GETKEYS only for arguments the key specs do not fit', async () => {
    const sent: string[][] = [];
    const keys = new CommandKeys((args) => {
      sent.push(args.map(String));
      return client.call('COMMAND', ...args);
    });
    expect(await keys.find('ZUNION', [2, 'a', 'b'])).toEqual({ keys: ['a', 'b'], at: [1, 2] });
    expect(await keys.find('zunion', ['1', 'a', 'WITHSCORES'])).toEqual({ keys: ['a'], at: [1] });
    expect(sent).toEqual([['INFO', 'zunion']]);
    // A count that is not a number: Redis is asked, and its error is the refusal.
    await expect(keys.find('ZUNION', ['x', 'a'])).rejects.toThrow(/ZUNION.*COMMAND GETKEYS answered/);
    expect(sent.map((s) => s[0])).toEqual(['INFO', 'GETKEYS']);
  });
});

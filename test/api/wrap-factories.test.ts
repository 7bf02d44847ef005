/**
 * `trove.wrapFactories`: every factory run whose value is cached goes through the wrappers, in
 * the order they were added, with what the run is (region, key, cached function); runs inside
 * `bypass()` do not; a wrapper that is removed no longer sees runs. On both stores.
 */
import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../../src/index.js';
import { type StoreKind, storeKinds, useStore, useTroves } from '../helpers/troves.js';

describe.each(storeKinds)('wrapFactories (%s)', (kind: StoreKind) => {
  const store = useStore(kind);
  let n = 0;
  const troves = useTroves(() => ({ ...store.opts, prefix: `wrap-${kind}-${++n}` }));

  it('wraps every cached run, outermost first, with its region, key and function', async () => {
    const t = troves.open();
    const log: string[] = [];
    t.wrapFactories((info, run) => {
      log.push(`outer in ${info.region} ${info.key} ${info.function ?? '-'}`);
      const result = run();
      log.push('outer out');
      return result;
    });
    t.wrapFactories((info, run) => {
      log.push(`inner in ${info.key}`);
      return run();
    });
    const users = t.region('users');
    const factory = () => {
      log.push('factory');
      return 'a';
    };
    expect(await users.getOrSet('1', factory)).toBe('a');
    // A hit runs nothing.
    expect(await users.getOrSet('1', () => 'b')).toBe('a');
    const double = t.cached(async (x: number) => x * 2, { name: 'double', region: 'math' });
    expect(await double(21)).toBe(42);
    expect(await double.refresh(21)).toBe(42);
    const key = log.find((l) => l.startsWith('outer in math'))!.split(' ')[3]!;
    expect(log).toEqual([
      'outer in users 1 -',
      'inner in 1',
      'factory',
      'outer out',
      `outer in math ${key} double`,
      `inner in ${key}`,
      'outer out',
      `outer in math ${key} double`,
      `inner in ${key}`,
      'outer out',
    ]);
  });

  it("a wrapper's context holds for the whole run, a failure goes through it, and a removed wrapper sees no more runs", async () => {
    const t = troves.open();
    const seen: string[] = [];
    const remove = t.wrapFactories((info, run) => {
      const result = run() as Promise<unknown>;
      return result.then(
        (v) => {
          seen.push(`${info.key} ok ${String(v)}`);
          return v;
        },
        (err: unknown) => {
          seen.push(`${info.key} failed ${(err as Error).message}`);
          throw err;
        },
      );
    });
    const r = t.region('r');
    expect(await r.getOrSet('good', async () => 1)).toBe(1);
    await expect(
      r.getOrSet('bad', async () => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(seen).toEqual(['good ok 1', 'bad failed boom']);
    remove();
    remove();
    expect(await r.getOrSet('later', async () => 2)).toBe(2);
    expect(seen).toHaveLength(2);
  });

  it('runs inside bypass() are not wrapped, and a wrapper must be a function', async () => {
    const t = troves.open();
    let wrapped = 0;
    t.wrapFactories((_info, run) => {
      wrapped++;
      return run();
    });
    expect(await t.bypass(() => t.region('r').getOrSet('k', () => 'direct'))).toBe('direct');
    expect(wrapped).toBe(0);
    expect(await t.region('r').getOrSet('k', () => 'cached')).toBe('cached');
    expect(wrapped).toBe(1);
    expect(() => t.wrapFactories('no' as never)).toThrow(InvalidOptionError);
  });
});

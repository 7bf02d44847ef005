/**
 * The default name of @trove.cached() methods: the class that defines the method, whichever
 * subclass calls it first, in this process or in another one.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { type ErrorEvent, InvalidOptionError, type Trove } from '../../src/index.js';
import { argsKey } from '../../src/keys/args/index.js';
import { useRedisServer, useTroves } from '../helpers/troves.js';

const redis = useRedisServer();
let n = 0;
const { open, expectErrors } = useTroves(() => ({ redis: redis.server.url, prefix: `d${++n}` }));

const child = fileURLToPath(new URL('./fixtures/decorator-child.ts', import.meta.url));

/** Redis keys of the entries under `prefix` (internal keys, whose region part starts with '__', left out), sorted. */
async function entryKeys(prefix: string): Promise<string[]> {
  return (await redis.server.keys()).filter((k) => k.startsWith(`${prefix}:`) && !k.split(':')[2]!.startsWith('__'));
}

/** The Redis key of the call `args` of the cached function named `name` (version '0', region 'fn'). */
function entryKey(t: Trove, name: string, args: unknown[]): string {
  return t.region('fn').keyOf(`${name}:0:${argsKey(args)}`);
}

/** A fresh hierarchy per call: each class definition runs the decorator anew, as a new process would. */
function hierarchy(t: Trove) {
  const runs: string[] = [];
  class Base {
    @t.cached()
    async load(id: number): Promise<string> {
      runs.push(`load ${this.constructor.name}`);
      return `item ${id}`;
    }
    @t.cached()
    static async find(id: number): Promise<string> {
      // biome-ignore lint/complexity/noThisInStatic: the subclass it is called on is what the test records
      runs.push(`find ${this.name}`);
      return `found ${id}`;
    }
  }
  class A extends Base {}
  class B extends Base {}
  return { Base, A, B, runs };
}

describe('@trove.cached() default name', () => {
  for (const order of ['AB', 'BA'] as const) {
    it(`is the defining class for instance methods, whatever subclass calls first (${order})`, async () => {
      const t = open();
      const { A, B, runs } = hierarchy(t);
      const first = order === 'AB' ? new A() : new B();
      const second = order === 'AB' ? new B() : new A();
      expect(await first.load(7)).toBe('item 7');
      expect(await second.load(7)).toBe('item 7');
      expect(runs).toEqual([`load ${order[0]}`]);
      expect(await entryKeys(t.prefix)).toEqual([entryKey(t, 'Base.load', [7])]);
    });

    it(`is the defining class for static methods, whatever subclass calls first (${order})`, async () => {
      const t = open();
      const { A, B, runs } = hierarchy(t);
      const [first, second] = order === 'AB' ? [A, B] : [B, A];
      expect(await first.find(3)).toBe('found 3');
      expect(await second.find(3)).toBe('found 3');
      expect(runs).toEqual([`find ${order[0]}`]);
      expect(await entryKeys(t.prefix)).toEqual([entryKey(t, 'Base.find', [3])]);
    });
  }

  it('an override that calls super still reaches the base method under the base name', async () => {
    const t = open();
    const { Base } = hierarchy(t);
    class Plain extends Base {
      override async load(id: number): Promise<string> {
        return `plain ${await super.load(id)}`;
      }
    }
    class Decorated extends Base {
      @t.cached()
      override async load(id: number): Promise<string> {
        return `decorated ${await super.load(id)}`;
      }
    }
    expect(await new Decorated().load(1)).toBe('decorated item 1');
    expect(await new Plain().load(1)).toBe('plain item 1');
    expect(await entryKeys(t.prefix)).toEqual([entryKey(t, 'Base.load', [1]), entryKey(t, 'Decorated.load', [1])].sort());
    expect((Base.prototype.load as unknown as { cacheName: string }).cacheName).toBe('Base.load');
    expect((Decorated.prototype.load as unknown as { cacheName: string }).cacheName).toBe('Decorated.load');
  });

  it('a call whose this does not lead to the defining class runs uncached with an error event', async () => {
    expectErrors();
    const t = open();
    const errors: ErrorEvent[] = [];
    t.on('error', (e) => errors.push(e));
    const { Base, runs } = hierarchy(t);
    const load = Base.prototype.load;
    expect(await load.call({ constructor: Base }, 2)).toBe('item 2');
    expect(await load.call({ constructor: Base }, 2)).toBe('item 2');
    expect(runs).toHaveLength(2);
    expect(errors.map((e) => [e.operation, e.error.code])).toEqual([
      ['key', 'KEY_DERIVATION'],
      ['key', 'KEY_DERIVATION'],
    ]);
    expect(errors[0]!.error.message).toContain('load');
    expect(await entryKeys(t.prefix)).toEqual([]);
  });

  it('private methods need a name: no prototype holds them', async () => {
    const t = open();
    expect(() => {
      class Hidden {
        @t.cached()
        async #load(): Promise<number> {
          return 1;
        }
        run(): Promise<number> {
          return this.#load();
        }
      }
      return Hidden;
    }).toThrow(InvalidOptionError);
    class Named {
      @t.cached({ name: 'Named.load' })
      async #load(): Promise<number> {
        return 1;
      }
      run(): Promise<number> {
        return this.#load();
      }
    }
    expect(await new Named().run()).toBe(1);
    expect(await entryKeys(t.prefix)).toEqual([entryKey(t, 'Named.load', [])]);
  });

  it('two processes calling through the subclasses in opposite orders write exactly one key', async () => {
    const prefix = `dx${++n}`;
    const first = await runChild(prefix, 'AB');
    const second = await runChild(prefix, 'BA');
    expect(first).toEqual({ computed: 1, values: ['item 7', 'item 7'], errors: [] });
    expect(second).toEqual({ computed: 0, values: ['item 7', 'item 7'], errors: [] });
    const t = open({ prefix });
    expect(await t.region('fn').has(`Base.load:0:${argsKey([7])}`)).toBe(true);
    expect(await entryKeys(prefix)).toEqual([entryKey(t, 'Base.load', [7])]);
  });
});

function runChild(prefix: string, order: 'AB' | 'BA'): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', child, redis.server.url, prefix, order], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    const killer = setTimeout(() => p.kill('SIGKILL'), 20_000);
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    p.on('error', reject);
    p.on('exit', (code) => {
      clearTimeout(killer);
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (code !== 0 || line === undefined) reject(new Error(`child exited with ${code}: ${out}`));
      else resolve(JSON.parse(line));
    });
  });
}

/**
 * `@trove.cached()` as a legacy decorator (`experimentalDecorators`, as NestJS and TypeORM
 * projects compile): a fixture is compiled by tsc in that mode (which is also the type-level check
 * that the decorator and its inferred options are accepted there), run in a child process, and its
 * entries are then read by the same class decorated with standard decorators in this process: the
 * keys are the same, so nothing is computed again.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../../src/index.js';
import { useRedisServer, useTroves } from '../helpers/troves.js';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));
const fixture = fileURLToPath(new URL('./fixtures/legacy-decorators/', import.meta.url));
// Inside the repository, so that the compiled sources resolve their dependencies from node_modules.
const out = `${root}.tmp/legacy-decorators-${process.pid}`;

const redis = useRedisServer();
const { open } = useTroves(() => ({ redis: redis.server.url, nearCache: false }));

afterAll(() => {
  rmSync(out, { recursive: true, force: true });
});

describe('legacy (experimentalDecorators) method decorators', () => {
  it('cache the method under the same keys as standard decorators', { timeout: 180_000 }, async () => {
    mkdirSync(out, { recursive: true });
    // Type errors fail here, with tsc's output in the message.
    await run(process.execPath, [`${root}node_modules/typescript/bin/tsc`, '-p', `${fixture}tsconfig.json`, '--outDir', out], { cwd: root });
    const prefix = 'legacy1';
    const { stdout } = await run(process.execPath, [`${out}/test/api/fixtures/legacy-decorators/catalog.js`, redis.server.url, prefix], { cwd: root });
    const printed = JSON.parse(stdout.trim()) as { computed: number; values: unknown[]; names: string[]; errors: string[] };
    expect(printed.errors).toEqual([]);
    // Each method computed once; the second call of each was a hit.
    expect(printed.computed).toBe(2);
    expect(printed.values).toEqual([['north: book 7.1', 'north: book 7.2'], ['north: book 7.1', 'north: book 7.2'], 30, 30]);
    expect(printed.names).toEqual(['Catalog.topBooks', 'Catalog.count']);

    // The same class, with standard decorators (this file's compilation), reads those entries.
    const trove = open({ prefix });
    let computed = 0;
    class Catalog {
      constructor(readonly shop: string) {}

      @trove.cached({ ttl: '1h', thisKey: (self) => self.shop, shouldCache: (books) => books.length > 0 })
      async topBooks(authorId: number): Promise<string[]> {
        computed++;
        return [`${this.shop}: recomputed ${authorId}`];
      }

      @trove.cached({ key: (authorId) => `author-${authorId.toFixed(0)}` })
      static async count(authorId: number): Promise<number> {
        computed++;
        return -authorId;
      }
    }
    expect(await new Catalog('north').topBooks(7)).toEqual(['north: book 7.1', 'north: book 7.2']);
    expect(await Catalog.count(3)).toBe(30);
    expect(computed).toBe(0);
  });

  it('called by hand the legacy way, it replaces the descriptor; anything else is refused', async () => {
    const trove = open({ prefix: 'legacy2' });
    let computed = 0;
    class Plain {
      async load(id: number): Promise<number> {
        computed++;
        return id * 2;
      }
    }
    const descriptor = Object.getOwnPropertyDescriptor(Plain.prototype, 'load')!;
    const decorate = trove.cached<Plain, [number], number>({ name: 'Plain.load' });
    decorate(Plain.prototype, 'load', descriptor);
    Object.defineProperty(Plain.prototype, 'load', descriptor);
    expect(await new Plain().load(4)).toBe(8);
    expect(await new Plain().load(4)).toBe(8);
    expect(computed).toBe(1);
    expect(() => decorate(Plain.prototype, 'load')).toThrow(InvalidOptionError);
    expect(() => decorate(Plain.prototype, 'load')).toThrow(/decorates methods only/);
  });
});

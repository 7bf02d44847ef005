/**
 * Type tests: the wrapper keeps the parameter and return types; the decorator keeps the method's.
 */
import { describe, expectTypeOf, it } from 'vitest';
import { type CachedFunction, createTrove } from '../../src/index.js';

const trove = createTrove();

describe('types', () => {
  it('cached keeps parameters and (awaited) return type', () => {
    const f = trove.cached(async (id: number, name?: string) => ({ id, name }), { name: 'f' });
    expectTypeOf(f).parameters.toEqualTypeOf<[id: number, name?: string | undefined]>();
    expectTypeOf(f).returns.toEqualTypeOf<Promise<{ id: number; name: string | undefined }>>();
    expectTypeOf(f.peek).returns.toEqualTypeOf<Promise<{ id: number; name: string | undefined } | undefined>>();
    expectTypeOf(f.invalidate).parameters.toEqualTypeOf<[id: number, name?: string | undefined]>();
    expectTypeOf(f.refresh).returns.toEqualTypeOf<Promise<{ id: number; name: string | undefined }>>();
    expectTypeOf(f).toMatchTypeOf<CachedFunction<[number, string?], Promise<{ id: number; name: string | undefined }>>>();
    // @ts-expect-error wrong argument type
    f('x');
  });

  it('a sync function becomes async', () => {
    const g = trove.cached((a: string) => a.length, { name: 'g' });
    expectTypeOf(g).returns.toEqualTypeOf<Promise<number>>();
  });

  it('options are typed against the function', () => {
    trove.cached(async (a: number, b: string) => [a, b], { name: 'h', key: (a, b) => `${a.toFixed()}${b.trim()}`, shouldCache: (v) => v.length > 0 });
    // @ts-expect-error key must return a string
    trove.cached(async (a: number) => a, { name: 'h2', key: (a) => a });
  });

  it('the decorator keeps the method type', () => {
    class Svc {
      @trove.cached({ ttl: '1h' })
      async load(id: number): Promise<string> {
        return String(id);
      }
    }
    expectTypeOf(new Svc().load).toEqualTypeOf<(id: number) => Promise<string>>();
  });
});

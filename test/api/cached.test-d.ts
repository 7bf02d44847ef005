/**
 * Type tests: the wrapper keeps the parameter and return types; the decorator keeps the method's
 * and types its options from it; regions constrain writes and type reads; factories get a typed
 * context. Negative cases are `@ts-expect-error` lines: each must be an error.
 */
import { describe, expectTypeOf, it } from 'vitest';
import { type CachedFunction, type CachedMethodDecorator, createTrove, type EntryTtl, type FactoryContext } from '../../src/index.js';

const trove = createTrove();

describe('types', () => {
  it('cached keeps parameters and (awaited) return type', () => {
    const f = trove.cached(async (id: number, name?: string) => ({ id, name }), { name: 'f' });
    expectTypeOf(f).parameters.toEqualTypeOf<[id: number, name?: string | undefined]>();
    expectTypeOf(f).returns.toEqualTypeOf<Promise<{ id: number; name: string | undefined }>>();
    expectTypeOf(f.peek).returns.toEqualTypeOf<Promise<{ id: number; name: string | undefined } | undefined>>();
    expectTypeOf(f.invalidate).parameters.toEqualTypeOf<[id: number, name?: string | undefined]>();
    expectTypeOf(f.markStale).parameters.toEqualTypeOf<[id: number, name?: string | undefined]>();
    expectTypeOf(f.markStale).returns.toEqualTypeOf<Promise<boolean>>();
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

interface Product {
  id: string;
  price: number;
}

describe('typed regions', () => {
  const products = trove.region<Product>('products');

  it('writes must be values of the region', () => {
    void products.set('1', { id: '1', price: 3 });
    // @ts-expect-error a string is not a Product
    void products.set('1', 'not a product');
    // @ts-expect-error the factory must produce a Product
    void products.getOrSet('2', async () => 42);
    // @ts-expect-error getOrSetMany's factory must produce Products
    void products.getOrSetMany(['2'], async (keys) => keys.map(() => 42));
    // @ts-expect-error nor a Map of anything else
    void products.getOrSetMany(['2'], async (keys) => new Map(keys.map((k) => [k, 'x'])));
    // @ts-expect-error setMany entries are Products
    void products.setMany([['3', { id: 3 }]]);
    void products.batch((tx) => {
      // @ts-expect-error batch writes are Products
      tx.set('4', 'x');
    });
  });

  it('reads answer the region type', () => {
    expectTypeOf(products.get('1')).toEqualTypeOf<Promise<Product | undefined>>();
    expectTypeOf(products.getOrSet('1', async () => ({ id: '1', price: 1 }))).resolves.toMatchTypeOf<Product>();
    expectTypeOf(products.getMany(['1'])).toEqualTypeOf<Promise<(Product | undefined)[]>>();
    expectTypeOf(products.ttlOf('1')).toEqualTypeOf<Promise<EntryTtl | undefined>>();
    expectTypeOf(products.deleteMany(['1'])).toEqualTypeOf<Promise<number>>();
    expectTypeOf(products.getOrSetMany(['1'], async (keys) => keys.map((k) => ({ id: k, price: 1 })))).resolves.toMatchTypeOf<Product[]>();
    expectTypeOf(products.markStale('1')).toEqualTypeOf<Promise<boolean>>();
    // Each key's context knows its previous value as the region's type.
    void products.getOrSetMany(['1', '2'], async (keys, ctx) => {
      expectTypeOf(ctx.of('1').stale).toEqualTypeOf<Product | undefined>();
      expectTypeOf(ctx.signal).toEqualTypeOf<AbortSignal>();
      ctx.of(keys[0]!).setTtl('5m');
      return keys.map((k) => ({ id: k, price: 1 }));
    });
  });

  it('an untyped region accepts anything, and infers what its factory returns', () => {
    const any = trove.region('anything');
    void any.set('1', 'text');
    expectTypeOf(any.getOrSet('2', async () => 42)).toEqualTypeOf<Promise<number>>();
    // The keys reach the factory as given: numbers stay numbers.
    expectTypeOf(
      any.getOrSetMany([1, 2], async (keys) => {
        expectTypeOf(keys).toEqualTypeOf<(1 | 2)[]>();
        return new Map(keys.map((k) => [k, k * 2]));
      }),
    ).toEqualTypeOf<Promise<number[]>>();
    expectTypeOf(
      any.getOrSetMany([1, 2], async (keys, ctx) => {
        // @ts-expect-error a key of another type than the call's
        ctx.of('1');
        ctx.of(1).skip();
        return keys.map((k) => k * 2);
      }),
    ).toEqualTypeOf<Promise<number[]>>();
    expectTypeOf(
      any.getOrSet('3', (ctx) => {
        ctx.skip();
        return 'x';
      }),
    ).toEqualTypeOf<Promise<string>>();
  });

  it("shouldCache receives the factory's value type", () => {
    void trove.region('r').getOrSet('k', async () => [1, 2], {
      shouldCache: (v) => {
        expectTypeOf(v).toEqualTypeOf<number[]>();
        return v.length > 0;
      },
    });
    // @ts-expect-error the value is a number[], not a string
    void trove.region('r').getOrSet('k', async () => [1, 2], { shouldCache: (v: string) => v.length > 0 });
  });

  it('the factory gets its context, typed by its value', () => {
    void products.getOrSet('1', async (ctx) => {
      expectTypeOf(ctx).toEqualTypeOf<FactoryContext<Product>>();
      expectTypeOf(ctx.stale).toEqualTypeOf<Product | undefined>();
      expectTypeOf(ctx.signal).toEqualTypeOf<AbortSignal>();
      ctx.setTtl('10m');
      ctx.setTtl(60_000);
      ctx.setFreshFor(Number.POSITIVE_INFINITY);
      ctx.setTags(['org:1']);
      // @ts-expect-error a duration is a number or a string like '10m'
      ctx.setTtl(true);
      return { id: '1', price: 1 };
    });
    expectTypeOf(trove.context()).toEqualTypeOf<FactoryContext | undefined>();
  });
});

describe('decorator options are typed from the method and its class', () => {
  it('infers this, the parameters and the result', () => {
    class Author {
      constructor(readonly id: number) {}
      @trove.cached({
        thisKey: (self) => self.id,
        key(limit, genre) {
          expectTypeOf(this).toEqualTypeOf<Author>();
          return `${this.id}:${limit.toFixed()}:${genre.trim()}`;
        },
        shouldCache: (books) => books.length > 0,
        tags: ([limit], books) => [`limit:${limit}`, ...books.map((b) => `book:${b}`)],
      })
      async topBooks(limit: number, genre: string): Promise<string[]> {
        return [`${this.id}`, genre].slice(0, limit);
      }

      @trove.cached({ thisKey: (cls) => cls.name })
      static async count(): Promise<number> {
        return 1;
      }
    }
    expectTypeOf(new Author(1).topBooks).toEqualTypeOf<(limit: number, genre: string) => Promise<string[]>>();
  });

  it('rejects options that do not fit the method', () => {
    class Svc {
      readonly id = 1;
      // @ts-expect-error this is a Svc, not a Date
      @trove.cached({ thisKey: (self: Date) => self.getTime() })
      async a(n: number): Promise<number> {
        return n;
      }
      // @ts-expect-error the key function takes the method's parameters (a number)
      @trove.cached({ key: (s: string) => s })
      async b(n: number): Promise<number> {
        return n;
      }
      // @ts-expect-error the result is a number
      @trove.cached({ shouldCache: (v: string) => v.length > 0 })
      async c(n: number): Promise<number> {
        return n;
      }
    }
    expectTypeOf(new Svc().a).toEqualTypeOf<(n: number) => Promise<number>>();
  });

  it('tags of cached functions are typed from the arguments and the result', () => {
    trove.cached(async (id: number) => ({ id, org: 'o' }), { name: 't1', tags: ([id], r) => [`user:${id}`, `org:${r.org}`] });
    trove.cached(async (id: number) => id, { name: 't2', tags: ['static'] });
    // @ts-expect-error the result has no 'missing' property
    trove.cached(async (id: number) => ({ id }), { name: 't3', tags: (_args, r) => [r.missing] });
  });

  it('the decorator type is one function for both decorator kinds', () => {
    type D = CachedMethodDecorator<{ id: number }, [number], string>;
    expectTypeOf<Parameters<D>[1]>().toEqualTypeOf<
      ClassMethodDecoratorContext<{ id: number }, (this: { id: number }, n: number) => Promise<string>> | string | symbol
    >();
  });
});

import { describe, expect, it } from 'vitest';
import { KeyDerivationError } from '../../../src/errors.js';
import { argsKey, encodeArgs, hashText, MAX_DEPTH } from '../../../src/keys/args/index.js';

function rejection(args: unknown[]): KeyDerivationError {
  try {
    encodeArgs(args);
  } catch (err) {
    expect(err).toBeInstanceOf(KeyDerivationError);
    expect((err as KeyDerivationError).code).toBe('KEY_DERIVATION');
    return err as KeyDerivationError;
  }
  throw new Error(`expected a KeyDerivationError, got an encoding for ${String(args)}`);
}

function nest(depth: number, wrap: (inner: unknown) => unknown): unknown {
  let v: unknown = 0;
  for (let i = 0; i < depth; i++) v = wrap(v);
  return v;
}

function allDistinct(values: unknown[]): void {
  const encodings = values.map((v) => encodeArgs([v]));
  expect(new Set(encodings).size).toBe(values.length);
  expect(new Set(values.map((v) => argsKey([v]))).size).toBe(values.length);
}

describe('argument tuples', () => {
  it('encodes no arguments as () with a constant key', () => {
    expect(encodeArgs([])).toBe('()');
    expect(argsKey([])).toBe(hashText('()'));
    expect(argsKey([])).toBe('LjjneyLDFKRJ6R-v7ZKkOA');
  });

  it('treats a trailing undefined as an extra argument', () => {
    expect(encodeArgs([1])).toBe('(1;)');
    expect(encodeArgs([1, undefined])).toBe('(1;u)');
    expect(argsKey([1])).not.toBe(argsKey([1, undefined]));
  });

  it('keeps argument and array order', () => {
    expect(encodeArgs([1, 2])).toBe('(1;2;)');
    expect(encodeArgs([2, 1])).toBe('(2;1;)');
    expect(encodeArgs([[1, 2]])).not.toBe(encodeArgs([[2, 1]]));
  });
});

describe('primitives', () => {
  it('encodes undefined, null and booleans as single tags', () => {
    expect(encodeArgs([undefined, null, true, false])).toBe('(untf)');
  });

  it('writes numbers as String(n) followed by ;', () => {
    expect(encodeArgs([0, 42, -7, 0.1, 1.5e-7, 2 ** 53, 1e21, -Infinity])).toBe('(0;42;-7;0.1;1.5e-7;9007199254740992;1e+21;-Infinity;)');
    expect(encodeArgs([1.0])).toBe(encodeArgs([1]));
    expect(encodeArgs([0.1 + 0.2])).toBe('(0.30000000000000004;)');
  });

  it('gives -0 and 0 the same key', () => {
    expect(encodeArgs([-0])).toBe('(0;)');
    expect(argsKey([-0, { a: -0 }])).toBe(argsKey([0, { a: 0 }]));
  });

  it('gives every NaN the same key', () => {
    const payloadNaN = new Float64Array(new BigUint64Array([0x7ff8000000000123n]).buffer)[0]!;
    expect(Number.isNaN(payloadNaN)).toBe(true);
    for (const nan of [Number.NaN, 0 / 0, Number('x'), payloadNaN]) expect(encodeArgs([nan])).toBe('(NaN;)');
    expect(encodeArgs(['NaN'])).toBe('(s3:NaN)');
  });

  it('keeps number, string, bigint and boolean of the same text apart', () => {
    expect(encodeArgs([1, '1', 1n, true])).toBe('(1;s1:1b1;t)');
    allDistinct([1, '1', 1n, true, 0, '0', 0n, false, '', 'true', 'u', 'n', 'NaN', Number.NaN, Number.POSITIVE_INFINITY, 'Infinity', undefined, null, 'null']);
  });

  it('length-prefixes strings so boundaries cannot shift', () => {
    expect(encodeArgs(['ab', 'c'])).toBe('(s2:abs1:c)');
    expect(encodeArgs(['a', 'bc'])).toBe('(s1:as2:bc)');
    expect(encodeArgs(['s1:a'])).toBe('(s4:s1:a)');
    expect(encodeArgs(['😀'])).toBe('(s2:😀)');
    allDistinct([['ab', 'c'], ['a', 'bc'], ['abc'], ['a)', 'b'], 's1:a', ['s1:a']]);
  });

  it('encodes bigints in decimal', () => {
    expect(encodeArgs([-(2n ** 70n), 0n])).toBe('(b-1180591620717411303424;b0;)');
  });
});

describe('objects and arrays', () => {
  it('ignores object key order', () => {
    expect(encodeArgs([{ a: 1, b: 2 }])).toBe('(<1:a1;1:b2;>)');
    expect(encodeArgs([{ b: 2, a: 1 }])).toBe('(<1:a1;1:b2;>)');
    expect(argsKey([{ x: { q: 1, p: [2] }, y: 3 }])).toBe(argsKey([{ y: 3, x: { p: [2], q: 1 } }]));
  });

  it('sorts keys by UTF-16 code units, not numerically or by locale', () => {
    const o = { b: 1, B: 1, a: 1, é: 1, Z: 1, 10: 1, 9: 1 };
    expect(encodeArgs([o])).toBe('(<2:101;1:91;1:B1;1:Z1;1:a1;1:b1;1:é1;>)');
  });

  it('keeps undefined, null and a missing property apart', () => {
    expect(encodeArgs([{ a: undefined }, {}, { a: null }])).toBe('(<1:au><><1:an>)');
    allDistinct([{ a: undefined }, {}, { a: null }, { b: undefined }]);
  });

  it('treats null-prototype objects as plain objects', () => {
    const bare = Object.create(null) as Record<string, unknown>;
    bare.k = 'v';
    expect(encodeArgs([bare])).toBe(encodeArgs([{ k: 'v' }]));
  });

  it('counts only own enumerable string keys, reading getters', () => {
    const o: Record<string, unknown> = {
      get computed() {
        return 5;
      },
    };
    Object.defineProperty(o, 'hidden', { value: 1, enumerable: false });
    Object.defineProperty(o, Symbol('hiddenSymbol'), { value: 1, enumerable: false });
    expect(encodeArgs([o])).toBe('(<8:computed5;>)');
  });

  it('keeps an own "__proto__" key as data', () => {
    const o = JSON.parse('{"__proto__": 1}') as object;
    expect(encodeArgs([o])).toBe('(<9:__proto__1;>)');
  });

  it('reads array holes as undefined and ignores non-index properties', () => {
    // biome-ignore lint/suspicious/noSparseArray: the hole is what is being tested
    expect(encodeArgs([[, 1]])).toBe('((u1;))');
    expect(encodeArgs([[undefined, 1]])).toBe('((u1;))');
    const tagged = Object.assign([1], { extra: true });
    expect(encodeArgs([tagged])).toBe('((1;))');
  });

  it('keeps arrays, objects, Maps and Sets apart even when empty', () => {
    allDistinct([[], {}, new Map(), new Set(), [[]], [{}], '()', '<>']);
  });

  it('encodes a shared (non-cyclic) reference at each place it occurs', () => {
    const shared = { x: 1 };
    expect(encodeArgs([shared, shared, [shared]])).toBe('(<1:x1;><1:x1;>(<1:x1;>))');
  });
});

describe('built-in kinds', () => {
  it('encodes Dates by time value, Invalid Date as its own value', () => {
    expect(encodeArgs([new Date(Date.UTC(2020, 1, 3)), new Date(Number.NaN)])).toBe('(D1580688000000;DNaN;)');
    expect(encodeArgs([new Date('nonsense')])).toBe(encodeArgs([new Date(Number.NaN)]));
    allDistinct([new Date(0), new Date(1), new Date(Number.NaN), 0, Number.NaN, '1970-01-01T00:00:00.000Z']);
    class Moment extends Date {}
    expect(encodeArgs([new Moment(5)])).toBe('(D5;)');
  });

  it('ignores Map insertion order and keeps Maps apart from objects', () => {
    const a = new Map<unknown, unknown>([
      ['x', 1],
      [2, 'y'],
      [{ k: [] }, null],
    ]);
    const b = new Map<unknown, unknown>([
      [{ k: [] }, null],
      [2, 'y'],
      ['x', 1],
    ]);
    expect(encodeArgs([a])).toBe('(M(2;s1:y<1:k()>ns1:x1;))');
    expect(encodeArgs([b])).toBe(encodeArgs([a]));
    allDistinct([new Map([['a', 1]]), { a: 1 }, [['a', 1]], new Map([['a', 2]]), new Map([[1, 'a']])]);
  });

  it('ignores Set insertion order and keeps Sets apart from arrays', () => {
    expect(encodeArgs([new Set(['b', 'a', 1])])).toBe('(S(1;s1:as1:b))');
    expect(encodeArgs([new Set([1, 'a', 'b'])])).toBe('(S(1;s1:as1:b))');
    allDistinct([new Set([1]), [1], new Set([1, 2]), new Set(['1'])]);
  });

  it('encodes Map and Set subclasses by content', () => {
    class Registry extends Map<string, number> {}
    expect(encodeArgs([new Registry([['a', 1]])])).toBe('(M(s1:a1;))');
  });

  it('gives a Buffer and a Uint8Array with the same bytes the same key', () => {
    expect(encodeArgs([Buffer.from([1, 2, 3])])).toBe('(Bu8:AQID;)');
    expect(encodeArgs([new Uint8Array([1, 2, 3])])).toBe('(Bu8:AQID;)');
  });

  it('keeps other byte kinds with the same bytes apart', () => {
    const bytes = [1, 2, 3, 4];
    const views = [
      new Uint8Array(bytes),
      new Int8Array(bytes),
      new Uint8ClampedArray(bytes),
      new Uint16Array(new Uint8Array(bytes).buffer),
      new Int16Array(new Uint8Array(bytes).buffer),
      new Uint32Array(new Uint8Array(bytes).buffer),
      new Int32Array(new Uint8Array(bytes).buffer),
      new Float32Array(new Uint8Array(bytes).buffer),
      new DataView(new Uint8Array(bytes).buffer),
      new Uint8Array(bytes).buffer,
    ];
    expect(views.map((v) => encodeArgs([v]))).toEqual([
      '(Bu8:AQIDBA;)',
      '(Bi8:AQIDBA;)',
      '(Bu8c:AQIDBA;)',
      '(Bu16:AQIDBA;)',
      '(Bi16:AQIDBA;)',
      '(Bu32:AQIDBA;)',
      '(Bi32:AQIDBA;)',
      '(Bf32:AQIDBA;)',
      '(Bdv:AQIDBA;)',
      '(Bab:AQIDBA;)',
    ]);
    allDistinct([...views, [1, 2, 3, 4]]);
  });

  it('writes multi-byte elements little-endian and compares typed arrays by bytes', () => {
    expect(encodeArgs([new Uint16Array([0x0102])])).toBe('(Bu16:AgE;)');
    expect(encodeArgs([new BigInt64Array([-1n]), new BigUint64Array([1n])])).toBe('(Bi64:__________8;Bu64:AQAAAAAAAAA;)');
    expect(encodeArgs([new Float64Array([-0])])).not.toBe(encodeArgs([new Float64Array([0])]));
  });

  it('encodes only the bytes a view covers', () => {
    const backing = new Uint8Array([9, 9, 1, 2, 9]);
    expect(encodeArgs([new Uint8Array(backing.buffer, 2, 2)])).toBe(encodeArgs([new Uint8Array([1, 2])]));
    expect(encodeArgs([backing.subarray(2, 4)])).toBe('(Bu8:AQI;)');
  });

  it('unwraps boxed primitives', () => {
    expect(encodeArgs([new String('a'), new Number(-0), new Boolean(false), Object(5n)])).toBe(encodeArgs(['a', 0, false, 5n]));
  });
});

describe('toCacheKey and toJSON', () => {
  class UserId {
    constructor(readonly id: number) {}
    toCacheKey(): unknown {
      return this.id;
    }
  }
  class OrgId {
    constructor(readonly id: number) {}
    toCacheKey(): unknown {
      return this.id;
    }
  }

  it('encodes toCacheKey() results, tagged so they differ from the bare value', () => {
    expect(encodeArgs([new UserId(7)])).toBe('(K7;)');
    expect(argsKey([new UserId(7)])).toBe(argsKey([new UserId(7)]));
    expect(argsKey([new UserId(7)])).not.toBe(argsKey([7]));
    expect(argsKey([new UserId(7)])).not.toBe(argsKey([new UserId(8)]));
  });

  it('lets two classes that return the same value share a key (as documented)', () => {
    expect(encodeArgs([new OrgId(7)])).toBe(encodeArgs([new UserId(7)]));
  });

  it('encodes the hook result recursively, hooks included', () => {
    class Query {
      toCacheKey(): unknown {
        return { owner: new UserId(1), filters: new Map([['b', new Set([2, 1])]]) };
      }
    }
    expect(encodeArgs([new Query()])).toBe('(K<7:filtersM(s1:bS(1;2;))5:ownerK1;>)');
  });

  it('prefers toCacheKey over toJSON and over a built-in encoding', () => {
    class Both {
      toCacheKey(): unknown {
        return 'key';
      }
      toJSON(): unknown {
        return 'json';
      }
    }
    class KeyedMap extends Map<string, number> {
      toCacheKey(): unknown {
        return 'map-key';
      }
    }
    expect(encodeArgs([new Both(), new KeyedMap([['a', 1]])])).toBe('(Ks3:keyKs7:map-key)');
  });

  it('honours toCacheKey on a plain object too', () => {
    expect(encodeArgs([{ id: 3, toCacheKey: () => 'three' }])).toBe('(Ks5:three)');
  });

  it('uses toJSON() when there is no toCacheKey, tagged apart from the bare value', () => {
    class Point {
      constructor(
        readonly x: number,
        readonly y: number,
      ) {}
      toJSON(): unknown {
        return [this.x, this.y];
      }
    }
    expect(encodeArgs([new Point(1, 2)])).toBe('(J(1;2;))');
    expect(encodeArgs([[1, 2]])).toBe('((1;2;))');
    expect(encodeArgs([new URL('https://a.test/x')])).toBe('(Js16:https://a.test/x)');
    expect(encodeArgs([{ toJSON: () => 1 }])).toBe('(J1;)');
  });

  it('does not use the toJSON of Date and Buffer', () => {
    expect(encodeArgs([new Date(0), Buffer.from([0])])).toBe('(D0;Bu8:AA;)');
  });

  it('keeps toCacheKey and toJSON results apart', () => {
    allDistinct([new UserId(1), { toJSON: () => 1 }, 1]);
  });

  it('calls the hook with the instance as this', () => {
    const seen: unknown[] = [];
    const instance = {
      toCacheKey(this: unknown): unknown {
        seen.push(this);
        return 1;
      },
    };
    encodeArgs([instance]);
    expect(seen).toEqual([instance]);
    expect(seen[0]).toBe(instance);
  });
});

describe('rejections', () => {
  it('rejects functions, naming the path', () => {
    const err = rejection([1, { a: [() => 1] }]);
    expect(err.message).toBe('Cannot derive a cache key from a function at $[1].a[0]');
    expect(err.path).toEqual([1, 'a', 0]);
  });

  it('rejects symbols and boxed symbols', () => {
    const err = rejection([{ s: Symbol('x') }]);
    expect(err.message).toBe('Cannot derive a cache key from a symbol at $[0].s');
    expect(err.path).toEqual([0, 's']);
    expect(rejection([Object(Symbol('y'))]).message).toBe('Cannot derive a cache key from a symbol (boxed Symbol object) at $[0]');
  });

  it('rejects an enumerable symbol-keyed property', () => {
    const err = rejection(['ok', { nested: { [Symbol('tag')]: 1, a: 1 } }]);
    expect(err.message).toBe('Cannot derive a cache key from an object with a symbol-keyed property (Symbol(tag)) at $[1].nested');
    expect(err.path).toEqual([1, 'nested']);
  });

  it('rejects class instances without hooks, naming the class', () => {
    class Point {
      x = 1;
    }
    const err = rejection([[new Point()]]);
    expect(err.message).toBe(
      'Cannot derive a cache key from an instance of class Point: give the class a toCacheKey() (or toJSON()) method, or leave the argument out of the key at $[0][0]',
    );
    expect(err.path).toEqual([0, 0]);
    const Anonymous = (() => class {})();
    expect(rejection([new Anonymous()]).message).toContain('from an instance of an anonymous class:');
    expect(rejection([/re/]).message).toContain('from an instance of class RegExp:');
  });

  it('rejects WeakMap, WeakSet and Promise', () => {
    expect(rejection([new WeakMap()]).message).toBe('Cannot derive a cache key from a WeakMap: its entries cannot be enumerated at $[0]');
    expect(rejection([{ w: new WeakSet() }]).message).toBe('Cannot derive a cache key from a WeakSet: its entries cannot be enumerated at $[0].w');
    expect(rejection([Promise.resolve(1)]).message).toBe('Cannot derive a cache key from a Promise (await it first) at $[0]');
  });

  it('names Map keys, Map values and Set elements in the path', () => {
    const fn = (): void => {};
    expect(
      rejection([
        new Map<unknown, unknown>([
          ['a', 1],
          [fn, 2],
        ]),
      ]).path,
    ).toEqual([0, '<key #1>']);
    expect(rejection([new Map([['b', { f: fn }]])]).path).toEqual([0, 'b', 'f']);
    expect(rejection([new Map([[3n, fn]])]).path).toEqual([0, '3n']);
    expect(rejection([new Map([[{}, fn]])]).path).toEqual([0, '<value #0>']);
    expect(rejection([new Set([1, fn])]).path).toEqual([0, '<element #1>']);
  });

  it('reports errors thrown by getters and hooks, keeping the cause', () => {
    const boom = new Error('boom');
    const getterErr = rejection([
      {
        get bad(): unknown {
          throw boom;
        },
      },
    ]);
    expect(getterErr.message).toBe('Cannot derive a cache key: reading the value threw: boom at $[0].bad');
    expect(getterErr.cause).toBe(boom);
    const hookErr = rejection([
      {
        toCacheKey(): unknown {
          throw boom;
        },
      },
    ]);
    expect(hookErr.message).toBe('Cannot derive a cache key: toCacheKey() threw: boom at $[0]');
    expect(hookErr.cause).toBe(boom);
  });

  it('locates a rejected value inside a hook result', () => {
    const err = rejection([{ toJSON: () => ({ f: () => 1 }) }]);
    expect(err.path).toEqual([0, 'toJSON()', 'f']);
  });

  it('throws the same error from argsKey', () => {
    expect(() => argsKey([() => 1])).toThrow(KeyDerivationError);
    expect(() => argsKey([() => 1], { readable: true })).toThrow('Cannot derive a cache key from a function at $[0]');
  });

  it('rejects a non-array argument list', () => {
    expect(() => encodeArgs('abc' as unknown as unknown[])).toThrow('arguments must be an array');
  });
});

describe('cycles', () => {
  it('rejects a self-containing object, saying cyclic, with the path of the back reference', () => {
    const a: Record<string, unknown> = { x: { y: [1] } };
    ((a.x as Record<string, unknown>).y as unknown[]).push(a);
    const err = rejection(['first', a]);
    expect(err.message).toBe('Cannot derive a cache key from a cyclic structure: this value contains itself at $[1].x.y[1]');
    expect(err.path).toEqual([1, 'x', 'y', 1]);
  });

  it('finds cycles through arrays, Maps, Sets and hooks', () => {
    const arr: unknown[] = [];
    arr.push(arr);
    expect(rejection([arr]).path).toEqual([0, 0]);

    const m = new Map<string, unknown>();
    m.set('self', m);
    expect(rejection([m]).path).toEqual([0, 'self']);

    const s = new Set<unknown>();
    s.add([s]);
    expect(rejection([s]).path).toEqual([0, '<element #0>', 0]);

    const hooked = {
      toCacheKey(): unknown {
        return [this];
      },
    };
    const err = rejection([hooked]);
    expect(err.message).toContain('cyclic');
    expect(err.path).toEqual([0, 'toCacheKey()', 0]);
  });

  it('finds a long cycle', () => {
    const nodes = Array.from({ length: 50 }, () => ({ next: null as unknown }));
    nodes.forEach((n, i) => {
      n.next = nodes[(i + 1) % nodes.length];
    });
    const err = rejection([nodes[0]]);
    expect(err.message).toContain('cyclic');
    expect(err.path).toEqual([0, ...Array.from({ length: 50 }, () => 'next')]);
  });
});

describe('nesting depth', () => {
  it(`accepts ${MAX_DEPTH} levels of arrays, objects, Maps and hooks`, () => {
    expect(MAX_DEPTH).toBe(1000);
    expect(encodeArgs([nest(MAX_DEPTH, (v) => [v])])).toBe(`(${'('.repeat(MAX_DEPTH)}0;${')'.repeat(MAX_DEPTH)})`);
    expect(encodeArgs([nest(MAX_DEPTH, (v) => ({ a: v }))])).toHaveLength(5 * MAX_DEPTH + 4);
    expect(encodeArgs([nest(MAX_DEPTH, (v) => new Map([[1, v]]))])).toHaveLength(5 * MAX_DEPTH + 4);
    expect(encodeArgs([nest(MAX_DEPTH, (v) => ({ toCacheKey: () => v }))])).toHaveLength(MAX_DEPTH + 4);
  });

  it('rejects one level more with a KeyDerivationError', () => {
    const err = rejection([nest(MAX_DEPTH + 1, (v) => [v])]);
    expect(err.message).toMatch(/^Cannot derive a cache key: values nested deeper than 1000 levels at \$\[0\]\[0\]/);
    expect(err.path).toEqual(Array.from({ length: MAX_DEPTH + 1 }, () => 0));
  });

  it('does not mistake a repeated reference for a cycle when a deep value is rejected', () => {
    const shared = { x: 1 };
    // `shared` first sits three levels down, then two levels down beside a value that is too deep.
    const err = rejection([[[[shared]], [shared, nest(MAX_DEPTH, (v) => [v])]]]);
    expect(err.message).toContain(`nested deeper than ${MAX_DEPTH} levels`);
    expect(err.message).not.toContain('cyclic');
  });

  it('rejects very deep values without exhausting the stack', () => {
    const err = rejection([nest(100_000, (v) => ({ a: v }))]);
    expect(err.message).toContain(`nested deeper than ${MAX_DEPTH} levels`);
  });

  it('turns a stack overflow into a KeyDerivationError when the caller has little stack left', () => {
    const value = nest(900, (v) => new Map([[1, v]]));
    let outcome: unknown = 'not run';
    // Recurse until the stack is full, then call encodeArgs 50 frames above the bottom.
    const dive = (): number => {
      let below: number;
      try {
        below = dive();
      } catch {
        return 0;
      }
      if (below === 50) {
        try {
          encodeArgs([value]);
          outcome = 'encoded';
        } catch (err) {
          outcome = err;
        }
      }
      return below + 1;
    };
    dive();
    expect(outcome).toBeInstanceOf(KeyDerivationError);
    expect((outcome as KeyDerivationError).message).toContain('nested too deeply for the call stack');
  });
});

describe('readable keys', () => {
  it('returns a short, safe encoding as-is', () => {
    expect(argsKey([1, 'abc', { k: [null] }], { readable: true })).toBe('(1;s3:abc<1:k(n)>)');
    expect(argsKey([], { readable: true })).toBe('()');
  });

  it('hashes encodings with characters unsafe in a key or a SCAN MATCH pattern', () => {
    for (const unsafe of [' ', '*', '?', '[', ']', '\\', '{', '}', '\n', '\t', '\u0000', '\u007f', 'é', '\u00a0', '\uD800']) {
      const args = [`a${unsafe}b`];
      expect(argsKey(args, { readable: true })).toBe(`h:${hashText(encodeArgs(args))}`);
    }
    expect(argsKey(['!"#$%&\'()+,-./:;<=>@^_`|~'], { readable: true })).toBe('(s25:!"#$%&\'()+,-./:;<=>@^_`|~)');
  });

  it('returns encodings up to maxReadableLength (default 120) and hashes longer ones', () => {
    const at = ['x'.repeat(113)];
    const over = ['x'.repeat(114)];
    expect(encodeArgs(at)).toHaveLength(120);
    expect(argsKey(at, { readable: true })).toBe(encodeArgs(at));
    expect(argsKey(over, { readable: true })).toBe(`h:${hashText(encodeArgs(over))}`);
    expect(argsKey([12], { readable: true, maxReadableLength: 5 })).toBe('(12;)');
    expect(argsKey([123], { readable: true, maxReadableLength: 5 })).toBe(`h:${hashText('(123;)')}`);
  });

  it('always hashes by default, whatever maxReadableLength says', () => {
    expect(argsKey([1], { maxReadableLength: 1000 })).toBe(hashText('(1;)'));
    expect(argsKey([1], { readable: false })).toBe(hashText('(1;)'));
    expect(argsKey([1])).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });

  it('never lets a readable key look like a hashed one', () => {
    const hash = argsKey([1]);
    expect(argsKey([hash], { readable: true })).toBe(`(s22:${hash})`);
    expect(argsKey(['h:abc'], { readable: true })).toBe('(s5:h:abc)');
    expect(argsKey(['h:abc'], { readable: true })).not.toMatch(/^h:/);
    expect(argsKey([hash], { readable: true })).not.toBe(hash);
  });
});
